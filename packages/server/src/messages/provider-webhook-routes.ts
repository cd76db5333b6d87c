import { createHmac } from "node:crypto";
import type { FastifyRequest } from "fastify";
import Type from "typebox";
import Value from "typebox/value";
import { DomainError } from "@herald/core/domain-error";
import { isJsonObject } from "@herald/core/events/event";
import {
  normalizeEmail,
  normalizePhone,
} from "@herald/core/identity/identifiers";
import {
  asksForOrderStatus,
  constantTimeEqual,
  smsKeyword,
  verifyTelegramStartToken,
} from "@herald/core/messages/tracking";
import type { Tx } from "../db/database.ts";
import { findProfileIdsBy } from "../profiles/identities.sql.ts";
import {
  findMessageByProviderId,
  findTelegramProfile,
  getMessageRow,
  linkTelegramChat,
  lockMessageRows,
  unlinkTelegramChat,
  upsertSuppression,
  type MessageRow,
} from "./messages.sql.ts";
import { listProfileOrders } from "../orders/orders.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import {
  checkBody,
  mailgunNews,
  postmarkNews,
  sendgridNews,
  sesNews,
  type EmailNews,
} from "../providers/email-webhook-news.ts";
import {
  verifyMailgun,
  verifyPostmark,
  verifySendgrid,
} from "../providers/email-webhook-signatures.ts";
import { SnsEnvelope } from "../providers/sns-verifier.ts";
import { TelegramProvider } from "../providers/telegram.ts";
import {
  changeConsent,
  recordMessageNews,
  unsubscribeRecipient,
} from "./message-ledger.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

/**
 * What providers tell Herald, at `POST /webhooks/messages/<provider>/<hook token>` (the
 * token names and authenticates the workspace; `GET /api/messages/providers` lists the
 * URLs to configure):
 *
 * - `ses`: Amazon SES notifications through SNS (Bounce, Complaint, Delivery; the
 *   subscription confirmation is followed), SNS's signature checked (`SnsVerifier`),
 *   topics limited to `email.sesTopicArns` when set.
 * - `sendgrid`: the Event Webhook's JSON array (bounce, spamreport, delivered, unsubscribe),
 *   signed with the key in `email.sendgridVerificationKey`.
 * - `postmark`: Bounce, SpamComplaint, Delivery and SubscriptionChange records, with the
 *   basic auth of `email.postmarkWebhookAuth`.
 * - `mailgun`: webhooks' `event-data` (failed, complained, delivered, unsubscribed),
 *   signed with `email.mailgunSigningKey`.
 *
 * The email providers' requests are refused (403) until their credential is set, and
 * refused (401) when the signature does not match or its timestamp is old.
 * - `twilio`: inbound SMS (STOP / START keywords change SMS consent) and status
 *   callbacks; `X-Twilio-Signature` checked with the workspace's auth token.
 * - `telegram`: bot updates (`/start <token>` links a profile, `/stop`, "where is my
 *   order"); `X-Telegram-Bot-Api-Secret-Token` checked.
 *
 * A message is found by the ledger id Herald put in its Message-ID, headers or metadata;
 * when none is found a hard bounce or complaint still suppresses the address.
 */

const uuidPattern =
  /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/i;

/** The `signature` object of a Mailgun webhook. */
const MailgunSignature = Type.Object({
  timestamp: Type.Union([Type.String(), Type.Integer()]),
  token: Type.String(),
  signature: Type.String(),
});

/** Twilio's form: text fields only. */
const TwilioForm = Type.Record(Type.String(), Type.String());

/** The part of a Telegram update the bot reads. */
const TelegramUpdate = Type.Object({
  message: Type.Optional(
    Type.Object({
      text: Type.Optional(Type.String()),
      chat: Type.Optional(
        Type.Object({ id: Type.Union([Type.Integer(), Type.String()]) }),
      ),
      from: Type.Optional(
        Type.Object({ username: Type.Optional(Type.String()) }),
      ),
    }),
  ),
});

