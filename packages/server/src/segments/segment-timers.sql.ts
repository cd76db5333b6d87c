import type { Queryable, Tx } from "../db/database.ts";

/**
 * Segment timers (`segment_timers`): per (segment, profile), the instant the answer may
 * flip by time alone; the segment-timers worker takes them when due.
 */

/** The channel notified when segment timers or expiring points are set. */
export const segmentTimersChannel = "herald_segment_timers";

/** Sets (a date) or clears (null) segment timers of profiles. */
export async function setTimers(
  tx: Tx,
  workspaceId: string,
  timers: { segmentId: string; profileId: string; wakeAt: Date | null }[],
): Promise<void> {
  const set = timers.filter((t) => t.wakeAt !== null);
  const clear = timers.filter((t) => t.wakeAt === null);
  if (set.length > 0) {
    tx.notify(segmentTimersChannel);
    await tx.query(
      `insert into segment_timers (workspace_id, segment_id, profile_id, wake_at)
       select $1, s, p, w from unnest($2::text[], $3::uuid[], $4::timestamptz[]) as x(s, p, w)
       on conflict (workspace_id, segment_id, profile_id) do update set wake_at = excluded.wake_at`,
      [
        workspaceId,
        set.map((t) => t.segmentId),
        set.map((t) => t.profileId),
        set.map((t) => t.wakeAt),
      ],
    );
  }
  if (clear.length > 0)
    await tx.query(
      `delete from segment_timers t using unnest($2::text[], $3::uuid[]) as x(s, p)
        where t.workspace_id = $1 and t.segment_id = x.s and t.profile_id = x.p`,
      [
        workspaceId,
        clear.map((t) => t.segmentId),
        clear.map((t) => t.profileId),
      ],
    );
}

/** Timers due by `now`, oldest first (not locked: the caller locks their profiles first). */
export async function dueTimers(
  q: Queryable,
  now: Date,
  limit: number,
  workspaceId: string | null = null,
): Promise<{ workspace_id: string; segment_id: string; profile_id: string }[]> {
  return q.query(
    `select workspace_id, segment_id, profile_id from segment_timers
      where wake_at <= $1 and ($3::text is null or workspace_id = $3) order by wake_at limit $2`,
    [now, limit, workspaceId],
  );
}

/** Deletes the given timers that are still due; returns those deleted (the claim). */
export async function takeTimers(
  tx: Tx,
  workspaceId: string,
  timers: { segmentId: string; profileId: string }[],
  now: Date,
): Promise<{ segment_id: string; profile_id: string }[]> {
  if (timers.length === 0) return [];
  return tx.query(
    `delete from segment_timers t using unnest($2::text[], $3::uuid[]) as x(s, p)
      where t.workspace_id = $1 and t.segment_id = x.s and t.profile_id = x.p and t.wake_at <= $4
      returning t.segment_id, t.profile_id`,
    [
      workspaceId,
      timers.map((t) => t.segmentId),
      timers.map((t) => t.profileId),
      now,
    ],
  );
}

/** The earliest timer of all (of one workspace, if given). */
export async function nextTimerAt(
  q: Queryable,
  workspaceId: string | null = null,
): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    "select min(wake_at) as at from segment_timers where $1::text is null or workspace_id = $1",
    [workspaceId],
  );
  return row?.at ?? undefined;
}
