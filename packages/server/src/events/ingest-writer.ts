import { Counter, Histogram, type Registry } from "prom-client";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import type { Database } from "../db/database.ts";
import { insertIntake, type IntakeWrite } from "./intake.sql.ts";
import type { IngestError } from "./ingest-errors.sql.ts";
import type { Logger } from "../logger.ts";

/**
 * The ingest writer: durable before acknowledged, without a transaction per request.
 *
 * Requests hand their validated events to `write()`, which resolves only after the
 * statement holding them has committed them to the intake. Writes that arrive while a
 * flush is running wait and go together in the next one (group commit): one event alone
 * commits at once, a thousand concurrent requests commit in a handful of statements, each
 * a row of JSON text per workspace. Nothing else happens before the acknowledgement: the
 * ingest resolver gives the events their profiles afterwards (DESIGN.md §3), so a request
 * costs the database one small insert, and a burst waits in the intake instead of in
 * clients' retries. On PostgreSQL up to `concurrency` flushes run at once (lanes).
 *
 * States of a write: queued → flushing → committed (resolves) or failed (rejects; the
 * client retries and the message id makes the retry harmless). When more than
 * `maxQueuedEvents` wait, new writes are refused as rate-limited (HTTP 429).
 */

/** How many of a write's events were committed to the intake. */
export interface WriteResult {
  accepted: number;
}

type Pending = {
  workspaceId: string;
  items: string[];
  errors: IngestError[];
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
};

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
    /** Statements in flight at once; one on the embedded database. */
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
      help: "Events offered to the tracking API, by result (accepted, rejected)",
      labelNames: ["result"],
      registers: [deps.registry],
    });
    this.#flushSize = new Histogram({
      name: "herald_ingest_flush_events",
      help: "Events committed to the intake per statement",
      buckets: [1, 5, 20, 100, 500, 2000, 5000],
      registers: [deps.registry],
    });
  }

  /**
   * Commits `items` (encoded with `encodeIntakeItem`) to the intake and records `errors`,
   * the events refused beside them; resolves once committed. Throws a rate_limited
   * DomainError when too much is already waiting.
   */
  write(
    workspaceId: string,
    items: string[],
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

  async #flush(batch: Pending[], events: number): Promise<void> {
    const byWorkspace = new Map<string, IntakeWrite>();
    for (const pending of batch) {
      const write = byWorkspace.get(pending.workspaceId);
      if (write) {
        write.items.push(...pending.items);
        write.errors.push(...pending.errors);
      } else
        byWorkspace.set(pending.workspaceId, {
          workspaceId: pending.workspaceId,
          items: [...pending.items],
          errors: [...pending.errors],
        });
    }
    try {
      await insertIntake(
        this.#db,
        [...byWorkspace.values()],
        this.#clock.now(),
      );
    } catch (error) {
      this.#logger.error(
        { err: error, events },
        "storing ingested events failed",
      );
      for (const pending of batch) pending.reject(error);
      return;
    }
    this.#flushSize.observe(events);
    for (const pending of batch) {
      this.#ingested.inc({ result: "accepted" }, pending.items.length);
      this.#ingested.inc({ result: "rejected" }, pending.errors.length);
      pending.resolve({ accepted: pending.items.length });
    }
  }
}
