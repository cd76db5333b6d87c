import type { FlowDefinition } from "@herald/core/flows/definition";
import type { Run, RunContext } from "@herald/core/flows/advance";
import type { Queryable, Tx } from "../db/database.ts";

/** The channel notified when runs become due sooner than the scheduler expects. */
export const flowsChannel = "herald_flows";

/** A flow as stored. */
export interface FlowRecord {
  id: string;
  name: string;
  status: "draft" | "live" | "paused" | "archived";
  draft: FlowDefinition;
  currentVersion: number | null;
  libraryName: string | null;
  createdAt: Date;
  updatedAt: Date;
}

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
  flowId: string,
  draft: FlowDefinition,
  at: Date,
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
  flowId: string,
  status: FlowRecord["status"],
  at: Date,
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
  flowId: string,
  definition: FlowDefinition,
  at: Date,
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

/** A row of `flow_runs`. */
export type RunRow = {
  workspace_id: string;
  id: string;
  flow_id: string;
  version: number;
  profile_id: string;
  status: Run["status"];
  node_id: string;
  wake_at: Date | null;
  waiting_for: string | null;
  correlation: string | null;
  context: RunContext;
  visits: Record<string, number>;
  entered_at: Date;
  exit_reason: string | null;
};

/** The run of a row. */
export function toRun(row: RunRow): Run {
  return {
    id: row.id,
    flowId: row.flow_id,
    version: row.version,
    profileId: row.profile_id,
    status: row.status,
    nodeId: row.node_id,
    wakeAt: row.wake_at,
    waitingFor: row.waiting_for ? { event: row.waiting_for } : null,
    correlation: row.correlation,
    context: row.context,
    visits: row.visits,
    enteredAt: row.entered_at,
    exitReason: row.exit_reason,
  };
}

const runColumns =
  "r.workspace_id, r.id, r.flow_id, r.version, r.profile_id, r.status, r.node_id, r.wake_at, r.waiting_for, r.correlation, r.context, r.visits, r.entered_at, r.exit_reason";

/** A node a run passed, as recorded on the run. */
export interface RecordedStep {
  node: string;
  visit: number;
  branch: string | null;
  at: string;
}

/** Inserts new runs, with the steps they took so far. */
export async function insertRuns(
  tx: Tx,
  workspaceId: string,
  runs: Run[],
  at: Date,
  steps: ReadonlyMap<string, RecordedStep[]> = new Map(),
): Promise<void> {
  if (runs.length === 0) return;
  await tx.query(
    `insert into flow_runs (workspace_id, id, flow_id, version, profile_id, status, node_id, wake_at, waiting_for,
                            correlation, context, visits, steps, entered_at, updated_at, exit_reason, ended_at)
     select $1, r.id, r.flow_id, r.version, r.profile_id, r.status, r.node_id, r.wake_at, r.waiting_for, r.correlation,
            r.context, r.visits, coalesce(r.steps, '[]'::jsonb), r.entered_at, $3, r.exit_reason,
            case when r.status in ('completed', 'exited') then $3::timestamptz end
       from jsonb_to_recordset($2::jsonb) as r(id uuid, flow_id text, version int, profile_id uuid, status text,
            node_id text, wake_at timestamptz, waiting_for text, correlation text, context jsonb, visits jsonb,
            steps jsonb, entered_at timestamptz, exit_reason text)`,
    [
      workspaceId,
      JSON.stringify(runs.map((run) => runRecord(run, steps.get(run.id)))),
      at,
    ],
  );
}

function runRecord(run: Run, steps: RecordedStep[] = []) {
  return {
    id: run.id,
    flow_id: run.flowId,
    version: run.version,
    profile_id: run.profileId,
    status: run.status,
    node_id: run.nodeId,
    wake_at: run.wakeAt?.toISOString() ?? null,
    waiting_for: run.waitingFor?.event ?? null,
    correlation: run.correlation,
    context: run.context,
    visits: run.visits,
    steps,
    entered_at: run.enteredAt.toISOString(),
    exit_reason: run.exitReason,
  };
}

