import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";
import {
  liftSuppression,
  listSuppressedAddresses,
  suppressAddress,
} from "./suppression-service.ts";

/** Suppressed addresses: listing them, suppressing one by hand, lifting one. */

const SuppressibleChannel = Type.Union([
  Type.Literal("email"),
  Type.Literal("sms"),
]);

const SuppressionBody = Type.Object(
  {
    channel: SuppressibleChannel,
    address: Type.String({ minLength: 3 }),
    detail: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

/** The suppression routes. */
export function registerSuppressionRoutes(api: App, deps: HttpDeps): void {
  const tags = ["messages"];

  api.get(
    "/suppressions",
    {
      schema: {
        tags,
        summary:
          "Suppressed addresses: hard bounces, complaints, manual entries",
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        }),
      },
    },
    async (request) => ({
      items: await listSuppressedAddresses(
        deps,
        request.auth.workspaceId,
        request.query.limit,
      ),
    }),
  );

  api.post(
    "/suppressions",
    {
      schema: {
        tags,
        summary:
          "Suppress an address by hand (stops marketing and transactional messages to it)",
        body: SuppressionBody,
        response: { 204: Type.Null(), 400: ErrorBody },
      },
    },
    async (request, reply) => {
      await suppressAddress(deps, request.auth.workspaceId, request.body);
      return reply.status(204).send(null);
    },
  );

  api.delete(
    "/suppressions/:channel/:address",
    {
      schema: {
        tags,
        summary: "Lift a suppression",
        params: Type.Object({
          channel: SuppressibleChannel,
          address: Type.String(),
        }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await liftSuppression(deps, request.auth.workspaceId, request.params);
      return reply.status(204).send(null);
    },
  );
}
