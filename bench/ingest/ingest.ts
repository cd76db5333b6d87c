/**
 * bench/ingest: events per second through Herald's tracking API on PostgreSQL, beside a
 * baseline measured in the same run: the same rows inserted straight into a bare table
 * (same columns, no indexes, no constraints) with the same driver (node-postgres), the
 * same batch size and the same concurrency.
 *
 *   node --import tsx bench/ingest/ingest.ts          (npm run bench:ingest)
 *
 * Environment: BENCH_POSTGRES_URL (a server to create `herald_bench_ingest` on),
 * BENCH_EVENTS (events for the batch run, default 200,000), BENCH_SECONDS (length of the
 * single-event run, default 15).
 *
 * Herald runs as a separate `herald start --role api` process, the load comes from this
 * one (autocannon, keep-alive connections). An event counts once it is acknowledged, that
 * is committed to the intake or already in the event log. Afterwards a `--role worker`
 * process drains the backlog: the ingest resolver's rate (intake → event log) and the
 * event processor's (everything resolved and applied to profiles) show whether the
 * stages behind the API keep up.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import autocannon from "autocannon";
import { createWorkspace } from "../../packages/core/src/workspaces/workspaces.ts";
import { systemClock } from "../../packages/core/src/clock.ts";
import type { Database } from "../../packages/server/src/db/database.ts";
import { countBacklog } from "../../packages/server/src/events/events.sql.ts";
import { countIntake } from "../../packages/server/src/events/intake.sql.ts";
import { workspaceStore } from "../../packages/server/src/workspaces/workspaces.sql.ts";
import {
  startHeraldProcess,
  tempDataDir,
} from "../../packages/server/src/testing/herald-process.ts";
import { freshBenchDatabase, rate } from "../lib/bench-database.ts";

const totalEvents = Number(process.env.BENCH_EVENTS ?? 200_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const batchSize = 100;
const batchConnections = 8;
const singleConnections = 64;
/** Herald's API processes (`herald start --processes`): one per core unless BENCH_API_PROCESSES says. */
const apiProcesses = Number(
  process.env.BENCH_API_PROCESSES ?? os.cpus().length,
);

type Event = Record<string, unknown>;

/** A realistic stream: each shopper views pages and products, adds to cart, some identify and buy. */
function makeEvents(count: number, prefix: string): Event[] {
  const events: Event[] = [];
  const now = Date.now();
  for (let shopper = 0; events.length < count; shopper++) {
    const anonymousId = `${prefix}-anon-${shopper}`;
    const product = `p-${shopper % 500}`;
    const base = {
      anonymousId,
      context: { library: { name: "bench", version: "1" }, locale: "en-US" },
    };
    const steps: Event[] = [
      {
        type: "page",
        name: "Home",
        properties: { path: "/", url: "https://shop.example/" },
      },
      {
        type: "track",
        event: "Product Viewed",
        properties: {
          product_id: product,
          price: 20 + (shopper % 80),
          category: "shoes",
        },
      },
      {
        type: "track",
        event: "Product Viewed",
        properties: {
          product_id: `p-${(shopper + 7) % 500}`,
          price: 35,
          category: "shoes",
        },
      },
      {
        type: "track",
        event: "Product Added",
        properties: {
          product_id: product,
          cart_id: `${prefix}-cart-${shopper}`,
          price: 20,
          quantity: 1,
        },
      },
      { type: "page", name: "Cart", properties: { path: "/cart" } },
    ];
    if (shopper % 3 === 0) {
      steps.push({
        type: "identify",
        userId: `${prefix}-user-${shopper}`,
        traits: { email: `s${shopper}@${prefix}.example`, first_name: "Sam" },
      });
      steps.push({
        type: "track",
        event: "Order Completed",
        userId: `${prefix}-user-${shopper}`,
        properties: {
          order_id: `${prefix}-o-${shopper}`,
          revenue: 20,
          total: 25,
          products: [{ product_id: product, price: 20, quantity: 1 }],
        },
      });
    }
    for (const [i, step] of steps.entries()) {
      events.push({
        ...base,
        ...step,
        messageId: `${prefix}-${shopper}-${i}`,
        timestamp: new Date(now - (steps.length - i) * 1000).toISOString(),
      });
    }
  }
  return events.slice(0, count);
}

