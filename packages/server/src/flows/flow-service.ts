import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { advance, type Effect, type Run } from "@herald/core/flows/advance";
import type { FlowDefinition } from "@herald/core/flows/definition";
import { mayEnter, triggerMatches } from "@herald/core/flows/entry";
import { nextDateTrigger, safeTimeZone } from "@herald/core/flows/schedule";
import { validateFlow } from "@herald/core/flows/validate";
import { prefixedId } from "@herald/core/ids";
import type { Database } from "../db/database.ts";
import {
  lastCatalogChangeId,
  profilesWithTrait,
  setCatalogCursor,
  upsertDateTimers,
  upsertSchedule,
  audienceBatch,
} from "./flow-triggers.sql.ts";
import * as flowsSql from "./flows.sql.ts";
import type { FlowRecord } from "./flow-record.ts";
import * as runsSql from "./flow-runs.sql.ts";
import {
  endedAtNodes,
  nodeConversions,
  nodeStats,
  runStats,
} from "./flow-stats.sql.ts";
import { daysOfUseOf, recentTriggerEvents } from "./flow-facts.sql.ts";
import { getProfileRow, toProfile } from "../profiles/profiles.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import {
  gatherRunFacts,
  triggerProducts,
  type FlowEngine,
} from "./flow-engine.ts";

/**
 * Flows as the admin API and the CLI manage them: drafts validated on save, publishing an
 * immutable version (and arming its timers), pausing and resuming, moving runs between
 * versions, per-node statistics, a dry run, and starting a run by API call.
 */

/** What the flow use-cases run with: the database and the clock. */
export interface FlowDeps {
  db: Database;
  clock: Clock;
}

