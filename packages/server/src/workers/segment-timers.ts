import type { Clock } from "@herald/core/clock";
import type { Database } from "../db/database.ts";
import { lockProfiles } from "../profiles/profiles.sql.ts";
import {
  dueExpiries,
  nextExpiryAt,
  recomputeScores,
} from "../scores/score-points.sql.ts";
import {
  dueTimers,
  nextTimerAt,
  segmentTimersChannel,
  takeTimers,
} from "../segments/segment-timers.sql.ts";
import type { Logger } from "../logger.ts";
import {
  evaluateProfiles,
  loadCatalog,
  type ProfileChange,
} from "../segments/segment-evaluator.ts";
import { LoopWorker, stepUntilIdle } from "./worker-loop.ts";

/**
 * The segment timer worker: makes time-based conditions flip at the right moment with no
 * event at all. Every (segment, profile) whose answer may change by time alone has a timer
 * row with the instant it may change ("no order in 90 days": the last order + 90 days);
 * when the injected clock reaches it, this worker re-evaluates that segment for that
 * profile, records the entry or exit, and sets the next timer. Points that expire are the
 * same: when a profile's next points expire, its score totals are recomputed and the
 * segments on those scores re-evaluated.
 *
 * States of a timer: waiting → due (wake_at ≤ now) → taken (deleted in the transaction
 * that re-evaluates, which sets the next one). A step first locks the due profiles (the
 * same order the event processor locks them in), then takes their timers that are still
 * due, so a timer is handled once even with several workers. The loop sleeps until the
 * earliest timer by the clock, or a poll.
 */
export class SegmentTimers extends LoopWorker {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #workspaceId: string | null;

  constructor(deps: {
    db: Database;
    clock: Clock;
    logger: Logger;
    batchSize?: number;
    /** Only this workspace\'s work (tests and tools sharing a database). */
    workspaceId?: string;
  }) {
    super(deps, {
      name: "segment-timers",
      channels: [segmentTimersChannel],
      pollMs: 30_000,
      step: () => this.step(),
      nextWakeAt: () => this.nextWakeAt(),
    });
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: this.name });
    this.#workspaceId = deps.workspaceId ?? null;
    this.#batchSize = deps.batchSize ?? 500;
  }

  /** When the next timer or expiry falls due. */
  async nextWakeAt(): Promise<Date | undefined> {
    const [timer, expiry] = await Promise.all([
      nextTimerAt(this.#db, this.#workspaceId),
      nextExpiryAt(this.#db, this.#workspaceId),
    ]);
    if (!timer) return expiry;
    if (!expiry) return timer;
    return timer < expiry ? timer : expiry;
  }

  /** Handles everything due now; resolves to how many timers and expiries it handled. */
  runDue(): Promise<number> {
    return stepUntilIdle(() => this.step());
  }

  /** Handles one batch of due timers and expiries. */
  async step(): Promise<number> {
    const now = this.#clock.now();
    const timers = await dueTimers(
      this.#db,
      now,
      this.#batchSize,
      this.#workspaceId,
    );
    const expiries = await dueExpiries(
      this.#db,
      now,
      this.#batchSize,
      this.#workspaceId,
    );
    if (timers.length === 0 && expiries.length === 0) return 0;
    const byWorkspace = new Map<
      string,
      { timers: typeof timers; expiries: typeof expiries }
    >();
    const entry = (workspaceId: string) => {
      let found = byWorkspace.get(workspaceId);
      if (!found)
        byWorkspace.set(workspaceId, (found = { timers: [], expiries: [] }));
      return found;
    };
    for (const timer of timers) entry(timer.workspace_id).timers.push(timer);
    for (const expiry of expiries)
      entry(expiry.workspace_id).expiries.push(expiry);
    let handled = 0;
    for (const [workspaceId, due] of byWorkspace) {
      handled += await this.#db.tx(async (tx) => {
        const ids = [
          ...new Set([
            ...due.timers.map((t) => t.profile_id),
            ...due.expiries.map((e) => e.profile_id),
          ]),
        ];
        await lockProfiles(tx, workspaceId, ids);
        const taken = await takeTimers(
          tx,
          workspaceId,
          due.timers.map((t) => ({
            segmentId: t.segment_id,
            profileId: t.profile_id,
          })),
          now,
        );
        const changes = new Map<string, ProfileChange>();
        for (const timer of taken) {
          const change = changes.get(timer.profile_id) ?? {
            keys: new Set<string>(),
            segments: new Set<string>(),
            silent: false,
          };
          change.segments?.add(timer.segment_id);
          changes.set(timer.profile_id, change);
        }
        const expiring = [...new Set(due.expiries.map((e) => e.profile_id))];
        for (const scoreChange of await recomputeScores(
          tx,
          workspaceId,
          expiring,
          now,
        )) {
          if (scoreChange.before === scoreChange.after) continue;
          const change = changes.get(scoreChange.profileId) ?? {
            keys: new Set<string>(),
            silent: false,
          };
          if (change.keys !== "all")
            change.keys.add(`score:${scoreChange.score}`);
          changes.set(scoreChange.profileId, change);
        }
        if (changes.size > 0) {
          const catalog = await loadCatalog(tx, workspaceId);
          await evaluateProfiles(tx, workspaceId, {
            segments: catalog.segments,
            changes,
            now,
            cause: "time",
          });
        }
        return taken.length + expiring.length;
      });
    }
    if (handled > 0) this.#logger.debug({ handled }, "segment timers handled");
    // Timers taken by another worker meanwhile count as progress too.
    return Math.max(handled, timers.length + expiries.length > 0 ? 1 : 0);
  }
}
