import { Counter, Histogram, type Registry } from "prom-client";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import type { IncomingEvent } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import {
  assignProfiles,
  type AssignmentPlan,
} from "@herald/core/identity/assign-profiles";
import {
  identifierKey,
  type Identifier,
} from "@herald/core/identity/identifiers";
import type { Database, Queryable, Tx } from "../db/database.ts";
import { storeIngested } from "../db/ingest.sql.ts";
import { eventsChannel, insertEvents } from "../db/events.sql.ts";
import { findOwners, insertIdentities } from "../db/identities.sql.ts";
import type { IngestError } from "../db/ingest-errors.sql.ts";
import { deleteProfiles, insertProfiles } from "../db/profiles.sql.ts";
import type { Logger } from "../logger.ts";

/**
 * The ingest writer: durable before acknowledged, without a transaction per request.
 *
 * Requests hand their validated events to `write()`, which resolves only after the
 * transaction holding them has committed. Writes that arrive while a flush is running
 * wait and go together in the next one (group commit): one event alone commits at once,
 * a thousand concurrent requests commit in a handful of transactions. A flush is one
 * lookup of the identifiers and one statement that writes it all (`storeIngested`): with
 * the event loop busy serving requests, every round trip waits its turn, so the fewer
 * the better. On PostgreSQL up to
 * `concurrency` flushes run at once (lanes), so the server's cores share the work; their
 * inserts go in key order, so two lanes cannot deadlock on the same new identifier.
 *
 * States of a write: queued → flushing → committed (resolves) or failed (rejects; the
 * client retries and the message id makes the retry harmless). When more than
 * `maxQueuedEvents` wait, new writes are refused as rate-limited (HTTP 429).
 */

/** An event ready to store, with its identifiers. */
export interface IngestItem {
  event: IncomingEvent;
  identifiers: Identifier[];
}

/** How many of a write's events were stored and how many were already there. */
export interface WriteResult {
  stored: number;
  duplicates: number;
}

type Pending = {
  workspaceId: string;
  items: IngestItem[];
  errors: IngestError[];
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
};

/** Each event's profile: the owner of its identifiers known now, or a new one. */
async function planProfiles(
  q: Queryable,
  workspaceId: string,
  items: IngestItem[],
  now: Date,
): Promise<AssignmentPlan> {
  const unique = new Map<string, Identifier>();
  for (const item of items)
    for (const id of item.identifiers) unique.set(identifierKey(id), id);
  const owners = await findOwners(q, workspaceId, [...unique.values()]);
  return assignProfiles(
    items.map((item) => item.identifiers),
    owners,
    () => uuidv7(now),
  );
}

/**
 * Stores events in an open transaction: finds or makes each event's profile (ingest never
 * merges; the event processor does) and inserts the events, skipping message ids already
 * stored. Returns the message ids inserted.
 */
export async function appendEvents(
  tx: Tx,
  workspaceId: string,
  items: IngestItem[],
  now: Date,
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const plan = await planProfiles(tx, workspaceId, items, now);
  await insertProfiles(tx, workspaceId, plan.newProfiles, now);
  const inserted = await insertIdentities(
    tx,
    workspaceId,
    plan.newIdentities,
    now,
  );
  if (inserted.size < plan.newIdentities.length) {
    // Another process took some identifiers first: follow its profiles instead.
    const lost = plan.newIdentities.filter(
      (id) => !inserted.has(identifierKey(id)),
    );
    const winners = await findOwners(tx, workspaceId, lost);
    const fresh = new Set(plan.newProfiles);
    plan.profileIds = plan.profileIds.map((profileId, i) => {
      if (!fresh.has(profileId)) return profileId;
      const taken = items[i]?.identifiers
        .map((id) => winners.get(identifierKey(id)))
        .find((p) => p !== undefined);
      return taken ?? profileId;
    });
    const kept = new Set(
      plan.newIdentities
        .filter((id) => inserted.has(identifierKey(id)))
        .map((id) => id.profileId),
    );
    await deleteProfiles(
      tx,
      workspaceId,
      plan.newProfiles.filter(
        (id) => !kept.has(id) && !plan.profileIds.includes(id),
      ),
    );
  }
  const stored = await insertEvents(
    tx,
    workspaceId,
    items.map((item, i) => ({
      ...item.event,
      profileId: plan.profileIds[i] ?? "",
    })),
  );
  if (stored.size > 0) tx.notify(eventsChannel);
  return stored;
}

/**
 * Stores Herald's own events about known profiles (segment entered, email opened, …) in
 * an open transaction, so they are committed with the change that caused them and then
 * processed like any other event. Returns the message ids inserted.
 */
export async function appendProfileEvents(
  tx: Tx,
  workspaceId: string,
  events: (IncomingEvent & { profileId: string })[],
): Promise<Set<string>> {
  const stored = await insertEvents(tx, workspaceId, events);
  if (stored.size > 0) tx.notify(eventsChannel);
  return stored;
}

/** See the module comment. */
export class IngestWriter {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxQueuedEvents: number;
  readonly #maxFlushEvents: number;
  readonly #concurrency: number;
  readonly #ingested: Counter<"result">;
  readonly #flushSize: Histogram;
  #queue: Pending[] = [];
  #queuedEvents = 0;
  readonly #lanes = new Set<Promise<void>>();

