import type { MessageChannel } from "@herald/core/messages/content";
import type {
  Message,
  MessageSource,
  MessageStatus,
} from "@herald/core/messages/ledger";
import type { SuppressionReason } from "@herald/core/messages/policy";
import type { Consent, ConsentRecord } from "@herald/core/profiles/consent";
import type { RateLimiterState } from "../providers/rate-limit.ts";
import type { Queryable, Tx } from "../db/database.ts";

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

/** Inserts a ledger row unless its idempotency key exists; returns the row that holds the key. */
export async function insertMessage(
  tx: Tx,
  row: NewMessageRow,
): Promise<{ row: MessageRow; created: boolean }> {
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
  if (inserted) return { row: inserted, created: true };
  const [existing] = await tx.query<MessageRow>(
    "select * from messages where workspace_id = $1 and idempotency_key = $2",
    [row.workspace_id, row.idempotency_key],
  );
  if (!existing) throw new Error("idempotency key vanished during insert");
  return { row: existing, created: false };
}

/** The columns of a ledger row the sender works with (a claim returns only these). */
const sendingColumns = [
  "workspace_id",
  "id",
  "profile_id",
  "channel",
  "transactional",
  "source",
  "campaign_id",
  "template_id",
  "template_version",
  "inline_content",
  "data",
  "list_id",
  "obey_frequency_cap",
  "skip_when_capped",
  "obey_quiet_hours",
  "to_address",
  "status",
  "reason",
  "decision_step",
  "send_at",
  "attempts",
  "recipient",
] as const satisfies readonly (keyof MessageRow)[];

/** A ledger row as the sender holds it while sending. */
export type SendingRow = Pick<MessageRow, (typeof sendingColumns)[number]>;

/**
 * A claimed row, with what it was before the claim (to put it back) and what the policy
 * needs of its profile (undefined when the profile is gone).
 */
export type ClaimedRow = SendingRow & {
  old_status: MessageStatus;
  old_first_sending_at: Date | null;
  recipientFacts: RecipientRow | undefined;
};

/**
 * Claims up to `limit` due rows (queued or deferred, `send_at` reached) whose provider is
 * not paused, oldest first, skipping rows other senders hold: marks them `sending` for
 * `claimedBy` until `leaseUntil`, in the caller's transaction. The sender then puts back
 * (`applyClaimUpdates`) the rows the policy skips or defers before it commits.
 */
export async function claimDueMessages(
  tx: Tx,
  now: Date,
  limit: number,
  claim: { by: string; leaseUntil: Date },
  /** `workspace/channel` pairs whose provider has no room now. */
  busy: string[] = [],
  /** Only this workspace's rows (tests that share a database). */
  workspaceId?: string,
): Promise<ClaimedRow[]> {
  const found = await tx.query<Record<string, unknown>>(
    `with due as (
       select m.workspace_id, m.id, m.status as old_status, m.first_sending_at as old_first_sending_at
         from messages m
        where m.status in ('queued', 'deferred') and m.send_at <= $1
          and not exists (select 1 from delivery_pauses p
                           where p.workspace_id = m.workspace_id and p.channel = m.channel and p.retry_at > $1)
          and (m.workspace_id || '/' || m.channel) <> all($3::text[])
          and ($4::text is null or m.workspace_id = $4)
        order by m.send_at, m.id
        limit $2
        for update of m skip locked)
     , claimed as (
     update messages m set status = 'sending', claimed_by = $5, lease_until = $6, updated_at = $1,
            first_sending_at = coalesce(m.first_sending_at, $1)
       from due where m.workspace_id = due.workspace_id and m.id = due.id
     returning ${sendingColumns.map((k) => `m.${k}`).join(", ")}, due.old_status, due.old_first_sending_at)
     select c.*, ${recipientColumns.map((k) => `r.${k} as r_${k}`).join(", ")}
       from claimed c
       left join lateral (${recipientSelect}
                           where p.workspace_id = c.workspace_id and p.id = c.profile_id) r on true`,
    [now, limit, busy, workspaceId ?? null, claim.by, claim.leaseUntil],
  );
  // The policy's facts come with the claim: one round trip fewer per batch.
  const rows = found.map((raw) => {
    const row: Record<string, unknown> = {
      old_status: raw.old_status,
      old_first_sending_at: raw.old_first_sending_at,
    };
    for (const key of sendingColumns) row[key] = raw[key];
    const facts: Record<string, unknown> = {};
    for (const key of recipientColumns) facts[key] = raw[`r_${key}`];
    row.recipientFacts = facts.id === null ? undefined : facts;
    return row as ClaimedRow;
  });
  // Oldest due first; among equals, the first queued (ids are time-ordered).
  return rows.sort(
    (a, b) =>
      a.send_at.getTime() - b.send_at.getTime() || (a.id < b.id ? -1 : 1),
  );
}

