import type { Clock } from "@herald/core/clock";
import { isConflict, type Database, type Tx } from "../db/database.ts";
import { rfmThresholdsFor } from "../profiles/profile-service.ts";
import { segmentsChannel } from "../segments/segments.sql.ts";
import { analyzeMemberships } from "../segments/segment-members.sql.ts";
import {
  advanceComputation,
  batchEnd,
  claimComputation,
  computeRange,
  countProfiles,
  failComputation,
  nextRefreshAt,
  startedSegments,
  startComputation,
} from "../segments/segment-computation.sql.ts";
import type { Logger } from "../logger.ts";
import {
  evaluateProfiles,
  loadCatalog,
  recordMembershipEvents,
  type ProfileChange,
} from "../segments/segment-evaluator.ts";
import { LoopWorker, stepUntilIdle } from "./worker-loop.ts";

/**
 * The segment computer: computes a new or edited segment's members over every profile,
 * with the SQL compiled from its definition, one batch of profiles (by id) per
 * transaction, recording progress (processed of total) on the segment for the API.
 *
 * States of a segment: computing (cursor = last profile id done, or null before the first
 * batch) → ready; a batch that fails marks it failed with the error. An edit while
 * computing resets the cursor, so the next batch starts over with the new definition; a
 * ready segment with RFM conditions is computed again daily, as the cut points drift.
 *
 * Trade-offs: entries and exits found on creation are the segment's starting point and
 * emit no events; those found after an edit emit silent events (a definition change is
 * not something a shopper did, so flows do not fire on it). Each batch locks its segment
 * row, so incremental evaluation of that segment waits for the batch (at most one batch
 * long) instead of interleaving with it.
 */

/** Computes one segment's batches; see the module comment. */
export class SegmentComputer extends LoopWorker {
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
      name: "segment-computer",
      channels: [segmentsChannel],
      pollMs: 5_000,
      step: () => this.step(),
      nextWakeAt: () => nextRefreshAt(this.#db, this.#workspaceId),
    });
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: this.name });
    this.#workspaceId = deps.workspaceId ?? null;
    this.#batchSize = deps.batchSize ?? 25_000;
  }

  /** Runs every computation due to the end; resolves to the batches run. */
  runPending(): Promise<number> {
    return stepUntilIdle(() => this.step());
  }

  /** Computes one batch of one due segment; 0 when none is due. */
  async step(): Promise<number> {
    const now = this.#clock.now();
    let failed:
      | { workspaceId: string; id: string; version: number; error: string }
      | undefined;
    let finished = false;
    const done = await this.#db
      .tx(async (tx) => {
        const segment = await claimComputation(tx, now, this.#workspaceId);
        if (!segment) return 0;
        try {
          finished = await this.#batch(tx, segment, now);
        } catch (error) {
          // Conflicts with concurrent work are retried by the loop; anything else fails the segment.
          if (isConflict(error)) throw error;
          failed = {
            workspaceId: segment.workspaceId,
            id: segment.id,
            version: segment.version,
            error: error instanceof Error ? error.message : String(error),
          };
          throw error;
        }
        return 1;
      })
      .catch((error: unknown) => {
        if (!failed) throw error;
        return -1;
      });
    if (failed) {
      this.#logger.error({ ...failed }, "segment computation failed");
      await failComputation(this.#db, failed.workspaceId, failed);
      return 1;
    }
    // A finished computation may have written many memberships and timers at once: the
    // planner needs to know, or per-profile lookups fall back to scanning the workspace
    // (the embedded database has no autovacuum, and a server's may be off or behind).
    if (finished) await analyzeMemberships(this.#db);
    return done;
  }

  /** One batch; true when it was the segment's last. */
  async #batch(
    tx: Tx,
    segment: NonNullable<Awaited<ReturnType<typeof claimComputation>>>,
    now: Date,
  ): Promise<boolean> {
    const { workspaceId, id } = segment;
    let { cursor } = segment;
    let params = segment.params;
    if (
      segment.status === "ready" ||
      (cursor === null && segment.processed === 0)
    ) {
      // The first batch: count profiles and freeze the values the definition needs.
      const rfm = await rfmThresholdsFor(
        tx,
        workspaceId,
        segment.definition,
        now,
      );
      params = rfm ? { rfm } : {};
      const refresh = segment.status === "ready";
      await startComputation(tx, workspaceId, {
        id,
        total: await countProfiles(tx, workspaceId),
        params,
        emitChanges: segment.emitChanges || refresh,
        at: now,
      });
    }
    const catalog = await loadCatalog(tx, workspaceId);
    // Segments built on this one follow its changes, unless their own computation has not
    // started yet (it will read this one's members when it does).
    const dependents = await startedSegments(
      tx,
      workspaceId,
      (catalog.segments.dependents.get(id) ?? []).map((d) => d.id),
    );
    const emit = segment.emitChanges || segment.status === "ready";
    const upTo = await batchEnd(tx, workspaceId, cursor, this.#batchSize);
    const result = await computeRange(tx, workspaceId, {
      segment: { id, definition: segment.definition, rfm: params.rfm },
      range: { after: cursor, upTo },
      now,
      cause: "computation",
      returnIds: emit || dependents.length > 0,
    });
    if (emit) {
      const made = [
        ...result.entered.map((profileId) => ({
          segmentId: id,
          profileId,
          change: "entered" as const,
        })),
        ...result.exited.map((profileId) => ({
          segmentId: id,
          profileId,
          change: "exited" as const,
        })),
      ];
      await recordMembershipEvents(tx, workspaceId, {
        made,
        segments: catalog.segments,
        now,
        silent: () => true,
      });
    }
    if (dependents.length > 0) {
      const changes = new Map<string, ProfileChange>();
      for (const profileId of [...result.entered, ...result.exited])
        changes.set(profileId, {
          keys: new Set([`segment:${id}`]),
          silent: true,
        });
      await evaluateProfiles(tx, workspaceId, {
        segments: catalog.segments,
        changes,
        now,
        cause: "membership",
      });
    }
    cursor = upTo;
    await advanceComputation(tx, workspaceId, {
      id,
      cursor,
      processed: result.profiles,
      refreshAt: params.rfm ? new Date(now.getTime() + 86_400_000) : null,
      at: now,
    });
    this.#logger.debug(
      {
        workspaceId,
        segmentId: id,
        profiles: result.profiles,
        entered: result.enteredCount,
        exited: result.exitedCount,
        done: cursor === null,
      },
      "segment batch computed",
    );
    return cursor === null;
  }
}
