import { ManualClock, type Clock } from "@herald/core/clock";
import {
  createWorkspace,
  type NewWorkspace,
} from "@herald/core/workspaces/workspaces";
import { parseConfig, type Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { workspaceStore } from "../workspaces/workspaces.sql.ts";
import { silentLogger } from "../logger.ts";
import { startHerald, type Herald } from "../main.ts";
import type { SnsFetch } from "../providers/sns-verifier.ts";

/**
 * A Herald server for tests: on an already-open test database (which the suite closes),
 * on a free port of 127.0.0.1, with a clock the test controls.
 */
export async function startTestHerald(
  db: Database,
  options: {
    clock?: Clock;
    env?: Record<string, string>;
    overrides?: Partial<Pick<Config, "role">>;
    /** Background workers run on their own (true), or the test drives them with settle(). */
    workers?: boolean;
    /** Serves SNS certificate and confirmation URLs (see testing/provider-signing.ts). */
    snsFetch?: SnsFetch;
  } = {},
): Promise<Herald> {
  const config = parseConfig(
    {
      PORT: "0",
      HERALD_HOST: "127.0.0.1",
      HERALD_LOG_LEVEL: "silent",
      ...options.env,
    },
    options.overrides,
  );
  return startHerald(config, {
    logger: silentLogger,
    clock: options.clock ?? new ManualClock(),
    storage: { db, lock: undefined, close: async () => undefined },
    startWorkers: options.workers ?? false,
    ...(options.snsFetch ? { snsFetch: options.snsFetch } : {}),
  });
}

/**
 * Waits until everything ingested so far is committed and processed, segments being
 * computed are done, and every segment timer and flow run due by the test's clock has
 * run (what that produces is processed too).
 */
export async function settle(herald: Herald): Promise<void> {
  await herald.ingest.drain();
  for (;;) {
    let done = await herald.resolver.resolvePending();
    done += await herald.processor.processPending();
    done += await herald.segments.computer.step();
    done += await herald.segments.timers.step();
    done += await herald.flows.scheduler.runDue();
    if (done === 0) return;
  }
}

/** A fresh workspace with its keys, for one test. */
export function createTestWorkspace(
  db: Database,
  clock: Clock = new ManualClock(),
): Promise<NewWorkspace> {
  return createWorkspace(workspaceStore(db), clock, {
    name: `test ${Math.random().toString(36).slice(2, 8)}`,
  });
}

/** A segment's members (the first page of `GET /api/segments/{id}/members`). */
export async function segmentMembers(
  herald: Herald,
  key: string,
  segmentId: string,
): Promise<{ profileId: string; email: string | null; enteredAt: string }[]> {
  return (await api(herald, key, "GET", `/api/segments/${segmentId}/members`))
    .body.items;
}

/** Calls the admin API of `herald` with a secret key; resolves to status and JSON body. */
export async function api(
  herald: Herald,
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(herald.url + path, {
    method,
    headers: {
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
