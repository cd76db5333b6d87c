import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { listMigrations, migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { silentLogger } from "../logger.ts";

/**
 * The migrated databases that test databases are copied from, named by a hash of the
 * migrations so that a new migration makes a new template:
 *
 * - PGlite: a directory under node_modules/.cache, built once per change; concurrent
 *   builders race harmlessly (each builds aside, the first rename wins).
 * - PostgreSQL (when HERALD_TEST_DATABASE_URL is set): a database `herald_tpl_<hash>` on
 *   that server, from which every test file creates its own database with
 *   `create database … template …`. `npm test` builds it before any file runs.
 */

const cacheDir = fileURLToPath(
  new URL("../../../../node_modules/.cache/herald", import.meta.url),
);

function migrationsHash(): string {
  const hash = createHash("sha256");
  for (const m of listMigrations()) hash.update(`${m.id}:${m.name}:${m.sql}\0`);
  return hash.digest("hex").slice(0, 16);
}

/** The template directory, built first if missing. */
export async function pgliteTemplateDir(): Promise<string> {
  const dir = path.join(cacheDir, `pglite-template-${migrationsHash()}`);
  if (fs.existsSync(dir)) return dir;

  fs.mkdirSync(cacheDir, { recursive: true });
  const building = fs.mkdtempSync(path.join(cacheDir, "building-"));
  const db = await openPglite(building, silentLogger);
  await migrate(db);
  await db.close();
  try {
    fs.renameSync(building, dir);
  } catch {
    fs.rmSync(building, { recursive: true, force: true });
  }
  for (const stale of fs.readdirSync(cacheDir)) {
    if (
      stale.startsWith("pglite-template-") &&
      path.join(cacheDir, stale) !== dir
    ) {
      fs.rmSync(path.join(cacheDir, stale), { recursive: true, force: true });
    }
  }
  return dir;
}

/** The name of the PostgreSQL template database for the current migrations. */
export function postgresTemplateName(): string {
  return `herald_tpl_${migrationsHash()}`;
}

/** Whether `name` is a test database whose process (`herald_test_<pid>_<n>`) still runs. */
function testDatabaseIsLive(name: string): boolean {
  const pid = /^herald_test_(\d+)_/.exec(name)?.[1];
  if (!pid) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch {
    return false;
  }
}

/** `url` pointing at another database of the same server. */
export function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * Builds the PostgreSQL template database on the server at `url` if it is missing, and
 * drops the databases of earlier runs (older templates, test databases left by a run
 * that was killed).
 */
export async function preparePostgresTemplate(url: string): Promise<void> {
  const template = postgresTemplateName();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    // Another run on this machine (a second checkout) may be using the server right now:
    // only the test databases of processes that are gone are dropped, and of the other
    // templates the two newest are kept for such runs.
    const found = await admin.query<{ datname: string }>(
      `select datname from pg_database
        where (datname like 'herald\\_tpl\\_%' and datname <> $1)
           or datname like 'herald\\_test\\_%'
        order by oid desc`,
      [template],
    );
    const templates = found.rows.filter(({ datname }) =>
      datname.startsWith("herald_tpl_"),
    );
    const stale = [
      ...templates.slice(2),
      ...found.rows.filter(
        ({ datname }) =>
          datname.startsWith("herald_test_") && !testDatabaseIsLive(datname),
      ),
    ];
    for (const { datname } of stale)
      await admin.query(`drop database if exists "${datname}" with (force)`);
    const exists = await admin.query(
      "select 1 from pg_database where datname = $1",
      [template],
    );
    if (exists.rowCount) return;
    const building = `${template}_building`;
    await admin.query(`drop database if exists "${building}" with (force)`);
    await admin.query(`create database "${building}"`);
    const db = await openPostgres(databaseUrl(url, building), 1, silentLogger);
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
    await admin.query(`alter database "${building}" rename to "${template}"`);
  } finally {
    await admin.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await pgliteTemplateDir();
  const serverUrl = process.env.HERALD_TEST_DATABASE_URL;
  if (serverUrl)
    await preparePostgresTemplate(serverUrl).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(
        `HERALD_TEST_DATABASE_URL is set but the server cannot be used: ${reason}\n`,
      );
      process.exit(1);
    });
}
