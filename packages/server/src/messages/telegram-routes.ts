import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";
import { connectTelegramBot, getTelegramLink } from "./telegram-service.ts";

/** The workspace's Telegram bot: pointing it at Herald, and a shopper's deep link. */
export function registerTelegramRoutes(api: App, deps: HttpDeps): void {
  const tags = ["messages"];

  api.post(
    "/messages/telegram/webhook",
    {
      schema: {
        tags,
        summary:
          "Point the workspace's Telegram bot at Herald (setWebhook with the secret token)",
        response: { 200: Type.Object({ url: Type.String() }), 400: ErrorBody },
      },
    },
    async (request) => ({
      url: await connectTelegramBot(deps, request.auth.workspaceId),
    }),
  );

  api.get(
    "/profiles/:id/telegram-link",
    {
      schema: {
        tags,
        summary:
          "The deep link that connects this shopper's Telegram to their profile (t.me/<bot>?start=<token>)",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        response: {
          200: Type.Object({ url: Type.String(), token: Type.String() }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) =>
      getTelegramLink(deps, request.auth.workspaceId, request.params.id),
  );
}