/** Writes runs' new state and appends the steps they took. */
export async function updateRuns(
  tx: Tx,
  workspaceId: string,
  runs: Run[],
  at: Date,
  steps: ReadonlyMap<string, RecordedStep[]> = new Map(),
): Promise<void> {
  if (runs.length === 0) return;
  await tx.query(
    `update flow_runs f set status = r.status, node_id = r.node_id, wake_at = r.wake_at, waiting_for = r.waiting_for,
            context = r.context, visits = r.visits, steps = f.steps || coalesce(r.steps, '[]'::jsonb),
            exit_reason = r.exit_reason, updated_at = $3,
            ended_at = case when r.status in ('completed', 'exited') then coalesce(f.ended_at, $3::timestamptz) end
       from jsonb_to_recordset($2::jsonb) as r(id uuid, status text, node_id text, wake_at timestamptz,
            waiting_for text, context jsonb, visits jsonb, steps jsonb, exit_reason text)
      where f.workspace_id = $1 and f.id = r.id`,
    [
      workspaceId,
      JSON.stringify(runs.map((run) => runRecord(run, steps.get(run.id)))),
      at,
    ],
  );
}

/**
 * Records a run's goal: when it happened and when the run's first message was sent
 * (null: none before the goal). Only a goal after a message is a conversion, with its
 * revenue (null when unknown); one before is `before_first_message`. A run already converted keeps its
 * conversion.
 */
export async function recordGoal(
  tx: Tx,
  workspaceId: string,
  runId: string,
  goal: { at: Date; firstMessageAt: Date | null; revenue: number | null },
  now: Date,
): Promise<void> {
  await tx.query(
    `update flow_runs set goal_at = $3, first_message_at = $4,
            goal_timing = case when $4::timestamptz is null then 'before_first_message' else 'after_first_message' end,
            converted_at = case when $4::timestamptz is null then null else $6::timestamptz end,
            conversion_revenue = case when $4::timestamptz is null then null else $5::numeric end
      where workspace_id = $1 and id = $2 and converted_at is null`,
    [workspaceId, runId, goal.at, goal.firstMessageAt, goal.revenue, now],
  );
}

/**
 * Runs of profiles that completed since `since` without converting, locked, oldest
 * first: a goal event within their flow's conversion window still counts for them.
 */
export async function lockUnconvertedRuns(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
  since: Date,
): Promise<(RunRow & { ended_at: Date })[]> {
  if (profileIds.length === 0) return [];
  return tx.query<RunRow & { ended_at: Date }>(
    `select ${runColumns}, r.ended_at from flow_runs r
      where r.workspace_id = $1 and r.profile_id = any($2::uuid[]) and r.status = 'completed'
        and r.converted_at is null and r.ended_at >= $3
      order by r.id for update`,
    [workspaceId, profileIds, since],
  );
}

/** The live runs of profiles, locked, oldest first. */
export async function lockLiveRuns(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<RunRow[]> {
  if (profileIds.length === 0) return [];
  return tx.query<RunRow>(
    `select ${runColumns} from flow_runs r
      where r.workspace_id = $1 and r.profile_id = any($2::uuid[]) and r.status in ('active', 'waiting')
      order by r.id for update`,
    [workspaceId, profileIds],
  );
}

/**
 * Claims due runs of live flows (waits that have run out, runs ready to continue), locked;
 * runs another worker holds are skipped. Paused flows' runs stay where they are.
 */
export async function claimDueRuns(
  tx: Tx,
  now: Date,
  limit: number,
): Promise<RunRow[]> {
  return tx.query<RunRow>(
    `select ${runColumns} from flow_runs r
       join flows f on f.workspace_id = r.workspace_id and f.id = r.flow_id and f.status = 'live'
      where r.status in ('active', 'waiting') and r.wake_at <= $1
      order by r.wake_at
      limit $2
      for update of r skip locked`,
    [now, limit],
  );
}

/** The earliest time a run of a live flow becomes due. */
export async function nextRunDueAt(q: Queryable): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    `select min(r.wake_at) as at from flow_runs r
       join flows f on f.workspace_id = r.workspace_id and f.id = r.flow_id and f.status = 'live'
      where r.status in ('active', 'waiting')`,
  );
  return row?.at ?? undefined;
}

/** What the re-entry policy needs: the shopper's last entry and whether a run (for this key) is live. */
export async function entryHistory(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  profileId: string,
  correlation: string | null,
): Promise<{ lastEnteredAt: Date | null; activeRun: boolean }> {
  const [row] = await q.query<{ last: Date | null; active: boolean }>(
    `select max(entered_at) as last,
            bool_or(status in ('active', 'waiting') and ($4::text is null or correlation = $4)) as active
       from flow_runs where workspace_id = $1 and flow_id = $2 and profile_id = $3`,
    [workspaceId, flowId, profileId, correlation],
  );
  return { lastEnteredAt: row?.last ?? null, activeRun: row?.active ?? false };
}

