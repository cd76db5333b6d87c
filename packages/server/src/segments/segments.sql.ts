import type { SegmentCondition } from "@herald/core/segments/condition";
import type {
  Segment,
  SegmentParams,
  SegmentStatus,
} from "@herald/core/segments/segments";
import type { Queryable, Tx } from "../db/database.ts";

/**
 * Segment definitions: the `segments` rows and the workspace's catalog version that tells
 * processors to reload them. Members and history are in segment-members.sql.ts, timers in
 * segment-timers.sql.ts, the facts of incremental evaluation in segment-facts.sql.ts and
 * bulk computation in segment-computation.sql.ts. `workspaceBacklog` (what settling a
 * workspace waits for, in tests and tools) reads the event log's cursors and the intake.
 */

/** The channel notified when a segment needs computing. */
export const segmentsChannel = "herald_segments";

/** A row of `segments`. */
export type SegmentRow = {
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

/** The segment of a row. */
export const toSegment = (row: SegmentRow): Segment => ({
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
  change: {
    id: string;
    name?: string;
    description?: string;
    definition?: SegmentCondition;
    at: Date;
  },
): Promise<boolean> {
  const { id, at } = change;
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
