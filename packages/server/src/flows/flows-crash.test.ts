import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { ManualClock, systemClock } from "@herald/core/clock";
import type { Run } from "@herald/core/flows/advance";
import { uuidv7 } from "@herald/core/ids";
import { createWorkspace } from "@herald/core/workspaces/workspaces";
import type { Database } from "../db/database.ts";
import { insertRuns } from "./flow-runs.sql.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { insertProfiles } from "../profiles/profiles.sql.ts";
import { workspaceStore } from "../workspaces/workspaces.sql.ts";
import { silentLogger } from "../logger.ts";
import { createTemplate } from "../templates/template-service.ts";
import { startHeraldProcess, tempDataDir } from "../testing/herald-process.ts";
import { serverTestDatabase } from "../testing/test-databases.ts";
import { createFlow, publishFlow } from "./flow-service.ts";

const runs = 10_000;

async function prepare(db: Database) {
  const clock = new ManualClock(new Date(Date.now() - 3_600_000));
  const workspace = await createWorkspace(workspaceStore(db), clock, {
    name: "crash",
  });
  const template = await createTemplate(
    { db, clock },
    workspace.id,
    "reminder",
    {
      channel: "email",
      content: {
        subject: "Hello",
        mjml: "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>",
      },
    },
  );
  const flow = await createFlow({ db, clock }, workspace.id, {
    name: "Due in bulk",
    trigger: { type: "api" },
    start: "wait",
    nodes: {
      wait: { type: "wait", duration: { minutes: 5 }, next: "score" },
      score: { type: "score", name: "engagement", points: 5, next: "send" },
      send: {
        type: "send",
        channel: "email",
        templateId: template.template.id,
        transactional: true,
        next: "done",
      },
      done: { type: "exit" },
    },
  });
  await publishFlow({ db, clock }, workspace.id, flow.id);
  const now = clock.now();
  const profiles = Array.from({ length: runs }, () => uuidv7(now));
  await db.tx(async (tx) => {
    await insertProfiles(tx, workspace.id, profiles, now);
    await tx.query(
      "update profiles set email = 'shopper-' || id || '@crash.test' where workspace_id = $1",
      [workspace.id],
    );
    const due: Run[] = profiles.map((profileId) => ({
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
    await insertRuns(tx, workspace.id, { runs: due, at: now });
  });
  return { workspace, flowId: flow.id };
}

/** Kills Herald three times while the runs are due, then checks every effect happened once. */
async function crashAndCount(
  dir: string,
  open: () => Promise<Database>,
  env: Record<string, string>,
): Promise<void> {
  let db = await open();
  const { workspace, flowId } = await prepare(db);
  await db.close();

  const quiet = { HERALD_LOG_LEVEL: "fatal", ...env };
  for (let crash = 0; crash < 3; crash++) {
    const herald = await startHeraldProcess(dir, quiet);
    await new Promise((resolve) =>
      setTimeout(resolve, 400 + Math.random() * 1200),
    );
    herald.child.kill("SIGKILL");
    await herald.exited;
  }
  const herald = await startHeraldProcess(dir, quiet);
  const deadline = systemClock.now().getTime() + 240_000;
  for (;;) {
    const stats = (await (
      await fetch(`${herald.url}/api/flows/${flowId}/stats`, {
        headers: { authorization: `Bearer ${workspace.secretKey}` },
      })
    ).json()) as { totals: { active: number; completed: number } };
    if (stats.totals.active === 0) break;
    assert.ok(
      systemClock.now().getTime() < deadline,
      `runs still active: ${JSON.stringify(stats.totals)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  herald.child.kill("SIGTERM");
  assert.equal(await herald.exited, 0);

  db = await open();
  try {
    const [counts] = await db.query<{
      completed: number;
      messages: number;
      keys: number;
      scores: number;
      five: number;
      effects: number;
    }>(
      `select (select count(*) from flow_runs where workspace_id = $1 and status = 'completed') as completed,
                (select count(*) from messages where workspace_id = $1) as messages,
                (select count(distinct idempotency_key) from messages where workspace_id = $1) as keys,
                (select count(*) from profile_scores where workspace_id = $1) as scores,
                (select count(*) from profile_scores where workspace_id = $1 and value = 5) as five,
                (select count(*) from flow_effects where workspace_id = $1) as effects`,
      [workspace.id],
    );
    assert.deepEqual(counts, {
      completed: runs,
      messages: runs,
      keys: runs,
      scores: runs,
      five: runs,
      effects: runs,
    });
  } finally {
    await db.close();
  }
}

describe("flow runs across kill -9", () => {
  it("completes all 10,000 due runs with every effect exactly once [pglite]", async () => {
    const dir = await tempDataDir();
    await crashAndCount(
      dir,
      () => openPglite(path.join(dir, "pg"), silentLogger),
      {},
    );
  });

  it("completes all 10,000 due runs with every effect exactly once [postgres]", async (t) => {
    const server = await serverTestDatabase();
    if (!server) return t.skip("HERALD_TEST_DATABASE_URL is not set");
    try {
      await crashAndCount(
        await tempDataDir(),
        () => openPostgres(server.url, 5, silentLogger),
        { DATABASE_URL: server.url },
      );
    } finally {
      await server.drop();
    }
  });
});
