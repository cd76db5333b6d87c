import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import {
  isDomainError,
  type DomainErrorCode,
  type ErrorDetail,
} from "@herald/core/domain-error";
import { describeSchemaErrors } from "@herald/core/validation";

/** The one table from domain error codes to HTTP statuses. */
export const statusOf: Record<DomainErrorCode, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
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

/** The longest path parameter the router takes (Fastify's `maxParamLength`). */
export const maxParamLength = 200;

/**
 * Maps anything thrown by a route to a JSON error: domain errors by their code, schema
 * validation failures to 400 with the path of each problem, body limits to 413, the
 * framework's own client errors (an unknown Content-Type, a malformed URL) to their 4xx
 * with the same body, and the rest to a 500 that is logged with its stack and shown
 * without internals.
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
    const details = describeSchemaErrors(
      error.validation,
      `/${error.validationContext ?? ""}`,
    );
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
  const client = clientError(error, request.headers["content-type"]);
  if (client) {
    return reply
      .status(client.status)
      .send(errorBody(client.code, client.message));
  }
  request.log.error({ err: error, url: request.url }, "request failed");
  return reply
    .status(500)
    .send(
      errorBody("internal", "internal error; the server log has the details"),
    );
}

/** The status, code and message of an error the client caused, else undefined. */
export function clientError(
  error: FastifyError,
  contentType: string | undefined,
): { status: number; code: string; message: string } | undefined {
  switch (error.code) {
    case "FST_ERR_BAD_URL":
      return {
        status: 400,
        code: "invalid",
        message: `the URL is not valid: a path holds a % not followed by two hex digits of UTF-8; percent-encode it (${error.message})`,
      };
    case "FST_ERR_MAX_PARAM_LENGTH":
      return {
        status: 400,
        code: "invalid",
        message: `a path parameter is longer than ${maxParamLength} characters; no id is that long`,
      };
  }
  if (error.statusCode === 413)
    return { status: 413, code: "too_large", message: error.message };
  if (error.statusCode === 415)
    return {
      status: 415,
      code: "unsupported_media_type",
      message: `this Content-Type (${JSON.stringify(contentType ?? "")}) is not one this endpoint reads: send Content-Type: application/json`,
    };
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
    return {
      status: error.statusCode,
      code: "bad_request",
      message: error.message,
    };
  return undefined;
}
