import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";
import {
  getMessage,
  listMessages,
  MessageQuery,
  retryMessage,
  sendMessage,
  SendRequest,
} from "./message-service.ts";
import { MessageView, messageView } from "./message-view.ts";
import { registerOutboxRoutes } from "./outbox-routes.ts";
import { registerProviderRoutes } from "./provider-routes.ts";
import { registerSuppressionRoutes } from "./suppression-routes.ts";
import { registerTelegramRoutes } from "./telegram-routes.ts";

/**
 * The delivery admin API: the transactional send (`POST /api/messages/send` with an
 * `Idempotency-Key`) and the ledger (list, one message with its opens and clicks,
 * retry) here; the outbox, providers, suppressions and Telegram in their own files.
 */

const MessageParams = Type.Object({ id: Type.String({ format: "uuid" }) });

const SendHeaders = Type.Object({
  "idempotency-key": Type.Optional(
    Type.String({ minLength: 1, maxLength: 200 }),
  ),
});

const SendAnswer = Type.Object({
  created: Type.Boolean(),
  message: MessageView,
});

/** The delivery admin routes. */
export function registerMessageRoutes(api: App, deps: HttpDeps): void {
  const tags = ["messages"];

  api.post(
    "/messages/send",
    {
      schema: {
        tags,
        summary:
          "Send one message now (order confirmations…): template or inline content, recipient, data. Requires an Idempotency-Key header: the same key never sends twice.",
        headers: SendHeaders,
        body: SendRequest,
        response: {
          200: SendAnswer,
          202: SendAnswer,
          400: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { created, row } = await sendMessage(
        deps,
        request.auth.workspaceId,
        {
          idempotencyKey: request.headers["idempotency-key"],
          request: request.body,
        },
      );
      return reply
        .status(created ? 202 : 200)
        .send({ created, message: messageView(row) });
    },
  );

  api.get(
    "/messages",
    {
      schema: {
        tags,
        summary: "The message ledger, newest first",
        querystring: MessageQuery,
        response: {
          200: Type.Object({
            items: Type.Array(MessageView),
            counts: Type.Record(Type.String(), Type.Integer()),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const page = await listMessages(
        deps,
        request.auth.workspaceId,
        request.query,
      );
      return { ...page, items: page.items.map((row) => messageView(row)) };
    },
  );

  api.get(
    "/messages/:id",
    {
      schema: {
        tags,
        summary:
          "One message: its status and why, the rendered content, its opens, clicks and bounces",
        params: MessageParams,
        response: { 200: MessageView, 404: ErrorBody },
      },
    },
    async (request) => {
      const { row, interactions } = await getMessage(
        deps,
        request.auth.workspaceId,
        request.params.id,
      );
      return { ...messageView(row, true), interactions };
    },
  );

  api.post(
    "/messages/:id/retry",
    {
      schema: {
        tags,
        summary:
          "Queue a failed or skipped message again, on purpose (for `outcome_unknown`: only if it did not arrive)",
        params: MessageParams,
        response: { 200: MessageView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) =>
      messageView(
        await retryMessage(deps, request.auth.workspaceId, request.params.id),
      ),
  );

  registerOutboxRoutes(api, deps);
  registerProviderRoutes(api, deps);
  registerSuppressionRoutes(api, deps);
  registerTelegramRoutes(api, deps);
}