/** Validates a definition against the workspace's templates, segments, lists and pools. */
export async function checkDefinition(
  db: Database,
  workspaceId: string,
  raw: unknown,
): Promise<FlowDefinition> {
  const { definition, problems } = validateFlow(
    raw,
    await flowsSql.referenceIds(db, workspaceId),
  );
  if (!definition || problems.length > 0) {
    const first = problems[0];
    throw new DomainError(
      "invalid",
      `the flow is invalid: ${first?.message ?? "unknown problem"}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
      problems,
    );
  }
  return definition;
}

/** The workspace's flows, by name. */
export async function listFlows(
  db: Database,
  workspaceId: string,
): Promise<FlowRecord[]> {
  return flowsSql.listFlows(db, workspaceId);
}

/** Creates a flow as a draft (installed from the library when `libraryName` is set). */
export async function createFlow(
  { db, clock }: FlowDeps,
  workspaceId: string,
  raw: unknown,
  libraryName: string | null = null,
): Promise<FlowRecord> {
  const draft = await checkDefinition(db, workspaceId, raw);
  const now = clock.now();
  const flow: FlowRecord = {
    id: prefixedId("flow"),
    name: draft.name,
    status: "draft",
    draft,
    currentVersion: null,
    libraryName,
    createdAt: now,
    updatedAt: now,
  };
  await flowsSql.insertFlow(db, workspaceId, flow);
  return flow;
}

/** A flow, or not_found. */
export async function requireFlow(
  db: Database,
  workspaceId: string,
  flowId: string,
): Promise<FlowRecord> {
  const flow = await flowsSql.getFlow(db, workspaceId, flowId);
  if (!flow || flow.status === "archived")
    throw new DomainError("not_found", `no flow ${flowId}`);
  return flow;
}

/** Replaces a flow's draft; live runs are untouched until it is published. */
export async function updateFlow(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
  raw: unknown,
): Promise<FlowRecord> {
  await requireFlow(db, workspaceId, flowId);
  const draft = await checkDefinition(db, workspaceId, raw);
  await flowsSql.updateDraft(db, workspaceId, {
    flowId,
    draft,
    at: clock.now(),
  });
  return requireFlow(db, workspaceId, flowId);
}

/**
 * Publishes the draft as the next version: new entrants use it, runs in flight finish on
 * theirs. Arms the trigger's timers: every profile's date timer, the schedule's first
 * occurrence, or the catalog cursor (only changes from now on count).
 */
export async function publishFlow(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
): Promise<{ version: number }> {
  const flow = await requireFlow(db, workspaceId, flowId);
  const definition = await checkDefinition(db, workspaceId, flow.draft);
  const now = clock.now();
  const version = await db.tx(async (tx) => {
    const published = await flowsSql.publishVersion(tx, workspaceId, {
      flowId,
      definition,
      at: now,
    });
    const trigger = definition.trigger;
    if (trigger.type === "schedule") {
      const start = new Date(trigger.start);
      await upsertSchedule(tx, workspaceId, flowId, start);
    }
    if (trigger.type === "catalog")
      await setCatalogCursor(
        tx,
        workspaceId,
        flowId,
        await lastCatalogChangeId(tx, workspaceId),
      );
    tx.notify(flowsSql.flowsChannel);
    return published;
  });
  if (definition.trigger.type === "date")
    await armDateTimers(db, workspaceId, {
      flowId,
      trigger: definition.trigger,
      now,
    });
  return { version };
}

/** Sets every profile's next date-trigger time, in batches. */
async function armDateTimers(
  db: Database,
  workspaceId: string,
  {
    flowId,
    trigger,
    now,
  }: {
    flowId: string;
    trigger: Extract<FlowDefinition["trigger"], { type: "date" }>;
    now: Date;
  },
): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const batch = await profilesWithTrait(db, workspaceId, {
      trait: trigger.trait,
      after,
      limit: 1000,
    });
    const rows = batch
      .map((p) => ({
        profileId: p.id,
        fireAt: nextDateTrigger(p.value, {
          offsetDays: trigger.offsetDays,
          yearly: trigger.yearly,
          ...(trigger.at ? { time: trigger.at } : {}),
          timeZone: safeTimeZone(p.time_zone),
          after: now,
        }),
      }))
      .filter(
        (r): r is { profileId: string; fireAt: Date } => r.fireAt !== undefined,
      );
    await db.tx(async (tx) => {
      await upsertDateTimers(tx, workspaceId, flowId, rows);
      tx.notify(flowsSql.flowsChannel);
    });
    const last = batch.at(-1);
    if (!last || batch.length < 1000) return;
    after = last.id;
  }
}

/** Pauses a live flow (runs wait where they are, nothing is sent) or resumes it. */
export async function setFlowPaused(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
  paused: boolean,
): Promise<FlowRecord> {
  const flow = await requireFlow(db, workspaceId, flowId);
  if (flow.currentVersion === null)
    throw new DomainError(
      "conflict",
      "this flow was never published: publish it first",
    );
  await db.tx(async (tx) => {
    await flowsSql.setFlowStatus(tx, workspaceId, {
      flowId,
      status: paused ? "paused" : "live",
      at: clock.now(),
    });
    tx.notify(flowsSql.flowsChannel);
  });
  return requireFlow(db, workspaceId, flowId);
}

/** Moves the live runs of one version to another, renaming nodes that changed id. */
export async function moveRuns(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
  input: {
    fromVersion: number;
    toVersion: number;
    nodeMap: Record<string, string>;
  },
): Promise<{ moved: number }> {
  await requireFlow(db, workspaceId, flowId);
  const [from, to] = await Promise.all([
    flowsSql.getVersion(db, workspaceId, flowId, input.fromVersion),
    flowsSql.getVersion(db, workspaceId, flowId, input.toVersion),
  ]);
  if (!from || !to)
    throw new DomainError(
      "not_found",
      `flow ${flowId} has no version ${!from ? input.fromVersion : input.toVersion}`,
    );
  const missing = Object.keys(from.nodes).filter(
    (id) =>
      !(id in to.nodes) &&
      !(input.nodeMap[id] && input.nodeMap[id] in to.nodes),
  );
  if (missing.length > 0) {
    throw new DomainError(
      "invalid",
      `version ${input.toVersion} has no node for ${missing.join(", ")}: map them in nodeMap`,
      missing.map((id) => ({
        path: `/nodeMap/${id}`,
        message: "needs a node of the target version",
      })),
    );
  }
  const moved = await db.tx(async (tx) => {
    const count = await runsSql.migrateRuns(tx, workspaceId, {
      flowId,
      ...input,
      at: clock.now(),
    });
    tx.notify(flowsSql.flowsChannel);
    return count;
  });
  return { moved };
}

/** What the stats say of one node: how many passed, wait, ended there, and what it earned. */
interface NodeStats {
  type: string;
  entered: number;
  waiting: number;
  /** Runs that ended at this node by reaching it (an exit node) or early (goal, exit event). */
  completed: number;
  exited: number;
  /** Converted runs that passed this node, and their revenue. */
  converted: number;
  revenue: number;
  /** Runs that exited at this node because their goal came before their first message (no conversion). */
  exitedBeforeFirstMessage: number;
  /** Passes by branch (splits, waits for an event). */
  branches: Record<string, number>;
  /** Per branch: passes, converted runs, revenue, conversion rate (A/B results), early goals. */
  branchResults: Record<
    string,
    {
      passed: number;
      converted: number;
      revenue: number;
      conversionRate: number;
      exitedBeforeFirstMessage: number;
    }
  >;
}

/**
 * Per-node counts of a version (entered, waiting, ended there, each branch, conversions
 * and revenue of the runs that passed, per branch too for A/B splits); and the run totals.
 * A conversion is a goal after the run's first message was sent; a goal before it is
 * counted apart (`exitedBeforeFirstMessage`) and earns no revenue.
 */
export async function getFlowStats(
  db: Database,
  workspaceId: string,
  flowId: string,
  version?: number,
) {
  const flow = await requireFlow(db, workspaceId, flowId);
  const v = version ?? flow.currentVersion;
  if (v === null)
    return {
      version: null,
      nodes: {},
      totals: {
        entered: 0,
        active: 0,
        completed: 0,
        exited: 0,
        converted: 0,
        exitedBeforeFirstMessage: 0,
        revenue: 0,
      },
    };
  const definition = await flowsSql.getVersion(db, workspaceId, flowId, v);
  const [passed, runs, conversions, ended] = await Promise.all([
    nodeStats(db, workspaceId, flowId, v),
    runStats(db, workspaceId, flowId, v),
    nodeConversions(db, workspaceId, flowId, v),
    endedAtNodes(db, workspaceId, flowId, v),
  ]);
  const nodes: Record<string, NodeStats> = {};
  for (const [id, node] of Object.entries(definition?.nodes ?? {}))
    nodes[id] = {
      type: node.type,
      entered: 0,
      waiting: 0,
      completed: 0,
      exited: 0,
      converted: 0,
      revenue: 0,
      exitedBeforeFirstMessage: 0,
      branches: {},
      branchResults: {},
    };
  const branchResult = (node: NodeStats, branch: string) =>
    (node.branchResults[branch] ??= {
      passed: 0,
      converted: 0,
      revenue: 0,
      conversionRate: 0,
      exitedBeforeFirstMessage: 0,
    });
  for (const row of passed) {
    const node = nodes[row.node_id];
    if (!node) continue;
    node.entered += row.passed;
    if (row.branch) {
      node.branches[row.branch] = (node.branches[row.branch] ?? 0) + row.passed;
      branchResult(node, row.branch).passed += row.passed;
    }
  }
  for (const row of runs.waiting) {
    const node = nodes[row.node_id];
    if (node) {
      node.waiting += row.runs;
      node.entered += row.runs;
    }
  }
  for (const row of ended) {
    const node = nodes[row.node_id];
    if (node) {
      node.completed += row.completed;
      node.exited += row.exited;
      node.exitedBeforeFirstMessage += row.exited_before_first_message;
    }
  }
  for (const row of conversions) {
    const node = nodes[row.node_id];
    if (!node) continue;
    if (row.branch) {
      // A wait for the goal's event takes its branch: the early goal shows there.
      const result = branchResult(node, row.branch);
      result.converted += row.runs;
      result.revenue += Number(row.revenue);
      result.exitedBeforeFirstMessage += row.early;
    } else {
      node.converted += row.runs;
      node.revenue += Number(row.revenue);
    }
  }
  for (const node of Object.values(nodes))
    for (const result of Object.values(node.branchResults))
      result.conversionRate =
        result.passed > 0 ? result.converted / result.passed : 0;
  return { version: v, nodes, totals: runs.totals };
}

/** A flow's published versions, newest first. */
export async function listVersions(
  db: Database,
  workspaceId: string,
  flowId: string,
) {
  await requireFlow(db, workspaceId, flowId);
  return (await flowsSql.listVersions(db, workspaceId, flowId)).map((v) => ({
    version: v.version,
    publishedAt: v.published_at.toISOString(),
  }));
}

/** A page of a flow's runs, newest first, each with its goal. */
export async function listRuns(
  db: Database,
  workspaceId: string,
  flowId: string,
  filter: { status?: Run["status"] | undefined; limit: number },
) {
  await requireFlow(db, workspaceId, flowId);
  const rows = await runsSql.listRuns(db, workspaceId, flowId, filter);
  return rows.map((row) => ({
    ...runsSql.toRun(row),
    goal: runsSql.toRunGoal(row),
  }));
}

/**
 * Starts a run for a shopper by API call (flows with an `api` trigger, or any flow an
 * operator starts by hand); `conflict` in a process that runs no flows.
 */
export async function triggerFlow(
  { db, clock, flows: engine }: FlowDeps & { flows?: FlowEngine | undefined },
  workspaceId: string,
  flowId: string,
  input: { profileId: string; data?: Record<string, unknown> | undefined },
): Promise<{ runId: string | null; status: string }> {
  if (!engine)
    throw new DomainError("conflict", "flows are not running in this process");
  const flow = await requireFlow(db, workspaceId, flowId);
  if (flow.status !== "live" || flow.currentVersion === null)
    throw new DomainError(
      "conflict",
      `flow ${flowId} is ${flow.status}: publish or resume it first`,
    );
  const definition = await engine.definition(
    db,
    workspaceId,
    flowId,
    flow.currentVersion,
  );
  if (!definition)
    throw new DomainError(
      "not_found",
      `flow ${flowId} has no version ${flow.currentVersion}`,
    );
  const profile = await getProfileRow(db, workspaceId, input.profileId);
  if (!profile)
    throw new DomainError("not_found", `no profile ${input.profileId}`);
  const profileId = profile.merged_into ?? profile.id;
  const now = clock.now();
  return db.tx(async (tx) => {
    const history = await runsSql.entryHistory(tx, workspaceId, {
      flowId,
      profileId,
      correlation: null,
    });
    if (
      !mayEnter(
        definition.settings?.reentry ?? { policy: "every_time" },
        history,
        now,
      )
    )
      return {
        runId: null,
        status: "not entered: the re-entry policy keeps this shopper out",
      };
    const run = engine.newRun(
      { id: flowId, version: flow.currentVersion ?? 1, definition },
      profileId,
      { data: input.data ?? {} },
      now,
    );
    const [advanced] = await engine.advanceRuns(
      tx,
      workspaceId,
      [{ run, definition, input: { kind: "start" }, isNew: true }],
      now,
    );
    return { runId: run.id, status: advanced?.status ?? run.status };
  });
}

/** What a simulated shopper would get. */
export interface DryRunPath {
  profileId: string;
  email: string | null;
  steps: { at: string; nodeId: string; branch: string | null }[];
  messages: { at: string; channel: string; templateId: string }[];
  actions: { at: string; kind: Effect["kind"]; nodeId: string }[];
  ends: string;
}

/**
 * Who would enter this flow now and what they would get, without sending anything: the
 * shoppers its trigger would pick (a segment's members, profiles with the date trait,
 * recent senders of the trigger event), each walked through the draft with time moving on
 * to every wait's end and no further events arriving.
 */
export async function dryRun(
  { db, clock }: FlowDeps,
  workspaceId: string,
  flowId: string,
  limit: number,
): Promise<{ candidates: number; paths: DryRunPath[] }> {
  const flow = await requireFlow(db, workspaceId, flowId);
  const definition = await checkDefinition(db, workspaceId, flow.draft);
  const now = clock.now();
  const trigger = definition.trigger;
  let candidates: { id: string; trigger?: Record<string, unknown> }[] = [];
  if (
    trigger.type === "segment_entered" ||
    trigger.type === "segment_exited" ||
    trigger.type === "schedule"
  ) {
    const segmentId =
      trigger.type === "schedule" ? trigger.segmentId : trigger.segmentId;
    candidates = (
      await audienceBatch(db, workspaceId, { segmentId, after: null, limit })
    ).map((p) => ({ id: p.id }));
  } else if (trigger.type === "date") {
    candidates = (
      await profilesWithTrait(db, workspaceId, {
        trait: trigger.trait,
        after: null,
        limit,
      })
    ).map((p) => ({ id: p.id }));
  } else if (trigger.type === "event" || trigger.type === "form") {
    // The newest event of each shopper in the last week that the trigger, filters
    // included, would have started a run for.
    const name = trigger.type === "event" ? trigger.event : "Form Submitted";
    const seen = new Set<string>();
    for (const e of await recentTriggerEvents(db, workspaceId, {
      name,
      since: new Date(now.getTime() - 7 * 86_400_000),
      limit: limit * 20,
    })) {
      if (seen.has(e.profile_id)) continue;
      const event = { name, properties: e.properties, timestamp: e.timestamp };
      if (!triggerMatches(trigger, event)) continue;
      seen.add(e.profile_id);
      candidates.push({ id: e.profile_id, trigger: e.properties });
    }
  }
  const timeZone = (await getSettings(db, workspaceId))?.timeZone;
  const paths: DryRunPath[] = [];
  for (const candidate of candidates.slice(0, limit)) {
    const row = await getProfileRow(db, workspaceId, candidate.id);
    if (!row) continue;
    const profile = toProfile(row);
    let run: Run = {
      id: `dry-${candidate.id}`,
      flowId,
      version: 0,
      profileId: candidate.id,
      status: "active",
      nodeId: definition.start,
      wakeAt: now,
      waitingFor: null,
      correlation: null,
      context: {
        trigger: candidate.trigger
          ? {
              name: "trigger",
              properties: candidate.trigger,
              timestamp: now.toISOString(),
            }
          : null,
        coupons: {},
        data: {},
      },
      visits: {},
      enteredAt: now,
      exitReason: null,
    };
    const products = triggerProducts(run);
    const daysOfUse =
      products.length > 0
        ? await daysOfUseOf(db, workspaceId, products)
        : new Map<string, number>();
    const facts = await db.tx((tx) =>
      gatherRunFacts(
        tx,
        workspaceId,
        { run, definition },
        { profile, timeZone, daysOfUse, now },
      ),
    );
    const path: DryRunPath = {
      profileId: candidate.id,
      email: profile.email,
      steps: [],
      messages: [],
      actions: [],
      ends: "still running after 50 steps",
    };
    let at = now;
    let input: Parameters<typeof advance>[2] = { kind: "start" };
    for (let round = 0; round < 50; round++) {
      const result = advance(definition, run, input, facts, at);
      for (const step of result.steps)
        path.steps.push({
          at: at.toISOString(),
          nodeId: step.nodeId,
          branch: step.branch,
        });
      for (const effect of result.effects) {
        if (effect.kind === "send")
          path.messages.push({
            at: at.toISOString(),
            channel: effect.channel,
            templateId: effect.templateId,
          });
        else
          path.actions.push({
            at: at.toISOString(),
            kind: effect.kind,
            nodeId: effect.nodeId,
          });
        if (effect.kind === "coupon")
          result.run.context.coupons[effect.poolId] = "(a new code)";
      }
      run = result.run;
      if (run.status === "completed" || run.status === "exited") {
        path.ends =
          run.status === "completed"
            ? `completed at ${run.nodeId}`
            : `exited: ${run.exitReason ?? ""}`;
        break;
      }
      if (run.status === "waiting" && run.wakeAt) at = run.wakeAt;
      input = { kind: "wake" };
    }
    paths.push(path);
  }
  return { candidates: candidates.length, paths };
}
