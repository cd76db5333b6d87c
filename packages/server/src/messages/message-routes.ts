import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import {
  extractIdentifiers,
  normalizeEmail,
  normalizePhone,
} from "@herald/core/identity/identifiers";
import { messageChannels } from "@herald/core/messages/content";
import { InlineContent, messageStatuses } from "@herald/core/messages/ledger";
import { telegramStartToken } from "@herald/core/messages/tracking";
import type { Tx } from "../db/database.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import {
  countByStatus,
  deleteDeliveryPause,
  deleteSuppression,
  getMessageRow,
  listDeliveryPauses,
  listInteractions,
  listMessageRows,
  listOutboxRows,
  listSuppressions,
  messagesChannel,
  setMessageStatus,
  toMessage,
  upsertSuppression,
  type MessageRow,
} from "./messages.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { TelegramProvider } from "../providers/telegram.ts";
import { appendEvents } from "../events/ingest-writer.ts";
import { enqueueMessage, hashRequest } from "./message-ledger.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { maxVersion } from "../http/input-limits.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";
import { telegramSecret } from "./provider-webhook-routes.ts";

/**
 * The delivery admin API: the transactional send (`POST /api/messages/send` with an
 * `Idempotency-Key`), the ledger (list, one message with its opens and clicks, retry),
 * the outbox, provider pauses, suppressions, and the addresses to give providers for
 * their webhooks.
 */

const Channel = Type.Union(messageChannels.map((c) => Type.Literal(c)));

