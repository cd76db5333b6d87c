import type { MessageChannel } from "@herald/core/messages/content";
import type {
  Message,
  MessageSource,
  MessageStatus,
} from "@herald/core/messages/ledger";
import type { Queryable, Tx } from "../db/database.ts";

// The ledger (`messages`): one row per message, written before any provider sees it. The
// sender's claims and leases on these rows are in send-queue.sql.ts.

/** The channel the message sender listens on for new work. */
export const messagesChannel = "herald_messages";

/** A row of `messages`. */
export type MessageRow = {
  workspace_id: string;
  id: string;
  idempotency_key: string;
  request_hash: string | null;
  profile_id: string;
  channel: MessageChannel;
  transactional: boolean;
  source: MessageSource;
  source_kind: string;
  campaign_id: string | null;
  template_id: string | null;
  template_version: number | null;
  inline_content: Record<string, unknown> | null;
  data: Record<string, unknown>;
  list_id: string | null;
  obey_frequency_cap: boolean;
  skip_when_capped: boolean;
  obey_quiet_hours: boolean;
  to_address: string | null;
  status: MessageStatus;
  reason: string | null;
  decision_step: string | null;
  send_at: Date;
  attempts: number;
  claimed_by: string | null;
  lease_until: Date | null;
  recipient: string | null;
  content: Record<string, unknown> | null;
  links: string[] | null;
  provider: string | null;
  provider_message_id: string | null;
  created_at: Date;
  updated_at: Date;
  first_sending_at: Date | null;
  sent_at: Date | null;
  delivered_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  bounced_at: Date | null;
  complained_at: Date | null;
  unsubscribed_at: Date | null;
};

/** The ledger row as features see it. */
export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    profileId: row.profile_id,
    channel: row.channel,
    transactional: row.transactional,
    source: row.source,
    idempotencyKey: row.idempotency_key,
    templateId: row.template_id,
    templateVersion: row.template_version,
    listId: row.list_id,
    status: row.status,
    reason: row.reason,
    sendAt: row.send_at,
    attempts: row.attempts,
    to: row.recipient ?? row.to_address,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    sentAt: row.sent_at,
  };
}

/** A new ledger row. */
export type NewMessageRow = Pick<
  MessageRow,
  | "workspace_id"
  | "id"
  | "idempotency_key"
  | "request_hash"
  | "profile_id"
  | "channel"
  | "transactional"
  | "source"
  | "campaign_id"
  | "template_id"
  | "template_version"
  | "inline_content"
  | "data"
  | "list_id"
  | "obey_frequency_cap"
  | "skip_when_capped"
  | "obey_quiet_hours"
  | "to_address"
  | "send_at"
  | "created_at"
>;

/** Inserts ledger rows in one statement, skipping keys that exist; returns how many were inserted. */
export async function insertMessages(
  tx: Tx,
  rows: NewMessageRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  return tx.execute(
    `insert into messages (workspace_id, id, idempotency_key, request_hash, profile_id, channel, transactional,
                           source, source_kind, campaign_id, template_id, template_version, inline_content, data,
                           list_id, obey_frequency_cap, skip_when_capped, obey_quiet_hours, to_address, status,
                           send_at, created_at, updated_at)
     select r.workspace_id, r.id, r.idempotency_key, r.request_hash, r.profile_id, r.channel, r.transactional,
            r.source, r.source ->> 'kind', r.campaign_id, r.template_id, r.template_version, r.inline_content,
            coalesce(r.data, '{}'::jsonb), r.list_id, r.obey_frequency_cap, coalesce(r.skip_when_capped, false),
            r.obey_quiet_hours, r.to_address, 'queued', r.send_at, r.created_at, r.created_at
       from jsonb_to_recordset($1::jsonb) as r(workspace_id text, id uuid, idempotency_key text, request_hash text,
            profile_id uuid, channel text, transactional boolean, source jsonb, campaign_id text, template_id text,
            template_version integer, inline_content jsonb, data jsonb, list_id text, obey_frequency_cap boolean,
            skip_when_capped boolean, obey_quiet_hours boolean, to_address text, send_at timestamptz,
            created_at timestamptz)
      order by r.idempotency_key
     on conflict (workspace_id, idempotency_key) do nothing`,
    [JSON.stringify(rows)],
  );
}

