import fs from "node:fs";
import type { Database } from "./database.ts";

/**
 * Forward-only migrations: `migrations/NNNN_what_it_does.sql`, applied in order in one
 * transaction under an advisory lock, so that processes starting together apply each
 * once and running them again does nothing.
 */

// `../db/` rather than `./`: the same folder seen from the compiled bundle, which sits one
// folder deep in dist/ (dist/cli/herald.js) with the migrations copied to dist/db/.
const migrationsDir = new URL("../db/migrations/", import.meta.url);
const advisoryLockKey = 5_831_620_112;

/** A migration file. */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** The migrations this build ships, in order. */
export function listMigrations(): Migration[] {
  return fs
    .readdirSync(migrationsDir)
    .map((file) => /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file))
    .filter((match) => match !== null)
    .map(([file, id, name]) => ({
      id: Number(id),
      name: name ?? "",
      sql: fs.readFileSync(new URL(file, migrationsDir), "utf8"),
    }))
    .sort((a, b) => a.id - b.id);
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrate(db: Database): Promise<string[]> {
  const migrations = listMigrations();
  return db.tx(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1)", [advisoryLockKey]);
    await tx.query(
      `create table if not exists herald_migrations (
         id integer primary key,
         name text not null,
         applied_at timestamptz not null default now()
       )`,
    );
    const rows = await tx.query<{ id: number }>(
      "select id from herald_migrations order by id",
    );
    const applied = new Set(rows.map((row) => row.id));
    const newest = Math.max(0, ...applied);
    const known = migrations.at(-1)?.id ?? 0;
    if (newest > known) {
      throw new Error(
        `the database was migrated by a newer Herald (migration ${newest}; this one knows up to ${known}). ` +
          `Run the newer Herald, or restore a backup made for this version.`,
      );
    }
    const done: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await tx.query(migration.sql);
      await tx.query(
        "insert into herald_migrations (id, name) values ($1, $2)",
        [migration.id, migration.name],
      );
      done.push(`${String(migration.id).padStart(4, "0")}_${migration.name}`);
    }
    return done;
  });
}
