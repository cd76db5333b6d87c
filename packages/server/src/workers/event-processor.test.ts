import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";

describeOnDatabases("identity resolution and profiles", (db) => {
  let herald: Herald;
  before(async () => {
    // Events in these tests happen in the first half of 2026.
    herald = await startTestHerald(db(), {
      clock: new ManualClock("2026-06-01T00:00:00Z"),
    });
  });
  after(() => herald.close());

  async function send(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await settle(herald);
  }

  async function only(ws: NewWorkspace, query: string) {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles?${query}`,
    );
    assert.equal(
      found.body.items.length,
      1,
      `exactly one profile for ${query}: ${JSON.stringify(found.body)}`,
    );
    return found.body.items[0];
  }

  it("stitches two devices into one profile with the whole history and the right order figures", async () => {
    const ws = await createTestWorkspace(db());
    // The laptop browses first, so its anonymous profile is the oldest.
    await send(ws, [
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: "laptop",
        properties: { product_id: "p1", category: "shoes" },
      },
      {
        type: "track",
        event: "Product Added",
        anonymousId: "laptop",
        properties: { product_id: "p1", cart_id: "cart-1", price: 100 },
      },
    ]);
    await send(ws, [
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: "phone",
        properties: { product_id: "p2" },
      },
      {
        type: "identify",
        anonymousId: "phone",
        userId: "u-9",
        traits: { email: "Kim@Shop.test", first_name: "Kim" },
      },
    ]);
    const beforeOrder = await only(ws, "userId=u-9");
    await send(ws, [
      {
        type: "track",
        event: "Order Completed",
        anonymousId: "laptop",
        userId: "u-9",
        properties: {
          order_id: "o-1",
          cart_id: "cart-1",
          total: 120,
          revenue: 100,
          products: [{ product_id: "p1", price: 100, quantity: 1 }],
        },
      },
    ]);

    const profile = await only(ws, "anonymousId=laptop");
    assert.equal(
      profile.id,
      beforeOrder.id,
      "the profile holding the user id survives, even though it is younger",
    );
    assert.deepEqual((await only(ws, "anonymousId=phone")).id, profile.id);
    assert.deepEqual(
      profile.identities
        .map((i: { type: string; value: string }) => `${i.type}:${i.value}`)
        .sort(),
      [
        "anonymous_id:laptop",
        "anonymous_id:phone",
        "cart_token:cart-1",
        "email:kim@shop.test",
        "user_id:u-9",
      ],
    );
    assert.equal(profile.mergedIds.length, 1);
    assert.equal(profile.computed.orderCount, 1);
    assert.equal(profile.computed.revenue, 100);
    assert.equal(profile.computed.lastProductViewed.product_id, "p2");
    const events = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.id}/events`,
    );
    assert.equal(
      events.body.items.length,
      5,
      "both devices' events are on the profile",
    );
    const merged = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.mergedIds[0]}`,
    );
    assert.equal(
      merged.body.id,
      profile.id,
      "the merged id answers with the survivor",
    );
  });

  it("counts an order once however often it is reported, and nets out refunds and cancellations", async () => {
    const ws = await createTestWorkspace(db());
    const order = (
      messageId: string,
      orderId: string,
      revenue: number,
      at: string,
    ) => ({
      type: "track",
      event: "Order Completed",
      userId: "buyer",
      messageId,
      timestamp: at,
      properties: { order_id: orderId, revenue, total: revenue + 10 },
    });
    await send(ws, [
      order("store-1", "o-1", 100, "2026-01-01T10:00:00Z"),
      order("webhook-1", "o-1", 100, "2026-01-01T10:00:05Z"),
    ]);
    await send(ws, [
      order("store-2", "o-2", 50, "2026-01-21T10:00:00Z"),
      order("store-3", "o-3", 70, "2026-02-10T10:00:00Z"),
      {
        type: "track",
        event: "Order Refunded",
        userId: "buyer",
        properties: { order_id: "o-1", total: 40 },
      },
      {
        type: "track",
        event: "Order Cancelled",
        userId: "buyer",
        properties: { order_id: "o-3" },
      },
    ]);
    const profile = await only(ws, "userId=buyer");
    assert.equal(profile.computed.orderCount, 2);
    assert.equal(profile.computed.revenue, 110, "100 − 40 refunded + 50");
    assert.equal(profile.computed.averageOrderValue, 55);
    assert.equal(profile.computed.avgDaysBetweenOrders, 20);
    assert.equal(
      profile.computed.expectedNextOrderAt,
      "2026-02-10T10:00:00.000Z",
    );
  });

  it("counts an order of unknown amount as an order but leaves its amount out of revenue and AOV until an update states it", async () => {
    const ws = await createTestWorkspace(db());
    const order = (
      orderId: string,
      properties: Record<string, unknown>,
      at: string,
    ) => ({
      type: "track",
      event: "Order Completed",
      userId: "buyer",
      timestamp: at,
      properties: { order_id: orderId, ...properties },
    });
    await send(ws, [
      order("o-1", { revenue: 40 }, "2026-01-01T10:00:00Z"),
      order(
        "o-2",
        { revenue: "abc", products: [{ product_id: "p-1", quantity: 1 }] },
        "2026-01-11T10:00:00Z",
      ),
    ]);
    const before = await only(ws, "userId=buyer");
    assert.deepEqual(
      [
        before.computed.orderCount,
        before.computed.revenue,
        before.computed.averageOrderValue,
        before.computed.lastOrderAt,
      ],
      [2, 40, 40, "2026-01-11T10:00:00.000Z"],
      "the unpriced order counts as an order, not as an order of 0",
    );

    await send(ws, [
      {
        type: "track",
        event: "Order Updated",
        userId: "buyer",
        properties: { order_id: "o-2", revenue: 60 },
      },
      order("o-3", { revenue: 0 }, "2026-01-21T10:00:00Z"),
    ]);
    const after = await only(ws, "userId=buyer");
    assert.deepEqual(
      [
        after.computed.orderCount,
        after.computed.revenue,
        after.computed.averageOrderValue,
      ],
      [3, 100, 33.33],
      "the update fills the amount in; a free order is an order of 0",
    );

    await send(ws, [
      order("o-4", { revenue: "n/a" }, "2026-02-01T10:00:00Z"),
      {
        type: "track",
        event: "Order Refunded",
        userId: "buyer",
        properties: { order_id: "o-4", total: 5 },
      },
    ]);
    const refunded = await only(ws, "userId=buyer");
    assert.deepEqual(
      [
        refunded.computed.orderCount,
        refunded.computed.revenue,
        refunded.computed.averageOrderValue,
      ],
      [4, 100, 33.33],
      "a partial refund of an order of unknown amount takes nothing off",
    );
    await send(ws, [
      {
        type: "track",
        event: "Order Refunded",
        userId: "buyer",
        properties: { order_id: "o-4" },
      },
    ]);
    assert.equal(
      (await only(ws, "userId=buyer")).computed.orderCount,
      3,
      "a refund of the whole order stops it counting",
    );
  });

  it("never merges two user ids that share an email", async () => {
    const ws = await createTestWorkspace(db());
    await send(ws, [
      {
        type: "identify",
        userId: "parent",
        traits: { email: "family@shop.test" },
      },
    ]);
    await send(ws, [
      {
        type: "identify",
        userId: "child",
        traits: { email: "family@shop.test", first_name: "Sam" },
      },
    ]);
    const parent = await only(ws, "userId=parent");
    const child = await only(ws, "userId=child");
    assert.notEqual(parent.id, child.id);
    assert.equal(
      (await only(ws, "email=family@shop.test")).id,
      parent.id,
      "the email stays with its first owner",
    );
  });

  it("keeps the newest trait value even when an older event arrives later", async () => {
    const ws = await createTestWorkspace(db());
    await send(ws, [
      {
        type: "identify",
        userId: "t1",
        timestamp: "2026-03-02T00:00:00Z",
        traits: { plan: "gold" },
      },
    ]);
    await send(ws, [
      {
        type: "identify",
        userId: "t1",
        timestamp: "2026-03-01T00:00:00Z",
        traits: { plan: "silver", city: "Oslo" },
      },
    ]);
    const profile = await only(ws, "userId=t1");
    assert.equal(profile.traits.plan, "gold");
    assert.equal(profile.traits.city, "Oslo");
  });

  it("exports everything about a person and erases it; the same email later starts afresh", async () => {
    const ws = await createTestWorkspace(db());
    await send(ws, [
      {
        type: "identify",
        anonymousId: "gdpr",
        traits: { email: "erase@shop.test" },
      },
      {
        type: "track",
        event: "Order Completed",
        anonymousId: "gdpr",
        properties: { order_id: "g-1", revenue: 10 },
      },
    ]);
    const profile = await only(ws, "email=erase@shop.test");
    const exported = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.id}/export`,
    );
    assert.equal(exported.body.profile.email, "erase@shop.test");
    assert.equal(exported.body.events.length, 2);
    assert.equal(exported.body.orders[0].order_id, "g-1");

    assert.equal(
      (await api(herald, ws.secretKey, "DELETE", `/api/profiles/${profile.id}`))
        .status,
      200,
    );
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/profiles/${profile.id}`))
        .status,
      404,
    );
    const events = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/events?limit=10",
    );
    assert.equal(events.body.items.length, 0, "its events are gone");

    await send(ws, [
      {
        type: "identify",
        anonymousId: "gdpr-2",
        traits: { email: "erase@shop.test" },
      },
    ]);
    const fresh = await only(ws, "email=erase@shop.test");
    assert.notEqual(fresh.id, profile.id);
    assert.equal(fresh.computed.orderCount, 0);
  });

  it("applies each event exactly once across a crash in the middle of a batch", async () => {
    const ws = await createTestWorkspace(db());
    const seen: string[] = [];
    let crashes = 1;
    herald.processor.addHandler({
      name: "crash-once",
      async handle(_tx, workspaceId, events) {
        if (workspaceId !== ws.id) return;
        if (crashes-- > 0) throw new Error("simulated crash");
        seen.push(...events.map((e) => e.event.messageId));
      },
    });
    const orders = Array.from({ length: 20 }, (_, i) => ({
      type: "track",
      event: "Order Completed",
      userId: "crash",
      messageId: `m-${i}`,
      properties: { order_id: `c-${i}`, revenue: 1 },
    }));
    await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch: orders }),
    });
    await herald.ingest.drain();
    await herald.resolver.resolvePending();
    await assert.rejects(herald.processor.processPending(), /simulated crash/);
    await settle(herald);
    assert.deepEqual(
      seen.sort(),
      orders.map((o) => o.messageId).sort(),
      "each event once",
    );
    const profile = await only(ws, "userId=crash");
    assert.equal(profile.computed.orderCount, 20);
    assert.equal(profile.computed.revenue, 20);
  });
});
