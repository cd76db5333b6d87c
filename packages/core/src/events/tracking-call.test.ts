import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  correctTimestamp,
  normalizeCall,
  type CallContext,
} from "./tracking-call.ts";

const receivedAt = new Date("2026-05-01T12:00:00.000Z");
const ctx: CallContext = {
  receivedAt,
  source: "api",
  newMessageId: () => "generated",
};

describe("normalizeCall", () => {
  it("maps v1 e-commerce names and camelCase properties to the v2 spec", () => {
    const result = normalizeCall(
      {
        type: "track",
        event: "Completed Order",
        anonymousId: "a1",
        properties: { orderId: "o1", products: [{ id: "p1", price: 9 }] },
      },
      ctx,
    );
    assert.ok(result.ok);
    assert.equal(result.event.name, "Order Completed");
    assert.deepEqual(result.event.properties, {
      order_id: "o1",
      products: [{ product_id: "p1", price: 9 }],
    });
  });

  it("corrects the client's clock: receivedAt − (sentAt − originalTimestamp)", () => {
    // The device clock runs 10 minutes fast; the event happened 5 seconds before sending.
    const result = normalizeCall(
      {
        type: "page",
        anonymousId: "a1",
        timestamp: "2026-05-01T12:09:55.000Z",
        sentAt: "2026-05-01T12:10:00.000Z",
      },
      ctx,
    );
    assert.ok(result.ok);
    assert.equal(
      result.event.timestamp.toISOString(),
      "2026-05-01T11:59:55.000Z",
    );
  });

  it("uses the batch's sentAt and never dates an event after it was received", () => {
    assert.equal(
      correctTimestamp(receivedAt, new Date("2030-01-01"), null).toISOString(),
      receivedAt.toISOString(),
    );
    const result = normalizeCall(
      {
        type: "track",
        event: "X",
        userId: 7,
        timestamp: "2026-05-01T11:00:00Z",
      },
      { ...ctx, batchSentAt: "2026-05-01T11:00:01Z" },
    );
    assert.ok(result.ok);
    assert.equal(result.event.userId, "7");
    assert.equal(
      result.event.timestamp.toISOString(),
      "2026-05-01T11:59:59.000Z",
    );
  });

  it("refuses what cannot be stored, saying where", () => {
    const cases: [unknown, string, RegExp][] = [
      ["not an object", "", /JSON object/],
      [{ type: "track", anonymousId: "a" }, "/event", /event name/],
      [{ type: "tracks", anonymousId: "a" }, "/type", /type must be/],
      [{ type: "identify" }, "/userId", /userId or an anonymousId/],
      [
        { type: "track", event: "X", userId: "u", properties: [] },
        "/properties",
        /JSON object/,
      ],
      [
        { type: "track", event: "X", userId: "u", timestamp: "yesterday" },
        "/timestamp",
        /ISO-8601/,
      ],
      [{ type: "alias", userId: "u" }, "/previousId", /previousId/],
      [
        { type: "track", event: "X", userId: "u", messageId: "m".repeat(101) },
        "/messageId",
        /longer than 100/,
      ],
    ];
    for (const [raw, path, reason] of cases) {
      const result = normalizeCall(raw, ctx);
      assert.ok(!result.ok, JSON.stringify(raw));
      assert.equal(result.path, path);
      assert.match(result.reason, reason);
    }
  });

  it("fills a missing messageId and merges batch context under the event's own", () => {
    const result = normalizeCall(
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: "a",
        context: { locale: "de-DE" },
      },
      { ...ctx, batchContext: { locale: "en-US", library: { name: "x" } } },
    );
    assert.ok(result.ok);
    assert.equal(result.event.messageId, "generated");
    assert.deepEqual(result.event.context, {
      locale: "de-DE",
      library: { name: "x" },
    });
    assert.equal(result.event.integrations, undefined);
  });

  it("merges batch integrations under the event's own and refuses a non-object", () => {
    const result = normalizeCall(
      {
        type: "track",
        event: "Order Completed",
        anonymousId: "a",
        integrations: { Mixpanel: false },
      },
      { ...ctx, batchIntegrations: { All: false, Mixpanel: true } },
    );
    assert.ok(result.ok);
    assert.deepEqual(result.event.integrations, {
      All: false,
      Mixpanel: false,
    });
    const bad = normalizeCall(
      { type: "track", event: "X", anonymousId: "a", integrations: true },
      ctx,
    );
    assert.ok(!bad.ok);
    assert.equal(bad.path, "/integrations");
  });
});