/** The earliest `send_at` of a queued or deferred row, for the sender's timer. */
export async function nextDueAt(q: Queryable): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    "select min(send_at) as at from messages where status in ('queued', 'deferred')",
  );
  return row?.at ?? undefined;
}

/** What becomes of a claimed row the sender does not send now. */
export interface ClaimUpdate {
  id: string;
  status: MessageStatus;
  reason: string | null;
  decision_step: string | null;
  send_at: string;
  recipient: string | null;
  first_sending_at: string | null;
}

/** Puts back claimed rows of a workspace that are skipped, deferred or left for later. */
export async function applyClaimUpdates(
  tx: Tx,
  workspaceId: string,
  updates: ClaimUpdate[],
  now: Date,
): Promise<void> {
  if (updates.length === 0) return;
  await tx.query(
    `update messages m set status = r.status, reason = r.reason, decision_step = r.decision_step,
            send_at = r.send_at, recipient = coalesce(r.recipient, m.recipient),
            claimed_by = null, lease_until = null, updated_at = $3, first_sending_at = r.first_sending_at
       from jsonb_to_recordset($2::jsonb) as r(id uuid, status text, reason text, decision_step text,
            send_at timestamptz, recipient text, first_sending_at timestamptz)
      where m.workspace_id = $1 and m.id = r.id`,
    [workspaceId, JSON.stringify(updates), now],
  );
}

/** The outcome of one provider call. */
export interface SendResult {
  workspace_id: string;
  id: string;
  /** sent; queued (transient error, retry at send_at); failed. */
  status: "sent" | "queued" | "failed";
  reason: string | null;
  send_at: string | null;
  provider: string | null;
  provider_message_id: string | null;
  content: unknown;
  links: string[] | null;
  template_version: number | null;
  recipient: string | null;
  decision_step: string | null;
}

/**
 * Records provider outcomes of rows this sender holds: sent (with the rendered content),
 * back to queued for a retry, or failed. Rows no longer `sending` by `claimedBy` (resolved
 * by another process after a lost lease) are left alone. Returns the ids recorded.
 */
export async function recordSendResults(
  tx: Tx,
  claimedBy: string,
  results: SendResult[],
  now: Date,
): Promise<Set<string>> {
  if (results.length === 0) return new Set();
  const rows = await tx.query<{ id: string }>(
    `update messages m set status = r.status, reason = r.reason,
            send_at = coalesce(r.send_at, m.send_at),
            attempts = m.attempts + 1,
            provider = coalesce(r.provider, m.provider),
            provider_message_id = coalesce(r.provider_message_id, m.provider_message_id),
            content = coalesce(r.content, m.content), links = coalesce(r.links, m.links),
            template_version = coalesce(r.template_version, m.template_version),
            recipient = coalesce(r.recipient, m.recipient),
            decision_step = coalesce(r.decision_step, m.decision_step),
            sent_at = case when r.status = 'sent' then $3 else m.sent_at end,
            claimed_by = null, lease_until = null, updated_at = $3
       from jsonb_to_recordset($1::jsonb) as r(workspace_id text, id uuid, status text, reason text,
            send_at timestamptz, provider text, provider_message_id text, content jsonb, links jsonb,
            template_version integer, recipient text, decision_step text)
      where m.workspace_id = r.workspace_id and m.id = r.id and m.status = 'sending' and m.claimed_by = $2
      returning m.id`,
    [JSON.stringify(results), claimedBy, now],
  );
  return new Set(rows.map((row) => row.id));
}