/** The baseline: the same rows straight into a bare table, in the same batches, at the same concurrency. */
async function bareInsertRate(db: Database, events: Event[]): Promise<number> {
  await db.query(`create table bench_bare_events (
    workspace_id text, message_id text, partition smallint, profile_id uuid, type text, name text, user_id text,
    anonymous_id text, properties jsonb, traits jsonb, context jsonb, timestamp timestamptz, received_at timestamptz,
    source text, silent boolean)`);
  const rows = events.map((e) => ({
    message_id: e.messageId,
    partition: 0,
    profile_id: randomUUID(),
    type: e.type,
    name: (e.event ?? e.name ?? null) as string | null,
    user_id: e.userId ?? null,
    anonymous_id: e.anonymousId ?? null,
    properties: e.properties ?? {},
    traits: e.traits ?? null,
    context: e.context ?? {},
    timestamp: e.timestamp,
    received_at: new Date().toISOString(),
    source: "api",
    silent: false,
  }));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: batchConnections }, async () => {
      while (next < rows.length) {
        const batch = rows.slice(next, next + batchSize);
        next += batchSize;
        await db.query(
          `insert into bench_bare_events
           select 'ws', r.message_id, r.partition, r.profile_id, r.type, r.name, r.user_id, r.anonymous_id, r.properties,
                  r.traits, r.context, r.timestamp, r.received_at, r.source, r.silent
             from jsonb_to_recordset($1::jsonb) as r(message_id text, partition smallint, profile_id uuid, type text,
                  name text, user_id text, anonymous_id text, properties jsonb, traits jsonb, context jsonb,
                  timestamp timestamptz, received_at timestamptz, source text, silent boolean)`,
          [JSON.stringify(batch)],
        );
      }
    }),
  );
  return rows.length / ((performance.now() - started) / 1000);
}

