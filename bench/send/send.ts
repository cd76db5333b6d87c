/**
 * bench/send: messages per second from `queued` on the ledger to accepted by a local SMTP
 * server, beside bare nodemailer sending the same messages to the same server in the same
 * run (the ratio is the figure: target ≥ 0.8), then memory while 100,000 messages go out.
 *
 *   node --import tsx bench/send/send.ts          (npm run bench:send)
 *
 * Environment: BENCH_MESSAGES (per round of the ratio run, 3 rounds; default 5,000), BENCH_MEMORY_MESSAGES (memory
 * run, default 100,000; 0 skips it), BENCH_POSTGRES_URL (run on PostgreSQL instead of
 * the embedded database).
 *
 * Both senders use a pool of 5 SMTP connections to a server in a child process (Herald's
 * pool lives in its SMTP thread, providers/smtp-thread.ts). Herald's side is the real
 * message sender (claim with SKIP LOCKED, policy, tracking links, one-click
 * unsubscribe headers, outcomes recorded on the ledger); the messages are marketing email
 * queued beforehand, which is not timed. The baseline sends byte for byte the same
 * messages: the tracked links, footer, open pixel and headers Herald adds are built for it
 * before its clock starts, so the ratio is what the ledger, policy and that work cost.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import nodemailer, { type SendMailOptions } from "nodemailer";
import { Registry } from "prom-client";
import { systemClock } from "../../packages/core/src/clock.ts";
import { createWorkspace } from "../../packages/core/src/workspaces/workspaces.ts";
import type { Database } from "../../packages/server/src/db/database.ts";
import { migrate } from "../../packages/server/src/db/migrate.ts";
import { openPglite } from "../../packages/server/src/db/pglite.ts";
import { insertProfiles } from "../../packages/server/src/profiles/profiles.sql.ts";
import { updateSettings } from "../../packages/server/src/workspaces/settings.sql.ts";
import { workspaceStore } from "../../packages/server/src/workspaces/workspaces.sql.ts";
import { silentLogger } from "../../packages/server/src/logger.ts";
import { tempDataDir } from "../../packages/server/src/testing/herald-process.ts";
import type { SendingRow } from "../../packages/server/src/messages/send-queue.sql.ts";
import {
  prepareMessage,
  templatesUnavailable,
} from "../../packages/server/src/messages/message-delivery.ts";
import { enqueueMessage } from "../../packages/server/src/messages/message-ledger.ts";
import { MessagingSecrets } from "../../packages/server/src/messages/message-secrets.ts";
import { MessageSender } from "../../packages/server/src/workers/message-sender.ts";
import { SettingsCache } from "../../packages/server/src/workspaces/settings-cache.ts";
import { uuidv7 } from "../../packages/core/src/ids.ts";
import { freshBenchDatabase, rate } from "../lib/bench-database.ts";

const messages = Number(process.env.BENCH_MESSAGES ?? 5_000);
const memoryMessages = Number(process.env.BENCH_MEMORY_MESSAGES ?? 100_000);
const rounds = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const subject = "Spring is here: 20% off everything";
const html = `<html><body><h1>New in for spring</h1><p>${"Fresh colours, light fabrics. ".repeat(20)}</p>
<p><a href="https://shop.example/spring">Shop the collection</a> · <a href="https://shop.example/sale">Sale</a></p></body></html>`;
const text =
  "New in for spring. Shop the collection: https://shop.example/spring";

/** The SMTP server process. */
async function startSink(): Promise<{
  port: number;
  child: ChildProcess;
  count: () => Promise<number>;
}> {
  const child = fork(path.join(import.meta.dirname, "smtp-sink-process.ts"), {
    execArgv: ["--import", "tsx"],
  });
  const port = await new Promise<number>((resolve) =>
    child.once("message", (m: { port: number }) => resolve(m.port)),
  );
  return {
    port,
    child,
    count: () =>
      new Promise<number>((resolve) => {
        child.once("message", (m: { count: number }) => resolve(m.count));
        child.send("count");
      }),
  };
}