/** Extends the lease of every row this sender holds. */
export async function renewLeases(
  q: Queryable,
  claimedBy: string,
  until: Date,
): Promise<number> {
  return q.execute(
    "update messages set lease_until = $2 where status = 'sending' and claimed_by = $1",
    [claimedBy, until],
  );
}

/**
 * Locks `sending` rows whose sender is gone: past their lease, or (`allButMe`, the
 * embedded database, where only this process can be sending) held by anyone else.
 */
export async function lockInterrupted(
  tx: Tx,
  now: Date,
  me: string,
  allButMe: boolean,
  limit: number,
  workspaceId?: string,
): Promise<MessageRow[]> {
  return tx.query<MessageRow>(
    `select * from messages
      where status = 'sending' and claimed_by is distinct from $2 and (lease_until < $1 or $3)
        and ($5::text is null or workspace_id = $5)
      limit $4 for update skip locked`,
    [now, me, allButMe, limit, workspaceId ?? null],
  );
}

/** Sets a row's status and reason (interrupted rows, operator retries, cancels). */
export async function setMessageStatus(
  tx: Tx,
  workspaceId: string,
  ids: string[],
  status: MessageStatus,
  reason: string | null,
  now: Date,
  sendAt?: Date,
): Promise<void> {
  await tx.query(
    `update messages set status = $3, reason = $4, claimed_by = null, lease_until = null, updated_at = $5,
            send_at = coalesce($6, send_at)
      where workspace_id = $1 and id = any($2::uuid[])`,
    [workspaceId, ids, status, reason, now, sendAt ?? null],
  );
}

/** One ledger row. */
export async function getMessageRow(
  q: Queryable,
  workspaceId: string,
  id: string,
  lock = false,
): Promise<MessageRow | undefined> {
  const [row] = await q.query<MessageRow>(
    `select * from messages where workspace_id = $1 and id = $2${lock ? " for update" : ""}`,
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

/** A provider's shared rate-limit budget (see `lockDeliveryBudget`). */
export type DeliveryBudgetRow = {
  limits_key: string | null;
  state: RateLimiterState | null;
};

/**
 * Makes sure a provider's budget row exists (empty at first), for `lockDeliveryBudget`:
 * two senders creating it at once wait for each other here instead of both seeding it.
 */
export async function ensureDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  channel: MessageChannel,
): Promise<void> {
  await tx.query(
    `insert into delivery_budgets (workspace_id, channel) values ($1, $2)
     on conflict (workspace_id, channel) do nothing`,
    [workspaceId, channel],
  );
}

/** Locks a provider's budget row until the transaction ends, and reads it. */
export async function lockDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  channel: MessageChannel,
): Promise<DeliveryBudgetRow | undefined> {
  const [row] = await tx.query<DeliveryBudgetRow>(
    "select limits_key, state from delivery_budgets where workspace_id = $1 and channel = $2 for update",
    [workspaceId, channel],
  );
  return row;
}

/** Stores what a provider's budget has used. */
export async function saveDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  channel: MessageChannel,
  limitsKey: string,
  state: RateLimiterState,
): Promise<void> {
  await tx.query(
    "update delivery_budgets set limits_key = $3, state = $4 where workspace_id = $1 and channel = $2",
    [workspaceId, channel, limitsKey, JSON.stringify(state)],
  );
}

