import type { Clock } from "@herald/core/clock";
import {
  isPriceDrop,
  isRestock,
  type CatalogChange,
} from "@herald/core/catalog/catalog";
import type { Run } from "@herald/core/flows/advance";
import type { Trigger } from "@herald/core/flows/definition";
import { mayEnter } from "@herald/core/flows/entry";
import {
  nextDateTrigger,
  nextLocalTime,
  nextScheduleOccurrence,
  safeTimeZone,
  scheduleTimeOfDay,
  type ScheduleCalendar,
} from "@herald/core/flows/schedule";
import type { Database, Tx } from "../db/database.ts";
import {
  audienceBatch,
  catalogChangesAfter,
  catalogFlowsBehind,
  claimDueDateTimers,
  claimDueSchedules,
  deleteDateTimers,
  interestedProfiles,
  nextDateTimerAt,
  nextScheduleAt,
  setCatalogCursor,
  updateSchedule,
  upsertDateTimers,
} from "../flows/flow-triggers.sql.ts";
import { flowsChannel, getFlow } from "../flows/flows.sql.ts";
import {
  claimDueRuns,
  insertRuns,
  entryHistory,
  nextRunDueAt,
  postponeRun,
  toRun,
  type RunRow,
} from "../flows/flow-runs.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import type { Logger } from "../logger.ts";
import type { FlowEngine, LiveFlow, RunWork } from "../flows/flow-engine.ts";
import { LoopWorker } from "./worker-loop.ts";

/**
 * The flow scheduler: advances runs whose wait is over, and starts the runs of timer
 * triggers — date triggers (birthdays), schedules (a seasonal offer to a segment) and
 * catalog changes (back in stock, price drop for interested shoppers).
 *
 * Due runs are claimed with FOR UPDATE SKIP LOCKED in batches, so several schedulers
 * share the work; a batch that fails is retried one run per transaction, and a run that
 * fails alone is postponed with its error noted, so one bad run cannot block the rest. The
 * loop sleeps until the earliest wake time by the injected clock, or a NOTIFY.
 *
 * States of a run here: waiting (wake_at in the future) → due → claimed (locked in this
 * transaction) → advanced (waiting again, completed or exited) on commit.
 */
export class FlowScheduler extends LoopWorker {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #engine: FlowEngine;
  readonly #batchSize: number;
  readonly #lanes: number;

