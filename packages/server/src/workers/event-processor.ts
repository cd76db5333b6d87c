import { Counter, Histogram, type Registry } from "prom-client";
import type { Clock } from "@herald/core/clock";
import type { StoredEvent } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import {
  extractIdentifiers,
  identifierKey,
  type Identifier,
} from "@herald/core/identity/identifiers";
import {
  resolveIdentity,
  type ProfileIdentities,
} from "@herald/core/identity/resolve-identity";
import { orderChange } from "@herald/core/orders/orders";
import { orderStats } from "@herald/core/profiles/order-stats";
import {
  applyEvent,
  emptyProfile,
  mergeProfiles,
  type Profile,
} from "@herald/core/profiles/profile";
import { isConflict, type Database, type Tx } from "../db/database.ts";
import {
  advanceCursors,
  eventPartitions,
  eventsChannel,
  lockCursors,
  pendingPartitions,
  readPartitions,
  rekeyEvents,
  setEventProfile,
  toStoredEvent,
  type EventRow,
} from "../events/events.sql.ts";
import {
  findOwners,
  insertIdentities,
  moveIdentities,
} from "../profiles/identities.sql.ts";
import {
  cancelOrder,
  insertOrder,
  orderFacts,
  refundOrder,
  rekeyOrders,
  setFulfillment,
  updateOrder,
} from "../orders/orders.sql.ts";
import {
  insertMerge,
  insertProfiles,
  lockProfilesWithIdentities,
  markMerged,
  saveProfiles,
  toProfile,
} from "../profiles/profiles.sql.ts";
import type { Logger } from "../logger.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import type {
  BatchContext,
  EventHandler,
  MergeInfo,
  ProcessedEvent,
} from "./event-handler.ts";
import { LoopWorker, stepUntilIdle } from "./worker-loop.ts";

/**
 * The event processor: consumes the event log after commit, in per-profile order, and
 * keeps profiles true to it.
 *
 * The log is split into partitions by profile. A step takes the partitions with events
 * waiting, split between a few lanes on PostgreSQL (one on the embedded database). A lane's
 * transaction leases its partitions with advisory locks (so two workers never share a
 * partition), reads the next events of each in commit order, and in the same transaction
 * resolves identity (linking identifiers, merging profiles), folds each event into its
 * profile, records orders, runs the registered handlers (segments, scoring, flow
 * triggers), and advances the cursors. A crash rolls all of it back, so no event is
 * skipped or applied twice. Several partitions to a transaction, not one: a trickle of
 * events spread over all of them costs one transaction's round trips, not sixteen.
 *
 * Trade-off: a merge moves the merged profile's later events to the survivor, but those
 * stay in their original partition, so across a merge the order between the two
 * profiles' events is approximate.
 */

/** See the module comment. */
export class EventProcessor extends LoopWorker {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #settings: SettingsCache;
  readonly #handlers: EventHandler[];
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #processed: Counter;
  readonly #duration: Histogram;
  /** The last round found more than a batch per lane waiting. */
  #backlog = false;