/** Inserts a ledger row unless its idempotency key exists; undefined when it existed. */
export async function insertMessage(
  tx: Tx,
  row: NewMessageRow,
): Promise<MessageRow | undefined> {
  const [inserted] = await tx.query<MessageRow>(
    `insert into messages (workspace_id, id, idempotency_key, request_hash, profile_id, channel, transactional,
                           source, source_kind, campaign_id, template_id, template_version, inline_content, data,
                           list_id, obey_frequency_cap, obey_quiet_hours, to_address, status, send_at,
                           created_at, updated_at, skip_when_capped)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8::jsonb ->> 'kind', $9, $10, $11, $12, $13, $14, $15, $16, $17,
             'queued', $18, $19, $19, $20)
     on conflict (workspace_id, idempotency_key) do nothing
     returning *`,
    [
      row.workspace_id,
      row.id,
      row.idempotency_key,
      row.request_hash,
      row.profile_id,
      row.channel,
      row.transactional,
      JSON.stringify(row.source),
      row.campaign_id,
      row.template_id,
      row.template_version,
      row.inline_content === null ? null : JSON.stringify(row.inline_content),
      JSON.stringify(row.data),
      row.list_id,
      row.obey_frequency_cap,
      row.obey_quiet_hours,
      row.to_address,
      row.send_at,
      row.created_at,
      row.skip_when_capped,
    ],
  );
  return inserted;
}

/** The ledger row that holds an idempotency key. */
export async function getMessageByKey(
  q: Queryable,
  workspaceId: string,
  idempotencyKey: string,
): Promise<MessageRow | undefined> {
  const [row] = await q.query<MessageRow>(
    "select * from messages where workspace_id = $1 and idempotency_key = $2",
    [workspaceId, idempotencyKey],
  );
  return row;
}

/** How `setMessageStatus` changes rows. */
export interface MessageStatusChange {
  ids: string[];
  status: MessageStatus;
  reason: string | null;
  now: Date;
  /** When the row is due again (an operator retry), else unchanged. */
  sendAt?: Date;
}

/** Sets rows' status and reason (interrupted rows, operator retries, cancels). */
export async function setMessageStatus(
  tx: Tx,
  workspaceId: string,
  change: MessageStatusChange,
): Promise<void> {
  await tx.query(
    `update messages set status = $3, reason = $4, claimed_by = null, lease_until = null, updated_at = $5,
            send_at = coalesce($6, send_at)
      where workspace_id = $1 and id = any($2::uuid[])`,
    [
      workspaceId,
      change.ids,
      change.status,
      change.reason,
      change.now,
      change.sendAt ?? null,
    ],
  );
}

