import type { Queryable, Tx } from "../db/database.ts";

/**
 * Segment membership: who is in a segment now (`segment_members`), the entries and exits
 * that got them there (`segment_history`), and what a merge or an erasure does to both.
 */

/** How many profiles are in a segment now. */
export async function countMembers(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    "select count(*) as n from segment_members where workspace_id = $1 and segment_id = $2",
    [workspaceId, id],
  );
  return row?.n ?? 0;
}

/** Member counts of all the workspace's segments. */
export async function memberCounts(
  q: Queryable,
  workspaceId: string,
): Promise<Map<string, number>> {
  const rows = await q.query<{ segment_id: string; n: number }>(
    "select segment_id, count(*) as n from segment_members where workspace_id = $1 group by segment_id",
    [workspaceId],
  );
  return new Map(rows.map((row) => [row.segment_id, row.n]));
}

/** A page of a segment's members, by profile id after `after`. */
export async function listMembers(
  q: Queryable,
  workspaceId: string,
  id: string,
  page: { after?: string; limit: number },
): Promise<{ profile_id: string; email: string | null; entered_at: Date }[]> {
  return q.query(
    `select m.profile_id, p.email, m.entered_at from segment_members m
       left join profiles p on p.workspace_id = m.workspace_id and p.id = m.profile_id
      where m.workspace_id = $1 and m.segment_id = $2 and ($3::uuid is null or m.profile_id > $3)
      order by m.profile_id limit $4`,
    [workspaceId, id, page.after ?? null, page.limit],
  );
}

/**
 * True when the profile (or the profile it was merged into) is in the segment now. For
 * flows' conditions and sending policy; `q` may be an open transaction.
 */
export async function isInSegment(
  q: Queryable,
  workspaceId: string,
  segmentId: string,
  profileId: string,
): Promise<boolean> {
  const [row] = await q.query<{ member: boolean }>(
    `select exists (select 1 from segment_members
                     where workspace_id = $1 and segment_id = $2
                       and profile_id = coalesce((select merged_into from profiles where workspace_id = $1 and id = $3), $3)
                   ) as member`,
    [workspaceId, segmentId, profileId],
  );
  return row?.member ?? false;
}

/** The segments a profile is in, with when it entered. */
export async function segmentsOfProfile(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<{ segment_id: string; name: string; entered_at: Date }[]> {
  return q.query(
    `select m.segment_id, s.name, m.entered_at from segment_members m
       join segments s on s.workspace_id = m.workspace_id and s.id = m.segment_id
      where m.workspace_id = $1 and m.profile_id = $2 order by s.name`,
    [workspaceId, profileId],
  );
}

/** A row of the membership history. */
export type HistoryRow = {
  segment_id: string;
  profile_id: string;
  change: "entered" | "exited";
  cause: string;
  at: Date;
};

/** The entries and exits of a segment or of a profile, newest first. */
export async function listHistory(
  q: Queryable,
  workspaceId: string,
  filter: {
    segmentId?: string;
    profileIds?: string[];
    limit: number;
    beforeId?: number;
  },
): Promise<(HistoryRow & { id: number })[]> {
  return q.query(
    `select id, segment_id, profile_id, change, cause, at from segment_history
      where workspace_id = $1 and ($2::text is null or segment_id = $2)
        and ($3::uuid[] is null or profile_id = any($3)) and ($4::bigint is null or id < $4)
      order by id desc limit $5`,
    [
      workspaceId,
      filter.segmentId ?? null,
      filter.profileIds ?? null,
      filter.beforeId ?? null,
      filter.limit,
    ],
  );
}

/** One membership change to write. */
export interface MembershipChange {
  segmentId: string;
  profileId: string;
  change: "entered" | "exited";
}

/** Writes entries and exits with their history; returns the changes actually made. */
export async function applyMembershipChanges(
  tx: Tx,
  workspaceId: string,
  write: { changes: MembershipChange[]; cause: string; at: Date },
): Promise<MembershipChange[]> {
  const { changes, cause, at } = write;
  if (changes.length === 0) return [];
  const entered = changes.filter((c) => c.change === "entered");
  const exited = changes.filter((c) => c.change === "exited");
  const rows = await tx.query<{
    segment_id: string;
    profile_id: string;
    change: "entered" | "exited";
  }>(
    `with ins as (
       insert into segment_members (workspace_id, segment_id, profile_id, entered_at)
       select $1, s, p, $6 from unnest($2::text[], $3::uuid[]) as x(s, p)
       on conflict do nothing
       returning segment_id, profile_id),
     del as (
       delete from segment_members m using unnest($4::text[], $5::uuid[]) as x(s, p)
        where m.workspace_id = $1 and m.segment_id = x.s and m.profile_id = x.p
       returning m.segment_id, m.profile_id),
     changed as (
       select segment_id, profile_id, 'entered' as change from ins
       union all select segment_id, profile_id, 'exited' from del),
     hist as (
       insert into segment_history (workspace_id, segment_id, profile_id, change, cause, at)
       select $1, segment_id, profile_id, change, $7, $6 from changed)
     select segment_id, profile_id, change from changed`,
    [
      workspaceId,
      entered.map((c) => c.segmentId),
      entered.map((c) => c.profileId),
      exited.map((c) => c.segmentId),
      exited.map((c) => c.profileId),
      at,
      cause,
    ],
  );
  return rows.map((row) => ({
    segmentId: row.segment_id,
    profileId: row.profile_id,
    change: row.change,
  }));
}

/** Refreshes the planner's statistics of memberships and timers after a bulk change. */
export async function analyzeMemberships(q: Queryable): Promise<void> {
  await q.execute("analyze segment_members, segment_timers");
}

/** Removes a merged profile's memberships and timers, recording the exits; returns the segments left. */
export async function dropProfileMemberships(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  at: Date,
): Promise<string[]> {
  const rows = await tx.query<{ segment_id: string }>(
    `with del as (delete from segment_members where workspace_id = $1 and profile_id = $2
                  returning segment_id, profile_id),
          history as (
            insert into segment_history (workspace_id, segment_id, profile_id, change, cause, at)
            select $1, segment_id, profile_id, 'exited', 'merge', $3 from del)
     select segment_id from del order by segment_id`,
    [workspaceId, profileId, at],
  );
  await tx.query(
    "delete from segment_timers where workspace_id = $1 and profile_id = $2",
    [workspaceId, profileId],
  );
  return rows.map((row) => row.segment_id);
}

/** Memberships and their history, for a privacy export. */
export async function exportSegmentData(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<{ memberships: unknown[]; history: unknown[] }> {
  const memberships = await q.query(
    `select m.segment_id, s.name, m.entered_at from segment_members m
       join segments s on s.workspace_id = m.workspace_id and s.id = m.segment_id
      where m.workspace_id = $1 and m.profile_id = any($2::uuid[])`,
    [workspaceId, profileIds],
  );
  const history = await q.query(
    `select segment_id, change, cause, at from segment_history
      where workspace_id = $1 and profile_id = any($2::uuid[]) order by id`,
    [workspaceId, profileIds],
  );
  return { memberships, history };
}

/** Erases profiles' memberships, history and timers. */
export async function eraseSegmentData(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  for (const table of [
    "segment_members",
    "segment_history",
    "segment_timers",
  ] as const)
    await tx.query(
      `delete from ${table} where workspace_id = $1 and profile_id = any($2::uuid[])`,
      [workspaceId, profileIds],
    );
}