/** Messages of a channel handed to a provider since `since` (to seed rate windows). */
export async function countSentSince(
  q: Queryable,
  workspaceId: string,
  channel: MessageChannel,
  since: Date,
): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    `select count(*)::int8 as n from messages
      where workspace_id = $1 and channel = $2 and sent_at >= $3`,
    [workspaceId, channel, since],
  );
  return row?.n ?? 0;
}

/**
 * When each profile's marketing messages (any channel but webhooks) in the cap's window
 * went out (`first_sending_at`), oldest first: the cap counts them, and the oldest that
 * keep it full say when it allows the next one.
 */
export async function marketingSentSince(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
  since: Date,
  /** Rows being decided now (claimed, so already `sending`): the caller counts those. */
  except: string[] = [],
): Promise<Map<string, Date[]>> {
  if (profileIds.length === 0) return new Map();
  const rows = await q.query<{ profile_id: string; at: Date }>(
    `select profile_id, first_sending_at as at from messages
      where workspace_id = $1 and profile_id = any($2::uuid[]) and not transactional
        and channel <> 'webhook' and first_sending_at >= $3
        and status not in ('failed', 'queued', 'deferred', 'skipped') and id <> all($4::uuid[])
      order by profile_id, first_sending_at`,
    [workspaceId, profileIds, since, except],
  );
  const sent = new Map<string, Date[]>();
  for (const row of rows) {
    const times = sent.get(row.profile_id);
    if (times) times.push(row.at);
    else sent.set(row.profile_id, [row.at]);
  }
  return sent;
}

/**
 * Drops the messages a flow run queued that are still waiting (queued, or deferred by the
 * cap or quiet hours) once the run has ended: what they said is stale. Transactional
 * messages still go. Resolves to how many were dropped.
 */
export async function skipPendingRunMessages(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
  runIds: string[],
  reason: string,
  now: Date,
): Promise<number> {
  if (runIds.length === 0) return 0;
  return tx.execute(
    `update messages set status = 'skipped', reason = $4, decision_step = 'flow_ended', updated_at = $5
      where workspace_id = $1 and profile_id = any($2::uuid[]) and source_kind = 'flow'
        and source ->> 'flowRunId' = any($3::text[]) and status in ('queued', 'deferred') and not transactional`,
    [workspaceId, profileIds, runIds, reason, now],
  );
}

/**
 * When each flow run first got a message to its shopper sent (any channel to the
 * profile's own address: not webhooks or team notifications), among the messages sent by
 * `by`; runs with none are absent.
 */
export async function firstSentOfRuns(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
  runIds: string[],
  by: Date,
): Promise<Map<string, Date>> {
  if (runIds.length === 0) return new Map();
  const rows = await q.query<{ run_id: string; at: Date }>(
    `select source ->> 'flowRunId' as run_id, min(sent_at) as at from messages
      where workspace_id = $1 and profile_id = any($2::uuid[]) and source_kind = 'flow'
        and source ->> 'flowRunId' = any($3::text[]) and channel <> 'webhook' and to_address is null
        and sent_at <= $4
      group by 1`,
    [workspaceId, profileIds, runIds, by],
  );
  return new Map(rows.map((row) => [row.run_id, row.at]));
}

/** What the policy needs of each profile. */
export type RecipientRow = {
  id: string;
  email: string | null;
  phone: string | null;
  consent: Consent;
  time_zone: string | null;
  merged_into: string | null;
  paused_until: Date | null;
  telegram_chat: string | null;
  push_subscriptions: number;
  /** The suppression of the profile's own email address and phone number, if any. */
  email_suppression: SuppressionReason | null;
  phone_suppression: SuppressionReason | null;
};

/**
 * What the policy reads of a profile `p`: addresses, consent, time zone, pause, Telegram /
 * push reachability, and suppressions of its own addresses (one row per profile: a pause
 * and a Telegram chat are one per profile at most); `where` conditions on `p` follow it.
 */
