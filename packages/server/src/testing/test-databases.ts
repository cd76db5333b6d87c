import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe } from "node:test";
import pg from "pg";
import type { Database, DatabaseKind } from "../db/database.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { silentLogger } from "../logger.ts";
import {
  databaseUrl,
  pgliteTemplateDir,
  postgresTemplateName,
} from "./prepare-template.ts";

/**
 * The databases every storage test runs on: embedded PGlite always, and the PostgreSQL
 * server at HERALD_TEST_DATABASE_URL when that is set. When it is set and the server
 * cannot be reached the tests fail; they never skip.
 *
 * Each suite gets a private database copied from a migrated template (a fresh initdb or
 * migration costs seconds, a copy milliseconds): a PGlite directory, or a database
 * created on the server with `create database … template …`. Tests inside a suite keep
 * apart by creating their own workspaces.
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

/**
 * Creates this file's own database on the server from the migrated template, and drops it
 * when closed. A database per file keeps files apart: the event processor waits only for
 * transactions of its own database, so another file's long transaction cannot stall it.
 */
async function openTestPostgres(url: string): Promise<Database> {
  const created = await createServerDatabase(url);
  return openPostgres(created.url, 5, silentLogger, created.drop);
}

/**
 * A private, migrated database on the test server (HERALD_TEST_DATABASE_URL), for tests
 * that run Herald as its own process; undefined when no server is configured.
 */
export async function serverTestDatabase(): Promise<
  { url: string; drop: () => Promise<void> } | undefined
> {
  return serverUrl ? createServerDatabase(serverUrl) : undefined;
}

async function createServerDatabase(
  url: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `herald_test_${process.pid}_${++opened}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  try {
    await admin(
      `create database "${name}" template "${postgresTemplateName()}"`,
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `HERALD_TEST_DATABASE_URL is set but the server cannot be used: ${reason} (npm test prepares its template database first)`,
    );
  }
  return {
    url: databaseUrl(url, name),
    drop: () => admin(`drop database if exists "${name}" with (force)`),
  };
}

let opened = 0;

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
