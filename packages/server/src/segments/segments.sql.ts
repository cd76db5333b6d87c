import type { SegmentCondition } from "@herald/core/segments/condition";
import type {
  Segment,
  SegmentParams,
  SegmentStatus,
} from "@herald/core/segments/segments";
import type { Queryable, Tx } from "../db/database.ts";
import {
  aggregateSources,
  aggregatesOf,
  lazyParam,
  membershipSelect,
  SqlParams,
  type CompileContext,
  type ProfileScope,
} from "./segment-sql.ts";
import {
  atomKey,
  type Atom,
  type AtomFacts,
} from "@herald/core/segments/atoms";
import type { RfmThresholds } from "@herald/core/profiles/rfm";

/** The channel notified when a segment needs computing. */
export const segmentsChannel = "herald_segments";

/** The channel notified when segment timers or expiring points are set. */
export const segmentTimersChannel = "herald_segment_timers";

/** A row of `segments`. */
type SegmentRow = {
  id: string;
  name: string;
  description: string;
  definition: SegmentCondition;
  version: number;
  status: SegmentStatus;
  processed: number;
  total: number;
  cursor: string | null;
  emit_changes: boolean;
  error: string | null;
  params: SegmentParams;
  refresh_at: Date | null;
  computed_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

const toSegment = (row: SegmentRow): Segment => ({
  id: row.id,
  name: row.name,
  description: row.description,
  definition: row.definition,
  version: row.version,
  status: row.status,
  processed: row.processed,
  total: row.total,
  error: row.error,
  params: row.params,
  computedAt: row.computed_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Bumps the workspace's catalog version: processors reload segments and rules. */
export async function bumpCatalog(
  tx: Queryable,
  workspaceId: string,
): Promise<void> {
  await tx.query(
    `insert into segment_catalog (workspace_id, version) values ($1, 1)
     on conflict (workspace_id) do update set version = segment_catalog.version + 1`,
    [workspaceId],
  );
}

/** The workspace's catalog version (0 before any segment or rule). */
export async function catalogVersion(
  q: Queryable,
  workspaceId: string,
): Promise<number> {
  const [row] = await q.query<{ version: number }>(
    "select version from segment_catalog where workspace_id = $1",
    [workspaceId],
  );
  return row?.version ?? 0;
}

/** Creates a segment, `computing` from its first profile. */
export async function insertSegment(
  tx: Tx,
  workspaceId: string,
  segment: {
    id: string;
    name: string;
    description: string;
    definition: SegmentCondition;
  },
  at: Date,
): Promise<void> {
  await tx.query(
    `insert into segments (workspace_id, id, name, description, definition, status, total, created_at, updated_at)
     values ($1, $2, $3, $4, $5, 'computing',
             (select count(*) from profiles where workspace_id = $1 and merged_into is null), $6, $6)`,
    [
      workspaceId,
      segment.id,
      segment.name,
      segment.description,
      JSON.stringify(segment.definition),
      at,
    ],
  );
  await bumpCatalog(tx, workspaceId);
  tx.notify(segmentsChannel);
}

/**
 * Changes a segment. A new definition raises the version and starts a computation whose
 * changes are recorded as silent events.
 */
export async function updateSegment(
  tx: Tx,
  workspaceId: string,
  id: string,
  change: {
    name?: string;
    description?: string;
    definition?: SegmentCondition;
  },
  at: Date,
): Promise<boolean> {
  const recompute = change.definition !== undefined;
  const touched = await tx.execute(
    `update segments set name = coalesce($3, name), description = coalesce($4, description),
        definition = coalesce($5::jsonb, definition), updated_at = $6,
        version = version + case when $7 then 1 else 0 end,
        status = case when $7 then 'computing' else status end,
        processed = case when $7 then 0 else processed end,
        total = case when $7 then (select count(*) from profiles p where p.workspace_id = $1 and p.merged_into is null)
                     else total end,
        cursor = case when $7 then null else cursor end,
        emit_changes = case when $7 then true else emit_changes end,
        error = case when $7 then null else error end
      where workspace_id = $1 and id = $2`,
    [
      workspaceId,
      id,
      change.name ?? null,
      change.description ?? null,
      change.definition ? JSON.stringify(change.definition) : null,
      at,
      recompute,
    ],
  );
  if (touched > 0) {
    await bumpCatalog(tx, workspaceId);
    if (recompute) tx.notify(segmentsChannel);
  }
  return touched > 0;
}

/** Deletes a segment with its members, history and timers. */
export async function deleteSegment(
  tx: Tx,
  workspaceId: string,
  id: string,
): Promise<boolean> {
  const deleted = await tx.execute(
    "delete from segments where workspace_id = $1 and id = $2",
    [workspaceId, id],
  );
  if (deleted > 0) await bumpCatalog(tx, workspaceId);
  return deleted > 0;
}

/** One segment. */
export async function getSegment(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<Segment | undefined> {
  const [row] = await q.query<SegmentRow>(
    "select * from segments where workspace_id = $1 and id = $2",
    [workspaceId, id],
  );
  return row && toSegment(row);
}

/** The workspace's segments, by name. */
export async function listSegments(
  q: Queryable,
  workspaceId: string,
): Promise<Segment[]> {
  const rows = await q.query<SegmentRow>(
    "select * from segments where workspace_id = $1 order by lower(name), id",
    [workspaceId],
  );
  return rows.map(toSegment);
}

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

/** The segments that are in the middle of a computation, locked against it (for share). */
export async function lockComputingSegments(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `select id from segments where workspace_id = $1 and id = any($2::text[]) and status = 'computing'
      order by id for share`,
    [workspaceId, ids],
  );
}

/** What incremental evaluation needs of each segment. */
export type LiveSegmentRow = {
  id: string;
  name: string;
  version: number;
  status: SegmentStatus;
  definition: SegmentCondition;
  params: SegmentParams;
};

/** Every segment of a workspace, for evaluation. */
export async function liveSegments(
  q: Queryable,
  workspaceId: string,
): Promise<LiveSegmentRow[]> {
  return q.query<LiveSegmentRow>(
    "select id, name, version, status, definition, params from segments where workspace_id = $1",
    [workspaceId],
  );
}

// ---- Facts of incremental evaluation -------------------------------------------------

/** Refreshes the planner's statistics of memberships and timers after a bulk change. */
export async function analyzeMemberships(q: Queryable): Promise<void> {
  await q.execute("analyze segment_members, segment_timers");
}

/** A membership-like fact of a profile. */
export type MembershipFactRow = {
  kind: "segment" | "list" | "tag" | "score" | "timer" | "reach";
  profile_id: string;
  key: string;
  status: string | null;
  value: number | null;
  at: Date | null;
};

/**
 * Everything the profiles belong to — segments, lists, tags, scores — their segment
 * timers, and what delivery knows of reaching them (`reach`, keyed by a `ReachFact`:
 * suppressed address, push subscription, Telegram link), in one query.
 */
export async function membershipFacts(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<MembershipFactRow[]> {
  if (profileIds.length === 0) return [];
  return q.query<MembershipFactRow>(
    // One index probe per profile (a lateral join), whatever the statistics say: with
    // stale ones the planner took `workspace_id = $1` for selective and scanned the
    // workspace's whole membership through the primary key.
    `select f.* from unnest($2::uuid[]) as p(id) cross join lateral (
       select 'segment' as kind, p.id as profile_id, segment_id as key, null as status,
              null::integer as value, null::timestamptz as at
         from segment_members where workspace_id = $1 and profile_id = p.id
       union all
       select 'list', p.id, list_id, status, null, null
         from list_members where workspace_id = $1 and profile_id = p.id
       union all
       select 'tag', p.id, tag, null, null, null
         from profile_tags where workspace_id = $1 and profile_id = p.id
       union all
       select 'score', p.id, score, null, value, null
         from profile_scores where workspace_id = $1 and profile_id = p.id
       union all
       select 'timer', p.id, segment_id, null, null, wake_at
         from segment_timers where workspace_id = $1 and profile_id = p.id
       union all
       select 'reach', p.id, x.channel || '_suppressed', null, null, null
         from profiles r join suppressions x on x.workspace_id = $1
          and ((x.channel = 'email' and x.address = r.email) or (x.channel = 'sms' and x.address = r.phone))
        where r.workspace_id = $1 and r.id = p.id
       union all
       select 'reach', p.id, 'push_subscribed', null, null, null
        where exists (select 1 from push_subscriptions where workspace_id = $1 and profile_id = p.id)
       union all
       select 'reach', p.id, 'telegram_linked', null, null, null
         from telegram_chats where workspace_id = $1 and profile_id = p.id
     ) f`,
    [workspaceId, profileIds],
  );
}

/**
 * The behaviour atoms' figures of the given profiles, aggregated from their events and
 * orders with the same SQL as bulk computation: profile id → atom key → figures.
 */
export async function atomFacts(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
  atoms: Atom[],
  now: Date,
): Promise<Map<string, Map<string, AtomFacts>>> {
  const result = new Map<string, Map<string, AtomFacts>>();
  if (profileIds.length === 0 || atoms.length === 0) return result;
  const params = new SqlParams([workspaceId]);
  const ids = params.add(profileIds, "::uuid[]");
  const scope = (column: string) => `${column} = any(${ids})`;
  const ctx: CompileContext = {
    params,
    workspace: "$1",
    now,
    nowSql: lazyParam(params, now, "::timestamptz"),
    scope,
    atom: () => ({ count: "0", oldest: "null", first: "null", last: "null" }),
  };
  const aggregates = aggregatesOf(ctx, atoms);
  const { ctes } = aggregateSources(ctx, aggregates, scope);
  const sources = (["events", "purchases", "coupons"] as const).filter(
    (source) => aggregates[source] !== undefined,
  );
  const alias = { events: "ev", purchases: "pu", coupons: "co" } as const;
  const rows = await q.query<{ source: string; row: Record<string, unknown> }>(
    `with ${ctes.join(",\n")}
     ${sources.map((s) => `select '${s}' as source, to_jsonb(${alias[s]}.*) as row from ${alias[s]}`).join(" union all ")}`,
    params.values,
  );
  const time = (value: unknown) =>
    typeof value === "string" ? new Date(value) : null;
  for (const { source, row } of rows) {
    const profileId = String(row.profile_id);
    let facts = result.get(profileId);
    if (!facts) result.set(profileId, (facts = new Map<string, AtomFacts>()));
    for (const atom of atoms) {
      const column = aggregates.columns.get(atomKey(atom));
      if (!column || column.source !== source) continue;
      const i = column.index;
      facts.set(atomKey(atom), {
        count: Number(row[`n${i}`] ?? 0),
        oldest: time(row[`f${i}`]),
        first: time(row[`f${i}`]),
        last: time(row[`l${i}`]),
      });
    }
  }
  return result;
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
  changes: MembershipChange[],
  cause: string,
  at: Date,
): Promise<MembershipChange[]> {
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

// ---- Bulk computation -----------------------------------------------------------------

/** A segment whose computation is due, locked for this transaction (skip locked). */
export async function claimComputation(
  tx: Tx,
  now: Date,
  workspaceId: string | null = null,
): Promise<
  | (Segment & {
      workspaceId: string;
      cursor: string | null;
      emitChanges: boolean;
    })
  | undefined
> {
  const [row] = await tx.query<SegmentRow & { workspace_id: string }>(
    `select * from segments
      where (status = 'computing' or (status = 'ready' and refresh_at <= $1))
        and ($2::text is null or workspace_id = $2)
      order by updated_at limit 1 for update skip locked`,
    [now, workspaceId],
  );
  return (
    row && {
      ...toSegment(row),
      workspaceId: row.workspace_id,
      cursor: row.cursor,
      emitChanges: row.emit_changes,
    }
  );
}

/** The earliest scheduled refresh of a ready segment (of one workspace, if given). */
export async function nextRefreshAt(
  q: Queryable,
  workspaceId: string | null = null,
): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    "select min(refresh_at) as at from segments where status = 'ready' and ($1::text is null or workspace_id = $1)",
    [workspaceId],
  );
  return row?.at ?? undefined;
}

/** Starts a computation: profiles to do, frozen values, progress reset. */
export async function startComputation(
  tx: Tx,
  workspaceId: string,
  id: string,
  start: { total: number; params: SegmentParams; emitChanges: boolean },
  at: Date,
): Promise<void> {
  await tx.query(
    `update segments set status = 'computing', total = $3, processed = 0, cursor = null, params = $4,
        emit_changes = $5, error = null, updated_at = $6
      where workspace_id = $1 and id = $2`,
    [
      workspaceId,
      id,
      start.total,
      JSON.stringify(start.params),
      start.emitChanges,
      at,
    ],
  );
  await bumpCatalog(tx, workspaceId);
}

/** Records a finished batch; `cursor` null means the computation is complete. */
export async function advanceComputation(
  tx: Tx,
  workspaceId: string,
  id: string,
  progress: {
    cursor: string | null;
    processed: number;
    refreshAt: Date | null;
  },
  at: Date,
): Promise<void> {
  const done = progress.cursor === null;
  await tx.query(
    `update segments set processed = processed + $3, cursor = $4,
        status = case when $5 then 'ready' else status end,
        computed_at = case when $5 then $6 else computed_at end,
        refresh_at = case when $5 then $7 else refresh_at end,
        emit_changes = case when $5 then false else emit_changes end
      where workspace_id = $1 and id = $2`,
    [
      workspaceId,
      id,
      progress.processed,
      progress.cursor,
      done,
      at,
      progress.refreshAt,
    ],
  );
  if (done) await bumpCatalog(tx, workspaceId);
}

/** The ids among `ids` of segments other than those whose first computation has not begun. */
export async function startedSegments(
  q: Queryable,
  workspaceId: string,
  ids: string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{ id: string }>(
    `select id from segments where workspace_id = $1 and id = any($2::text[])
        and not (status = 'computing' and cursor is null and processed = 0)`,
    [workspaceId, ids],
  );
  return rows.map((row) => row.id);
}

/** Marks a computation failed with why. */
export async function failComputation(
  q: Queryable,
  workspaceId: string,
  id: string,
  error: string,
  version: number,
): Promise<void> {
  await q.query(
    "update segments set status = 'failed', error = $3 where workspace_id = $1 and id = $2 and version = $4",
    [workspaceId, id, error, version],
  );
}

/** How many live profiles a workspace has. */
export async function countProfiles(
  q: Queryable,
  workspaceId: string,
): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    "select count(*) as n from profiles where workspace_id = $1 and merged_into is null",
    [workspaceId],
  );
  return row?.n ?? 0;
}

/** The id ending a batch of `size` live profiles after `after`; null when fewer remain. */
export async function batchEnd(
  q: Queryable,
  workspaceId: string,
  after: string | null,
  size: number,
): Promise<string | null> {
  const [row] = await q.query<{ id: string }>(
    `select id from profiles where workspace_id = $1 and merged_into is null and ($2::uuid is null or id > $2)
      order by id offset $3 limit 1`,
    [workspaceId, after, size - 1],
  );
  return row?.id ?? null;
}

/**
 * Computes a segment's membership for the live profiles in (after, upTo] with the compiled
 * condition, and writes the difference in one statement: entries, exits (also of profiles
 * merged or deleted since), history and timers. Returns the profiles that entered and
 * exited (ids only when `returnIds`), and how many profiles the range held.
 */
export async function computeRange(
  tx: Tx,
  workspaceId: string,
  segment: {
    id: string;
    definition: SegmentCondition;
    rfm?: RfmThresholds | undefined;
  },
  range: { after: string | null; upTo: string | null },
  options: { now: Date; cause: string; returnIds: boolean },
): Promise<{
  entered: string[];
  exited: string[];
  enteredCount: number;
  exitedCount: number;
  profiles: number;
}> {
  const scope: ProfileScope = range;
  const compiled = membershipSelect(segment.definition, {
    workspaceId,
    now: options.now,
    rfm: segment.rfm,
    scope,
  });
  const { params } = compiled;
  const seg = params.add(segment.id, "::text");
  const now = params.add(options.now, "::timestamptz");
  const cause = params.add(options.cause, "::text");
  const returnIds = params.add(options.returnIds, "::boolean");
  const after = range.after === null ? null : params.add(range.after, "::uuid");
  const upTo = range.upTo === null ? null : params.add(range.upTo, "::uuid");
  const within = (alias: string) =>
    [
      after ? `${alias}.profile_id > ${after}` : "true",
      upTo ? `${alias}.profile_id <= ${upTo}` : "true",
    ].join(" and ");
  const text = `with ${[...compiled.ctes, `c as materialized (${compiled.select})`].join(",\n")},
    ins as (
      insert into segment_members (workspace_id, segment_id, profile_id, entered_at)
      select $1, ${seg}, c.id, ${now} from c where c.member
      on conflict do nothing
      returning profile_id),
    del as (
      delete from segment_members m
       where m.workspace_id = $1 and m.segment_id = ${seg} and ${within("m")}
         and not exists (select 1 from c where c.id = m.profile_id and c.member)
      returning m.profile_id),
    tdel as (
      delete from segment_timers t
       where t.workspace_id = $1 and t.segment_id = ${seg} and ${within("t")}
         and not exists (select 1 from c where c.id = t.profile_id and c.next_at is not null)),
    tset as (
      insert into segment_timers (workspace_id, segment_id, profile_id, wake_at)
      select $1, ${seg}, c.id, c.next_at from c where c.next_at is not null
      on conflict (workspace_id, segment_id, profile_id) do update set wake_at = excluded.wake_at),
    hist as (
      insert into segment_history (workspace_id, segment_id, profile_id, change, cause, at)
      select $1, ${seg}, profile_id, 'entered', ${cause}, ${now} from ins
      union all select $1, ${seg}, profile_id, 'exited', ${cause}, ${now} from del)
    select (select count(*) from c) as profiles,
           (select count(*) from ins) as entered_count,
           (select count(*) from del) as exited_count,
           case when ${returnIds} then (select coalesce(array_agg(profile_id), '{}') from ins) end as entered,
           case when ${returnIds} then (select coalesce(array_agg(profile_id), '{}') from del) end as exited`;
  tx.notify(segmentTimersChannel);
  const [row] = await tx.query<{
    profiles: number;
    entered_count: number;
    exited_count: number;
    entered: string[] | null;
    exited: string[] | null;
  }>(text, params.values);
  return {
    profiles: row?.profiles ?? 0,
    enteredCount: row?.entered_count ?? 0,
    exitedCount: row?.exited_count ?? 0,
    entered: row?.entered ?? [],
    exited: row?.exited ?? [],
  };
}

/** Counts the profiles a draft definition selects, without saving anything. */
export async function countMatching(
  q: Queryable,
  workspaceId: string,
  definition: SegmentCondition,
  options: { now: Date; rfm?: RfmThresholds | undefined },
): Promise<{ count: number; total: number }> {
  const compiled = membershipSelect(definition, {
    workspaceId,
    now: options.now,
    rfm: options.rfm,
    scope: { after: null, upTo: null },
  });
  const ctes =
    compiled.ctes.length > 0 ? `with ${compiled.ctes.join(",\n")} ` : "";
  const [row] = await q.query<{ count: number; total: number }>(
    `${ctes}select count(*) filter (where c.member) as count, count(*) as total from (${compiled.select}) c`,
    compiled.params.values,
  );
  return { count: row?.count ?? 0, total: row?.total ?? 0 };
}

/** The members of a definition among given profiles, by the compiled SQL (tests, checks). */
export async function matchingProfiles(
  q: Queryable,
  workspaceId: string,
  definition: SegmentCondition,
  options: {
    now: Date;
    rfm?: RfmThresholds | undefined;
    profileIds?: string[];
  },
): Promise<Map<string, { member: boolean; nextAt: Date | null }>> {
  const compiled = membershipSelect(definition, {
    workspaceId,
    now: options.now,
    rfm: options.rfm,
    scope: options.profileIds
      ? { ids: options.profileIds }
      : { after: null, upTo: null },
  });
  const ctes =
    compiled.ctes.length > 0 ? `with ${compiled.ctes.join(",\n")} ` : "";
  const rows = await q.query<{
    id: string;
    member: boolean;
    next_at: Date | null;
  }>(`${ctes}${compiled.select}`, compiled.params.values);
  return new Map(
    rows.map((row) => [row.id, { member: row.member, nextAt: row.next_at }]),
  );
}

// ---- Merges and personal data ---------------------------------------------------------

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

/** How many of a workspace's acknowledged events wait: in the intake, or behind the processor's cursors (tests, tools). */
export async function workspaceBacklog(
  q: Queryable,
  workspaceId: string,
): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    `select (select count(*) from events e join event_cursors c on c.partition = e.partition
              where e.workspace_id = $1 and (e.xid, e.seq) > (c.xid, c.seq))
          + (select coalesce(sum(event_count), 0) from intake where workspace_id = $1) as n`,
    [workspaceId],
  );
  return row?.n ?? 0;
}
