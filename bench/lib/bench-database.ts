import pg from "pg";
import { migrate } from "../../packages/server/src/db/migrate.ts";
import { openPostgres } from "../../packages/server/src/db/postgres.ts";
import type { Database } from "../../packages/server/src/db/database.ts";
import { silentLogger } from "../../packages/server/src/logger.ts";
import { databaseUrl } from "../../packages/server/src/testing/prepare-template.ts";

/**
 * A fresh, migrated PostgreSQL database for one benchmark, on the server at
 * BENCH_POSTGRES_URL (default: the machine's local server). The database is dropped and
 * created again, so runs do not see each other's rows.
 */
export async function freshBenchDatabase(
  name: string,
): Promise<{ url: string; db: Database }> {
  const server =
    process.env.BENCH_POSTGRES_URL ??
    "postgres://postgres@127.0.0.1:5432/postgres";
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw new Error(`not a database name: ${name}`);
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = databaseUrl(server, name);
  const db = await openPostgres(url, 10, silentLogger);
  await migrate(db);
  return { url, db };
}

/** Formats a rate for people: 12,345/s. */
export function rate(perSecond: number): string {
  return `${Math.round(perSecond).toLocaleString("en-US")}/s`;
}