const MessageView = Type.Object({
  id: Type.String(),
  profileId: Type.String(),
  channel: Type.String(),
  transactional: Type.Boolean(),
  source: Type.Record(Type.String(), Type.Unknown()),
  idempotencyKey: Type.String(),
  templateId: Type.Union([Type.String(), Type.Null()]),
  templateVersion: Type.Union([Type.Integer(), Type.Null()]),
  listId: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  decisionStep: Type.Union([Type.String(), Type.Null()]),
  sendAt: Type.String({ format: "date-time" }),
  attempts: Type.Integer(),
  to: Type.Union([Type.String(), Type.Null()]),
  provider: Type.Union([Type.String(), Type.Null()]),
  providerMessageId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
  sentAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  deliveredAt: Type.Union([Type.String(), Type.Null()]),
  openedAt: Type.Union([Type.String(), Type.Null()]),
  clickedAt: Type.Union([Type.String(), Type.Null()]),
  bouncedAt: Type.Union([Type.String(), Type.Null()]),
  complainedAt: Type.Union([Type.String(), Type.Null()]),
  unsubscribedAt: Type.Union([Type.String(), Type.Null()]),
  content: Type.Optional(Type.Unknown()),
  links: Type.Optional(Type.Unknown()),
  interactions: Type.Optional(Type.Array(Type.Unknown())),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** A ledger row as the API shows it. */
export function messageView(row: MessageRow, withContent = false) {
  const m = toMessage(row);
  return {
    id: m.id,
    profileId: m.profileId,
    channel: m.channel,
    transactional: m.transactional,
    source: m.source as Record<string, unknown>,
    idempotencyKey: m.idempotencyKey,
    templateId: m.templateId,
    templateVersion: m.templateVersion,
    listId: m.listId,
    status: m.status,
    reason: m.reason,
    decisionStep: row.decision_step,
    sendAt: m.sendAt.toISOString(),
    attempts: m.attempts,
    to: m.to,
    provider: m.provider,
    providerMessageId: m.providerMessageId,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
    sentAt: iso(m.sentAt),
    deliveredAt: iso(row.delivered_at),
    openedAt: iso(row.opened_at),
    clickedAt: iso(row.clicked_at),
    bouncedAt: iso(row.bounced_at),
    complainedAt: iso(row.complained_at),
    unsubscribedAt: iso(row.unsubscribed_at),
    ...(withContent
      ? { content: row.content ?? row.inline_content, links: row.links }
      : {}),
  };
}

const SendBody = Type.Object(
  {
    channel: Channel,
    to: Type.Object(
      {
        profileId: Type.Optional(Type.String({ format: "uuid" })),
        userId: Type.Optional(Type.String({ minLength: 1 })),
        email: Type.Optional(Type.String({ minLength: 3 })),
        phone: Type.Optional(Type.String({ minLength: 3 })),
        url: Type.Optional(
          Type.String({
            pattern: "^https?://",
            maxLength: 2048,
            description: "webhook messages: where to POST",
          }),
        ),
      },
      {
        additionalProperties: false,
        description: "who: a profile id, or identifiers to find or make one",
      },
    ),
    templateId: Type.Optional(Type.String({ minLength: 1 })),
    templateVersion: Type.Optional(
      Type.Integer({ minimum: 1, maximum: maxVersion }),
    ),
    content: Type.Optional(InlineContent),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    transactional: Type.Boolean({ default: true }),
    listId: Type.Optional(Type.String()),
    sendAt: Type.Optional(Type.String({ format: "date-time" })),
    test: Type.Optional(
      Type.Boolean({ description: "a test send: recorded as source test" }),
    ),
  },
  { additionalProperties: false },
);

/** The delivery admin routes. */
export function registerMessageRoutes(api: App, deps: HttpDeps): void {
  const tags = ["messages"];
  const { db, clock } = deps;

  api.post(
    "/messages/send",
    {
      schema: {
        tags,
        summary:
          "Send one message now (order confirmations…): template or inline content, recipient, data. Requires an Idempotency-Key header: the same key never sends twice.",
        headers: Type.Object({
          "idempotency-key": Type.Optional(
            Type.String({ minLength: 1, maxLength: 200 }),
          ),
        }),
        body: SendBody,
        response: {
          200: Type.Object({ created: Type.Boolean(), message: MessageView }),
          202: Type.Object({ created: Type.Boolean(), message: MessageView }),
          400: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const key = request.headers["idempotency-key"];
      if (!key)
        throw new DomainError(
          "invalid",
          "send an Idempotency-Key header (for example the order id and message kind, `order-1001-confirmation`): a retry with the same key never sends twice",
          [{ path: "/headers/idempotency-key", message: "is required" }],
        );
      const body = request.body;
      const workspaceId = request.auth.workspaceId;
      const now = clock.now();
      const settings = await deps.settings.get(workspaceId);
      const email =
        body.to.email === undefined ? undefined : normalizeEmail(body.to.email);
      if (body.to.email !== undefined && !email)
        throw new DomainError("invalid", "to.email is not an email address", [
          { path: "/body/to/email", message: "is not an email address" },
        ]);
      const phone =
        body.to.phone === undefined
          ? undefined
          : normalizePhone(body.to.phone, settings.defaultPhoneRegion);
      if (body.to.phone !== undefined && !phone)
        throw new DomainError(
          "invalid",
          "to.phone is not a phone number (use E.164, like +14155550100)",
          [{ path: "/body/to/phone", message: "is not a phone number" }],
        );
      const result = await db.tx(async (tx) => {
        const profileId = await resolveRecipient(
          tx,
          workspaceId,
          body.to,
          email,
          phone,
          settings.defaultPhoneRegion,
          now,
        );
        return enqueueMessage(
          tx,
          {
            workspaceId,
            profileId,
            channel: body.channel,
            ...(body.templateId ? { templateId: body.templateId } : {}),
            ...(body.templateVersion
              ? { templateVersion: body.templateVersion }
              : {}),
            ...(body.content ? { content: body.content } : {}),
            data: body.data ?? {},
            source: body.test ? { kind: "test" } : { kind: "transactional" },
            idempotencyKey: `api:${key}`,
            transactional: body.transactional,
            ...(body.listId ? { listId: body.listId } : {}),
            ...(body.sendAt ? { sendAt: new Date(body.sendAt) } : {}),
            ...(body.channel === "webhook"
              ? body.to.url
                ? { to: body.to.url }
                : {}
              : body.channel === "email" && email
                ? { to: email }
                : body.channel === "sms" && phone
                  ? { to: phone }
                  : {}),
          },
          now,
          hashRequest(body),
        );
      });
      const row = await getMessageRow(db, workspaceId, result.message.id);
      if (!row) throw new Error("the message vanished");
      return reply
        .status(result.created ? 202 : 200)
        .send({ created: result.created, message: messageView(row) });
    },
  );

  api.get(
    "/messages",
    {
      schema: {
        tags,
        summary: "The message ledger, newest first",
        querystring: Type.Object({
          status: Type.Optional(
            Type.Union(messageStatuses.map((s) => Type.Literal(s))),
          ),
          channel: Type.Optional(Channel),
          profileId: Type.Optional(Type.String({ format: "uuid" })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          before: Type.Optional(
            Type.String({
              description: "the `next` cursor of the previous page",
            }),
          ),
        }),
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
      const q = request.query;
      const rows = await listMessageRows(db, request.auth.workspaceId, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.channel ? { channel: q.channel } : {}),
        ...(q.profileId ? { profileId: q.profileId } : {}),
        ...(q.before ? { before: decodeCursor(q.before) } : {}),
        limit: q.limit,
      });
      const last = rows.at(-1);
      return {
        items: rows.map((row) => messageView(row)),
        // Counting scans the workspace's ledger: on the first page only.
        counts: q.before
          ? {}
          : await countByStatus(db, request.auth.workspaceId),
        next: rows.length === q.limit && last ? encodeCursor(last) : null,
      };
    },
  );

  api.get(
    "/messages/:id",
    {
      schema: {
        tags,
        summary:
          "One message: its status and why, the rendered content, its opens, clicks and bounces",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        response: { 200: MessageView, 404: ErrorBody },
      },
    },
    async (request) => {
      const row = await getMessageRow(
        db,
        request.auth.workspaceId,
        request.params.id,
      );
      if (!row)
        throw new DomainError("not_found", `no message ${request.params.id}`);
      return {
        ...messageView(row, true),
        interactions: await listInteractions(
          db,
          request.auth.workspaceId,
          row.id,
        ),
      };
    },
  );

  api.post(
    "/messages/:id/retry",
    {
      schema: {
        tags,
        summary:
          "Queue a failed or skipped message again, on purpose (for `outcome_unknown`: only if it did not arrive)",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        response: { 200: MessageView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const now = clock.now();
      await db.tx(async (tx) => {
        const row = await getMessageRow(
          tx,
          workspaceId,
          request.params.id,
          true,
        );
        if (!row)
          throw new DomainError("not_found", `no message ${request.params.id}`);
        if (row.status !== "failed" && row.status !== "skipped")
          throw new DomainError(
            "conflict",
            `message ${row.id} is ${row.status}; only failed or skipped messages can be retried`,
          );
        await setMessageStatus(
          tx,
          workspaceId,
          [row.id],
          "queued",
          `retried by an operator after: ${row.reason ?? row.status}`,
          now,
          now,
        );
        tx.notify(messagesChannel, "");
      });
      const row = await getMessageRow(db, workspaceId, request.params.id);
      if (!row)
        throw new DomainError("not_found", `no message ${request.params.id}`);
      return messageView(row);
    },
  );

  api.get(
    "/outbox",
    {
      schema: {
        tags,
        summary:
          "Messages kept by the built-in outbox (no SMTP or SMS provider configured) and messages the sending policy skipped, with the reason (no consent, unsubscribed, suppressed, frequency cap), newest first",
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          before: Type.Optional(Type.String()),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(MessageView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const rows = await listOutboxRows(db, request.auth.workspaceId, {
        limit: request.query.limit,
        ...(request.query.before
          ? { before: decodeCursor(request.query.before) }
          : {}),
      });
      const last = rows.at(-1);
      return {
        items: rows.map((row) => messageView(row, true)),
        next:
          rows.length === request.query.limit && last
            ? encodeCursor(last)
            : null,
      };
    },
  );

  api.get(
    "/messages/providers",
    {
      schema: {
        tags,
        summary:
          "Delivery alerts: providers paused after consecutive errors, with the last error and when sending is tried again",
        response: {
          200: Type.Object({
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
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const pauses = await listDeliveryPauses(db, workspaceId);
      const secrets = await deps.messaging.secrets.load(workspaceId);
      const hook = await deps.messaging.secrets.hookToken(workspaceId);
      const base = `${deps.config.publicUrl}/webhooks/messages`;
      return {
        paused: pauses.map((p) => ({
          channel: p.channel,
          reason: p.reason,
          errors: p.errors,
          pausedAt: p.paused_at.toISOString(),
          retryAt: p.retry_at.toISOString(),
        })),
        webhookUrls: Object.fromEntries(
          ["ses", "sendgrid", "postmark", "mailgun", "twilio", "telegram"].map(
            (p) => [p, `${base}/${p}/${hook}`],
          ),
        ),
        vapidPublicKey: secrets.vapid_public_key,
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
      const resumed = await deleteDeliveryPause(
        db,
        request.auth.workspaceId,
        request.params.channel,
      );
      if (!resumed)
        throw new DomainError(
          "not_found",
          `${String(request.params.channel)} is not paused`,
        );
      await db.notify(messagesChannel, "");
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
      secret: (await deps.messaging.secrets.load(request.auth.workspaceId))
        .webhook_secret,
    }),
  );

  const SuppressionBody = Type.Object(
    {
      channel: Type.Union([Type.Literal("email"), Type.Literal("sms")]),
      address: Type.String({ minLength: 3 }),
      detail: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  );

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
      items: await listSuppressions(
        db,
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
      const address = normalizeAddress(
        request.body.channel,
        request.body.address,
      );
      const { workspaceId } = request.auth;
      const { channel } = request.body;
      const now = clock.now();
      await db.tx(async (tx) => {
        await upsertSuppression(
          tx,
          workspaceId,
          {
            channel,
            address,
            reason: "manual",
            source: "api",
            detail: request.body.detail,
          },
          now,
        );
        await reachabilityChanged(tx, workspaceId, { channel, address, now });
      });
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
          channel: Type.Union([Type.Literal("email"), Type.Literal("sms")]),
          address: Type.String(),
        }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const address = normalizeAddress(
        request.params.channel,
        request.params.address,
      );
      const { workspaceId } = request.auth;
      const { channel } = request.params;
      const now = clock.now();
      const lifted = await db.tx(async (tx) => {
        if (!(await deleteSuppression(tx, workspaceId, channel, address)))
          return false;
        await reachabilityChanged(tx, workspaceId, { channel, address, now });
        return true;
      });
      if (!lifted)
        throw new DomainError("not_found", `${address} is not suppressed`);
      return reply.status(204).send(null);
    },
  );

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
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const settings = await deps.settings.get(workspaceId);
      if (!settings.telegram?.botToken)
        throw new DomainError(
          "invalid",
          "no Telegram bot configured: PATCH /api/workspace/settings with telegram.botToken first",
        );
      const url = `${deps.config.publicUrl}/webhooks/messages/telegram/${await deps.messaging.secrets.hookToken(workspaceId)}`;
      const bot = new TelegramProvider({
        botToken: settings.telegram.botToken,
        baseUrl: settings.telegram.baseUrl ?? "https://api.telegram.org",
      });
      const outcome = await bot.call("setWebhook", {
        url,
        secret_token: telegramSecret(deps.messaging.secrets.sign, workspaceId),
        allowed_updates: ["message"],
      });
      if (!outcome.ok)
        throw new DomainError(
          "invalid",
          `Telegram refused the webhook: ${outcome.error}`,
        );
      return { url };
    },
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
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const settings = await deps.settings.get(workspaceId);
      if (!settings.telegram?.botToken)
        throw new DomainError(
          "invalid",
          "no Telegram bot configured: PATCH /api/workspace/settings with telegram.botToken and telegram.botUsername",
        );
      if (!(await getProfileRow(db, workspaceId, request.params.id)))
        throw new DomainError("not_found", `no profile ${request.params.id}`);
      await deps.messaging.secrets.load(workspaceId);
      const token = telegramStartToken(
        workspaceId,
        request.params.id,
        deps.messaging.secrets.sign,
      );
      return {
        url: `https://t.me/${settings.telegram.botUsername ?? "your_bot"}?start=${token}`,
        token,
      };
    },
  );
}

function normalizeAddress(channel: "email" | "sms", address: string): string {
  const normal =
    channel === "email" ? normalizeEmail(address) : normalizePhone(address);
  if (!normal)
    throw new DomainError(
      "invalid",
      `${address} is not ${channel === "email" ? "an email address" : "an E.164 phone number"}`,
      [{ path: "/address", message: "is invalid" }],
    );
  return normal;
}

/** The `next` cursor after a row: its id (UUIDv7, so time-ordered). */
function encodeCursor(row: MessageRow): string {
  return row.id;
}

function decodeCursor(cursor: string): string {
  if (!/^[0-9a-f-]{36}$/.test(cursor))
    throw new DomainError("invalid", "before is not a cursor from this API", [
      { path: "/querystring/before", message: "is invalid" },
    ]);
  return cursor;
}

/**
 * The profile a send goes to: the given id, else the owner of the user id, email or
 * phone, else a new profile made through ingest (an identify event), so the message and
 * its tracking land on the person's profile.
 */
async function resolveRecipient(
  tx: Tx,
  workspaceId: string,
  to: { profileId?: string; userId?: string; url?: string },
  email: string | undefined,
  phone: string | undefined,
  region: string | undefined,
  now: Date,
): Promise<string> {
  if (to.profileId) {
    const row = await getProfileRow(tx, workspaceId, to.profileId);
    if (!row)
      throw new DomainError("not_found", `no profile ${to.profileId}`, [
        { path: "/body/to/profileId", message: "not found" },
      ]);
    return row.merged_into ?? row.id;
  }
  const event = {
    messageId: `herald-send-${uuidv7(now)}`,
    type: "identify" as const,
    name: null,
    userId: to.userId ?? null,
    anonymousId: null,
    properties: {},
    traits: { ...(email ? { email } : {}), ...(phone ? { phone } : {}) },
    context: {},
    timestamp: now,
    receivedAt: now,
    source: "herald" as const,
    silent: false,
  };
  const identifiers = extractIdentifiers(event, region);
  if (identifiers.length === 0)
    throw new DomainError(
      "invalid",
      "say who gets the message: to.profileId, to.userId, to.email or to.phone",
      [{ path: "/body/to", message: "needs a recipient" }],
    );
  const owners = await findOwners(tx, workspaceId, identifiers);
  const known = identifiers
    .map((id) => owners.get(`${id.type}:${id.value}`))
    .find((p) => p !== undefined);
  if (known) return known;
  await appendEvents(tx, workspaceId, [{ event, identifiers }], now);
  const made = await findOwners(tx, workspaceId, identifiers);
  const id = identifiers
    .map((i) => made.get(`${i.type}:${i.value}`))
    .find((p) => p !== undefined);
  if (!id) throw new Error("the recipient's profile could not be made");
  return id;
}