/** One ledger row. */
export async function getMessageRow(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<MessageRow | undefined> {
  const [row] = await q.query<MessageRow>(
    "select * from messages where workspace_id = $1 and id = $2",
    [workspaceId, id],
  );
  return row;
}

/** One ledger row, locked until the transaction ends. */
export async function lockMessageRow(
  tx: Tx,
  workspaceId: string,
  id: string,
): Promise<MessageRow | undefined> {
  const [row] = await tx.query<MessageRow>(
    "select * from messages where workspace_id = $1 and id = $2 for update",
    [workspaceId, id],
  );
  return row;
}

/**
 * Rows by id, locked in id order: a transaction that changes several rows takes them in
 * one order, so two of them never each hold a row the other waits for.
 */
export async function lockMessageRows(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  return tx.query<MessageRow>(
    "select * from messages where workspace_id = $1 and id = any($2::uuid[]) order by id for update",
    [workspaceId, ids],
  );
}

/** A row by the id the provider gave it. */
export async function findMessageByProviderId(
  q: Queryable,
  workspaceId: string,
  providerMessageId: string,
): Promise<MessageRow | undefined> {
  const [row] = await q.query<MessageRow>(
    "select * from messages where workspace_id = $1 and provider_message_id = $2 limit 1",
    [workspaceId, providerMessageId],
  );
  return row;
}

/** Filters of the ledger listing. */
export interface MessageFilter {
  status?: string;
  channel?: string;
  profileId?: string;
  provider?: string;
  /** Rows older than this id (keyset paging, newest first; ids are time-ordered). */
  before?: string;
  limit: number;
}

/** Ledger rows, newest first. */
export async function listMessageRows(
  q: Queryable,
  workspaceId: string,
  filter: MessageFilter,
): Promise<MessageRow[]> {
  return q.query<MessageRow>(
    `select * from messages
      where workspace_id = $1
        and ($2::text is null or status = $2) and ($3::text is null or channel = $3)
        and ($4::uuid is null or profile_id = $4) and ($5::text is null or provider = $5)
        and ($6::uuid is null or id < $6)
      order by id desc
      limit $7`,
    [
      workspaceId,
      filter.status ?? null,
      filter.channel ?? null,
      filter.profileId ?? null,
      filter.provider ?? null,
      filter.before ?? null,
      filter.limit,
    ],
  );
}

/**
 * The outbox, newest first: what the built-in outbox kept, and what the policy skipped
 * (with its reason), so that a message that did not go out is seen where one looks.
 */
export async function listOutboxRows(
  q: Queryable,
  workspaceId: string,
  filter: { before?: string; limit: number },
): Promise<MessageRow[]> {
  return q.query<MessageRow>(
    `select * from messages
      where workspace_id = $1 and (provider = 'outbox' or status = 'skipped')
        and ($2::uuid is null or id < $2)
      order by id desc
      limit $3`,
    [workspaceId, filter.before ?? null, filter.limit],
  );
}

/** How many rows of a workspace are in each status. */
export async function countByStatus(
  q: Queryable,
  workspaceId: string,
): Promise<Record<string, number>> {
  const rows = await q.query<{ status: string; n: number }>(
    "select status, count(*)::int8 as n from messages where workspace_id = $1 group by status",
    [workspaceId],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

/** The column that records when a kind of news about a sent message came. */
export type EngagementStamp =
  | "delivered_at"
  | "opened_at"
  | "clicked_at"
  | "bounced_at"
  | "complained_at"
  | "unsubscribed_at";

/** News about a sent message as `setEngagement` writes it. */
export interface Engagement {
  id: string;
  status: MessageStatus;
  stamp: EngagementStamp;
  /** Why (a bounce's or complaint's reason), else the row keeps its reason. */
  reason: string | null;
  at: Date;
}

/** Moves a sent message's status forward and stamps when the news came. */
export async function setEngagement(
  tx: Tx,
  workspaceId: string,
  e: Engagement,
): Promise<void> {
  await tx.query(
    `update messages set status = $3, ${e.stamp} = coalesce(${e.stamp}, $5), updated_at = $5,
            reason = coalesce($4, reason)
      where workspace_id = $1 and id = $2`,
    [workspaceId, e.id, e.status, e.reason, e.at],
  );
}

/** Moves a merged profile's ledger rows to the survivor. */
export async function rekeyMessages(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update messages set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** Profiles' ledger rows as the privacy export shows them, oldest first. */
export async function exportMessages(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select id, channel, status, reason, recipient, content, created_at, sent_at from messages
      where workspace_id = $1 and profile_id = any($2::uuid[]) order by created_at`,
    [workspaceId, profileIds],
  );
}

/** Deletes profiles' ledger rows (privacy erasure). */
export async function deleteMessagesOf(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from messages where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
