import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { isDomainError } from "@herald/core/domain-error";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { handleError, statusOf } from "../http/errors.ts";
import {
  answerPreferenceForm,
  getPreferences,
  PreferenceForm,
} from "./preference-centre.ts";
import {
  linkNotFoundPage,
  preferencePage,
  preferencesSavedPage,
  unsubscribedPage,
} from "./preference-pages.ts";
import { registerPushRoutes } from "./push-routes.ts";
import { followClick, recordOpen, type Seen } from "./tracking-service.ts";

/**
 * What shoppers' mail clients and browsers reach, without an API key:
 *
 * - `GET /t/o/<token>`: the open pixel (always a GIF; an open is recorded when the token
 *   is genuine, flagged when a privacy proxy or scanner fetched it).
 * - `GET /t/c/<token>`: a signed click redirect to the message's link (UTM included).
 * - `GET /u/<token>`: a confirmation page and preference centre; never unsubscribes.
 * - `POST /u/<token>`: `List-Unsubscribe=One-Click` (RFC 8058) unsubscribes at once;
 *   the page's forms unsubscribe, pause, or change lists.
 * - `POST|DELETE /v1/push/subscriptions`, `GET /v1/push/vapid-public-key`: browsers
 *   subscribe to web push with the write key (`push-routes.ts`).
 *
 * A link that does not work is a page for the shopper, not a JSON error: those routes
 * render a `not_found` as one, with the status `statusOf` gives it.
 */

const gif = Buffer.from(
  "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7",
  "base64",
);

const html = "text/html; charset=utf-8";

const Token = Type.Object({ token: Type.String() });

/** Where a request came from, as tracking records it. */
function seen(request: FastifyRequest): Seen {
  return {
    ...(request.headers["user-agent"]
      ? { userAgent: request.headers["user-agent"] }
      : {}),
    ip: request.ip,
  };
}

/** Errors of a shopper's page: a link that does not work is a page; the rest as anywhere. */
function pageErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  if (isDomainError(error, "not_found"))
    void reply
      .status(statusOf[error.code])
      .type(html)
      .send(linkNotFoundPage(error.message));
  else void handleError(error, request, reply);
}

/** Registers the public tracking, unsubscribe and push-subscription routes. */
export async function registerTrackingRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  await app.register(async (scope: App) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_request, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    // Some one-click clients post with no or an odd content type: take the text.
    scope.addContentTypeParser(
      ["text/plain", "multipart/form-data"],
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_request, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    scope.get(
      "/t/o/:token",
      { schema: { hide: true, params: Token } },
      async (request, reply) => {
        await recordOpen(deps, request.params.token, seen(request));
        return reply
          .header("content-type", "image/gif")
          .header(
            "cache-control",
            "no-store, no-cache, must-revalidate, private",
          )
          .send(gif);
      },
    );

    scope.get(
      "/t/c/:token",
      { schema: { hide: true, params: Token }, errorHandler: pageErrors },
      async (request, reply) => {
        const url = await followClick(
          deps,
          request.params.token,
          seen(request),
        );
        return reply.header("cache-control", "no-store").redirect(url, 302);
      },
    );

    scope.get(
      "/u/:token",
      { schema: { hide: true, params: Token }, errorHandler: pageErrors },
      async (request, reply) => {
        reply.type(html).header("cache-control", "no-store");
        const preferences = await getPreferences(deps, request.params.token);
        return reply.send(preferencePage(preferences));
      },
    );

    scope.post(
      "/u/:token",
      {
        schema: {
          hide: true,
          params: Token,
          body: Type.Optional(PreferenceForm),
        },
        errorHandler: pageErrors,
      },
      async (request, reply) => {
        const answer = await answerPreferenceForm(deps, request.params.token, {
          form: request.body ?? {},
          seen: seen(request),
        });
        switch (answer.kind) {
          case "one-click":
            return reply.type("text/plain; charset=utf-8").send("unsubscribed");
          case "unsubscribed":
            return reply.type(html).send(unsubscribedPage(answer.page));
          case "saved":
            return reply
              .type(html)
              .send(preferencesSavedPage(answer.preferencesUrl));
        }
      },
    );

    registerPushRoutes(scope, deps);
  });
}
