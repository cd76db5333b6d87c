import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { listOutbox, OutboxQuery } from "./message-service.ts";
import { MessageView, messageView } from "./message-view.ts";

/** The outbox: what the built-in outbox kept and what the sending policy skipped. */
export function registerOutboxRoutes(api: App, deps: HttpDeps): void {
  api.get(
    "/outbox",
    {
      schema: {
        tags: ["messages"],
        summary:
          "Messages kept by the built-in outbox (no SMTP or SMS provider configured) and messages the sending policy skipped, with the reason (no consent, unsubscribed, suppressed, frequency cap), newest first",
        querystring: OutboxQuery,
        response: {
          200: Type.Object({
            items: Type.Array(MessageView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const page = await listOutbox(
        deps,
        request.auth.workspaceId,
        request.query,
      );
      return {
        ...page,
        items: page.items.map((row) => messageView(row, true)),
      };
    },
  );
}