async function waitFor(
  count: () => Promise<number>,
  target: number,
  onTick?: (n: number) => void,
): Promise<void> {
  let last = -1;
  for (;;) {
    const n = await count();
    if (n !== last) onTick?.(n);
    last = n;
    if (n >= target) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A message as Herald hands it to nodemailer. */
type Mail = SendMailOptions;

/**
 * `n` messages exactly as Herald's sender would build them for the workspace (tracked
 * links, unsubscribe footer and headers, open pixel, message ids), built before timing.
 */
async function heraldMails(
  workspaceId: string,
  secrets: MessagingSecrets,
  n: number,
): Promise<Mail[]> {
  const mails: Mail[] = [];
  for (let i = 0; i < n; i++) {
    const id = uuidv7(new Date());
    const row: SendingRow = {
      workspace_id: workspaceId,
      id,
      profile_id: id,
      channel: "email",
      transactional: false,
      source: { kind: "campaign", campaignId: "bench", campaignName: "Spring" },
      campaign_id: "bench",
      template_id: null,
      template_version: null,
      inline_content: { subject, html, text },
      data: {},
      list_id: null,
      obey_frequency_cap: true,
      skip_when_capped: false,
      obey_quiet_hours: true,
      to_address: `bare${i}@bench.example`,
      status: "sending",
      reason: null,
      decision_step: null,
      send_at: new Date(),
      attempts: 0,
      recipient: `bare${i}@bench.example`,
    };
    const prepared = await prepareMessage(
      row,
      { email: { fromEmail: "news@shop.example", fromName: "Shop" } },
      {
        publicUrl: "https://herald.example",
        secrets,
        renderer: templatesUnavailable,
      },
    );
    const content = prepared.content as {
      subject: string;
      html?: string;
      text: string;
    };
    mails.push({
      from: { name: "Shop", address: "news@shop.example" },
      to: `bare${i}@bench.example`,
      subject: content.subject,
      html: content.html,
      text: content.text,
      messageId: `<${id}@shop.example>`,
      headers: {
        ...prepared.headers,
        "X-Herald-Message-Id": `${workspaceId}/${id}`,
        "X-PM-Metadata-herald_message_id": id,
      },
    });
  }
  return mails;
}

/** Bare nodemailer: the same messages, pooled the same way, a window of sends in flight. */
async function bare(
  port: number,
  mails: Mail[],
  count: () => Promise<number>,
): Promise<number> {
  const n = mails.length;
  const transport = nodemailer.createTransport({
    pool: true,
    host: "127.0.0.1",
    port,
    ignoreTLS: true,
    maxConnections: 5,
    maxMessages: 1000,
  });
  const start0 = await count();
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const mail = mails[next++] as Mail;
      await transport.sendMail(mail);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  await waitFor(count, start0 + n);
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  return n / seconds;
}

/** Queues `n` marketing emails to `n` new profiles (not timed). */
async function queue(
  db: Database,
  workspaceId: string,
  n: number,
  tag: string,
): Promise<void> {
  const now = new Date();
  for (let i = 0; i < n; i += 2000) {
    const ids = Array.from({ length: Math.min(2000, n - i) }, () =>
      uuidv7(now),
    );
    await db.tx(async (tx) => {
      await insertProfiles(tx, workspaceId, ids, now);
      for (const [k, profileId] of ids.entries())
        await enqueueMessage(
          tx,
          {
            workspaceId,
            profileId,
            channel: "email",
            transactional: false,
            source: {
              kind: "campaign",
              campaignId: "bench",
              campaignName: "Spring",
            },
            idempotencyKey: `${tag}-${i + k}`,
            to: `${tag}${i + k}@bench.example`,
            content: { subject, html, text },
          },
          now,
        );
    });
  }
}

async function main(): Promise<void> {
  const sink = await startSink();
  let db: Database;
  let where: string;
  if (process.env.BENCH_POSTGRES_URL) {
    db = (await freshBenchDatabase("herald_bench_send")).db;
    where = "PostgreSQL";
  } else {
    db = await openPglite(
      path.join(await tempDataDir(false), "pg"),
      silentLogger,
    );
    await migrate(db);
    where = "embedded PGlite";
  }
  const ws = await createWorkspace(workspaceStore(db), systemClock, {
    name: "bench",
  });
  await updateSettings(db, ws.id, {
    marketingConsent: "unless_unsubscribed",
    email: { fromEmail: "news@shop.example", fromName: "Shop" },
  });
  const settings = new SettingsCache(db);
  const secrets = new MessagingSecrets(db, systemClock);
  const newSender = () =>
    new MessageSender({
      db,
      clock: systemClock,
      logger: silentLogger,
      registry: new Registry(),
      settings,
      secrets: new MessagingSecrets(db, systemClock),
      renderer: templatesUnavailable,
      publicUrl: "https://herald.example",
      smtpUrl: `smtp://127.0.0.1:${sink.port}?starttls=off`,
    });
  console.log(
    `bench/send on ${where}, ${messages.toLocaleString("en-US")} messages each, SMTP server in a child process (2 shared cores)`,
  );

  // Warm both paths a little (JIT, connections) before timing.
  await bare(sink.port, await heraldMails(ws.id, secrets, 200), sink.count);
  await queue(db, ws.id, 200, "warm-");
  const warm = newSender();
  const warmed = await sink.count();
  warm.start();
  await waitFor(sink.count, warmed + 200);
  await warm.stop();
  // Alternate the two in rounds, so that load from elsewhere on a shared machine falls
  // on both; the medians make the ratio.
  const bareRates: number[] = [];
  const heraldRates: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const mails = await heraldMails(ws.id, secrets, messages);
    bareRates.push(await bare(sink.port, mails, sink.count));
    await queue(db, ws.id, messages, `h${round}-`);
    const sender = newSender();
    const before = await sink.count();
    const started = performance.now();
    sender.start();
    await waitFor(sink.count, before + messages);
    heraldRates.push(messages / ((performance.now() - started) / 1000));
    await sender.stop();
    console.log(
      `round ${round}: bare ${rate(bareRates.at(-1) ?? 0)}, Herald ${rate(heraldRates.at(-1) ?? 0)}`,
    );
  }
  const bareRate = median(bareRates);
  const heraldRate = median(heraldRates);
  console.log(`bare nodemailer:  ${rate(bareRate)} (median)`);
  console.log(`Herald (ledger):  ${rate(heraldRate)} (median)`);
  console.log(`ratio: ${(heraldRate / bareRate).toFixed(2)} (target ≥ 0.80)`);

  if (memoryMessages > 0) {
    console.log(
      `\nqueueing ${memoryMessages.toLocaleString("en-US")} messages for the memory run…`,
    );
    await queue(db, ws.id, memoryMessages, "m");
    const memorySender = newSender();
    const base = await sink.count();
    const t0 = performance.now();
    let lastPrint = 0;
    const mb = () => Math.round(process.memoryUsage().rss / 1024 / 1024);
    console.log("seconds  sent      RSS MB  heap MB");
    memorySender.start();
    await waitFor(sink.count, base + memoryMessages, (n) => {
      const s = (performance.now() - t0) / 1000;
      if (s - lastPrint >= 5 || n >= base + memoryMessages) {
        lastPrint = s;
        console.log(
          `${s.toFixed(0).padStart(7)}  ${String(n - base).padStart(7)}  ${String(mb()).padStart(7)}  ${String(Math.round(process.memoryUsage().heapUsed / 1024 / 1024)).padStart(7)}`,
        );
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `${memoryMessages.toLocaleString("en-US")} messages in ${seconds.toFixed(0)} s (${rate(memoryMessages / seconds)})`,
    );
    await memorySender.stop();
  }
  await db.close();
  sink.child.send("stop");
}

await main();
