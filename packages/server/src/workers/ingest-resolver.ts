import { Counter, type Registry } from "prom-client";
import type { Clock } from "@herald/core/clock";
import { isConflict, type Database, type Tx } from "../db/database.ts";
import { appendEvents } from "../events/event-log.ts";
import { insertIngestErrors } from "../events/ingest-errors.sql.ts";
import {
  decodeIntakeRow,
  intakeChannel,
  intakeIds,
  takeIntake,
  takeIntakeRow,
  type IngestItem,
  type IntakeRow,
} from "../events/intake.sql.ts";
import type { Logger } from "../logger.ts";
import { LoopWorker, stepUntilIdle } from "./worker-loop.ts";

/**
 * The ingest resolver: moves what the tracking API acknowledged from the intake into the
 * event log, giving every event its profile (found by its identifiers, or new; merging is
 * the event processor's) and dropping message ids already stored. Taking rows out of the
 * intake and storing their events is one transaction, so a crash at any point leaves each
 * event either still in the intake or in the log, never both and never neither.
 *
 * One resolver works at a time across all processes (a transaction-level advisory lock):
 * events reach the log in the order they were acknowledged, and two resolvers never race
 * for the same new shopper. Per transaction it takes about `maxEvents` events: one delete,
 * then per workspace the event log's `appendEvents` (one identifier lookup and one
 * statement; its header names the rule for a shopper another writer creates meanwhile).
 *
 * A transaction that fails on the data (SQLSTATE classes 22, 23 and 54, or text that does
 * not decode) is retried one row at a time; a row that fails alone is stored in halves
 * until the events that fail are alone, and only those are set aside in the ingest
 * errors log with the reason, so that they cannot hold up the rows behind them. Any other
 * failure (the database gone) leaves the intake as it was, for the next attempt.
 */
export class IngestResolver extends LoopWorker {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxEvents: number;
  readonly #resolved: Counter<"result">;

