import type { Queryable, Tx } from "../db/database.ts";
import { segmentTimersChannel } from "../segments/segment-timers.sql.ts";

/**
 * Points and totals: every award (`score_points`, with its expiry) and each profile's
 * total per score (`profile_scores`, with its next expiry, which the segment-timers worker
 * watches).
 */

/** Points given to a profile. */
export interface Award {
  profileId: string;
  score: string;
  points: number;
  source: string;
  expiresAt: Date | null;
}

/** A profile's score before and after a change. */
export interface ScoreChange {
  profileId: string;
  score: string;
  before: number;
  after: number;
}

/** Records points and raises the profiles' totals; returns each total before and after. */
export async function awardPoints(
  tx: Tx,
  workspaceId: string,
  awards: Award[],
  at: Date,
): Promise<ScoreChange[]> {
  if (awards.length === 0) return [];
  if (awards.some((a) => a.expiresAt)) tx.notify(segmentTimersChannel);
  const rows = await tx.query<{
    profile_id: string;
    score: string;
    value: number;
    delta: number;
  }>(
    `with pts as (
       insert into score_points (workspace_id, profile_id, score, points, source, awarded_at, expires_at)
       select $1, r.profile_id, r.score, r.points, r.source, $3, r.expires_at
         from jsonb_to_recordset($2::jsonb) as r(profile_id uuid, score text, points integer, source text,
              expires_at timestamptz)
       returning profile_id, score, points, expires_at),
     agg as (select profile_id, score, sum(points)::integer as delta, min(expires_at) as expires_at
               from pts group by profile_id, score),
     up as (
       insert into profile_scores (workspace_id, profile_id, score, value, next_expiry_at, updated_at)
       select $1, profile_id, score, delta, expires_at, $3 from agg
       on conflict (workspace_id, profile_id, score) do update
         set value = profile_scores.value + excluded.value,
             next_expiry_at = least(profile_scores.next_expiry_at, excluded.next_expiry_at),
             updated_at = excluded.updated_at
       returning profile_id, score, value)
     select up.profile_id, up.score, up.value, agg.delta from up
       join agg on agg.profile_id = up.profile_id and agg.score = up.score`,
    [
      workspaceId,
      JSON.stringify(
        awards.map((a) => ({
          profile_id: a.profileId,
          score: a.score,
          points: a.points,
          source: a.source,
          expires_at: a.expiresAt?.toISOString() ?? null,
        })),
      ),
      at,
    ],
  );
  return rows.map((r) => ({
    profileId: r.profile_id,
    score: r.score,
    before: r.value - r.delta,
    after: r.value,
  }));
}

/** Scores whose next points expire by `now` (not locked: the caller locks the profiles). */
export async function dueExpiries(
  q: Queryable,
  now: Date,
  limit: number,
  workspaceId: string | null = null,
): Promise<{ workspace_id: string; profile_id: string; score: string }[]> {
  return q.query(
    `select workspace_id, profile_id, score from profile_scores
      where next_expiry_at <= $1 and ($3::text is null or workspace_id = $3)
      order by next_expiry_at limit $2`,
    [now, limit, workspaceId],
  );
}

/** The earliest expiry of anyone's points (of one workspace, if given). */
export async function nextExpiryAt(
  q: Queryable,
  workspaceId: string | null = null,
): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    `select min(next_expiry_at) as at from profile_scores
      where next_expiry_at is not null and ($1::text is null or workspace_id = $1)`,
    [workspaceId],
  );
  return row?.at ?? undefined;
}

/**
 * Drops expired points and recomputes every score total of the given profiles; returns
 * each total before and after.
 */
export async function recomputeScores(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
  now: Date,
): Promise<ScoreChange[]> {
  if (profileIds.length === 0) return [];
  await tx.query(
    `delete from score_points where workspace_id = $1 and profile_id = any($2::uuid[]) and expires_at <= $3`,
    [workspaceId, profileIds, now],
  );
  const rows = await tx.query<{
    profile_id: string;
    score: string;
    before: number;
    after: number;
  }>(
    `with totals as (
       select profile_id, score, sum(points)::integer as value, min(expires_at) as next_expiry_at
         from score_points where workspace_id = $1 and profile_id = any($2::uuid[])
        group by profile_id, score),
     old as (
       select profile_id, score, value from profile_scores where workspace_id = $1 and profile_id = any($2::uuid[])),
     del as (
       delete from profile_scores s where s.workspace_id = $1 and s.profile_id = any($2::uuid[])
          and not exists (select 1 from totals t where t.profile_id = s.profile_id and t.score = s.score)),
     up as (
       insert into profile_scores (workspace_id, profile_id, score, value, next_expiry_at, updated_at)
       select $1, profile_id, score, value, next_expiry_at, $3 from totals
       on conflict (workspace_id, profile_id, score) do update
         set value = excluded.value, next_expiry_at = excluded.next_expiry_at, updated_at = excluded.updated_at)
     select coalesce(t.profile_id, o.profile_id) as profile_id, coalesce(t.score, o.score) as score,
            coalesce(o.value, 0) as before, coalesce(t.value, 0) as after
       from totals t full join old o on o.profile_id = t.profile_id and o.score = t.score`,
    [workspaceId, profileIds, now],
  );
  return rows.map((r) => ({
    profileId: r.profile_id,
    score: r.score,
    before: r.before,
    after: r.after,
  }));
}

/** A profile's current scores. */
export async function scoresOf(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<{ score: string; value: number; next_expiry_at: Date | null }[]> {
  return q.query(
    "select score, value, next_expiry_at from profile_scores where workspace_id = $1 and profile_id = $2 order by score",
    [workspaceId, profileId],
  );
}

/** Moves a merged profile's points to the survivor (totals are recomputed after). */
export async function moveScorePoints(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update score_points set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
  await tx.query(
    "delete from profile_scores where workspace_id = $1 and profile_id = $2",
    [workspaceId, from],
  );
}

/** Profiles' scores and points, for a privacy export. */
export async function exportScores(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<{ totals: unknown[]; points: unknown[] }> {
  const totals = await q.query(
    "select score, value from profile_scores where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
  const points = await q.query(
    `select score, points, source, awarded_at, expires_at from score_points
      where workspace_id = $1 and profile_id = any($2::uuid[]) order by id`,
    [workspaceId, profileIds],
  );
  return { totals, points };
}

/** Erases profiles' scores and points. */
export async function eraseScores(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  for (const table of ["score_points", "profile_scores"] as const)
    await tx.query(
      `delete from ${table} where workspace_id = $1 and profile_id = any($2::uuid[])`,
      [workspaceId, profileIds],
    );
}
