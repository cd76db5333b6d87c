/**
 * bench/flows: due flow runs advanced per second, beside a bare SKIP-LOCKED claim loop over
 * the same rows in the same run (claim 200 due rows, mark them done, repeat), on
 * PostgreSQL. Two flows: one whose due step sends an email (a ledger row written per
 * run) and ends, and one whose due step only moves on and ends (the engine alone).
 *
 *   node --import tsx bench/flows/flows.ts            (npm run bench:flows)
 *
 * Environment: BENCH_POSTGRES_URL, BENCH_RUNS (default 20,000).
 */
import os from "node:os";
import { ManualClock } from "../../packages/core/src/clock.ts";
import type { Run } from "../../packages/core/src/flows/advance.ts";
import { uuidv7 } from "../../packages/core/src/ids.ts";
import { createWorkspace } from "../../packages/core/src/workspaces/workspaces.ts";
import type { Database } from "../../packages/server/src/db/database.ts";
import {
  claimDueRuns,
  insertRuns,
} from "../../packages/server/src/flows/flow-runs.sql.ts";
import { insertProfiles } from "../../packages/server/src/profiles/profiles.sql.ts";
import { workspaceStore } from "../../packages/server/src/workspaces/workspaces.sql.ts";
import {
  createFlow,
  publishFlow,
} from "../../packages/server/src/flows/flow-service.ts";
import { silentLogger } from "../../packages/server/src/logger.ts";
import { createTemplate } from "../../packages/server/src/templates/template-service.ts";
import { FlowEngine } from "../../packages/server/src/flows/flow-engine.ts";
import { FlowScheduler } from "../../packages/server/src/workers/flow-scheduler.ts";
import { SettingsCache } from "../../packages/server/src/workspaces/settings-cache.ts";
import { freshBenchDatabase, rate } from "../lib/bench-database.ts";

const total = Number(process.env.BENCH_RUNS ?? 20_000);

async function prepare(db: Database, clock: ManualClock) {
  const workspace = await createWorkspace(workspaceStore(db), clock, {
    name: "bench",
  });
  const template = await createTemplate(
    { db, clock },
    workspace.id,
    "reminder",
    {
      channel: "email",
      content: {
        subject: "Hi {{ first_name }}",
        mjml: "<mjml><mj-body><mj-section><mj-column><mj-text>Hello</mj-text></mj-column></mj-section></mj-body></mjml>",
      },
    },
  );
  const flow = await createFlow({ db, clock }, workspace.id, {
    name: "bench",
    trigger: { type: "api" },
    start: "wait",
    nodes: {
      wait: { type: "wait", duration: { minutes: 1 }, next: "send" },
      send: {
        type: "send",
        channel: "email",
        templateId: template.template.id,
        next: "done",
      },
      done: { type: "exit" },
    },
  });
  await publishFlow({ db, clock }, workspace.id, flow.id);
  const quiet = await createFlow({ db, clock }, workspace.id, {
    name: "bench without effects",
    trigger: { type: "api" },
    start: "wait",
    nodes: {
      wait: { type: "wait", duration: { minutes: 1 }, next: "done" },
      done: { type: "exit" },
    },
  });
  await publishFlow({ db, clock }, workspace.id, quiet.id);
  const now = clock.now();
  const profiles = Array.from({ length: total }, () => uuidv7(now));
  for (let i = 0; i < total; i += 5_000) {
    const ids = profiles.slice(i, i + 5_000);
    await db.tx(async (tx) => {
      await insertProfiles(tx, workspace.id, ids, now);
      await tx.query(
        "update profiles set email = 'b-' || id || '@bench.test' where workspace_id = $1 and id = any($2::uuid[])",
        [workspace.id, ids],
      );
      const runs: Run[] = ids.map((profileId) => ({
        id: uuidv7(now),
        flowId: flow.id,
        version: 1,
        profileId,
        status: "waiting",
        nodeId: "wait",
        wakeAt: now,
        waitingFor: null,
        correlation: null,
        context: { trigger: null, coupons: {}, data: {} },
        visits: { wait: 1 },
        enteredAt: now,
        exitReason: null,
      }));
      await insertRuns(tx, workspace.id, { runs, at: now });
    });
  }
  await db.query("analyze");
  return { workspace, flowId: flow.id, quietFlowId: quiet.id };
}

/** The baseline: claim due rows with the scheduler's own query, mark them completed, repeat. */
async function bareLoop(db: Database, now: Date): Promise<number> {
  const started = performance.now();
  let done = 0;
  for (;;) {
    const claimed = await db.tx(async (tx) => {
      const rows = await claimDueRuns(tx, now, 200);
      if (rows.length > 0) {
        await tx.query(
          "update flow_runs set status = 'completed', updated_at = $2 where id = any($1::uuid[])",
          [rows.map((r) => r.id), now],
        );
      }
      return rows.length;
    });
    if (claimed === 0) break;
    done += claimed;
  }
  return done / ((performance.now() - started) / 1000);
}

async function main() {
  console.log(
    `flows benchmark: ${os.cpus().length} cores, ${total.toLocaleString("en-US")} due runs (wait → send email → exit)`,
  );
  const { db } = await freshBenchDatabase("herald_bench_flows");
  const clock = new ManualClock(new Date(Date.now() - 120_000));
  const { quietFlowId } = await prepare(db, clock);
  clock.advance(120_000);
  const now = clock.now();

  process.stdout.write("baseline: bare SKIP-LOCKED claim loop … ");
  const bare = await bareLoop(db, now);
  console.log(rate(bare));
  await db.query("update flow_runs set status = 'waiting', ended_at = null");
  await db.query("analyze flow_runs");

  const engine = new FlowEngine({
    clock,
    logger: silentLogger,
    settings: new SettingsCache(db),
  });
  const scheduler = new FlowScheduler({
    db,
    clock,
    logger: silentLogger,
    engine,
  });
  const advanceAll = async () => {
    const started = performance.now();
    let advanced = 0;
    for (
      let done = await scheduler.advanceDueRuns();
      done > 0;
      done = await scheduler.advanceDueRuns()
    )
      advanced += done;
    return advanced / ((performance.now() - started) / 1000);
  };

  process.stdout.write("Herald: due step sends an email … ");
  const sending = await advanceAll();
  console.log(rate(sending));
  const [check] = await db.query<{ completed: number; messages: number }>(
    "select (select count(*) from flow_runs where status = 'completed') as completed, (select count(*) from messages) as messages",
  );
  console.log(
    `  check: ${check?.completed} runs completed, ${check?.messages} messages queued`,
  );

  process.stdout.write("Herald: due step only moves on … ");
  await db.query(
    "update flow_runs set flow_id = $1, status = 'waiting', node_id = 'wait', ended_at = null, steps = '[]', wake_at = $2",
    [quietFlowId, now],
  );
  await db.query("analyze flow_runs");
  const quiet = await advanceAll();
  console.log(rate(quiet));

  console.log("\nresult (PostgreSQL, same run):");
  console.log(
    `  bare claim loop, baseline          ${rate(bare).padStart(10)}   1.00`,
  );
  console.log(
    `  due runs advanced, no effect       ${rate(quiet).padStart(10)}   ${(quiet / bare).toFixed(2)} of baseline   (target ≥ 0.50)`,
  );
  console.log(
    `  due runs advanced, email queued    ${rate(sending).padStart(10)}   ${(sending / bare).toFixed(2)} of baseline`,
  );
  await db.close();
}

await main();