/** Raw JSON bodies by request, for signatures over the bytes as sent. */
const rawBodies = new WeakMap<FastifyRequest, string>();

/** The secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token. */
export function telegramSecret(
  sign: (ws: string, payload: string) => string,
  workspaceId: string,
): string {
  return sign(workspaceId, `tg-webhook.${workspaceId}`);
}

/** Registers the provider webhook routes. */
export async function registerProviderWebhookRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  const { db, clock } = deps;
  const secrets = deps.messaging.secrets;

  async function workspaceOf(token: string): Promise<string> {
    const workspaceId = await secrets.verifyHookToken(token);
    if (!workspaceId)
      throw new DomainError(
        "unauthorized",
        "unknown webhook address: copy it again from GET /api/messages/providers",
      );
    return workspaceId;
  }

  /**
   * Records email news: the ledger row if found, suppressions either way. The rows are
   * found first, then locked together in id order, and the news applied in address
   * order: SendGrid batches the same messages' events in any order, and two requests
   * that locked rows as they came deadlocked on PostgreSQL.
   */
  async function applyEmailNews(
    workspaceId: string,
    items: EmailNews[],
  ): Promise<number> {
    const now = clock.now();
    let matched = 0;
    await db.tx(async (tx) => {
      const found: (string | undefined)[] = [];
      for (const item of items)
        found.push((await findRow(tx, workspaceId, item))?.id);
      const ids = [...new Set(found.filter((id) => id !== undefined))];
      const rows = new Map(
        (await lockMessageRows(tx, workspaceId, ids)).map((r) => [r.id, r]),
      );
      const work = items
        .map((item, i) => ({
          item,
          address: normalizeEmail(item.address),
          row: rows.get(found[i] ?? ""),
        }))
        .sort(
          (a, b) =>
            compare(a.address ?? "", b.address ?? "") ||
            compare(a.row?.id ?? "", b.row?.id ?? ""),
        );
      for (const { item, address, row } of work) {
        if (row) {
          matched++;
          if (item.news === "unsubscribed")
            await unsubscribeRecipient(tx, row, "provider", now);
          else
            await recordMessageNews(tx, {
              workspaceId,
              message: row,
              news: item.news,
              human: true,
              ...(item.bounceType ? { bounceType: item.bounceType } : {}),
              ...(item.reason ? { reason: item.reason.slice(0, 500) } : {}),
              at: now,
            });
        }
        if (!address) continue;
        if (
          (item.news === "bounced" && item.bounceType === "hard") ||
          item.news === "complained"
        ) {
          await upsertSuppression(
            tx,
            workspaceId,
            {
              channel: "email",
              address,
              reason: item.news === "complained" ? "complaint" : "hard_bounce",
              source: "provider webhook",
              detail: item.reason?.slice(0, 500),
            },
            now,
          );
          await reachabilityChanged(tx, workspaceId, {
            channel: "email",
            address,
            now,
          });
        }
      }
    });
    return matched;
  }

  /** The ledger row an item is about, unlocked (applyEmailNews locks them together). */
  async function findRow(
    tx: Tx,
    workspaceId: string,
    item: EmailNews,
  ): Promise<MessageRow | undefined> {
    for (const candidate of item.ids) {
      const id =
        typeof candidate === "string"
          ? uuidPattern.exec(candidate)?.[0]?.toLowerCase()
          : undefined;
      if (!id) continue;
      const row = await getMessageRow(tx, workspaceId, id);
      if (row) return row;
    }
    if (item.providerMessageId)
      return findMessageByProviderId(tx, workspaceId, item.providerMessageId);
    return undefined;
  }

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
    const params = Type.Object({ hook: Type.String() });
    const opts = { schema: { hide: true, params } };

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/ses/:hook",
      opts,
      async (request) => {
        const workspaceId = await workspaceOf(request.params.hook);
        const body = request.body;
        if (!Value.Check(SnsEnvelope, body))
          throw new DomainError(
            "unauthorized",
            "not a signed SNS message: subscribe this URL to the SNS topic SES notifies (Type, MessageId, Message, Timestamp, TopicArn, SignatureVersion, Signature and SigningCertURL are required)",
          );
        await deps.messaging.sns.verify(body);
        const topics = (await deps.settings.get(workspaceId)).email
          ?.sesTopicArns;
        if (topics && !topics.includes(body.TopicArn))
          throw new DomainError(
            "forbidden",
            `the SNS topic ${body.TopicArn} is not in email.sesTopicArns: add it there to accept its notifications`,
          );
        if (body.Type === "SubscriptionConfirmation") {
          const confirmed = await deps.messaging.sns
            .confirm(body.SubscribeURL ?? "")
            .catch((error: unknown) => {
              deps.logger.warn(
                { err: error, workspaceId },
                "could not confirm the SNS subscription",
              );
              return false;
            });
          return { confirmed };
        }
        if (body.Type !== "Notification") return { received: 0 };
        const items = sesNews(body.Message);
        return {
          matched: await applyEmailNews(workspaceId, items),
          received: items.length,
        };
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/sendgrid/:hook",
      opts,
      async (request) => {
        const workspaceId = await workspaceOf(request.params.hook);
        verifySendgrid({
          publicKey: (await deps.settings.get(workspaceId)).email
            ?.sendgridVerificationKey,
          signature: request.headers["x-twilio-email-event-webhook-signature"],
          timestamp: request.headers["x-twilio-email-event-webhook-timestamp"],
          rawBody: rawBodies.get(request) ?? "",
          now: clock.now(),
        });
        const { items, rejected } = sendgridNews(request.body);
        return {
          matched: await applyEmailNews(workspaceId, items),
          received: items.length,
          ...(rejected.length > 0 ? { rejected } : {}),
        };
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/postmark/:hook",
      opts,
      async (request) => {
        const workspaceId = await workspaceOf(request.params.hook);
        verifyPostmark({
          auth: (await deps.settings.get(workspaceId)).email
            ?.postmarkWebhookAuth,
          authorization: request.headers.authorization,
        });
        const items = postmarkNews(request.body);
        return {
          matched: await applyEmailNews(workspaceId, items),
          received: items.length,
        };
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/mailgun/:hook",
      opts,
      async (request) => {
        const workspaceId = await workspaceOf(request.params.hook);
        const body = isJsonObject(request.body) ? request.body : {};
        const signature = body.signature;
        if (!Value.Check(MailgunSignature, signature))
          throw new DomainError(
            "unauthorized",
            "a Mailgun webhook carries signature {timestamp, token, signature}: this one has none",
          );
        verifyMailgun({
          signingKey: (await deps.settings.get(workspaceId)).email
            ?.mailgunSigningKey,
          signature: { ...signature, timestamp: String(signature.timestamp) },
          now: clock.now(),
        });
        const items = mailgunNews(body["event-data"]);
        return {
          matched: await applyEmailNews(workspaceId, items),
          received: items.length,
        };
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/twilio/:hook",
      opts,
      async (request, reply) => {
        const workspaceId = await workspaceOf(request.params.hook);
        const form = checkBody(
          TwilioForm,
          request.body ?? {},
          "/body",
          "Twilio posts a form of text fields",
        );
        const settings = await deps.settings.get(workspaceId);
        const token = settings.sms?.authToken;
        if (token) {
          const url = `${deps.config.publicUrl}${request.url}`;
          if (
            !verifyTwilioSignature(
              token,
              url,
              form,
              request.headers["x-twilio-signature"],
            )
          )
            throw new DomainError(
              "forbidden",
              "X-Twilio-Signature does not match this workspace's Twilio auth token",
            );
        }
        const now = clock.now();
        if (typeof form.MessageStatus === "string" && form.MessageSid) {
          await db.tx(async (tx) => {
            const row = await findMessageByProviderId(
              tx,
              workspaceId,
              form.MessageSid ?? "",
            );
            if (!row) return;
            if (form.MessageStatus === "delivered")
              await recordMessageNews(tx, {
                workspaceId,
                message: row.id,
                news: "delivered",
                human: true,
                at: now,
              });
            else if (
              form.MessageStatus === "undelivered" ||
              form.MessageStatus === "failed"
            )
              await recordMessageNews(tx, {
                workspaceId,
                message: row.id,
                news: "bounced",
                human: true,
                bounceType: ["21211", "21614", "30005", "30006"].includes(
                  form.ErrorCode ?? "",
                )
                  ? "hard"
                  : "soft",
                reason:
                  `Twilio ${form.MessageStatus} ${form.ErrorCode ?? ""}`.trim(),
                at: now,
              });
          });
          return reply
            .type("text/xml")
            .send(
              '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
            );
        }
        const keyword = smsKeyword(form.Body ?? "");
        const phone = normalizePhone(form.From, settings.defaultPhoneRegion);
        if (phone && (keyword === "stop" || keyword === "start")) {
          const profiles = await findProfileIdsBy(db, workspaceId, {
            type: "phone",
            value: phone,
          });
          await db.tx(async (tx) => {
            for (const profileId of profiles)
              await changeConsent(
                tx,
                workspaceId,
                profileId,
                "sms",
                keyword === "stop" ? "unsubscribed" : "subscribed",
                `SMS ${keyword.toUpperCase()}`,
                now,
                { phone },
              );
          });
          deps.logger.info(
            { workspaceId, profiles: profiles.length, keyword },
            "SMS keyword applied",
          );
        }
        // Twilio answers STOP / START / HELP itself (Advanced Opt-Out); an empty reply adds nothing.
        return reply
          .type("text/xml")
          .send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      },
    );

    scope.post<{ Params: { hook: string }; Body: unknown }>(
      "/webhooks/messages/telegram/:hook",
      opts,
      async (request) => {
        const workspaceId = await workspaceOf(request.params.hook);
        const given = request.headers["x-telegram-bot-api-secret-token"];
        if (
          typeof given !== "string" ||
          !constantTimeEqual(given, telegramSecret(secrets.sign, workspaceId))
        )
          throw new DomainError(
            "forbidden",
            "X-Telegram-Bot-Api-Secret-Token does not match: register the webhook with POST /api/messages/telegram/webhook",
          );
        const settings = await deps.settings.get(workspaceId);
        if (!settings.telegram?.botToken) return { ok: true };
        const bot = new TelegramProvider({
          botToken: settings.telegram.botToken,
          baseUrl: settings.telegram.baseUrl ?? "https://api.telegram.org",
        });
        const update = checkBody(
          TelegramUpdate,
          request.body ?? {},
          "/body",
          "not a Telegram update",
        );
        const text = update.message?.text?.trim() ?? "";
        const chatId = update.message?.chat?.id;
        if (chatId === undefined || text === "") return { ok: true };
        const chat = String(chatId);
        const store = settings.storeName ?? "our store";
        const now = clock.now();
        const reply = async (answer: string) => {
          const outcome = await bot.call("sendMessage", {
            chat_id: chat,
            text: answer,
          });
          if (!outcome.ok)
            deps.logger.warn(
              { workspaceId, error: outcome.error },
              "the Telegram bot could not answer",
            );
        };
        const start = /^\/start(?:@\S+)?(?:\s+(\S+))?$/.exec(text);
        if (start) {
          const profileId = start[1]
            ? verifyTelegramStartToken(workspaceId, start[1], secrets.sign)
            : undefined;
          const profile = profileId
            ? await getProfileRow(db, workspaceId, profileId)
            : undefined;
          if (!profile) {
            await reply(
              `Hi! To get messages from ${store} here, open the Telegram link in your account page or in one of our emails.`,
            );
            return { ok: true };
          }
          const id = profile.merged_into ?? profile.id;
          await db.tx(async (tx) => {
            await linkTelegramChat(
              tx,
              workspaceId,
              id,
              chat,
              update.message?.from?.username ?? null,
              now,
            );
            await reachabilityChanged(tx, workspaceId, {
              channel: "telegram",
              profileId: id,
              now,
            });
            await changeConsent(
              tx,
              workspaceId,
              id,
              "telegram",
              "subscribed",
              "telegram /start",
              now,
            );
          });
          await reply(
            `You're connected to ${store}. Ask me "where is my order?" any time; send /stop to stop messages.`,
          );
          return { ok: true };
        }
        if (/^\/stop\b/i.test(text)) {
          const profileId = await findTelegramProfile(db, workspaceId, chat);
          await db.tx(async (tx) => {
            if (profileId)
              await changeConsent(
                tx,
                workspaceId,
                profileId,
                "telegram",
                "unsubscribed",
                "telegram /stop",
                now,
              );
            await unlinkTelegramChat(tx, workspaceId, chat);
            if (profileId)
              await reachabilityChanged(tx, workspaceId, {
                channel: "telegram",
                profileId,
                now,
              });
          });
          await reply(
            `You won't get messages from ${store} here any more. Use your link again to come back.`,
          );
          return { ok: true };
        }
        if (asksForOrderStatus(text)) {
          const profileId = await findTelegramProfile(db, workspaceId, chat);
          if (!profileId) {
            await reply(
              `I don't know who you are yet: open the Telegram link in your ${store} account page, then ask again.`,
            );
            return { ok: true };
          }
          const [latest] = await listProfileOrders(db, workspaceId, [
            profileId,
          ]);
          await reply(
            latest
              ? orderStatusText(latest)
              : `I can't find any order of yours at ${store} yet.`,
          );
          return { ok: true };
        }
        await reply(
          `Ask me "where is my order?" to hear about your latest ${store} order, or send /stop to stop messages.`,
        );
        return { ok: true };
      },
    );
  });
}

