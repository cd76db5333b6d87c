import type { SuppressionReason } from "@herald/core/messages/policy";
import type { Queryable } from "../db/database.ts";

// Addresses no message goes to (`suppressions`): hard bounces, complaints, manual entries.

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
