import type { MessageChannel } from "@herald/core/messages/content";
import type { MessageStatus } from "@herald/core/messages/ledger";
import type { SuppressionReason } from "@herald/core/messages/policy";
import type { Consent } from "@herald/core/profiles/consent";
import type { Queryable, Tx } from "../db/database.ts";
import type { MessageRow } from "./messages.sql.ts";

// The ledger as the sender's queue: claims of due rows (with what the policy needs of
// their profiles), leases, outcomes, interrupted sends, and the counts of what went out
// that rate limits and the frequency cap read.

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

/** What `claimDueMessages` takes, and for whom. */
export interface Claim {
  now: Date;
  limit: number;
  /** The sender that holds the rows, and until when. */
  by: string;
  leaseUntil: Date;
  /** `workspace/channel` pairs whose provider has no room now. */
  busy: string[];
  /** Only this workspace's rows (tests that share a database). */
  workspaceId?: string;
}

/**
 * Claims up to `limit` due rows (queued or deferred, `send_at` reached) whose provider is
 * not paused, oldest first, skipping rows other senders hold: marks them `sending` for
 * `by` until `leaseUntil`, in the caller's transaction. The sender then puts back
 * (`applyClaimUpdates`) the rows the policy skips or defers before it commits.
 */
export async function claimDueMessages(
  tx: Tx,
  claim: Claim,
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
    [
      claim.now,
      claim.limit,
      claim.busy,
      claim.workspaceId ?? null,
      claim.by,
      claim.leaseUntil,
    ],
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
    // The statement's columns are exactly sendingColumns and recipientColumns (I/O).
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

/** Which `sending` rows `lockInterrupted` takes. */
export interface InterruptedScan {
  now: Date;
  /** This sender's id: its own rows are not interrupted. */
  me: string;
  /** Every row held by another sender (the embedded database: only this process sends). */
  allButMe: boolean;
  limit: number;
  /** Only this workspace's rows (tests that share a database). */
  workspaceId?: string;
}

/**
 * Locks `sending` rows whose sender is gone: past their lease, or (`allButMe`, the
 * embedded database, where only this process can be sending) held by anyone else.
 */
export async function lockInterrupted(
  tx: Tx,
  scan: InterruptedScan,
): Promise<MessageRow[]> {
  return tx.query<MessageRow>(
    `select * from messages
      where status = 'sending' and claimed_by is distinct from $2 and (lease_until < $1 or $3)
        and ($5::text is null or workspace_id = $5)
      limit $4 for update skip locked`,
    [scan.now, scan.me, scan.allButMe, scan.limit, scan.workspaceId ?? null],
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

/** Whose marketing `marketingSentSince` counts, and from when. */
export interface CapWindow {
  profileIds: string[];
  since: Date;
  /** Rows being decided now (claimed, so already `sending`): the caller counts those. */
  except: string[];
}

/**
 * When each profile's marketing messages (any channel but webhooks) in the cap's window
 * went out (`first_sending_at`), oldest first: the cap counts them, and the oldest that
 * keep it full say when it allows the next one.
 */
export async function marketingSentSince(
  q: Queryable,
  workspaceId: string,
  window: CapWindow,
): Promise<Map<string, Date[]>> {
  if (window.profileIds.length === 0) return new Map();
  const rows = await q.query<{ profile_id: string; at: Date }>(
    `select profile_id, first_sending_at as at from messages
      where workspace_id = $1 and profile_id = any($2::uuid[]) and not transactional
        and channel <> 'webhook' and first_sending_at >= $3
        and status not in ('failed', 'queued', 'deferred', 'skipped') and id <> all($4::uuid[])
      order by profile_id, first_sending_at`,
    [workspaceId, window.profileIds, window.since, window.except],
  );
  const sent = new Map<string, Date[]>();
  for (const row of rows) {
    const times = sent.get(row.profile_id);
    if (times) times.push(row.at);
    else sent.set(row.profile_id, [row.at]);
  }
  return sent;
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