/** Orders strings by code unit, the same way in every process. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A string field of a provider's JSON, or "". */
function text(value: unknown): string {
  return typeof value === "string" || typeof value === "number"
    ? String(value)
    : "";
}

/** A shopper-facing sentence about an order. */
export function orderStatusText(order: Record<string, unknown>): string {
  const id = String(order.order_id);
  const placed =
    order.placed_at instanceof Date
      ? order.placed_at.toISOString().slice(0, 10)
      : String(order.placed_at).slice(0, 10);
  const f = isJsonObject(order.fulfillment) ? order.fulfillment : {};
  if (order.status === "cancelled")
    return `Your order ${id} (placed ${placed}) was cancelled.`;
  if (order.status === "refunded")
    return `Your order ${id} (placed ${placed}) was refunded.`;
  const statuses: Record<string, string> = {
    fulfilled: "has been packed and is about to ship",
    shipped: "is on its way",
    delivered: "has been delivered",
    ready_for_pickup: "is ready for pick-up",
  };
  const status =
    statuses[text(f.status)] ?? "has been received and is being prepared";
  const url = text(f.tracking_url);
  const number = text(f.tracking_number);
  const tracking = url
    ? ` Track it here: ${url}`
    : number
      ? ` Tracking number: ${number}.`
      : "";
  return `Your order ${id} (placed ${placed}) ${status}.${tracking}`;
}

/** Checks Twilio's request signature: base64 HMAC-SHA1 of the URL and the sorted form fields. */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  form: Record<string, string>,
  header: string | string[] | undefined,
): boolean {
  if (typeof header !== "string") return false;
  const data =
    url +
    Object.keys(form)
      .sort()
      .map((k) => `${k}${form[k]}`)
      .join("");
  const expected = createHmac("sha1", authToken).update(data).digest("base64");
  return constantTimeEqual(expected, header);
}