  constructor(deps: {
    db: Database;
    clock: Clock;
    logger: Logger;
    engine: FlowEngine;
    batchSize?: number;
    /** Batches in flight at once on PostgreSQL. */
    lanes?: number;
  }) {
    super(deps, {
      name: "flow-scheduler",
      channels: [flowsChannel],
      pollMs: 1_000,
      step: () => this.runDue(),
      nextWakeAt: () => this.#nextWakeAt(),
    });
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: this.name });
    this.#engine = deps.engine;
    this.#batchSize = deps.batchSize ?? 200;
    this.#lanes = deps.lanes ?? 2;
  }

  /** When the next run, date trigger or schedule falls due. */
  async #nextWakeAt(): Promise<Date | undefined> {
    const times = [
      await nextRunDueAt(this.#db),
      await nextDateTimerAt(this.#db),
      await nextScheduleAt(this.#db),
    ];
    return times
      .filter((t) => t !== undefined)
      .sort((a, b) => a.getTime() - b.getTime())[0];
  }

  /** One round of due work; resolves to how much was done (0 when nothing was due). */
  async runDue(): Promise<number> {
    return (
      (await this.advanceDueRuns()) +
      (await this.#dateTimers()) +
      (await this.#schedules()) +
      (await this.#catalog())
    );
  }

  /**
   * Advances a batch of due runs per lane: several lanes at once on PostgreSQL (SKIP
   * LOCKED keeps their batches apart), one on the embedded database.
   */
  async advanceDueRuns(): Promise<number> {
    const lanes = this.#db.kind === "pglite" ? 1 : this.#lanes;
    const done = await Promise.all(
      Array.from({ length: lanes }, () => this.#advanceBatch()),
    );
    return done.reduce((sum, n) => sum + n, 0);
  }

  async #advanceBatch(): Promise<number> {
    const now = this.#clock.now();
    try {
      return await this.#db.tx(async (tx) => {
        const rows = await claimDueRuns(tx, now, this.#batchSize);
        await this.#advanceRows(tx, rows, now);
        return rows.length;
      });
    } catch (error) {
      this.#logger.warn(
        { err: error },
        "a batch of due runs failed; retrying them one by one",
      );
      return this.#advanceOneByOne(now);
    }
  }

  async #advanceOneByOne(now: Date): Promise<number> {
    let done = 0;
    for (let i = 0; i < this.#batchSize; i++) {
      let failed: { row: RunRow; error: unknown } | undefined;
      const claimed = await this.#db.tx(async (tx) => {
        const [row] = await claimDueRuns(tx, now, 1);
        if (!row) return false;
        try {
          await tx.query("savepoint run");
          await this.#advanceRows(tx, [row], now);
          await tx.query("release savepoint run");
        } catch (error) {
          await tx.query("rollback to savepoint run");
          failed = { row, error };
          const message =
            error instanceof Error ? error.message : String(error);
          await postponeRun(tx, row.workspace_id, {
            runId: row.id,
            until: new Date(now.getTime() + 5 * 60_000),
            reason: `step failed, retrying in 5 minutes: ${message}`,
          });
        }
        return true;
      });
      if (failed) this.#engine.failed(toRun(failed.row), failed.error);
      if (!claimed) break;
      done++;
    }
    return done;
  }

  async #advanceRows(tx: Tx, rows: RunRow[], now: Date): Promise<void> {
    const byWorkspace = new Map<string, RunRow[]>();
    for (const row of rows)
      byWorkspace.set(row.workspace_id, [
        ...(byWorkspace.get(row.workspace_id) ?? []),
        row,
      ]);
    for (const [workspaceId, group] of byWorkspace) {
      const work: RunWork[] = [];
      for (const row of group) {
        const definition = await this.#engine.definition(
          tx,
          workspaceId,
          row.flow_id,
          row.version,
        );
        if (!definition) continue;
        // A run entered at the shopper's local time starts when its wait ends.
        work.push({
          run: toRun(row),
          definition,
          input: row.node_id === "" ? { kind: "start" } : { kind: "wake" },
        });
      }
      await this.#engine.advanceRuns(tx, workspaceId, work, now);
    }
  }

  /** Starts runs for shoppers whose date trigger is due, and sets their next one. */
  async #dateTimers(): Promise<number> {
    const now = this.#clock.now();
    return this.#db.tx(async (tx) => {
      const timers = await claimDueDateTimers(tx, now, 100);
      for (const timer of timers) {
        const flow = await this.#liveFlow(
          tx,
          timer.workspace_id,
          timer.flow_id,
        );
        const trigger = flow?.definition.trigger;
        if (!flow || trigger?.type !== "date") {
          await deleteDateTimers(tx, timer.workspace_id, timer.flow_id, [
            timer.profile_id,
          ]);
          continue;
        }
        const profile = await getProfileRow(
          tx,
          timer.workspace_id,
          timer.profile_id,
        );
        const value = profile?.traits[trigger.trait];
        await this.#enter(
          tx,
          timer.workspace_id,
          flow,
          timer.profile_id,
          {
            data: { [trigger.trait]: value, date: timer.fire_at.toISOString() },
          },
          now,
        );
        const next = trigger.yearly
          ? nextDateTrigger(value, {
              offsetDays: trigger.offsetDays,
              yearly: true,
              ...(trigger.at ? { time: trigger.at } : {}),
              timeZone: safeTimeZone(profile?.time_zone),
              after: timer.fire_at,
            })
          : undefined;
        if (next)
          await upsertDateTimers(tx, timer.workspace_id, timer.flow_id, [
            { profileId: timer.profile_id, fireAt: next },
          ]);
        else
          await deleteDateTimers(tx, timer.workspace_id, timer.flow_id, [
            timer.profile_id,
          ]);
      }
      return timers.length;
    });
  }

  /** Enters the next batch of a due schedule's audience. */
  async #schedules(): Promise<number> {
    const now = this.#clock.now();
    return this.#db.tx(async (tx) => {
      const [schedule] = await claimDueSchedules(tx, now, 1);
      if (!schedule) return 0;
      const flow = await this.#liveFlow(
        tx,
        schedule.workspace_id,
        schedule.flow_id,
      );
      const trigger = flow?.definition.trigger;
      if (!flow || trigger?.type !== "schedule") {
        await updateSchedule(tx, schedule.workspace_id, schedule.flow_id, {
          nextAt: null,
          occurrenceAt: null,
          afterProfile: null,
        });
        return 1;
      }
      const occurrence = schedule.occurrence_at ?? schedule.next_at;
      const calendar: ScheduleCalendar = {
        every: trigger.every,
        start: trigger.start,
        timeZone: safeTimeZone(
          trigger.timeZone ??
            (await getSettings(tx, schedule.workspace_id))?.timeZone,
        ),
      };
      const batch = await audienceBatch(tx, schedule.workspace_id, {
        segmentId: trigger.segmentId,
        after: schedule.after_profile,
        limit: 500,
      });
      const localTime = scheduleTimeOfDay(calendar);
      for (const profile of batch) {
        const wakeAt = trigger.localTime
          ? nextLocalTime(
              occurrence,
              localTime,
              safeTimeZone(profile.time_zone),
            )
          : undefined;
        await this.#enter(
          tx,
          schedule.workspace_id,
          flow,
          profile.id,
          {
            data: { occurrence: occurrence.toISOString() },
            ...(wakeAt ? { wakeAt } : {}),
          },
          now,
        );
      }
      const last = batch.at(-1);
      if (batch.length === 500 && last) {
        await updateSchedule(tx, schedule.workspace_id, schedule.flow_id, {
          nextAt: now,
          occurrenceAt: occurrence,
          afterProfile: last.id,
        });
      } else {
        await updateSchedule(tx, schedule.workspace_id, schedule.flow_id, {
          nextAt: nextScheduleOccurrence(calendar, occurrence),
          occurrenceAt: null,
          afterProfile: null,
        });
      }
      return Math.max(1, batch.length);
    });
  }

  /** Starts runs for shoppers interested in products whose stock or price changed. */
  async #catalog(): Promise<number> {
    let done = 0;
    for (const cursor of await catalogFlowsBehind(this.#db)) {
      const now = this.#clock.now();
      done += await this.#db.tx(async (tx) => {
        const flow = await this.#liveFlow(
          tx,
          cursor.workspace_id,
          cursor.flow_id,
        );
        const trigger = flow?.definition.trigger;
        const changes = await catalogChangesAfter(
          tx,
          cursor.workspace_id,
          cursor.last_change_id,
          100,
        );
        for (const change of changes) {
          if (
            !flow ||
            trigger?.type !== "catalog" ||
            change.variant_id !== null
          )
            continue;
          const asChange: CatalogChange = {
            productId: change.product_id,
            variantId: null,
            kind: change.kind,
            oldValue: change.old_value,
            newValue: change.new_value,
          };
          if (!catalogTriggerFires(trigger, asChange)) continue;
          const since = new Date(
            now.getTime() - trigger.withinDays * 86_400_000,
          );
          const product = {
            product_id: change.product_id,
            name: change.name,
            url: change.url,
            image_url: change.image_url,
            price: change.price,
            previous_price: change.kind === "price" ? change.old_value : null,
          };
          for (const profileId of await interestedProfiles(
            tx,
            cursor.workspace_id,
            {
              productId: change.product_id,
              events: trigger.interestEvents,
              since,
            },
          )) {
            await this.#enter(
              tx,
              cursor.workspace_id,
              flow,
              profileId,
              {
                data: { product, products: [product], change: trigger.change },
              },
              now,
            );
          }
        }
        const last = changes.at(-1);
        if (last)
          await setCatalogCursor(
            tx,
            cursor.workspace_id,
            cursor.flow_id,
            last.id,
          );
        return changes.length;
      });
    }
    return done;
  }

  async #liveFlow(
    tx: Tx,
    workspaceId: string,
    flowId: string,
  ): Promise<LiveFlow | undefined> {
    const flow = await getFlow(tx, workspaceId, flowId);
    if (!flow || flow.status !== "live" || flow.currentVersion === null)
      return undefined;
    const definition = await this.#engine.definition(
      tx,
      workspaceId,
      flowId,
      flow.currentVersion,
    );
    return (
      definition && { id: flowId, version: flow.currentVersion, definition }
    );
  }

  /** Starts a run if the re-entry policy allows (timer triggers default to every time). */
  async #enter(
    tx: Tx,
    workspaceId: string,
    flow: LiveFlow,
    profileId: string,
    start: { data: Record<string, unknown>; wakeAt?: Date },
    now: Date,
  ): Promise<Run | undefined> {
    const history = await entryHistory(tx, workspaceId, {
      flowId: flow.id,
      profileId,
      correlation: null,
    });
    if (
      !mayEnter(
        flow.definition.settings?.reentry ?? { policy: "every_time" },
        history,
        now,
      )
    )
      return undefined;
    const run = this.#engine.newRun(flow, profileId, { data: start.data }, now);
    if (start.wakeAt && start.wakeAt > now) {
      // Enter now, start at the shopper's local time: the scheduler starts it when due.
      const waiting: Run = {
        ...run,
        status: "waiting",
        nodeId: "",
        wakeAt: start.wakeAt,
      };
      await insertRuns(tx, workspaceId, { runs: [waiting], at: now });
      return waiting;
    }
    const [advanced] = await this.#engine.advanceRuns(
      tx,
      workspaceId,
      [
        {
          run,
          definition: flow.definition,
          input: { kind: "start" },
          isNew: true,
        },
      ],
      now,
    );
    return advanced;
  }
}

/** True when a catalog change is what the trigger waits for. */
export function catalogTriggerFires(
  trigger: Extract<Trigger, { type: "catalog" }>,
  change: CatalogChange,
): boolean {
  switch (trigger.change) {
    case "back_in_stock":
      return isRestock(change);
    case "price_drop": {
      if (
        !isPriceDrop(change) ||
        change.oldValue === null ||
        change.newValue === null
      )
        return false;
      const percent =
        ((change.oldValue - change.newValue) / change.oldValue) * 100;
      return percent >= (trigger.minDropPercent ?? 0);
    }
    case "low_stock": {
      const below = trigger.below ?? 5;
      return (
        change.kind === "stock" &&
        change.newValue !== null &&
        change.newValue > 0 &&
        change.newValue < below &&
        (change.oldValue ?? Infinity) >= below
      );
    }
  }
}
