import { ms } from "@herald/core/clock";
import { eventMatches, type Run } from "@herald/core/flows/advance";
import { maxConversionWindowDays } from "@herald/core/flows/definition";
import type { FlowEvent } from "@herald/core/flows/conditions";
import {
  correlationOf,
  eventRevenue,
  mayEnter,
  reactionTo,
  triggerMatches,
} from "@herald/core/flows/entry";
import { nextDateTrigger, safeTimeZone } from "@herald/core/flows/schedule";
import type { StoredEvent } from "@herald/core/events/event";
import type { Tx } from "../db/database.ts";
import { deleteDateTimers, upsertDateTimers } from "./flow-triggers.sql.ts";
import {
  firstSentOfRuns,
  skipPendingRunMessages,
} from "../messages/flow-run-messages.sql.ts";
import { flowStatuses } from "./flows.sql.ts";
import {
  entryHistory,
  lockLiveRuns,
  lockUnconvertedRuns,
  recordGoal,
  rekeyRuns,
  toRun,
  updateRuns,
} from "./flow-runs.sql.ts";
import type {
  BatchContext,
  EventHandler,
  MergeInfo,
  ProcessedEvent,
} from "../workers/event-handler.ts";
import type { FlowEngine, LiveFlow, RunWork } from "./flow-engine.ts";

/**
 * Flows' side of the event processor, in per-profile event order and in the processing
 * transaction: each event may end live runs (their goal, an exit condition), wake runs
 * waiting for it, and start new runs of flows it triggers, in that order — so an order
 * placed while a cart reminder is due ends the run before the reminder can go. Silent
 * (imported) events do none of it. Identify calls also keep date triggers' timers current.
 * A goal reached after a run completed still counts as its conversion while it falls in
 * the flow's `conversionWindowDays` after the run's end. Conversions are earned: only a
 * goal after the run's first message was sent counts (with its revenue); a goal before it
 * is recorded as `before_first_message` (the run exits before its first message). A goal
 * or exit also drops the run's messages still waiting to go (held by the frequency cap or
 * quiet hours): a cart reminder after the cart's order is stale.
 */

/** The name flows know an event by. */
export function flowEventOf(event: StoredEvent): FlowEvent | undefined {
  const names: Record<string, string | null> = {
    track: event.name,
    page: "Page Viewed",
    screen: "Screen Viewed",
    identify: "Identify",
    group: "Group",
    alias: null,
  };
  const name = names[event.type];
  return name
    ? {
        name,
        properties: { ...event.traits, ...event.properties },
        timestamp: event.timestamp,
      }
    : undefined;
}

/** See the module comment. */
export class FlowTriggers implements EventHandler {
  readonly name = "flows";
  readonly #engine: FlowEngine;

  constructor(engine: FlowEngine) {
    this.#engine = engine;
  }

