import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "../logger.ts";
import { storableParams } from "./storable-params.ts";

/**
 * One data-access layer for both backends: hand-written, parameterised SQL through
 * node-postgres. On PostgreSQL it is a pooled `pg.Pool`; on the embedded database it is a
 * `pg.Pool` of one connection over PGlite's node-postgres adapter, so every transaction
 * is serialised and the SQL in `*.sql.ts` runs unchanged on both.
 */

/** Something SQL can run on: the database or an open transaction. */
export interface Queryable {
  /** Runs one statement and returns its rows. */
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<R[]>;
  /** Runs one statement and returns how many rows it touched. */
  execute(text: string, params?: readonly unknown[]): Promise<number>;
}

/** An open transaction. */
export interface Tx extends Queryable {
  /** Queues a notification that is delivered only if the transaction commits. */
  notify(channel: string, payload?: string): void;
}

/** Which server is behind a Database. */
export type DatabaseKind = "pglite" | "postgres";

/** The database handle every component receives. */
export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /** Runs `fn` in a transaction: commit when it resolves, roll back when it throws. */
  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Sends a notification now. */
  notify(channel: string, payload?: string): Promise<void>;
  /** Calls `onNotify` for every notification on `channel`; resolves to an unsubscribe. */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Type parsers shared by both backends: int8 (counts, sequences) and numeric (money) come
 * back as JavaScript numbers instead of strings.
 */
/**
 * True when a statement lost to concurrent work (serialization failure, deadlock) and
 * running its transaction again may succeed.
 */
export function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "40001" || code === "40P01";
}

export const pgTypes = {
  getTypeParser(
    oid: number,
    format?: "text" | "binary",
  ): (value: string) => unknown {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    // pg-types declares its parsers as returning `any`; they return what they parse.
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

const channelPattern = /^[a-z_][a-z0-9_]{0,62}$/;
function checkChannel(channel: string): string {
  if (!channelPattern.test(channel))
    throw new Error(`invalid notification channel ${channel}`);
  return channel;
}

/** Marks the async context of an open transaction on a single-connection database. */
const inTransaction = new AsyncLocalStorage<true>();

type PoolDatabaseOptions = {
  kind: DatabaseKind;
  pool: pg.Pool;
  logger: Logger;
  /** Opens a dedicated connection for LISTEN (PostgreSQL only). */
  connectListener?: () => pg.Client;
  onClose?: () => Promise<void>;
};

/** A Database over a node-postgres pool; see the module comment. */
export class PoolDatabase implements Database {
  readonly kind: DatabaseKind;
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  readonly #connectListener: (() => pg.Client) | undefined;
  readonly #onClose: (() => Promise<void>) | undefined;
  #listener: pg.Client | undefined;
  #listening = new Set<string>();
  #closed = false;

  constructor(options: PoolDatabaseOptions) {
    this.kind = options.kind;
    this.#pool = options.pool;
    this.#logger = options.logger;
    this.#connectListener = options.connectListener;
    this.#onClose = options.onClose;
    this.#pool.on("error", (error) =>
      this.#logger.warn({ err: error }, "idle database client failed"),
    );
  }

  #guardSingleConnection(): void {
    // With one connection, a query outside the open transaction waits for that very
    // transaction to finish: a deadlock. Fail loudly instead.
    if (this.kind === "pglite" && inTransaction.getStore()) {
      throw new Error(
        "query on the database inside db.tx(): use the transaction handle",
      );
    }
  }

  async query<R extends object>(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<R[]> {
    this.#guardSingleConnection();
    const result = await this.#pool.query<R>(text, storableParams(params));
    return result.rows;
  }

  async execute(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<number> {
    this.#guardSingleConnection();
    const result = await this.#pool.query(text, storableParams(params));
    return result.rowCount ?? 0;
  }

  async tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    this.#guardSingleConnection();
    const client = await this.#pool.connect();
    const pending: [string, string][] = [];
    const kind = this.kind;
    const tx: Tx = {
      query: async <R extends object>(
        text: string,
        params: readonly unknown[] = [],
      ) => (await client.query<R>(text, storableParams(params))).rows,
      execute: async (text, params = []) =>
        (await client.query(text, storableParams(params))).rowCount ?? 0,
      notify: (channel, payload = "") =>
        void pending.push([checkChannel(channel), payload]),
    };
    let broken: Error | undefined;
    try {
      await client.query("begin");
      const result = await inTransaction.run(true, () => fn(tx));
      if (kind === "postgres" && pending.length > 0) {
        // One round trip for all of them; PostgreSQL folds duplicates itself.
        await client.query(
          "select pg_notify(n.channel, n.payload) from unnest($1::text[], $2::text[]) as n(channel, payload)",
          [pending.map(([channel]) => channel), pending.map(([, p]) => p)],
        );
      }
      await client.query("commit");
      if (kind === "pglite")
        for (const [channel, payload] of pending)
          this.#emitter.emit(channel, payload);
      return result;
    } catch (error) {
      // A connection that cannot even roll back is dropped instead of returned to the pool.
      await client
        .query("rollback")
        .catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async notify(channel: string, payload = ""): Promise<void> {
    checkChannel(channel);
    if (this.kind === "pglite") {
      this.#emitter.emit(channel, payload);
      return;
    }
    await this.#pool.query("select pg_notify($1, $2)", [channel, payload]);
  }

  async listen(
    channel: string,
    onNotify: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    checkChannel(channel);
    this.#emitter.on(channel, onNotify);
    if (this.kind === "postgres" && !this.#listening.has(channel)) {
      this.#listening.add(channel);
      const listener = await this.#ensureListener();
      await listener?.query(`listen ${channel}`);
    }
    return async () => void this.#emitter.off(channel, onNotify);
  }

  /** The LISTEN connection; reconnects with backoff when the server drops it. */
  async #ensureListener(): Promise<pg.Client | undefined> {
    if (this.#listener || !this.#connectListener || this.#closed)
      return this.#listener;
    const client = this.#connectListener();
    client.on("notification", (message) =>
      this.#emitter.emit(message.channel, message.payload ?? ""),
    );
    client.on("error", (error) => {
      this.#logger.warn(
        { err: error },
        "notification connection lost; reconnecting",
      );
      if (this.#listener === client) this.#listener = undefined;
      void client.end().catch(() => undefined);
      void this.#reconnectListener(250);
    });
    await client.connect();
    this.#listener = client;
    for (const channel of this.#listening)
      await client.query(`listen ${channel}`);
    return client;
  }

  async #reconnectListener(delayMs: number): Promise<void> {
    if (this.#closed) return;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      await this.#ensureListener();
      // Notifications sent while disconnected are lost; wake every listener once so that
      // workers look for work they may have missed.
      for (const channel of this.#listening) this.#emitter.emit(channel, "");
    } catch {
      void this.#reconnectListener(Math.min(delayMs * 2, 5_000));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#emitter.removeAllListeners();
    await this.#listener?.end().catch(() => undefined);
    await this.#pool.end();
    await this.#onClose?.();
  }
}
