import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import { silentLogger } from "../logger.ts";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";
import { SegmentComputer } from "../workers/segment-computer.ts";
import { settleWorkspace } from "../testing/segment-settle.ts";
import { SegmentTimers } from "../workers/segment-timers.ts";

const day = 86_400_000;

describeOnDatabases("scores API and scoring rules", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T00:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  // Workers that see only the test's workspace: other test files share the database.
  const settle = (ws: NewWorkspace) =>
    settleWorkspace(herald, ws.id, [
      new SegmentComputer({
        db: db(),
        clock,
        logger: silentLogger,
        workspaceId: ws.id,
      }),
      new SegmentTimers({
        db: db(),
        clock,
        logger: silentLogger,
        workspaceId: ws.id,
      }),
    ]);

  async function send(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await settle(ws);
  }

  const score = async (ws: NewWorkspace, profileId: string) =>
    (
      await api(
        herald,
        ws.secretKey,
        "GET",
        `/api/profiles/${profileId}/scores`,
      )
    ).body.items as {
      score: string;
      value: number;
    }[];

  it("scores events by rules, emits each threshold once when reached, and lets points expire on time", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const created = await api(herald, ws.secretKey, "POST", "/api/scores", {
      name: "purchase intent",
      thresholds: [20, 10],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.thresholds, [10, 20]);
    const rule = (body: Record<string, unknown>) =>
      api(
        herald,
        ws.secretKey,
        "POST",
        "/api/scores/purchase intent/rules",
        body,
      );
    assert.equal(
      (
        await rule({
          event: "Page Viewed",
          where: [{ property: "path", op: "contains", value: "/pricing" }],
          points: 5,
        })
      ).status,
      201,
    );
    assert.equal(
      (await rule({ event: "Email Opened", points: 1, expiresAfterDays: 7 }))
        .status,
      201,
    );
    assert.equal(
      (await rule({ event: "Order Completed", points: 10 })).status,
      201,
    );
    const bad = await rule({ event: "Order Completed", points: 0 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/body/points");
    const segment = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Sales-ready",
      definition: {
        type: "score",
        score: "purchase intent",
        op: "gte",
        value: 10,
      },
    });

    const pricing = {
      type: "track",
      userId: "lee",
      event: "Page Viewed",
      properties: { path: "/pricing" },
    };
    const open = {
      type: "track",
      userId: "lee",
      event: "Email Opened",
      properties: {},
    };
    await send(ws, [
      pricing,
      { ...pricing, properties: { path: "/blog" } },
      open,
      open,
      open,
      open,
    ]);
    const lee = (
      await api(herald, ws.secretKey, "GET", "/api/profiles?userId=lee")
    ).body.items[0].id as string;
    assert.deepEqual(await score(ws, lee), [
      {
        score: "purchase intent",
        value: 9,
        nextExpiryAt: new Date(clock.now().getTime() + 7 * day).toISOString(),
      },
    ]);
    const threshold = async () =>
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          "/api/events?name=Score%20Threshold%20Reached",
        )
      ).body.items as {
        properties: Record<string, unknown>;
      }[];
    assert.equal((await threshold()).length, 0);

    await send(ws, [open]);
    assert.deepEqual(
      (await threshold()).map((e) => e.properties),
      [{ score: "purchase intent", threshold: 10, value: 10 }],
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          `/api/segments/${segment.body.id}`,
        )
      ).body.memberCount,
      1,
    );
    await send(ws, [pricing]);
    assert.equal(
      (await threshold()).length,
      1,
      "rising further without reaching 20 emits nothing more",
    );

    clock.advance(7 * day);
    await settle(ws);
    assert.equal(
      (await score(ws, lee))[0]?.value,
      10,
      "the five opens expired; the pricing views stay",
    );
    clock.advance(1);
    await api(herald, ws.secretKey, "POST", `/api/profiles/${lee}/scores`, {
      score: "purchase intent",
      points: -3,
    });
    assert.equal((await score(ws, lee))[0]?.value, 7);
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          `/api/segments/${segment.body.id}`,
        )
      ).body.memberCount,
      0,
    );
    await send(ws, [
      {
        type: "track",
        userId: "lee",
        event: "Order Completed",
        properties: { order_id: "o1", revenue: 5 },
      },
    ]);
    assert.deepEqual(
      (await threshold()).map((e) => e.properties.threshold).sort(),
      [10, 10],
      "reaching 10 again after falling below emits again; 17 is short of 20",
    );
    const unknown = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/profiles/${lee}/scores`,
      { score: "nope", points: 1 },
    );
    assert.equal(unknown.status, 404);
  });
});