  async handle(
    tx: Tx,
    workspaceId: string,
    events: ProcessedEvent[],
    context: BatchContext,
  ): Promise<void> {
    const relevant = events.filter((e) => !e.event.silent);
    if (relevant.length === 0) return;
    const live = await this.#engine.liveFlows(tx, workspaceId);
    const profileIds = [...new Set(relevant.map((e) => e.event.profileId))];
    const runs = new Map<string, Run[]>();
    for (const row of await lockLiveRuns(tx, workspaceId, profileIds)) {
      runs.set(row.profile_id, [
        ...(runs.get(row.profile_id) ?? []),
        toRun(row),
      ]);
    }
    const statuses = await flowStatuses(tx, workspaceId, [
      ...new Set([...runs.values()].flat().map((r) => r.flowId)),
    ]);
    const now = context.now;
    await this.#convertCompletedRuns(tx, workspaceId, {
      live,
      events: relevant,
      now,
    });

    for (const { event } of relevant) {
      const flowEvent = flowEventOf(event);
      if (!flowEvent) continue;
      const mine = runs.get(event.profileId) ?? [];
      const work: RunWork[] = [];
      const ended: Run[] = [];
      for (const [index, run] of mine.entries()) {
        if (run.status !== "active" && run.status !== "waiting") continue;
        const definition = await this.#engine.definition(
          tx,
          workspaceId,
          run.flowId,
          run.version,
        );
        if (!definition) continue;
        const reaction = reactionTo(definition, run, flowEvent);
        // A wait for this very event takes its branch first; the goal still counts.
        const node = definition.nodes[run.nodeId];
        const awaited =
          run.status === "waiting" &&
          node?.type === "wait_for_event" &&
          statuses.get(run.flowId) === "live" &&
          eventMatches(
            node,
            flowEvent,
            run,
            definition.trigger.type === "event"
              ? definition.trigger.correlation
              : undefined,
          );
        if (reaction === "goal")
          await this.#recordGoal(tx, workspaceId, {
            run,
            goal: flowEvent,
            now,
          });
        // What the run still holds back (over the cap, in quiet hours) is stale now.
        if (reaction)
          await skipPendingRunMessages(tx, workspaceId, {
            profileIds: [run.profileId],
            runIds: [run.id],
            reason: `the flow run ended (${reaction}: ${flowEvent.name}) before it was sent`,
            now,
          });
        if (awaited) {
          work.push({
            run,
            definition,
            input: { kind: "event", event: flowEvent },
          });
        } else if (reaction) {
          const exited: Run = {
            ...run,
            status: "exited",
            wakeAt: null,
            waitingFor: null,
            exitReason:
              reaction === "goal"
                ? `goal: ${flowEvent.name}`
                : `exit: ${flowEvent.name}`,
          };
          mine[index] = exited;
          ended.push(exited);
        }
      }
      await updateRuns(tx, workspaceId, { runs: ended, at: now });

      for (const flow of live) {
        if (!triggerMatches(flow.definition.trigger, flowEvent)) continue;
        const correlation = correlationOf(
          flow.definition.trigger,
          flowEvent.properties,
        );
        if (
          !(await this.#mayEnter(tx, workspaceId, {
            flow,
            profileId: event.profileId,
            correlation,
            mine,
            now,
          }))
        )
          continue;
        const run = this.#engine.newRun(
          flow,
          event.profileId,
          { trigger: flowEvent, correlation },
          now,
        );
        work.push({
          run,
          definition: flow.definition,
          input: { kind: "start" },
          isNew: true,
        });
        mine.push(run);
      }

      const advanced = await this.#engine.advanceRuns(
        tx,
        workspaceId,
        work,
        now,
      );
      for (const run of advanced) {
        const at = mine.findIndex((r) => r.id === run.id);
        if (at >= 0) mine[at] = run;
      }
      runs.set(event.profileId, mine);
    }

    await this.#keepDateTimers(tx, workspaceId, {
      live,
      events: relevant,
      context,
    });
  }

  /** Counts goals reached after a run completed, within its flow's conversion window. */
  async #convertCompletedRuns(
    tx: Tx,
    workspaceId: string,
    {
      live,
      events,
      now,
    }: { live: LiveFlow[]; events: ProcessedEvent[]; now: Date },
  ): Promise<void> {
    const goals = new Set(
      live.flatMap(({ definition: { settings } }) =>
        settings?.goal && settings.conversionWindowDays
          ? [settings.goal.event]
          : [],
      ),
    );
    const candidates = events.flatMap(({ event }) => {
      const flowEvent = flowEventOf(event);
      return flowEvent && goals.has(flowEvent.name)
        ? [{ profileId: event.profileId, flowEvent }]
        : [];
    });
    if (candidates.length === 0) return;
    const rows = await lockUnconvertedRuns(
      tx,
      workspaceId,
      [...new Set(candidates.map((c) => c.profileId))],
      new Date(now.getTime() - maxConversionWindowDays * ms.day),
    );
    const converted = new Set<string>();
    for (const { profileId, flowEvent } of candidates)
      for (const row of rows) {
        if (row.profile_id !== profileId || converted.has(row.id)) continue;
        const definition = await this.#engine.definition(
          tx,
          workspaceId,
          row.flow_id,
          row.version,
        );
        const days = definition?.settings?.conversionWindowDays;
        const since = flowEvent.timestamp.getTime() - row.ended_at.getTime();
        if (!definition || !days || since < 0 || since > days * ms.day)
          continue;
        if (reactionTo(definition, toRun(row), flowEvent) !== "goal") continue;
        // A run that ended without messaging the shopper earned nothing.
        if (
          await this.#recordGoal(tx, workspaceId, {
            run: toRun(row),
            goal: flowEvent,
            now,
          })
        )
          converted.add(row.id);
      }
  }

  /**
   * Records a run's goal with the time of its first message sent before it; resolves to
   * true when that makes a conversion. A completed run with no message is left as it is.
   */
  async #recordGoal(
    tx: Tx,
    workspaceId: string,
    { run, goal, now }: { run: Run; goal: FlowEvent; now: Date },
  ): Promise<boolean> {
    const at = new Date(Math.min(goal.timestamp.getTime(), now.getTime()));
    const firstMessageAt =
      (
        await firstSentOfRuns(tx, workspaceId, {
          profileIds: [run.profileId],
          runIds: [run.id],
          by: at,
        })
      ).get(run.id) ?? null;
    if (!firstMessageAt && run.status === "completed") return false;
    await recordGoal(tx, workspaceId, {
      runId: run.id,
      goal: { at, firstMessageAt, revenue: eventRevenue(goal) },
      now,
    });
    return firstMessageAt !== null;
  }

  /** The re-entry policy, counting runs started earlier in this same batch. */
  async #mayEnter(
    tx: Tx,
    workspaceId: string,
    {
      flow,
      profileId,
      correlation,
      mine,
      now,
    }: {
      flow: LiveFlow;
      profileId: string;
      correlation: string | null;
      /** The shopper's runs, those started earlier in this batch included. */
      mine: Run[];
      now: Date;
    },
  ): Promise<boolean> {
    const reentry = flow.definition.settings?.reentry;
    const perKey = reentry?.policy === "one_active_per_key";
    const pending = mine.filter(
      (r) => r.flowId === flow.id && (!perKey || r.correlation === correlation),
    );
    const history = await entryHistory(tx, workspaceId, {
      flowId: flow.id,
      profileId,
      correlation: perKey ? correlation : null,
    });
    const last =
      [history.lastEnteredAt, ...pending.map((r) => r.enteredAt)]
        .filter((d) => d !== null)
        .sort((a, b) => b.getTime() - a.getTime())[0] ?? null;
    const active =
      history.activeRun ||
      pending.some((r) => r.status === "active" || r.status === "waiting");
    return mayEnter(reentry, { lastEnteredAt: last, activeRun: active }, now);
  }

  /** Identify calls that change a date trait reset that trait's timers. */
  async #keepDateTimers(
    tx: Tx,
    workspaceId: string,
    {
      live,
      events,
      context,
    }: { live: LiveFlow[]; events: ProcessedEvent[]; context: BatchContext },
  ): Promise<void> {
    for (const flow of live) {
      const trigger = flow.definition.trigger;
      if (trigger.type !== "date") continue;
      const changed = new Set(
        events
          .filter(
            (e) =>
              e.event.type === "identify" &&
              e.event.traits &&
              trigger.trait in e.event.traits,
          )
          .map((e) => e.event.profileId),
      );
      if (changed.size === 0) continue;
      const set: { profileId: string; fireAt: Date }[] = [];
      const cleared: string[] = [];
      for (const profileId of changed) {
        const profile = context.profiles.get(profileId);
        const fireAt = profile
          ? nextDateTrigger(profile.traits[trigger.trait], {
              offsetDays: trigger.offsetDays,
              yearly: trigger.yearly,
              ...(trigger.at ? { time: trigger.at } : {}),
              timeZone: safeTimeZone(profile.timeZone),
              after: context.now,
            })
          : undefined;
        if (fireAt) set.push({ profileId, fireAt });
        else cleared.push(profileId);
      }
      await upsertDateTimers(tx, workspaceId, flow.id, set);
      if (cleared.length > 0)
        await deleteDateTimers(tx, workspaceId, flow.id, cleared);
    }
  }

  async merge(tx: Tx, merge: MergeInfo): Promise<void> {
    await rekeyRuns(tx, merge.workspaceId, merge.mergedId, merge.survivorId);
  }
}
