import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { toMessage, type MessageRow } from "./messages.sql.ts";

/**
 * A ledger row as the admin API shows it (the schema and the mapping), and the keyset
 * cursor of the ledger's pages.
 */

/** A ledger row in API answers. */
export const MessageView = Type.Object({
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

/** A ledger row as the API shows it; `withContent` adds what was sent and its links. */
export function messageView(row: MessageRow, withContent = false) {
  const m = toMessage(row);
  return {
    id: m.id,
    profileId: m.profileId,
    channel: m.channel,
    transactional: m.transactional,
    source: m.source,
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

/** The `next` cursor after a page: its last row's id (UUIDv7, so time-ordered), if full. */
export function nextCursor(rows: MessageRow[], limit: number): string | null {
  const last = rows.at(-1);
  return rows.length === limit && last ? last.id : null;
}

/** The row id a `before` cursor stands for; `invalid` when it is not one of ours. */
export function decodeCursor(cursor: string): string {
  if (!/^[0-9a-f-]{36}$/.test(cursor))
    throw new DomainError("invalid", "before is not a cursor from this API", [
      { path: "/querystring/before", message: "is invalid" },
    ]);
  return cursor;
}