const recipientSelect = `select p.id, p.email, p.phone, p.consent, p.time_zone, p.merged_into, pp.until as paused_until,
            t.chat_id as telegram_chat,
            (select count(*) from push_subscriptions s
              where s.workspace_id = p.workspace_id and s.profile_id = p.id)::int8 as push_subscriptions,
            (select x.reason from suppressions x
              where x.workspace_id = p.workspace_id and x.channel = 'email' and x.address = p.email) as email_suppression,
            (select x.reason from suppressions x
              where x.workspace_id = p.workspace_id and x.channel = 'sms' and x.address = p.phone) as phone_suppression
       from profiles p
       left join preference_pauses pp on pp.workspace_id = p.workspace_id and pp.profile_id = p.id
       left join telegram_chats t on t.workspace_id = p.workspace_id and t.profile_id = p.id`;

/** The columns of `recipientSelect`, as the claim returns them (prefixed `r_`). */
const recipientColumns = [
  "id",
  "email",
  "phone",
  "consent",
  "time_zone",
  "merged_into",
  "paused_until",
  "telegram_chat",
  "push_subscriptions",
  "email_suppression",
  "phone_suppression",
] as const satisfies readonly (keyof RecipientRow)[];

/** Moves ledger rows (and the feature's other per-profile rows) of a merged profile. */
export async function rekeyMessagingRows(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  const params = [workspaceId, from, to];
  await tx.query(
    "update messages set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    params,
  );
  await tx.query(
    "update message_interactions set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    params,
  );
  await tx.query(
    "update push_subscriptions set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    params,
  );
  await tx.query(
    `update telegram_chats set profile_id = $3 where workspace_id = $1 and profile_id = $2
        and not exists (select 1 from telegram_chats where workspace_id = $1 and profile_id = $3)`,
    params,
  );
  await tx.query(
    "delete from telegram_chats where workspace_id = $1 and profile_id = $2",
    [workspaceId, from],
  );
  await tx.query(
    "delete from preference_pauses where workspace_id = $1 and profile_id = $2",
    [workspaceId, from],
  );
}

