import pg from "pg";
import type { Logger } from "../logger.ts";
import { PoolDatabase, pgTypes, type Database } from "./database.ts";

/**
 * Connects to a PostgreSQL server with a pool of `poolSize` connections, and checks that
 * it answers so that a wrong URL fails at start with a clear message. `afterClose` runs
 * once the pool has ended.
 */
export async function openPostgres(
  url: string,
  poolSize: number,
  logger: Logger,
  afterClose?: () => Promise<void>,
): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    ...sessionOptions(url),
    max: poolSize,
    types: pgTypes,
    connectionTimeoutMillis: 10_000,
  });
  try {
    await pool.query("select 1");
  } catch (error) {
    await pool.end().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot reach PostgreSQL at ${redact(url)}: ${reason}. Check DATABASE_URL and that the server runs.`,
    );
  }
  return new PoolDatabase({
    kind: "postgres",
    pool,
    logger,
    connectListener: () =>
      new pg.Client({
        connectionString: url,
        ...sessionOptions(url),
        types: pgTypes,
      }),
    ...(afterClose ? { onClose: afterClose } : {}),
  });
}

/**
 * Herald's session settings. JIT compilation is off: Herald's statements are short and
 * per-batch, and compiling one took longer (about 150 ms) than running it. A URL that
 * sets `options` itself keeps its own.
 */
function sessionOptions(url: string): { options?: string } {
  try {
    if (new URL(url).searchParams.has("options")) return {};
  } catch {
    return {};
  }
  return { options: "-c jit=off" };
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
