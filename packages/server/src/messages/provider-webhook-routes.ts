import type { FastifyRequest } from "fastify";
import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import type { App, HttpDeps } from "../http/http-deps.ts";
import {
  receiveMailgunEvent,
  receivePostmarkRecord,
  receiveSendgridEvents,
  receiveSesNotification,
  receiveTwilioRequest,
} from "./provider-webhooks.ts";
import { answerTelegramUpdate } from "./telegram-service.ts";

/**
 * What providers post to `POST /webhooks/messages/<provider>/<hook token>`: SES (through
 * SNS), SendGrid, Postmark, Mailgun, Twilio and Telegram. Each route hands the body as
 * received (with the headers and bytes its signature covers) to the provider's use-case
 * in `provider-webhooks.ts`, which checks the signature before it reads the body.
 */

/** Raw JSON bodies by request, for signatures over the bytes as sent. */
const rawBodies = new WeakMap<FastifyRequest, string>();

/** The empty TwiML answer: Twilio sends nothing back to the shopper. */
const emptyTwiml =
  '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

const Hook = Type.Object({ hook: Type.String() });

/** Registers the provider webhook routes. */
export async function registerProviderWebhookRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  await app.register(async (scope: App) => {
    // SNS posts JSON as text/plain; Twilio posts forms.
    scope.addContentTypeParser(
      "text/plain",
      { parseAs: "string", bodyLimit: 1024 * 1024 },
      (_r, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new DomainError("invalid", "the body is not JSON"), undefined);
        }
      },
    );
    // SendGrid signs the body as sent, so it is kept as received.
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser(
      "application/json",
      { parseAs: "string", bodyLimit: 1024 * 1024 },
      (request, body, done) => {
        rawBodies.set(request, body as string);
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new DomainError("invalid", "the body is not JSON"), undefined);
        }
      },
    );
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 1024 * 1024 },
      (_r, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    // The body is read by the provider's module once its signature holds: a schema here
    // would answer a forged request's bad body with 400 before the 401 it deserves.
    const opts = { schema: { hide: true, params: Hook } };

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/ses/:hook",
      opts,
      async (request) =>
        receiveSesNotification(deps, request.params.hook, request.body),
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/sendgrid/:hook",
      opts,
      async (request) =>
        receiveSendgridEvents(deps, request.params.hook, {
          body: request.body,
          rawBody: rawBodies.get(request) ?? "",
          signature: request.headers["x-twilio-email-event-webhook-signature"],
          timestamp: request.headers["x-twilio-email-event-webhook-timestamp"],
        }),
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/postmark/:hook",
      opts,
      async (request) =>
        receivePostmarkRecord(deps, request.params.hook, {
          body: request.body,
          authorization: request.headers.authorization,
        }),
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/mailgun/:hook",
      opts,
      async (request) =>
        receiveMailgunEvent(deps, request.params.hook, request.body),
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/twilio/:hook",
      opts,
      async (request, reply) => {
        await receiveTwilioRequest(deps, request.params.hook, {
          body: request.body,
          url: `${deps.config.publicUrl}${request.url}`,
          signature: request.headers["x-twilio-signature"],
        });
        return reply.type("text/xml").send(emptyTwiml);
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/telegram/:hook",
      opts,
      async (request) =>
        answerTelegramUpdate(deps, request.params.hook, {
          body: request.body,
          secretToken: request.headers["x-telegram-bot-api-secret-token"],
        }),
    );
  });
}
