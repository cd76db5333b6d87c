import type { FlowDefinition } from "@herald/core/flows/definition";
import type { Queryable, Tx } from "../db/database.ts";
import type { FlowRecord } from "./flow-record.ts";

/**
 * Flow definitions: the flows (a draft, a status, the version new runs use) and their
 * published versions, which never change once written.
 */

/** The channel notified when runs become due sooner than the scheduler expects. */
export const flowsChannel = "herald_flows";

type FlowRow = {
  id: string;
  name: string;
  status: FlowRecord["status"];
  draft: FlowDefinition;
  current_version: number | null;
  library_name: string | null;
  created_at: Date;
  updated_at: Date;
};

const toFlow = (row: FlowRow): FlowRecord => ({
  id: row.id,
  name: row.name,
  status: row.status,
  draft: row.draft,
  currentVersion: row.current_version,
  libraryName: row.library_name,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Creates a flow (a draft until published). */
export async function insertFlow(
  q: Queryable,
  workspaceId: string,
  flow: FlowRecord,
): Promise<void> {
  await q.query(
    `insert into flows (workspace_id, id, name, status, draft, current_version, library_name, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
    [
      workspaceId,
      flow.id,
      flow.name,
      flow.status,
      JSON.stringify(flow.draft),
      flow.currentVersion,
      flow.libraryName,
      flow.createdAt,
    ],
  );
}

/** One flow. */
export async function getFlow(
  q: Queryable,
  workspaceId: string,
  flowId: string,
): Promise<FlowRecord | undefined> {
  const [row] = await q.query<FlowRow>(
    "select * from flows where workspace_id = $1 and id = $2",
    [workspaceId, flowId],
  );
  return row && toFlow(row);
}

/** A workspace's flows, by name. */
export async function listFlows(
  q: Queryable,
  workspaceId: string,
): Promise<FlowRecord[]> {
  const rows = await q.query<FlowRow>(
    "select * from flows where workspace_id = $1 and status <> 'archived' order by lower(name), id",
    [workspaceId],
  );
  return rows.map(toFlow);
}

/** Saves a flow's draft. */
export async function updateDraft(
  q: Queryable,
  workspaceId: string,
  { flowId, draft, at }: { flowId: string; draft: FlowDefinition; at: Date },
): Promise<boolean> {
  return (
    (await q.execute(
      "update flows set draft = $3, name = $4, updated_at = $5 where workspace_id = $1 and id = $2",
      [workspaceId, flowId, JSON.stringify(draft), draft.name, at],
    )) > 0
  );
}

/** Sets a flow's status. */
export async function setFlowStatus(
  q: Queryable,
  workspaceId: string,
  {
    flowId,
    status,
    at,
  }: { flowId: string; status: FlowRecord["status"]; at: Date },
): Promise<boolean> {
  return (
    (await q.execute(
      "update flows set status = $3, updated_at = $4 where workspace_id = $1 and id = $2",
      [workspaceId, flowId, status, at],
    )) > 0
  );
}

/** Freezes the draft as the next version, which new runs use from now on; returns its number. */
export async function publishVersion(
  tx: Tx,
  workspaceId: string,
  {
    flowId,
    definition,
    at,
  }: { flowId: string; definition: FlowDefinition; at: Date },
): Promise<number> {
  const [row] = await tx.query<{ version: number }>(
    `update flows set current_version = coalesce(current_version, 0) + 1, status = 'live', updated_at = $3
      where workspace_id = $1 and id = $2 returning current_version as version`,
    [workspaceId, flowId, at],
  );
  const version = row?.version ?? 1;
  await tx.query(
    "insert into flow_versions (workspace_id, flow_id, version, definition, published_at) values ($1, $2, $3, $4, $5)",
    [workspaceId, flowId, version, JSON.stringify(definition), at],
  );
  return version;
}

/** A published version's definition. */
export async function getVersion(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<FlowDefinition | undefined> {
  const [row] = await q.query<{ definition: FlowDefinition }>(
    "select definition from flow_versions where workspace_id = $1 and flow_id = $2 and version = $3",
    [workspaceId, flowId, version],
  );
  return row?.definition;
}

/** A flow's published versions, newest first. */
export async function listVersions(
  q: Queryable,
  workspaceId: string,
  flowId: string,
): Promise<{ version: number; published_at: Date }[]> {
  return q.query(
    "select version, published_at from flow_versions where workspace_id = $1 and flow_id = $2 order by version desc",
    [workspaceId, flowId],
  );
}

/** The live flows of a workspace with the version new runs use. */
export async function liveFlows(
  q: Queryable,
  workspaceId: string,
): Promise<{ id: string; version: number }[]> {
  return q.query(
    "select id, current_version as version from flows where workspace_id = $1 and status = 'live' and current_version is not null",
    [workspaceId],
  );
}

/** The status of each of the given flows. */
export async function flowStatuses(
  q: Queryable,
  workspaceId: string,
  flowIds: string[],
): Promise<Map<string, FlowRecord["status"]>> {
  if (flowIds.length === 0) return new Map();
  const rows = await q.query<{ id: string; status: FlowRecord["status"] }>(
    "select id, status from flows where workspace_id = $1 and id = any($2::text[])",
    [workspaceId, flowIds],
  );
  return new Map(rows.map((row) => [row.id, row.status]));
}

/** The ids a flow may refer to: templates, segments, lists and coupon pools of the workspace. */
export async function referenceIds(
  q: Queryable,
  workspaceId: string,
): Promise<{
  templates: Set<string>;
  segments: Set<string>;
  lists: Set<string>;
  couponPools: Set<string>;
}> {
  const rows = await q.query<{ kind: string; id: string }>(
    `select 'template' as kind, id from templates where workspace_id = $1 and archived_at is null
     union all select 'segment', id from segments where workspace_id = $1
     union all select 'list', id from lists where workspace_id = $1
     union all select 'pool', id from coupon_pools where workspace_id = $1`,
    [workspaceId],
  );
  const of = (kind: string) =>
    new Set(rows.filter((r) => r.kind === kind).map((r) => r.id));
  return {
    templates: of("template"),
    segments: of("segment"),
    lists: of("list"),
    couponPools: of("pool"),
  };
}
