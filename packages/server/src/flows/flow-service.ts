import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import type { Run } from "@herald/core/flows/advance";
import type { FlowDefinition } from "@herald/core/flows/definition";
import { mayEnter } from "@herald/core/flows/entry";
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
} from "./flow-triggers.sql.ts";
import * as flowsSql from "./flows.sql.ts";
import type { FlowRecord } from "./flow-record.ts";
import * as runsSql from "./flow-runs.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import type { FlowEngine } from "./flow-engine.ts";

/**
 * Flows as the admin API and the CLI manage them: drafts validated on save, publishing an
 * immutable version (and arming its timers), pausing and resuming, moving runs between
 * versions, listing runs, and starting a run by API call. Per-node statistics are in
 * flow-stats.ts, the dry run in flow-dry-run.ts.
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
