import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import {
  isDomainError,
  type DomainErrorCode,
  type ErrorDetail,
} from "@herald/core/domain-error";

/** The one table from domain error codes to HTTP statuses. */
export const statusOf: Record<DomainErrorCode, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
};

/** The body of every error response. */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
    ),
  }),
});

/** Builds an error body. */
export function errorBody(
  code: string,
  message: string,
  details?: ErrorDetail[],
) {
  return {
    error: details?.length ? { code, message, details } : { code, message },
  };
}

/**
 * Maps anything thrown by a route to a JSON error: domain errors by their code, schema
 * validation failures to 400 with the path of each problem, body limits to 413, and the
 * rest to a 500 that is logged with its stack and shown without internals.
 */
export function handleError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (isDomainError(error)) {
    return reply
      .status(statusOf[error.code])
      .send(errorBody(error.code, error.message, error.details));
  }
  if (error.validation) {
    const details = error.validation.map((v) => ({
      path: `/${error.validationContext ?? ""}${v.instancePath}`,
      message: v.message ?? "is invalid",
    }));
    const first = details[0];
    return reply
      .status(400)
      .send(
        errorBody(
          "invalid",
          `invalid request: ${first?.path} ${first?.message}`,
          details,
        ),
      );
  }
  if (error.statusCode === 413) {
    return reply.status(413).send(errorBody("too_large", error.message));
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return reply
      .status(error.statusCode)
      .send(errorBody("bad_request", error.message));
  }
  request.log.error({ err: error, url: request.url }, "request failed");
  return reply
    .status(500)
    .send(
      errorBody("internal", "internal error; the server log has the details"),
    );
}
