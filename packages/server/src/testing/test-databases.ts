import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe } from "node:test";
import type { Database, DatabaseKind } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { silentLogger } from "../logger.ts";
import { pgliteTemplateDir } from "./prepare-template.ts";

/**
 * The databases every storage test runs on: embedded PGlite always, and the PostgreSQL
 * server at HERALD_TEST_DATABASE_URL when that is set. When it is set and the server
 * cannot be reached the tests fail; they never skip.
 *
 * Each test file gets a private PGlite, copied from a migrated template (a fresh initdb
 * costs seconds, a copy milliseconds), and shares the PostgreSQL database with the other
 * files; tests keep apart by creating their own workspaces.
 */

/** A database the suites run on. */
export interface TestDatabase {
  name: DatabaseKind;
  open(): Promise<Database>;
}

const serverUrl = process.env.HERALD_TEST_DATABASE_URL;

/** The databases to run storage tests on. */
export function testDatabases(): TestDatabase[] {
  const list: TestDatabase[] = [{ name: "pglite", open: openTestPglite }];
  if (serverUrl)
    list.push({ name: "postgres", open: () => openTestPostgres(serverUrl) });
  return list;
}

/** Opens a private, migrated embedded database that is deleted when closed. */
export async function openTestPglite(): Promise<Database> {
  const template = await pgliteTemplateDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-test-"));
  fs.cpSync(template, dir, { recursive: true });
  return openPglite(dir, silentLogger, () =>
    fs.rmSync(dir, { recursive: true, force: true }),
  );
}

async function openTestPostgres(url: string): Promise<Database> {
  const db = await openPostgres(url, 5, silentLogger).catch(
    (error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `HERALD_TEST_DATABASE_URL is set but the server cannot be used: ${reason}`,
      );
    },
  );
  await migrate(db);
  return db;
}

/**
 * Declares the suite `title` once per test database. `body` receives a getter for the
 * open database, valid inside tests and hooks.
 */
export function describeOnDatabases(
  title: string,
  body: (db: () => Database) => void,
): void {
  for (const backend of testDatabases()) {
    describe(`${title} [${backend.name}]`, () => {
      let db: Database | undefined;
      before(async () => {
        db = await backend.open();
      });
      after(async () => {
        await db?.close();
      });
      body(() => {
        if (!db)
          throw new Error(
            "the test database is not open (use it inside tests and hooks)",
          );
        return db;
      });
    });
  }
}