  constructor(deps: {
    db: Database;
    clock: Clock;
    logger: Logger;
    registry: Registry;
    settings: SettingsCache;
    handlers?: EventHandler[];
    batchSize?: number;
    /** Partitions processed at once on PostgreSQL (the embedded database has one connection). */
    concurrency?: number;
  }) {
    super(deps, {
      name: "event-processor",
      channels: [eventsChannel],
      pollMs: 1_000,
      step: () => this.processRound(),
    });
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: this.name });
    this.#settings = deps.settings;
    this.#handlers = deps.handlers ?? [];
    this.#batchSize = deps.batchSize ?? 500;
    this.#concurrency = deps.db.kind === "pglite" ? 1 : (deps.concurrency ?? 4);
    this.#processed = new Counter({
      name: "herald_events_processed_total",
      help: "Events applied to profiles by the event processor",
      registers: [deps.registry],
    });
    this.#duration = new Histogram({
      name: "herald_event_batch_seconds",
      help: "Time to process one batch of events",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [deps.registry],
    });
  }

  /** Registers a handler; call before start. */
  addHandler(handler: EventHandler): void {
    this.#handlers.push(handler);
  }

  /** Processes everything committed so far; resolves to the number of events processed. */
  processPending(): Promise<number> {
    return stepUntilIdle(() => this.processRound());
  }

  /**
   * One batch from every partition with events waiting, in a few lanes on PostgreSQL;
   * resolves to the number of events processed. A worker's step, so that stopping waits
   * for one round, not for the whole backlog.
   */
  async processRound(): Promise<number> {
    // While events trickle in, every partition is read in one transaction (no need to ask
    // first which ones have events); a backlog is split by the partitions that have one.
    const pending = this.#backlog
      ? await pendingPartitions(this.#db)
      : Array.from({ length: eventPartitions }, (_, i) => i);
    if (pending.length === 0) return 0;
    // One lane while events trickle in: a transaction's round trips, not one set per
    // lane, is what a light load costs. After a round that found a full batch (a backlog),
    // as many lanes as the concurrency allows, to catch up on every connection.
    const lanes = Math.min(
      this.#backlog ? this.#concurrency : 1,
      pending.length,
    );
    const groups = Array.from({ length: lanes }, (_, lane) =>
      pending.filter((_p, i) => i % lanes === lane),
    );
    const done = await Promise.all(
      groups.map((group) => this.#processPartitions(group)),
    );
    const total = done.reduce((sum, n) => sum + n, 0);
    this.#backlog = total >= this.#batchSize * lanes;
    return total;
  }

  async #processPartitions(partitions: number[]): Promise<number> {
    // About one batch per transaction, however many partitions it covers.
    const perPartition = Math.max(
      50,
      Math.ceil(this.#batchSize / partitions.length),
    );
    for (let attempt = 1; ; attempt++) {
      try {
        const timer = this.#duration.startTimer();
        const done = await this.#db.tx(async (tx) => {
          const cursors = await lockCursors(tx, partitions);
          const rows = await readPartitions(tx, cursors, perPartition);
          if (rows.length === 0) return 0;
          const now = this.#clock.now();
          const byWorkspace = new Map<string, EventRow[]>();
          const last = new Map<number, EventRow>();
          const counts = new Map<number, number>();
          for (const row of rows) {
            const list = byWorkspace.get(row.workspace_id);
            if (list) list.push(row);
            else byWorkspace.set(row.workspace_id, [row]);
            last.set(row.partition, row);
            counts.set(row.partition, (counts.get(row.partition) ?? 0) + 1);
          }
          for (const [workspaceId, events] of byWorkspace)
            await this.#processWorkspace(tx, workspaceId, events, now);
          await advanceCursors(
            tx,
            [...last].map(([partition, row]) => ({
              partition,
              xid: row.xid,
              seq: row.seq,
              processed: counts.get(partition) ?? 0,
            })),
            now,
          );
          return rows.length;
        });
        timer();
        this.#processed.inc(done);
        return done;
      } catch (error) {
        if (attempt >= 5 || !isConflict(error)) throw error;
        this.#logger.warn(
          { err: error, partitions, attempt },
          "event batch conflicted; retrying",
        );
      }
    }
  }

  async #processWorkspace(
    tx: Tx,
    workspaceId: string,
    rows: EventRow[],
    now: Date,
  ): Promise<void> {
    const settings = await this.#settings.get(workspaceId, tx);
    const events = rows.map(toStoredEvent);
    const identifiers = events.map((event) =>
      extractIdentifiers(event, settings.defaultPhoneRegion),
    );
    const unique = new Map<string, Identifier>();
    for (const ids of identifiers)
      for (const id of ids) unique.set(identifierKey(id), id);
    const owners = await findOwners(tx, workspaceId, [...unique.values()]);

    // Load every profile involved, following merges to their survivors.
    const state = new Map<string, Profile>();
    const mergedInto = new Map<string, string>();
    const profileIds = new Map<string, ProfileIdentities>();
    const load = async (ids: Iterable<string>) => {
      let wanted = [...new Set(ids)].filter(
        (id) => !state.has(id) && !mergedInto.has(id),
      );
      while (wanted.length > 0) {
        const rows = await lockProfilesWithIdentities(tx, workspaceId, wanted);
        const next: string[] = [];
        for (const row of rows.values()) {
          if (row.merged_into) {
            mergedInto.set(row.id, row.merged_into);
            if (!state.has(row.merged_into)) next.push(row.merged_into);
          } else {
            state.set(row.id, toProfile(row));
            profileIds.set(row.id, {
              id: row.id,
              createdAt: row.created_at,
              identifiers: row.identities,
            });
          }
        }
        wanted = next.filter((id) => !state.has(id));
      }
    };
    await load([...events.map((e) => e.profileId), ...owners.values()]);
    const canonical = (id: string): string => {
      let current = id;
      for (let hops = 0; hops < 100 && mergedInto.has(current); hops++)
        current = mergedInto.get(current) ?? current;
      return current;
    };
    for (const [key, owner] of owners) owners.set(key, canonical(owner));

    const dirty = new Set<string>();
    const ordersChanged = new Set<string>();
    const processed: ProcessedEvent[] = [];
    const refreshOrderStats = async (profileId: string) => {
      await load([profileId]);
      const id = canonical(profileId);
      const profile = state.get(id);
      if (!profile) return;
      const facts = (await orderFacts(tx, workspaceId, [id])).get(id) ?? [];
      state.set(id, { ...profile, orders: orderStats(facts) });
      dirty.add(id);
      ordersChanged.add(id);
    };

    for (const [index, event] of events.entries()) {
      const eventIds = identifiers[index] ?? [];
      // Herald's own events (segment changes, email opens) name their profile directly.
      const decision =
        eventIds.length === 0
          ? {
              profileId: canonical(event.profileId),
              merge: [],
              link: [],
              dropped: [],
            }
          : resolveIdentity(eventIds, owners, profileIds);
      let target = decision.profileId;
      if (target === null) {
        target = uuidv7(now);
        await insertProfiles(tx, workspaceId, [target], now);
        state.set(target, emptyProfile(workspaceId, target, now));
        profileIds.set(target, { id: target, createdAt: now, identifiers: [] });
      }

      for (const loser of decision.merge) {
        await this.#merge(
          tx,
          { workspaceId, survivorId: target, mergedId: loser },
          event,
          eventIds,
          now,
        );
        const survivor = state.get(target);
        const merged = state.get(loser);
        if (survivor && merged)
          state.set(target, mergeProfiles(survivor, merged));
        state.delete(loser);
        dirty.delete(loser);
        mergedInto.set(loser, target);
        for (const [key, owner] of owners)
          if (owner === loser) owners.set(key, target);
        const into = profileIds.get(target);
        into?.identifiers.push(...(profileIds.get(loser)?.identifiers ?? []));
        profileIds.delete(loser);
      }
      if (decision.merge.length > 0) await refreshOrderStats(target);

      if (decision.link.length > 0) {
        const linked = await insertIdentities(
          tx,
          workspaceId,
          decision.link.map((id) => ({ ...id, profileId: target })),
          now,
        );
        for (const id of decision.link) {
          if (!linked.has(identifierKey(id))) continue;
          owners.set(identifierKey(id), target);
          profileIds.get(target)?.identifiers.push(id);
        }
      }

      if (event.profileId !== target) {
        await setEventProfile(tx, workspaceId, event.messageId, target);
      }
      const previous =
        state.get(target) ?? emptyProfile(workspaceId, target, now);
      state.set(target, applyEvent(previous, event, settings));
      dirty.add(target);

      let newOrder: boolean | undefined;
      const change = orderChange(event);
      if (change) {
        let orderProfile: string | undefined;
        switch (change.kind) {
          case "placed":
            newOrder = await insertOrder(tx, workspaceId, {
              profileId: target,
              order: change.order,
              messageId: event.messageId,
              at: now,
            });
            orderProfile = target;
            break;
          case "updated":
            orderProfile = await updateOrder(tx, workspaceId, {
              orderId: change.orderId,
              order: change.order,
              at: now,
            });
            break;
          case "cancelled":
            orderProfile = await cancelOrder(
              tx,
              workspaceId,
              change.orderId,
              now,
            );
            break;
          case "refunded":
            orderProfile = await refundOrder(tx, workspaceId, {
              orderId: change.orderId,
              amount: change.amount,
              at: now,
            });
            break;
          case "fulfillment":
            await setFulfillment(tx, workspaceId, {
              orderId: change.orderId,
              fulfillment: change.fulfillment,
              at: now,
            });
            break;
        }
        if (orderProfile) await refreshOrderStats(orderProfile);
      }

      processed.push({
        event: { ...event, profileId: target },
        previous,
        profile: state.get(target) ?? previous,
        ...(newOrder === undefined ? {} : { newOrder }),
      });
    }

    await saveProfiles(
      tx,
      workspaceId,
      [...dirty].map((id) => state.get(id)).filter((p) => p !== undefined),
      now,
    );
    // Events processed before a merge later in the batch belong to the survivor now.
    for (const item of processed)
      item.event.profileId = canonical(item.event.profileId);
    const context: BatchContext = {
      now,
      profiles: state,
      ordersChanged: new Set([...ordersChanged].map(canonical)),
    };
    for (const handler of this.#handlers)
      await handler.handle(tx, workspaceId, processed, context);
  }

  async #merge(
    tx: Tx,
    merge: MergeInfo,
    cause: StoredEvent,
    identifiers: Identifier[],
    now: Date,
  ): Promise<void> {
    const { workspaceId, survivorId, mergedId } = merge;
    await moveIdentities(tx, workspaceId, mergedId, survivorId);
    await rekeyEvents(tx, workspaceId, mergedId, survivorId);
    await rekeyOrders(tx, workspaceId, mergedId, survivorId);
    await markMerged(tx, workspaceId, { mergedId, survivorId, at: now });
    await insertMerge(tx, {
      workspaceId,
      survivorId,
      mergedId,
      reason:
        cause.type === "alias"
          ? "alias"
          : `${cause.type} ${cause.name ?? ""}`.trim(),
      messageId: cause.messageId,
      identifiers,
      at: now,
    });
    for (const handler of this.#handlers) await handler.merge?.(tx, merge, now);
    this.#logger.debug(
      { workspaceId, survivorId, mergedId },
      "profiles merged",
    );
  }
}
