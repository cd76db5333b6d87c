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
  segmentMembers,
  startTestHerald,
} from "../testing/test-server.ts";
import { SegmentComputer } from "../workers/segment-computer.ts";
import { settleWorkspace } from "../testing/segment-settle.ts";

describeOnDatabases("segments, tags, scores and lists across a merge", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T00:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  async function send(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await settleWorkspace(herald, ws.id, [
      new SegmentComputer({
        db: db(),
        clock,
        logger: silentLogger,
        workspaceId: ws.id,
      }),
    ]);
  }

  it("re-evaluates a shopper whose order another shopper's event cancelled, even beside the shopper's own event", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Buyers",
      definition: {
        type: "attribute",
        attribute: "orderCount",
        op: "gt",
        value: 0,
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const members = async () =>
      (await segmentMembers(herald, ws.secretKey, created.body.id)).length;
    await send(ws, [
      {
        type: "track",
        event: "Order Completed",
        userId: "owner",
        properties: { order_id: "o-77", revenue: 30 },
      },
    ]);
    assert.equal(await members(), 1);
    // The cancellation comes from another profile (a shop assistant's session), in the
    // same batch as an event of the owner's own: one transaction for both.
    await send(ws, [
      {
        type: "track",
        event: "Order Cancelled",
        userId: "assistant",
        properties: { order_id: "o-77" },
      },
      { type: "identify", userId: "owner", traits: { plan: "basic" } },
    ]);
    assert.equal(await members(), 0, "the owner has no order left");
  });

  it("moves the merged profile's tags, points and list status to the survivor and re-evaluates it in full", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const list = (
      await api(herald, ws.secretKey, "POST", "/api/lists", { name: "News" })
    ).body.id as string;
    await api(herald, ws.secretKey, "POST", "/api/scores", {
      name: "engagement",
    });
    await send(ws, [
      { type: "identify", anonymousId: "browser", traits: {} },
      { type: "identify", userId: "u-1", traits: { plan: "pro" } },
    ]);
    const anonymous = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?anonymousId=browser",
      )
    ).body.items[0].id;
    const user = (
      await api(herald, ws.secretKey, "GET", "/api/profiles?userId=u-1")
    ).body.items[0].id;
    await api(herald, ws.secretKey, "POST", `/api/profiles/${anonymous}/tags`, {
      tag: "quiz-done",
    });
    await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/profiles/${anonymous}/scores`,
      { score: "engagement", points: 4 },
    );
    await api(herald, ws.secretKey, "POST", `/api/profiles/${user}/scores`, {
      score: "engagement",
      points: 3,
    });
    await api(
      herald,
      ws.secretKey,
      "PUT",
      `/api/lists/${list}/members/${anonymous}`,
      { status: "subscribed" },
    );
    const segment = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Engaged pros who took the quiz",
      definition: {
        type: "and",
        conditions: [
          { type: "tag", tag: "quiz-done" },
          { type: "score", score: "engagement", op: "gte", value: 7 },
          { type: "trait", trait: "plan", op: "equals", value: "pro" },
          { type: "list", listId: list },
        ],
      },
    });
    await send(ws, []);
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
      { type: "identify", anonymousId: "browser", userId: "u-1" },
    ]);
    const survivor = (
      await api(herald, ws.secretKey, "GET", `/api/profiles/${anonymous}`)
    ).body.id;
    assert.equal(survivor, user, "the profile with the user id survives");
    assert.deepEqual(
      (
        await api(herald, ws.secretKey, "GET", `/api/profiles/${user}/tags`)
      ).body.items.map((t: { tag: string }) => t.tag),
      ["quiz-done"],
    );
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/profiles/${user}/scores`))
        .body.items[0].value,
      7,
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          `/api/lists/${list}/members/${user}`,
        )
      ).body.status,
      "subscribed",
    );
    const members = await segmentMembers(herald, ws.secretKey, segment.body.id);
    assert.deepEqual(
      members.map((m) => m.profileId),
      [user],
      "the survivor now meets every condition and entered",
    );
  });
});
