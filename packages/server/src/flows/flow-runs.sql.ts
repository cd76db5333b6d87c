import type { Run, RunContext } from "@herald/core/flows/advance";
import type { Queryable, Tx } from "../db/database.ts";

/**
 * Flow runs: each shopper's place in a flow version (the scheduler's work queue, by
 * `wake_at`), the steps it took, its goal, and the effects it has done (`flow_effects`,
 * keyed so that a repeated step never repeats an effect).
 */

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

/** New runs to insert, or runs' new state to write, with the steps they took (by run id). */
export interface RunWrite {
  runs: Run[];
  at: Date;
  steps?: ReadonlyMap<string, RecordedStep[]>;
}

/** Inserts new runs, with the steps they took so far. */
export async function insertRuns(
  tx: Tx,
  workspaceId: string,
  { runs, at, steps = new Map() }: RunWrite,
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
  { runs, at, steps = new Map() }: RunWrite,
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
  {
    runId,
    goal,
    now,
  }: {
    runId: string;
    goal: { at: Date; firstMessageAt: Date | null; revenue: number | null };
    now: Date;
  },
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
  {
    flowId,
    profileId,
    correlation,
  }: { flowId: string; profileId: string; correlation: string | null },
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
  move: {
    flowId: string;
    fromVersion: number;
    toVersion: number;
    nodeMap: Record<string, string>;
    at: Date;
  },
): Promise<number> {
  return tx.execute(
    `update flow_runs set version = $4, node_id = coalesce(($5::jsonb) ->> node_id, node_id), updated_at = $6
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('active', 'waiting')`,
    [
      workspaceId,
      move.flowId,
      move.fromVersion,
      move.toVersion,
      JSON.stringify(move.nodeMap),
      move.at,
    ],
  );
}

/** Pushes a run that failed to advance to a later retry, noting why. */
export async function postponeRun(
  q: Queryable,
  workspaceId: string,
  { runId, until, reason }: { runId: string; until: Date; reason: string },
): Promise<void> {
  await q.query(
    "update flow_runs set wake_at = $3, exit_reason = $4 where workspace_id = $1 and id = $2",
    [workspaceId, runId, until, reason],
  );
}