  constructor(deps: {
    db: Database;
    clock: Clock;
    logger: Logger;
    registry: Registry;
    maxQueuedEvents?: number;
    maxFlushEvents?: number;
    /** Transactions in flight at once; one on the embedded database. */
    concurrency?: number;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: "ingest-writer" });
    this.#maxQueuedEvents = deps.maxQueuedEvents ?? 100_000;
    this.#maxFlushEvents = deps.maxFlushEvents ?? 5_000;
    this.#concurrency = deps.db.kind === "pglite" ? 1 : (deps.concurrency ?? 4);
    this.#ingested = new Counter({
      name: "herald_events_ingested_total",
      help: "Events offered to the ingest writer, by result (stored, duplicate, rejected)",
      labelNames: ["result"],
      registers: [deps.registry],
    });
    this.#flushSize = new Histogram({
      name: "herald_ingest_flush_events",
      help: "Events committed per ingest transaction",
      buckets: [1, 5, 20, 100, 500, 2000, 5000],
      registers: [deps.registry],
    });
  }

  /**
   * Stores `items` (and records `errors`, the events refused beside them); resolves once
   * committed. Throws a rate_limited DomainError when too much is already waiting.
   */
  write(
    workspaceId: string,
    items: IngestItem[],
    errors: IngestError[] = [],
  ): Promise<WriteResult> {
    if (
      this.#queuedEvents + items.length > this.#maxQueuedEvents &&
      items.length > 0
    ) {
      return Promise.reject(
        new DomainError(
          "rate_limited",
          "Herald is receiving more events than it can store right now; retry shortly",
        ),
      );
    }
    this.#ingested.inc({ result: "rejected" }, errors.length);
    return new Promise<WriteResult>((resolve, reject) => {
      this.#queue.push({ workspaceId, items, errors, resolve, reject });
      this.#queuedEvents += items.length;
      if (this.#lanes.size < this.#concurrency) {
        const lane: Promise<void> = this.#drain().finally(() =>
          this.#lanes.delete(lane),
        );
        this.#lanes.add(lane);
      }
    });
  }

  /** Resolves once everything queued so far is committed or has failed. */
  async drain(): Promise<void> {
    while (this.#lanes.size > 0) await Promise.all(this.#lanes);
  }

  /** One lane: flushes batches from the queue until it is empty. */
  async #drain(): Promise<void> {
    // Let the requests that arrived in this same turn of the event loop join the first flush.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch: Pending[] = [];
      let events = 0;
      while (
        this.#queue.length > 0 &&
        (batch.length === 0 ||
          events + (this.#queue[0]?.items.length ?? 0) <= this.#maxFlushEvents)
      ) {
        const next = this.#queue.shift() as Pending;
        batch.push(next);
        events += next.items.length;
      }
      this.#queuedEvents -= events;
      await this.#flush(batch, events);
    }
  }

  /**
   * Stores one workspace's share of a flush: looks its identifiers up, then writes it
   * all in one statement (`storeIngested`), two round trips in all; again if that
   * statement loses a deadlock to another lane.
   */
  async #store(
    workspaceId: string,
    items: IngestItem[],
    errors: IngestError[],
    now: Date,
  ): Promise<Set<string>> {
    for (let attempt = 1; ; attempt++) {
      try {
        const plan = await planProfiles(this.#db, workspaceId, items, now);
        return await storeIngested(this.#db, {
          workspaceId,
          newIdentities: plan.newIdentities,
          events: items.map((item, i) => ({
            ...item.event,
            profileId: plan.profileIds[i] ?? "",
          })),
          errors,
          at: now,
        });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= 3 || (code !== "40P01" && code !== "40001")) throw error;
      }
    }
  }

  async #flush(batch: Pending[], events: number): Promise<void> {
    const now = this.#clock.now();
    const byWorkspace = new Map<string, Pending[]>();
    for (const pending of batch)
      byWorkspace.set(pending.workspaceId, [
        ...(byWorkspace.get(pending.workspaceId) ?? []),
        pending,
      ]);
    this.#flushSize.observe(events);
    // Each workspace's events are a statement (or transaction) of their own.
    for (const [workspaceId, writes] of byWorkspace) {
      let inserted: Set<string>;
      try {
        inserted = await this.#store(
          workspaceId,
          writes.flatMap((w) => w.items),
          writes.flatMap((w) => w.errors),
          now,
        );
      } catch (error) {
        this.#logger.error(
          { err: error, events, workspaceId },
          "storing ingested events failed",
        );
        for (const pending of writes) pending.reject(error);
        continue;
      }
      for (const pending of writes) {
        // A message id sent twice in one write is stored once; count it once.
        const ids = new Set(pending.items.map((item) => item.event.messageId));
        let count = 0;
        for (const id of ids) if (inserted.delete(id)) count++;
        const result = {
          stored: count,
          duplicates: pending.items.length - count,
        };
        this.#ingested.inc({ result: "stored" }, result.stored);
        this.#ingested.inc({ result: "duplicate" }, result.duplicates);
        pending.resolve(result);
      }
    }
  }
}
