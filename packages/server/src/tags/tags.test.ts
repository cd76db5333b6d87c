import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";
import { settleWorkspace } from "../testing/segment-settle.ts";

describeOnDatabases("tags API and tag rules", (db) => {
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
    await settleWorkspace(herald, ws.id);
  }

  async function profileId(ws: NewWorkspace, userId: string): Promise<string> {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles?userId=${userId}`,
    );
    return found.body.items[0].id as string;
  }

  it("tags and untags a profile, counts tags, and says what was wrong", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [{ type: "identify", userId: "ann" }]);
    const ann = await profileId(ws, "ann");
    const tagged = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/profiles/${ann}/tags`,
      { tag: "  wholesale " },
    );
    assert.equal(tagged.status, 200);
    assert.deepEqual(
      tagged.body.items.map((t: { tag: string; source: string }) => [
        t.tag,
        t.source,
      ]),
      [["wholesale", "api"]],
    );
    assert.deepEqual(
      (await api(herald, ws.secretKey, "GET", "/api/tags")).body.items,
      [{ tag: "wholesale", profiles: 1 }],
    );
    const blank = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/profiles/${ann}/tags`,
      { tag: "   " },
    );
    assert.equal(blank.status, 400);
    assert.equal(blank.body.error.details[0].path, "/body/tag");
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "DELETE",
          `/api/profiles/${ann}/tags/wholesale`,
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "DELETE",
          `/api/profiles/${ann}/tags/wholesale`,
        )
      ).status,
      404,
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "POST",
          `/api/profiles/00000000-0000-7000-8000-000000000000/tags`,
          { tag: "x" },
        )
      ).status,
      404,
    );
  });

  it("applies tag rules to processed events, and segments on the tag follow", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const bad = await api(herald, ws.secretKey, "POST", "/api/tag-rules", {
      event: "Checkout Started",
      where: [{ property: "total", op: "gt", value: "a lot" }],
      action: "add",
      tag: "big-basket",
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/body/where/0/value");
    const rule = await api(herald, ws.secretKey, "POST", "/api/tag-rules", {
      event: "Checkout Started",
      where: [{ property: "total", op: "gt", value: 200 }],
      action: "add",
      tag: "big-basket",
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    await api(herald, ws.secretKey, "POST", "/api/tag-rules", {
      event: "Order Completed",
      action: "remove",
      tag: "big-basket",
    });
    const segment = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Big baskets",
      definition: { type: "tag", tag: "big-basket" },
    });
    const count = async () =>
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          `/api/segments/${segment.body.id}`,
        )
      ).body.memberCount as number;

    await send(ws, [
      {
        type: "track",
        userId: "ann",
        event: "Checkout Started",
        properties: { total: 120 },
      },
    ]);
    const ann = await profileId(ws, "ann");
    assert.equal(await count(), 0);
    await send(ws, [
      {
        type: "track",
        userId: "ann",
        event: "Checkout Started",
        properties: { total: 250 },
      },
    ]);
    assert.deepEqual(
      (
        await api(herald, ws.secretKey, "GET", `/api/profiles/${ann}/tags`)
      ).body.items.map((t: { tag: string; source: string }) => [
        t.tag,
        t.source,
      ]),
      [["big-basket", "rule"]],
    );
    assert.equal(await count(), 1);
    await send(ws, [
      {
        type: "track",
        userId: "ann",
        event: "Order Completed",
        properties: { order_id: "o1", revenue: 250 },
      },
    ]);
    assert.equal(
      await count(),
      0,
      "the removing rule took the tag away, and the segment followed",
    );
    assert.equal(
      (await api(herald, ws.secretKey, "GET", "/api/tag-rules")).body.items
        .length,
      2,
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "DELETE",
          `/api/tag-rules/${rule.body.id}`,
        )
      ).status,
      200,
    );
  });
});