/** Everything delivery holds about profiles, for the privacy export. */
export async function exportMessagingRows(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>> {
  const p = [workspaceId, profileIds];
  const where = "workspace_id = $1 and profile_id = any($2::uuid[])";
  return {
    messages: await q.query(
      `select id, channel, status, reason, recipient, content, created_at, sent_at from messages where ${where} order by created_at`,
      p,
    ),
    interactions: await q.query(
      `select message_id, kind, human, url, at from message_interactions where ${where} order by at`,
      p,
    ),
    pushSubscriptions: await q.query(
      `select endpoint, created_at from push_subscriptions where ${where}`,
      p,
    ),
    telegram: await q.query(
      `select chat_id, username, linked_at from telegram_chats where ${where}`,
      p,
    ),
  };
}

/** Deletes everything delivery holds about profiles (the ledger rows included). */
export async function eraseMessagingRows(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  const p = [workspaceId, profileIds];
  const where = "workspace_id = $1 and profile_id = any($2::uuid[])";
  for (const table of [
    "message_interactions",
    "messages",
    "push_subscriptions",
    "telegram_chats",
    "preference_pauses",
  ])
    await tx.query(`delete from ${table} where ${where}`, p);
}

/** Records an open, click, bounce, complaint, unsubscribe or delivery of a message. */
export async function insertInteraction(
  tx: Tx,
  workspaceId: string,
  i: {
    messageId: string;
    profileId: string;
    kind: string;
    human: boolean;
    reason?: string | undefined;
    linkIndex?: number | undefined;
    url?: string | undefined;
    userAgent?: string | undefined;
    ip?: string | undefined;
    detail?: unknown;
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into message_interactions (workspace_id, message_id, profile_id, kind, human, reason, link_index,
                                       url, user_agent, ip, detail, at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      workspaceId,
      i.messageId,
      i.profileId,
      i.kind,
      i.human,
      i.reason ?? null,
      i.linkIndex ?? null,
      i.url ?? null,
      i.userAgent?.slice(0, 500) ?? null,
      i.ip ?? null,
      i.detail === undefined ? null : JSON.stringify(i.detail),
      i.at,
    ],
  );
}

/** How many clicks a message had in (since, …], and how many human opens / clicks in all. */
export async function interactionCounts(
  q: Queryable,
  workspaceId: string,
  messageId: string,
  since: Date,
): Promise<{ recentClicks: number; humanOpens: number; humanClicks: number }> {
  const [row] = await q.query<{
    recent_clicks: number;
    human_opens: number;
    human_clicks: number;
  }>(
    `select count(*) filter (where kind = 'click' and at > $3)::int8 as recent_clicks,
            count(*) filter (where kind = 'open' and human)::int8 as human_opens,
            count(*) filter (where kind = 'click' and human)::int8 as human_clicks
       from message_interactions where workspace_id = $1 and message_id = $2`,
    [workspaceId, messageId, since],
  );
  return {
    recentClicks: row?.recent_clicks ?? 0,
    humanOpens: row?.human_opens ?? 0,
    humanClicks: row?.human_clicks ?? 0,
  };
}

/** The interactions of a message, oldest first. */
export async function listInteractions(
  q: Queryable,
  workspaceId: string,
  messageId: string,
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select kind, human, reason, link_index, url, user_agent, ip, detail, at
       from message_interactions where workspace_id = $1 and message_id = $2 order by at, id`,
    [workspaceId, messageId],
  );
}

/** Moves a sent message's status forward and stamps when the news came. */
export async function setEngagement(
  tx: Tx,
  workspaceId: string,
  id: string,
  status: MessageStatus,
  stamp:
    | "delivered_at"
    | "opened_at"
    | "clicked_at"
    | "bounced_at"
    | "complained_at"
    | "unsubscribed_at",
  reason: string | null,
  at: Date,
): Promise<void> {
  await tx.query(
    `update messages set status = $3, ${stamp} = coalesce(${stamp}, $5), updated_at = $5,
            reason = coalesce($4, reason)
      where workspace_id = $1 and id = $2`,
    [workspaceId, id, status, reason, at],
  );
}

/** Suppressed addresses among `addresses` of a channel. */
export async function findSuppressions(
  q: Queryable,
  workspaceId: string,
  channel: string,
  addresses: string[],
): Promise<Map<string, SuppressionReason>> {
  if (addresses.length === 0) return new Map();
  const rows = await q.query<{ address: string; reason: SuppressionReason }>(
    "select address, reason from suppressions where workspace_id = $1 and channel = $2 and address = any($3::text[])",
    [workspaceId, channel, addresses],
  );
  return new Map(rows.map((row) => [row.address, row.reason]));
}

/** Suppresses an address; a complaint or manual entry outranks a hard bounce. */
export async function upsertSuppression(
  q: Queryable,
  workspaceId: string,
  s: {
    channel: string;
    address: string;
    reason: SuppressionReason;
    source: string;
    detail?: string | undefined;
  },
  now: Date,
): Promise<void> {
  await q.query(
    `insert into suppressions (workspace_id, channel, address, reason, source, detail, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (workspace_id, channel, address) do update
       set reason = case when suppressions.reason = 'hard_bounce' then excluded.reason else suppressions.reason end,
           detail = coalesce(excluded.detail, suppressions.detail)`,
    [
      workspaceId,
      s.channel,
      s.address,
      s.reason,
      s.source,
      s.detail ?? null,
      now,
    ],
  );
}

/** Lifts a suppression; false when there was none. */
export async function deleteSuppression(
  q: Queryable,
  workspaceId: string,
  channel: string,
  address: string,
): Promise<boolean> {
  return (
    (await q.execute(
      "delete from suppressions where workspace_id = $1 and channel = $2 and address = $3",
      [workspaceId, channel, address],
    )) > 0
  );
}

/** The workspace's suppressions, newest first. */
export async function listSuppressions(
  q: Queryable,
  workspaceId: string,
  limit: number,
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select channel, address, reason, source, detail, created_at from suppressions
      where workspace_id = $1 order by created_at desc, address limit $2`,
    [workspaceId, limit],
  );
}

/** Delivery's secrets of a workspace. */
export type SecretsRow = {
  signing_key: string;
  webhook_secret: string;
  vapid_public_key: string;
  vapid_private_key: string;
};

/** The workspace's secrets, if made. */
export async function getSecrets(
  q: Queryable,
  workspaceId: string,
): Promise<SecretsRow | undefined> {
  const [row] = await q.query<SecretsRow>(
    "select signing_key, webhook_secret, vapid_public_key, vapid_private_key from messaging_secrets where workspace_id = $1",
    [workspaceId],
  );
  return row;
}

/** Stores secrets unless another process stored them first; returns the stored ones. */
export async function insertSecrets(
  q: Queryable,
  workspaceId: string,
  secrets: SecretsRow,
  now: Date,
): Promise<SecretsRow | undefined> {
  await q.query(
    `insert into messaging_secrets (workspace_id, signing_key, webhook_secret, vapid_public_key, vapid_private_key, created_at)
     select $1, $2, $3, $4, $5, $6 where exists (select 1 from workspaces where id = $1)
     on conflict (workspace_id) do nothing`,
    [
      workspaceId,
      secrets.signing_key,
      secrets.webhook_secret,
      secrets.vapid_public_key,
      secrets.vapid_private_key,
      now,
    ],
  );
  return getSecrets(q, workspaceId);
}

/** A browser's push subscription. */
export type PushSubscriptionRow = {
  endpoint: string;
  profile_id: string;
  p256dh: string;
  auth: string;
};

/** Stores (or moves to this profile) a push subscription. */
export async function upsertPushSubscription(
  tx: Tx,
  workspaceId: string,
  s: PushSubscriptionRow & { user_agent: string | null },
  now: Date,
): Promise<void> {
  await tx.query(
    `insert into push_subscriptions (workspace_id, endpoint, profile_id, p256dh, auth, user_agent, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (workspace_id, endpoint) do update
       set profile_id = excluded.profile_id, p256dh = excluded.p256dh, auth = excluded.auth,
           user_agent = excluded.user_agent`,
    [
      workspaceId,
      s.endpoint,
      s.profile_id,
      s.p256dh,
      s.auth,
      s.user_agent,
      now,
    ],
  );
}

/**
 * Removes a push subscription (the browser left, or the push service said 404/410);
 * resolves to the profile it was for, if there was one.
 */
export async function deletePushSubscription(
  q: Queryable,
  workspaceId: string,
  endpoint: string,
): Promise<string | undefined> {
  const [row] = await q.query<{ profile_id: string }>(
    "delete from push_subscriptions where workspace_id = $1 and endpoint = $2 returning profile_id",
    [workspaceId, endpoint],
  );
  return row?.profile_id;
}

/** A profile's push subscriptions. */
export async function listPushSubscriptions(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<PushSubscriptionRow[]> {
  return q.query<PushSubscriptionRow>(
    `select endpoint, profile_id, p256dh, auth from push_subscriptions
      where workspace_id = $1 and profile_id = $2 order by created_at`,
    [workspaceId, profileId],
  );
}

/** Links a Telegram chat to a profile (a chat belongs to one profile at a time). */
export async function linkTelegramChat(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  chatId: string,
  username: string | null,
  now: Date,
): Promise<void> {
  await tx.query(
    "delete from telegram_chats where workspace_id = $1 and chat_id = $2",
    [workspaceId, chatId],
  );
  await tx.query(
    `insert into telegram_chats (workspace_id, profile_id, chat_id, username, linked_at)
     values ($1, $2, $3, $4, $5)
     on conflict (workspace_id, profile_id) do update
       set chat_id = excluded.chat_id, username = excluded.username, linked_at = excluded.linked_at`,
    [workspaceId, profileId, chatId, username, now],
  );
}

/** The profile a Telegram chat is linked to. */
export async function findTelegramProfile(
  q: Queryable,
  workspaceId: string,
  chatId: string,
): Promise<string | undefined> {
  const [row] = await q.query<{ profile_id: string }>(
    "select profile_id from telegram_chats where workspace_id = $1 and chat_id = $2",
    [workspaceId, chatId],
  );
  return row?.profile_id;
}

/** Unlinks a Telegram chat (the shopper sent /stop or blocked the bot). */
export async function unlinkTelegramChat(
  q: Queryable,
  workspaceId: string,
  chatId: string,
): Promise<void> {
  await q.query(
    "delete from telegram_chats where workspace_id = $1 and chat_id = $2",
    [workspaceId, chatId],
  );
}

/** Pauses a profile's marketing until `until` (the preference centre). */
export async function setPreferencePause(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  until: Date | null,
): Promise<void> {
  if (until === null) {
    await tx.query(
      "delete from preference_pauses where workspace_id = $1 and profile_id = $2",
      [workspaceId, profileId],
    );
    return;
  }
  await tx.query(
    `insert into preference_pauses (workspace_id, profile_id, until) values ($1, $2, $3)
     on conflict (workspace_id, profile_id) do update set until = excluded.until`,
    [workspaceId, profileId, until],
  );
}

/**
 * Sets one channel's consent on a profile, last-write-wins by `record.at` like the event
 * processor does, so the `Unsubscribed` / `Subscribed` event written beside it changes
 * nothing more when processed.
 */
export async function setProfileConsent(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  channel: string,
  record: ConsentRecord,
): Promise<void> {
  await tx.query(
    `update profiles set consent = jsonb_set(consent, array[$3::text], $4::jsonb)
      where workspace_id = $1 and id = $2
        and coalesce(consent -> $3 ->> 'at', '') <= $5`,
    [workspaceId, profileId, channel, JSON.stringify(record), record.at],
  );
}

/** A provider paused after consecutive errors. */
export type DeliveryPauseRow = {
  workspace_id: string;
  channel: string;
  reason: string;
  errors: number;
  paused_at: Date;
  retry_at: Date;
};

/** Pauses a workspace's provider for a channel until `retryAt`. */
export async function upsertDeliveryPause(
  q: Queryable,
  pause: DeliveryPauseRow,
): Promise<void> {
  await q.query(
    `insert into delivery_pauses (workspace_id, channel, reason, errors, paused_at, retry_at)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (workspace_id, channel) do update
       set reason = excluded.reason, errors = excluded.errors, retry_at = excluded.retry_at`,
    [
      pause.workspace_id,
      pause.channel,
      pause.reason,
      pause.errors,
      pause.paused_at,
      pause.retry_at,
    ],
  );
}

/** Resumes a provider; false when it was not paused. */
export async function deleteDeliveryPause(
  q: Queryable,
  workspaceId: string,
  channel: string,
): Promise<boolean> {
  return (
    (await q.execute(
      "delete from delivery_pauses where workspace_id = $1 and channel = $2",
      [workspaceId, channel],
    )) > 0
  );
}

/** Paused providers, of one workspace or all. */
export async function listDeliveryPauses(
  q: Queryable,
  workspaceId?: string,
): Promise<DeliveryPauseRow[]> {
  return q.query<DeliveryPauseRow>(
    "select * from delivery_pauses where ($1::text is null or workspace_id = $1) order by paused_at",
    [workspaceId ?? null],
  );
}