  constructor(deps: {
    db: Database;
    clock: Clock;
    logger: Logger;
    registry: Registry;
    /** Events per transaction, about. */
    maxEvents?: number;
  }) {
    super(deps, {
      name: "ingest-resolver",
      channels: [intakeChannel],
      pollMs: 1_000,
      step: () => this.step(),
    });
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: this.name });
    this.#maxEvents = deps.maxEvents ?? 5_000;
    this.#resolved = new Counter({
      name: "herald_events_resolved_total",
      help: "Events moved from the intake to the event log, by result (stored, duplicate, set_aside)",
      labelNames: ["result"],
      registers: [deps.registry],
    });
  }

  /** Resolves everything in the intake; resolves to the number of events taken. */
  resolvePending(): Promise<number> {
    return stepUntilIdle(() => this.step());
  }

  /** One transaction's worth; resolves to the number of events taken (0: none, or another resolver is at work). */
  async step(): Promise<number> {
    try {
      return await this.#resolve((tx) => takeIntake(tx, this.#maxEvents));
    } catch (error) {
      if (!isDataError(error)) throw error;
      this.#logger.warn(
        { err: error },
        "intake rows could not be stored together; retrying them one by one",
      );
      return this.#resolveOneByOne(error);
    }
  }

  /** Takes rows with `take` and stores them, in one transaction; again after a deadlock. */
  async #resolve(take: (tx: Tx) => Promise<IntakeRow[]>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.tx(async (tx) => {
          if (!(await lockResolver(tx))) return 0;
          const rows = await take(tx);
          return rows.length === 0 ? 0 : this.#store(tx, rows);
        });
      } catch (error) {
        if (attempt >= 3 || !isConflict(error)) throw error;
      }
    }
  }

  async #store(tx: Tx, rows: IntakeRow[]): Promise<number> {
    const now = this.#clock.now();
    const byWorkspace = new Map<string, IntakeRow["items"]>();
    for (const row of rows) {
      const items = byWorkspace.get(row.workspaceId);
      if (items) items.push(...row.items);
      else byWorkspace.set(row.workspaceId, [...row.items]);
    }
    let taken = 0;
    let stored = 0;
    for (const [workspaceId, items] of byWorkspace) {
      const inserted = await appendEvents(tx, workspaceId, items, now);
      taken += items.length;
      stored += inserted.size;
    }
    this.#resolved.inc({ result: "stored" }, stored);
    this.#resolved.inc({ result: "duplicate" }, taken - stored);
    return taken;
  }

  /** After a data error: the oldest rows one at a time, setting aside any that fail alone. */
  async #resolveOneByOne(cause: unknown): Promise<number> {
    let taken = 0;
    for (const id of await intakeIds(this.#db, 1_000)) {
      try {
        taken += await this.#resolve(async (tx) => {
          const row = await takeIntakeRow(tx, id);
          return row ? [decodeIntakeRow(row)] : [];
        });
      } catch (error) {
        if (!isDataError(error)) throw error;
        taken += await this.#setAside(id, error);
      }
    }
    if (taken === 0) throw cause;
    return taken;
  }

  /**
   * A row that fails alone: its events are stored in halves, each under a savepoint, until
   * every one that fails is alone; those are set aside, one ingest error each, and the
   * rest of the row (other clients' events of the same flush) is stored.
   */
  async #setAside(id: number, error: unknown): Promise<number> {
    return this.#db.tx(async (tx) => {
      if (!(await lockResolver(tx))) return 0;
      const raw = await takeIntakeRow(tx, id);
      if (!raw) return 0;
      let failed: { item: IngestItem | undefined; error: unknown }[];
      let payload = (item: IngestItem | undefined) =>
        item ? JSON.stringify(item.event).slice(0, 4096) : null;
      try {
        const row = decodeIntakeRow(raw);
        failed = await this.#storeInHalves(tx, row.workspaceId, row.items);
      } catch (decodeError) {
        if (!(decodeError instanceof SyntaxError)) throw decodeError;
        // Text that does not decode: nothing of the row can be told apart.
        failed = [{ item: undefined, error }];
        payload = () => raw.text.slice(0, 4096);
      }
      await insertIngestErrors(
        tx,
        raw.workspaceId,
        failed.map(({ item, error }) => ({
          source: item?.event.source ?? "api",
          endpoint: "intake",
          batchIndex: null,
          messageId: item?.event.messageId ?? null,
          reason: `an acknowledged event could not be stored: ${reasonOf(error)}`,
          payload: payload(item),
        })),
        this.#clock.now(),
      );
      const setAside = failed.some((f) => f.item === undefined)
        ? raw.eventCount
        : failed.length;
      this.#logger.error(
        { err: error, intakeId: id, events: raw.eventCount, setAside },
        "acknowledged events set aside in the ingest errors log",
      );
      this.#resolved.inc({ result: "set_aside" }, setAside);
      return raw.eventCount;
    });
  }

  /** Stores `items`, or each half of them on its own; resolves to those that fail alone. */
  async #storeInHalves(
    tx: Tx,
    workspaceId: string,
    items: IngestItem[],
  ): Promise<{ item: IngestItem; error: unknown }[]> {
    await tx.query("savepoint herald_resolve");
    try {
      await this.#store(tx, [{ id: 0, workspaceId, items }]);
      await tx.query("release savepoint herald_resolve");
      return [];
    } catch (error) {
      if (!isDataError(error)) throw error;
      await tx.query("rollback to savepoint herald_resolve");
      await tx.query("release savepoint herald_resolve");
      const [first] = items;
      if (items.length === 1 && first) return [{ item: first, error }];
      const half = Math.ceil(items.length / 2);
      return [
        ...(await this.#storeInHalves(tx, workspaceId, items.slice(0, half))),
        ...(await this.#storeInHalves(tx, workspaceId, items.slice(half))),
      ];
    }
  }
}

const reasonOf = (error: unknown) =>
  error instanceof Error ? error.message : String(error);

/** One resolver at a time, across processes; false when another holds the lock. */
async function lockResolver(tx: Tx): Promise<boolean> {
  const [row] = await tx.query<{ locked: boolean }>(
    "select pg_try_advisory_xact_lock(hashtext('herald_ingest_resolver')) as locked",
  );
  return row?.locked === true;
}

/**
 * True for an error in the data rather than in the database's availability: SQLSTATE
 * classes 22 (data exception), 23 (integrity) and 54 (a limit, such as an index row too
 * large for its index).
 */
function isDataError(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^(2[23]|54)/.test(code);
}
