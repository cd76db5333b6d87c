/**
 * bench/flows latency: from the `/v1/track` response to the email reaching an SMTP server,
 * for a zero-delay flow (the event triggers it, its first step sends), while background
 * traffic keeps ingest and the event processor busy. Target: p99 under 100 ms.
 *
 *   node --import tsx bench/flows/latency.ts          (npm run bench:latency)
 *
 * Herald runs as its own process on PostgreSQL (BENCH_POSTGRES_URL) with HERALD_SMTP_URL
 * pointing at an SMTP server in this process, which notes when each message arrives.
 * Environment: BENCH_PINGS (default 300), BENCH_LOAD (background events/s, default 1,000).
 * The first ping of a fresh process compiles the template and opens the SMTP connections:
 * `warmup` pings to other shoppers go first and are not counted.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { systemClock } from "../../packages/core/src/clock.ts";
import { createWorkspace } from "../../packages/core/src/workspaces/workspaces.ts";
import { workspaceStore } from "../../packages/server/src/workspaces/workspaces.sql.ts";
import {
  createFlow,
  publishFlow,
} from "../../packages/server/src/flows/flow-service.ts";
import { createTemplate } from "../../packages/server/src/templates/template-service.ts";
import {
  startHeraldProcess,
  tempDataDir,
} from "../../packages/server/src/testing/herald-process.ts";
import { freshBenchDatabase } from "../lib/bench-database.ts";

const pings = Number(process.env.BENCH_PINGS ?? 300);
const load = Number(process.env.BENCH_LOAD ?? 1_000);
const warmup = 20;

/** An SMTP server that notes the arrival time of each recipient's message. */
async function arrivals(): Promise<{
  port: number;
  seen: Map<string, number>;
  close(): Promise<void>;
}> {
  const seen = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, session, callback) {
      stream.on("data", () => undefined);
      stream.on("end", () => {
        const at = performance.now();
        for (const rcpt of session.envelope.rcptTo)
          seen.set(rcpt.address.toLowerCase(), at);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function percentile(sorted: number[], p: number): number {
  return (
    sorted[
      Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
    ] ?? NaN
  );
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 200)
    throw new Error(`${url}: ${response.status} ${await response.text()}`);
}

async function main() {
  console.log(
    `latency benchmark: ${pings} pings, ${load.toLocaleString("en-US")} background events/s`,
  );
  const { url, db } = await freshBenchDatabase("herald_bench_latency");
  const clock = systemClock;
  const workspace = await createWorkspace(workspaceStore(db), clock, {
    name: "latency",
  });
  const template = await createTemplate({ db, clock }, workspace.id, "ping", {
    channel: "email",
    content: {
      subject: "Pong {{ event.n }}",
      mjml: "<mjml><mj-body><mj-section><mj-column><mj-text>Pong</mj-text></mj-column></mj-section></mj-body></mjml>",
    },
  });
  const flow = await createFlow({ db, clock }, workspace.id, {
    name: "Instant",
    trigger: { type: "event", event: "Bench Ping" },
    start: "send",
    nodes: {
      send: {
        type: "send",
        channel: "email",
        templateId: template.template.id,
        transactional: true,
        next: "done",
      },
      done: { type: "exit" },
    },
    settings: { reentry: { policy: "every_time" } },
  });
  await publishFlow({ db, clock }, workspace.id, flow.id);
  await db.close();

  const smtp = await arrivals();
  const herald = await startHeraldProcess(await tempDataDir(false), {
    DATABASE_URL: url,
    HERALD_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    HERALD_LOG_LEVEL: "warn",
  });
  const track = `${herald.url}/v1/track`;
  const batch = `${herald.url}/v1/batch`;
  try {
    // The pinged shoppers exist (with an email) before timing starts.
    const people = [
      ...Array.from({ length: warmup }, (_, n) => `warm-${n}`),
      ...Array.from({ length: pings }, (_, n) => `ping-${n}`),
    ].map((userId) => ({
      type: "identify",
      userId,
      traits: { email: `${userId}@bench.test` },
    }));
    for (let i = 0; i < people.length; i += 100) {
      await post(batch, {
        writeKey: workspace.writeKey,
        batch: people.slice(i, i + 100),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    // Background traffic: page views from many shoppers, in batches every 100 ms.
    let running = true;
    let sent = 0;
    const background = (async () => {
      while (running) {
        const started = performance.now();
        const events = Array.from(
          { length: Math.max(1, Math.round(load / 10)) },
          () => ({
            type: "track",
            event: "Product Viewed",
            anonymousId: `bg-${sent++ % 50_000}`,
            properties: { product_id: `p-${sent % 300}` },
          }),
        );
        await post(batch, { writeKey: workspace.writeKey, batch: events });
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, 100 - (performance.now() - started))),
        );
      }
    })();

    for (let n = 0; n < warmup; n++) {
      await post(track, {
        writeKey: workspace.writeKey,
        event: "Bench Ping",
        userId: `warm-${n}`,
        properties: { n: -1 - n },
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const acknowledged = new Map<string, number>();
    for (let n = 0; n < pings; n++) {
      await post(track, {
        writeKey: workspace.writeKey,
        event: "Bench Ping",
        userId: `ping-${n}`,
        properties: { n },
      });
      acknowledged.set(`ping-${n}@bench.test`, performance.now());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const deadline = performance.now() + 30_000;
    while (smtp.seen.size < warmup + pings && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    running = false;
    await background;

    const latencies = [...acknowledged]
      .map(([to, at]) => (smtp.seen.get(to) ?? NaN) - at)
      .filter((ms) => Number.isFinite(ms))
      .sort((a, b) => a - b);
    console.log(
      `\nresult (PostgreSQL, ${sent.toLocaleString("en-US")} background events during the run):`,
    );
    console.log(`  arrived       ${latencies.length} of ${pings}`);
    for (const p of [50, 90, 99])
      console.log(
        `  p${p}`.padEnd(14) + `${percentile(latencies, p).toFixed(1)} ms`,
      );
    console.log(
      `  max           ${latencies.at(-1)?.toFixed(1)} ms   (target: p99 under 100 ms)`,
    );
  } finally {
    herald.child.kill("SIGTERM");
    await herald.exited;
    await smtp.close();
  }
}

await main();
