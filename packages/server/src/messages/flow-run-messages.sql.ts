import type { Queryable, Tx } from "../db/database.ts";

// The ledger as flows read and change it, by flow run: a run that ends drops what it
// still holds back, and a goal counts only after the run's first message went out.

/** The flow runs `skipPendingRunMessages` drops the waiting messages of, and why. */
export interface EndedRuns {
  profileIds: string[];
  runIds: string[];
  reason: string;
  now: Date;
}

/**
 * Drops the messages a flow run queued that are still waiting (queued, or deferred by the
 * cap or quiet hours) once the run has ended: what they said is stale. Transactional
 * messages still go. Resolves to how many were dropped.
 */
export async function skipPendingRunMessages(
  tx: Tx,
  workspaceId: string,
  ended: EndedRuns,
): Promise<number> {
  if (ended.runIds.length === 0) return 0;
  return tx.execute(
    `update messages set status = 'skipped', reason = $4, decision_step = 'flow_ended', updated_at = $5
      where workspace_id = $1 and profile_id = any($2::uuid[]) and source_kind = 'flow'
        and source ->> 'flowRunId' = any($3::text[]) and status in ('queued', 'deferred') and not transactional`,
    [workspaceId, ended.profileIds, ended.runIds, ended.reason, ended.now],
  );
}

/** The flow runs `firstSentOfRuns` looks at, and the instant it looks up to. */
export interface RunsSentBy {
  profileIds: string[];
  runIds: string[];
  by: Date;
}

/**
 * When each flow run first got a message to its shopper sent (any channel to the
 * profile's own address: not webhooks or team notifications), among the messages sent by
 * `by`; runs with none are absent.
 */
export async function firstSentOfRuns(
  q: Queryable,
  workspaceId: string,
  runs: RunsSentBy,
): Promise<Map<string, Date>> {
  if (runs.runIds.length === 0) return new Map();
  const rows = await q.query<{ run_id: string; at: Date }>(
    `select source ->> 'flowRunId' as run_id, min(sent_at) as at from messages
      where workspace_id = $1 and profile_id = any($2::uuid[]) and source_kind = 'flow'
        and source ->> 'flowRunId' = any($3::text[]) and channel <> 'webhook' and to_address is null
        and sent_at <= $4
      group by 1`,
    [workspaceId, runs.profileIds, runs.runIds, runs.by],
  );
  return new Map(rows.map((row) => [row.run_id, row.at]));
}
