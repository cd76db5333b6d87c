import type { Queryable } from "../db/database.ts";

// Providers paused after consecutive errors (`delivery_pauses`): every sender's claim
// skips their rows until `retry_at` or an operator resumes them.

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
