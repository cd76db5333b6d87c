import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import {
  extractIdentifiers,
  normalizeEmail,
  normalizePhone,
} from "@herald/core/identity/identifiers";
import { messageChannels } from "@herald/core/messages/content";
import {
  InlineContent,
  messageStatuses,
  type MessageStatus,
} from "@herald/core/messages/ledger";
import type { Tx } from "../db/database.ts";
import { appendEvents } from "../events/event-log.ts";
import { maxVersion } from "../http/input-limits.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { enqueueMessage, hashRequest } from "./message-ledger.ts";
import { listInteractions } from "./message-interactions.sql.ts";
import {
  countByStatus,
  getMessageRow,
  listMessageRows,
  listOutboxRows,
  lockMessageRow,
  messagesChannel,
  setMessageStatus,
  type MessageRow,
} from "./messages.sql.ts";
import { decodeCursor, nextCursor } from "./message-view.ts";
import type { MessagingDeps } from "./messaging-deps.ts";

/**
 * The ledger as the admin API uses it: the transactional send (`POST /api/messages/send`
 * with an `Idempotency-Key`), the ledger's pages and one message with its opens and
 * clicks, an operator's retry, and the outbox.
 */

/** The channels a message can go on. */
export const Channel = Type.Union(messageChannels.map((c) => Type.Literal(c)));

/** A transactional send: the recipient, template or inline content, data. */
export const SendRequest = Type.Object(
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
/** A transactional send, as validated. */
export type SendRequest = Type.Static<typeof SendRequest>;

/** The filters of a ledger page. */
export const MessageQuery = Type.Object({
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
});
/** The filters of a ledger page, as validated. */
export type MessageQuery = Type.Static<typeof MessageQuery>;

/** A page of the outbox. */
export const OutboxQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  before: Type.Optional(Type.String()),
});
/** A page of the outbox, as validated. */
export type OutboxQuery = Type.Static<typeof OutboxQuery>;

/**
 * Queues one transactional message under the caller's idempotency key (prefixed `api:`):
 * the same key never sends twice, and a key reused for a different request is a conflict.
 * Resolves to the ledger row and whether this call created it.
 */
export async function sendMessage(
  deps: Pick<MessagingDeps, "db" | "clock" | "settings">,
  workspaceId: string,
  send: { idempotencyKey: string | undefined; request: SendRequest },
): Promise<{ created: boolean; row: MessageRow }> {
  const { db, clock } = deps;
  const key = send.idempotencyKey;
  const body = send.request;
  if (!key)
    throw new DomainError(
      "invalid",
      "send an Idempotency-Key header (for example the order id and message kind, `order-1001-confirmation`): a retry with the same key never sends twice",
      [{ path: "/headers/idempotency-key", message: "is required" }],
    );
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
    const profileId = await resolveRecipient(tx, workspaceId, {
      to: body.to,
      email,
      phone,
      region: settings.defaultPhoneRegion,
      now,
    });
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
  return { created: result.created, row };
}

/**
 * A page of the ledger, newest first, with the workspace's count per status on the
 * first page (counting scans the workspace's ledger) and the cursor of the next page.
 */
export async function listMessages(
  deps: Pick<MessagingDeps, "db">,
  workspaceId: string,
  q: MessageQuery,
): Promise<{
  items: MessageRow[];
  counts: Record<string, number>;
  next: string | null;
}> {
  const rows = await listMessageRows(deps.db, workspaceId, {
    ...(q.status ? { status: q.status } : {}),
    ...(q.channel ? { channel: q.channel } : {}),
    ...(q.profileId ? { profileId: q.profileId } : {}),
    ...(q.before ? { before: decodeCursor(q.before) } : {}),
    limit: q.limit,
  });
  return {
    items: rows,
    counts: q.before ? {} : await countByStatus(deps.db, workspaceId),
    next: nextCursor(rows, q.limit),
  };
}

/** One message with its interactions (opens, clicks, bounces), or `not_found`. */
export async function getMessage(
  deps: Pick<MessagingDeps, "db">,
  workspaceId: string,
  id: string,
): Promise<{ row: MessageRow; interactions: Record<string, unknown>[] }> {
  const row = await getMessageRow(deps.db, workspaceId, id);
  if (!row) throw new DomainError("not_found", `no message ${id}`);
  return {
    row,
    interactions: await listInteractions(deps.db, workspaceId, row.id),
  };
}

/** The statuses an operator may queue again. */
const retriable: MessageStatus[] = ["failed", "skipped"];

/**
 * Queues a failed or skipped message again, on purpose (for `outcome_unknown`: only if
 * it did not arrive), and wakes the sender; `conflict` for any other status.
 */
export async function retryMessage(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  id: string,
): Promise<MessageRow> {
  const { db } = deps;
  const now = deps.clock.now();
  await db.tx(async (tx) => {
    const row = await lockMessageRow(tx, workspaceId, id);
    if (!row) throw new DomainError("not_found", `no message ${id}`);
    if (!retriable.includes(row.status))
      throw new DomainError(
        "conflict",
        `message ${row.id} is ${row.status}; only failed or skipped messages can be retried`,
      );
    await setMessageStatus(tx, workspaceId, {
      ids: [row.id],
      status: "queued",
      reason: `retried by an operator after: ${row.reason ?? row.status}`,
      now,
      sendAt: now,
    });
    tx.notify(messagesChannel, "");
  });
  const row = await getMessageRow(db, workspaceId, id);
  if (!row) throw new DomainError("not_found", `no message ${id}`);
  return row;
}

/**
 * A page of the outbox, newest first: what the built-in outbox kept and what the policy
 * skipped (with the reason), and the cursor of the next page.
 */
export async function listOutbox(
  deps: Pick<MessagingDeps, "db">,
  workspaceId: string,
  q: OutboxQuery,
): Promise<{ items: MessageRow[]; next: string | null }> {
  const rows = await listOutboxRows(deps.db, workspaceId, {
    limit: q.limit,
    ...(q.before ? { before: decodeCursor(q.before) } : {}),
  });
  return { items: rows, next: nextCursor(rows, q.limit) };
}

/** Who a send is for, as the request named them (addresses already normalized). */
interface Recipient {
  to: { profileId?: string; userId?: string; url?: string };
  email: string | undefined;
  phone: string | undefined;
  region: string | undefined;
  now: Date;
}

/**
 * The profile a send goes to: the given id, else the owner of the user id, email or
 * phone, else a new profile made through ingest (an identify event), so the message and
 * its tracking land on the person's profile.
 */
async function resolveRecipient(
  tx: Tx,
  workspaceId: string,
  recipient: Recipient,
): Promise<string> {
  const { to, email, phone, region, now } = recipient;
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
