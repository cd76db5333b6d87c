import type { RfmThresholds } from "@herald/core/profiles/rfm";
import type { SegmentCondition } from "@herald/core/segments/condition";
import type { Segment, SegmentParams } from "@herald/core/segments/segments";
import type { Queryable, Tx } from "../db/database.ts";
import { bumpCatalog, toSegment, type SegmentRow } from "./segments.sql.ts";
import { segmentTimersChannel } from "./segment-timers.sql.ts";
import { membershipSelect, type ProfileScope } from "./segment-compiler.ts";

/**
 * Bulk computation of segments: claiming a segment to compute, its progress over batches
 * of profile ids, one batch's difference written in one statement, and the counts of a
 * draft definition with the same compiled SQL.
 */

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
  start: {
    id: string;
    total: number;
    params: SegmentParams;
    emitChanges: boolean;
    at: Date;
  },
): Promise<void> {
  const { id, at } = start;
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
  progress: {
    id: string;
    cursor: string | null;
    processed: number;
    refreshAt: Date | null;
    at: Date;
  },
): Promise<void> {
  const { id, at } = progress;
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
  failure: { id: string; error: string; version: number },
): Promise<void> {
  await q.query(
    "update segments set status = 'failed', error = $3 where workspace_id = $1 and id = $2 and version = $4",
    [workspaceId, failure.id, failure.error, failure.version],
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
  options: {
    segment: {
      id: string;
      definition: SegmentCondition;
      rfm?: RfmThresholds | undefined;
    };
    range: { after: string | null; upTo: string | null };
    now: Date;
    cause: string;
    returnIds: boolean;
  },
): Promise<{
  entered: string[];
  exited: string[];
  enteredCount: number;
  exitedCount: number;
  profiles: number;
}> {
  const { segment, range } = options;
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
