import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";
import { Channel } from "./message-service.ts";
import {
  getProviderStatus,
  getWebhookSecret,
  resumeProvider,
} from "./provider-service.ts";

/**
 * The providers as an operator sees them: delivery alerts (providers paused after
 * consecutive errors) and resuming one, the webhook addresses to give each provider, and
 * the secret outgoing webhooks are signed with.
 */

const ProviderStatus = Type.Object({
  paused: Type.Array(
    Type.Object({
      channel: Type.String(),
      reason: Type.String(),
      errors: Type.Integer(),
      pausedAt: Type.String(),
      retryAt: Type.String(),
    }),
  ),
  webhookUrls: Type.Record(Type.String(), Type.String()),
  vapidPublicKey: Type.String(),
});

/** The provider admin routes. */
export function registerProviderRoutes(api: App, deps: HttpDeps): void {
  const tags = ["messages"];

  api.get(
    "/messages/providers",
    {
      schema: {
        tags,
        summary:
          "Delivery alerts: providers paused after consecutive errors, with the last error and when sending is tried again",
        response: { 200: ProviderStatus },
      },
    },
    async (request) => {
      const status = await getProviderStatus(deps, request.auth.workspaceId);
      return {
        ...status,
        paused: status.paused.map((p) => ({
          channel: p.channel,
          reason: p.reason,
          errors: p.errors,
          pausedAt: p.paused_at.toISOString(),
          retryAt: p.retry_at.toISOString(),
        })),
      };
    },
  );

  api.post(
    "/messages/providers/:channel/resume",
    {
      schema: {
        tags,
        summary: "Resume a paused provider now",
        params: Type.Object({ channel: Channel }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await resumeProvider(
        deps,
        request.auth.workspaceId,
        request.params.channel,
      );
      return reply.status(204).send(null);
    },
  );

  api.get(
    "/messages/webhook-secret",
    {
      schema: {
        tags,
        summary:
          "The secret outgoing webhooks are signed with (X-Herald-Signature: v1=HMAC-SHA256(secret, timestamp.body))",
        response: { 200: Type.Object({ secret: Type.String() }) },
      },
    },
    async (request) => ({
      secret: await getWebhookSecret(deps, request.auth.workspaceId),
    }),
  );
}