/** Records an effect as done; false when it was done before (so it must not be done again). */
export async function claimEffect(
  tx: Tx,
  workspaceId: string,
  effect: { key: string; runId: string; kind: string; result?: unknown },
  at: Date,
): Promise<boolean> {
  const [row] = await tx.query(
    `insert into flow_effects (workspace_id, key, run_id, kind, result, done_at) values ($1, $2, $3, $4, $5, $6)
     on conflict do nothing returning key`,
    [
      workspaceId,
      effect.key,
      effect.runId,
      effect.kind,
      effect.result === undefined ? null : JSON.stringify(effect.result),
      at,
    ],
  );
  return row !== undefined;
}

/** Moves a merged profile's runs and timers to the survivor. */
export async function rekeyRuns(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update flow_runs set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
  await tx.query(
    `delete from flow_date_timers t where t.workspace_id = $1 and t.profile_id = $2
       and exists (select 1 from flow_date_timers s where s.workspace_id = $1 and s.flow_id = t.flow_id and s.profile_id = $3)`,
    [workspaceId, from, to],
  );
  await tx.query(
    "update flow_date_timers set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** A profile's runs with their steps (privacy export). */
export async function exportRuns(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<unknown[]> {
  return q.query(
    `select r.id, r.flow_id, r.version, r.status, r.node_id, r.entered_at, r.ended_at, r.exit_reason, r.converted_at,
            r.goal_at, r.first_message_at, r.goal_timing, r.steps
       from flow_runs r where r.workspace_id = $1 and r.profile_id = any($2::uuid[]) order by r.entered_at`,
    [workspaceId, profileIds],
  );
}

/** Erases profiles' runs, steps, effects and timers. */
export async function eraseRuns(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    `delete from flow_effects where workspace_id = $1 and run_id in (select id from flow_runs where workspace_id = $1 and profile_id = any($2::uuid[]))`,
    [workspaceId, profileIds],
  );
  await tx.query(
    "delete from flow_runs where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
  await tx.query(
    "delete from flow_date_timers where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}

/** Per node of a flow version: how often runs passed it, by branch. */
export async function nodeStats(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<{ node_id: string; branch: string | null; passed: number }[]> {
  return q.query(
    `select s ->> 'node' as node_id, s ->> 'branch' as branch, count(*) as passed
       from flow_runs r cross join lateral jsonb_array_elements(r.steps) s
      where r.workspace_id = $1 and r.flow_id = $2 and r.version = $3
      group by 1, 2 order by 1, 2`,
    [workspaceId, flowId, version],
  );
}

/**
 * Conversions of a flow version by the nodes and branches runs passed: per node and per
 * (node, branch), the converted runs that passed there and their revenue (a run counts
 * once however often it passed), and the runs whose goal came before their first message
 * (`early`). Branch rows carry the branch; node rows a null branch.
 */
export async function nodeConversions(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<
  {
    node_id: string;
    branch: string | null;
    runs: number;
    revenue: number;
    early: number;
  }[]
> {
  return q.query(
    `with passed as (
       select distinct s ->> 'node' as node_id, s ->> 'branch' as branch, r.id, r.conversion_revenue,
              r.converted_at is not null as converted
         from flow_runs r cross join lateral jsonb_array_elements(r.steps) s
        where r.workspace_id = $1 and r.flow_id = $2 and r.version = $3
          and (r.converted_at is not null or r.goal_timing = 'before_first_message')
     )
     select node_id, branch, count(*) filter (where converted) as runs,
            coalesce(sum(conversion_revenue), 0) as revenue, count(*) filter (where not converted) as early
       from passed where branch is not null group by node_id, branch
     union all
     select node_id, null, count(*) filter (where converted), coalesce(sum(conversion_revenue), 0),
            count(*) filter (where not converted)
       from (select distinct node_id, id, conversion_revenue, converted from passed) runs group by node_id`,
    [workspaceId, flowId, version],
  );
}

/**
 * Per node, the runs of a flow version that ended there: completed or exited, and of
 * those exited, the ones whose goal came before their first message.
 */
export async function endedAtNodes(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<
  {
    node_id: string;
    completed: number;
    exited: number;
    exited_before_first_message: number;
  }[]
> {
  return q.query(
    `select node_id, count(*) filter (where status = 'completed') as completed,
            count(*) filter (where status = 'exited') as exited,
            count(*) filter (where status = 'exited' and goal_timing = 'before_first_message')
              as exited_before_first_message
       from flow_runs
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('completed', 'exited')
      group by node_id`,
    [workspaceId, flowId, version],
  );
}

/** Per node, the runs waiting there; and the flow version's run totals. */
export async function runStats(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<{
  waiting: { node_id: string; runs: number }[];
  totals: {
    entered: number;
    active: number;
    completed: number;
    exited: number;
    converted: number;
    exitedBeforeFirstMessage: number;
    revenue: number;
  };
}> {
  const waiting = await q.query<{ node_id: string; runs: number }>(
    `select node_id, count(*) as runs from flow_runs
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('active', 'waiting') group by node_id`,
    [workspaceId, flowId, version],
  );
  const [totals] = await q.query<{
    entered: number;
    active: number;
    completed: number;
    exited: number;
    converted: number;
    exitedBeforeFirstMessage: number;
    revenue: number;
  }>(
    `select count(*) as entered,
            count(*) filter (where status in ('active', 'waiting')) as active,
            count(*) filter (where status = 'completed') as completed,
            count(*) filter (where status = 'exited') as exited,
            count(*) filter (where converted_at is not null) as converted,
            count(*) filter (where goal_timing = 'before_first_message') as "exitedBeforeFirstMessage",
            coalesce(sum(conversion_revenue), 0) as revenue
       from flow_runs where workspace_id = $1 and flow_id = $2 and version = $3`,
    [workspaceId, flowId, version],
  );
  return {
    waiting,
    totals: totals ?? {
      entered: 0,
      active: 0,
      completed: 0,
      exited: 0,
      converted: 0,
      exitedBeforeFirstMessage: 0,
      revenue: 0,
    },
  };
}

/** A run's goal as recorded: when, when its first message was sent, before or after it. */
export interface RunGoal {
  at: Date;
  firstMessageAt: Date | null;
  timing: "before_first_message" | "after_first_message";
}

/** A run row with its recorded goal. */
export type RunWithGoalRow = RunRow & {
  goal_at: Date | null;
  first_message_at: Date | null;
  goal_timing: RunGoal["timing"] | null;
};

/** The goal of a row, null when none was reached. */
export function toRunGoal(row: RunWithGoalRow): RunGoal | null {
  return row.goal_at && row.goal_timing
    ? {
        at: row.goal_at,
        firstMessageAt: row.first_message_at,
        timing: row.goal_timing,
      }
    : null;
}

/** A page of a flow's runs, newest first, with their goals. */
export async function listRuns(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  filter: { status?: string; limit: number },
): Promise<RunWithGoalRow[]> {
  return q.query<RunWithGoalRow>(
    `select ${runColumns}, r.goal_at, r.first_message_at, r.goal_timing from flow_runs r where r.workspace_id = $1 and r.flow_id = $2 and ($3::text is null or r.status = $3)
      order by r.entered_at desc, r.id desc limit $4`,
    [workspaceId, flowId, filter.status ?? null, filter.limit],
  );
}

/** Moves a version's live runs to another version, renaming nodes by `nodeMap`; returns how many moved. */
export async function migrateRuns(
  tx: Tx,
  workspaceId: string,
  flowId: string,
  from: number,
  to: number,
  nodeMap: Record<string, string>,
  at: Date,
): Promise<number> {
  return tx.execute(
    `update flow_runs set version = $4, node_id = coalesce(($5::jsonb) ->> node_id, node_id), updated_at = $6
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('active', 'waiting')`,
    [workspaceId, flowId, from, to, JSON.stringify(nodeMap), at],
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

/** Pushes a run that failed to advance to a later retry, noting why. */
export async function postponeRun(
  q: Queryable,
  workspaceId: string,
  runId: string,
  until: Date,
  reason: string,
): Promise<void> {
  await q.query(
    "update flow_runs set wake_at = $3, exit_reason = $4 where workspace_id = $1 and id = $2",
    [workspaceId, runId, until, reason],
  );
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