function run(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error: Error | null, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

/** Events acknowledged: committed to the intake, or already resolved into the event log. */
async function countAccepted(
  db: Database,
  workspaceId: string,
): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select (select count(*) from events where workspace_id = $1)
          + (select coalesce(sum(event_count), 0) from intake where workspace_id = $1) as n`,
    [workspaceId],
  );
  return row?.n ?? 0;
}

/** Polls `left` every 200 ms until it reaches 0; resolves to the rate it fell at. */
async function drainRate(
  start: number,
  left: () => Promise<number>,
): Promise<number> {
  const started = performance.now();
  while ((await left()) > 0)
    await new Promise((resolve) => setTimeout(resolve, 200));
  return start / ((performance.now() - started) / 1000);
}

async function main() {
  console.log(
    `ingest benchmark: ${os.cpus().length} cores, ${totalEvents.toLocaleString("en-US")} events in batches of ${batchSize}, then ${seconds} s of single events; ${apiProcesses} API processes`,
  );
  const { url, db } = await freshBenchDatabase("herald_bench_ingest");
  const workspace = await createWorkspace(workspaceStore(db), systemClock, {
    name: "bench",
  });
  const auth = `Basic ${Buffer.from(`${workspace.writeKey}:`).toString("base64")}`;

  const batchEvents = makeEvents(totalEvents, "b");
  process.stdout.write("baseline: bare inserts … ");
  const bare = await bareInsertRate(db, batchEvents);
  console.log(rate(bare));

  const env = {
    DATABASE_URL: url,
    HERALD_LOG_LEVEL: "warn",
    HERALD_DB_POOL_SIZE: "10",
  };
  const api = await startHeraldProcess(await tempDataDir(false), env, [
    "--role",
    "api",
    "--processes",
    String(apiProcesses),
  ]);
  try {
    process.stdout.write("/v1/batch … ");
    let cursor = 0;
    // autocannon reports its duration in whole seconds; a run of six is timed here instead.
    const batchStarted = performance.now();
    const batchRun = await run({
      url: `${api.url}/v1/batch`,
      connections: batchConnections,
      amount: Math.ceil(totalEvents / batchSize),
      method: "POST",
      headers: { "content-type": "application/json", authorization: auth },
      requests: [
        {
          setupRequest: (request) => {
            const batch = batchEvents.slice(cursor, cursor + batchSize);
            cursor += batchSize;
            return {
              ...request,
              body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
            };
          },
        },
      ],
    });
    const stored = await countAccepted(db, workspace.id);
    const batchRate = stored / ((performance.now() - batchStarted) / 1000);
    console.log(
      `${rate(batchRate)} (${stored.toLocaleString("en-US")} accepted, ${batchRun.non2xx} non-2xx)`,
    );

    process.stdout.write("/v1/track … ");
    let single = 0;
    const trackStarted = performance.now();
    const trackRun = await run({
      url: `${api.url}/v1/track`,
      connections: singleConnections,
      duration: seconds,
      method: "POST",
      headers: { "content-type": "application/json", authorization: auth },
      requests: [
        {
          setupRequest: (request) => {
            const n = single++;
            const body = {
              event: "Product Viewed",
              anonymousId: `t-anon-${n % 20_000}`,
              messageId: `t-${n}`,
              properties: { product_id: `p-${n % 500}` },
            };
            return { ...request, body: JSON.stringify(body) };
          },
        },
      ],
    });
    const singles = (await countAccepted(db, workspace.id)) - stored;
    const singleRate = singles / ((performance.now() - trackStarted) / 1000);
    console.log(
      `${rate(singleRate)} (p50 ${trackRun.latency.p50} ms, p99 ${trackRun.latency.p99} ms, ${trackRun.non2xx} non-2xx)`,
    );

    const intake = await countIntake(db);
    const backlog = await countBacklog(db);
    console.log(
      `afterwards, a --role worker process: ${intake.toLocaleString("en-US")} events to resolve, ${backlog.toLocaleString("en-US")} to resolve or process`,
    );
    const worker = await startHeraldProcess(await tempDataDir(false), env, [
      "--role",
      "worker",
      "--port",
      "0",
    ]);
    const [resolveRate, processRate] = await Promise.all([
      drainRate(intake, () => countIntake(db)),
      drainRate(backlog, () => countBacklog(db)),
    ]);
    worker.child.kill("SIGTERM");
    await worker.exited;
    console.log(
      `  ingest resolver ${rate(resolveRate)}, event processor ${rate(processRate)}`,
    );

    console.log("\nresult (PostgreSQL, same run):");
    console.log(
      `  bare insert, baseline        ${rate(bare).padStart(12)}   1.00`,
    );
    console.log(
      `  /v1/batch (100 per request)  ${rate(batchRate).padStart(12)}   ${(batchRate / bare).toFixed(2)} of baseline   (target ≥ 0.50)`,
    );
    console.log(
      `  /v1/track (1 per request)    ${rate(singleRate).padStart(12)}   ${(singleRate / bare).toFixed(2)} of baseline   (target > 5,000/s)`,
    );
    console.log(
      `  ingest resolver (afterwards) ${rate(resolveRate).padStart(12)}   ${(resolveRate / bare).toFixed(2)} of baseline`,
    );
    console.log(
      `  event processor (afterwards) ${rate(processRate).padStart(12)}   ${(processRate / bare).toFixed(2)} of baseline`,
    );
  } finally {
    api.child.kill("SIGTERM");
    await api.exited;
    await db.close();
  }
}

await main();
