import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { after, before, it } from "node:test";
import { Analytics as Analytics3 } from "@segment/analytics-node";
import Rudder from "@rudderstack/rudder-sdk-node";
import { Analytics as Analytics2 } from "segment-analytics-node-2";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

const basic = (key: string) =>
  `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

describeOnDatabases("tracking API", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  async function post(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const response = await fetch(herald.url + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body:
        typeof body === "string" || body instanceof Uint8Array
          ? body
          : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text ? JSON.parse(text) : undefined,
    };
  }

  async function profileOf(secretKey: string, query: string) {
    const found = await api(herald, secretKey, "GET", `/api/profiles?${query}`);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.equal(found.body.items.length, 1, `one profile for ${query}`);
    return found.body.items[0];
  }

  async function eventsOf(secretKey: string, profileId: string) {
    const page = await api(
      herald,
      secretKey,
      "GET",
      `/api/profiles/${profileId}/events?limit=100`,
    );
    return page.body.items as {
      name: string | null;
      type: string;
      messageId: string;
    }[];
  }

  it("takes track, identify, page and alias calls from analytics-node 2.x and 3.x, once each", async () => {
    for (const [label, Client] of [
      ["2.x", Analytics2],
      ["3.x", Analytics3],
    ] as const) {
      const ws = await createTestWorkspace(db());
      const analytics = new Client({
        writeKey: ws.writeKey,
        host: herald.url,
        flushAt: 2,
        maxRetries: 1,
      });
      analytics.track({
        anonymousId: "anon-1",
        event: "Product Viewed",
        properties: { product_id: "p1", price: 20 },
      });
      analytics.page({ anonymousId: "anon-1", name: "Home" });
      analytics.identify({
        anonymousId: "anon-1",
        userId: "user-1",
        traits: { email: "Ann@Example.com", first_name: "Ann" },
      });
      analytics.alias({ userId: "user-1", previousId: "old-anon" });
      analytics.track({
        userId: "user-1",
        event: "Order Completed",
        properties: { order_id: "o-1", total: 55, revenue: 50 },
      });
      await analytics.closeAndFlush();
      await settle(herald);

      const profile = await profileOf(ws.secretKey, "email=ann@example.com");
      assert.equal(profile.traits.first_name, "Ann", label);
      assert.deepEqual(
        profile.identities.map((i: { type: string }) => i.type).sort(),
        ["anonymous_id", "anonymous_id", "email", "user_id"],
        label,
      );
      assert.equal(profile.computed.orderCount, 1, label);
      assert.equal(profile.computed.revenue, 50, label);
      const events = await eventsOf(ws.secretKey, profile.id);
      assert.deepEqual(
        events.map((e) => e.name ?? e.type).sort(),
        ["Home", "Order Completed", "Product Viewed", "alias", "identify"],
        label,
      );
    }
  });

  it("takes gzipped, form-encoded batches from rudder-sdk-node and drops its retries as duplicates", async () => {
    const ws = await createTestWorkspace(db());
    const client = new Rudder(ws.writeKey, {
      dataPlaneUrl: herald.url,
      flushAt: 3,
    });
    client.track({
      anonymousId: "r-anon",
      event: "Product Added",
      properties: { product_id: "p9", cart_id: "cart-9" },
    });
    client.identify({
      anonymousId: "r-anon",
      userId: "r-user",
      traits: { email: "rudder@example.com" },
    });
    client.page({ anonymousId: "r-anon", name: "Cart" });
    await client.flush();
    await settle(herald);
    const profile = await profileOf(ws.secretKey, "userId=r-user");
    const events = await eventsOf(ws.secretKey, profile.id);
    assert.equal(events.length, 3);

    // The same events again, as a client retry: nothing new is stored.
    const messageIds = events.map((e) => e.messageId);
    const retry = await post(
      "/v1/batch",
      gzipSync(
        JSON.stringify({
          batch: messageIds.map((messageId) => ({
            type: "track",
            event: "X",
            anonymousId: "r-anon",
            messageId,
          })),
        }),
      ),
      {
        "content-type": "application/x-www-form-urlencoded",
        "content-encoding": "gzip",
        authorization: basic(ws.writeKey),
      },
    );
    assert.deepEqual(retry.body, { success: true, accepted: 3 });
    await settle(herald);
    const after = await eventsOf(ws.secretKey, profile.id);
    assert.deepEqual(
      after.map((e) => [e.messageId, e.name ?? e.type]).sort(),
      events.map((e) => [e.messageId, e.name ?? e.type]).sort(),
      "the retried message ids are dropped, the originals kept",
    );
  });

  it("stores the good events of a batch and reports the broken one, also to the admin API", async () => {
    const ws = await createTestWorkspace(db());
    const response = await post(
      "/v1/batch",
      {
        writeKey: ws.writeKey,
        context: { library: { name: "test" } },
        integrations: { All: false, Mixpanel: true },
        batch: [
          {
            type: "track",
            event: "Product Viewed",
            anonymousId: "b1",
            messageId: "ok-1",
            integrations: { Mixpanel: false, Amplitude: true },
          },
          { type: "track", anonymousId: "b1", messageId: "broken" },
          { type: "identify", userId: "anonymous", messageId: "placeholder" },
          { type: "page", anonymousId: "b1", name: "Shoes", messageId: "ok-2" },
        ],
      },
      { "content-type": "text/plain" },
    );
    assert.equal(response.status, 200);
    assert.equal(response.body.accepted, 2);
    assert.deepEqual(
      response.body.rejected.map((r: { index: number; path: string }) => [
        r.index,
        r.path,
      ]),
      [
        [1, "/batch/1/event"],
        [2, "/batch/2/userId"],
      ],
    );
    const errors = await api(herald, ws.secretKey, "GET", "/api/ingest-errors");
    assert.deepEqual(
      errors.body.items
        .map((e: { batchIndex: number; messageId: string }) => [
          e.batchIndex,
          e.messageId,
        ])
        .sort(),
      [
        [1, "broken"],
        [2, "placeholder"],
      ],
    );
    await settle(herald);
    const stored = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/events?limit=10",
    );
    assert.deepEqual(
      stored.body.items.map((e: { messageId: string }) => e.messageId).sort(),
      ["ok-1", "ok-2"],
    );
    assert.equal(
      stored.body.items[0].context.library.name,
      "test",
      "batch context merges into each event",
    );
    const byId = new Map(
      stored.body.items.map(
        (e: { messageId: string; integrations?: unknown }) => [
          e.messageId,
          e.integrations,
        ],
      ),
    );
    assert.deepEqual(
      byId.get("ok-1"),
      { All: false, Mixpanel: false, Amplitude: true },
      "batch integrations merge under the event's own",
    );
    assert.deepEqual(byId.get("ok-2"), { All: false, Mixpanel: true });
  });

  it("answers over-limit requests with the limit named, and unknown keys with 401", async () => {
    const ws = await createTestWorkspace(db());
    const auth = { authorization: basic(ws.writeKey) };
    const many = await post(
      "/v1/batch",
      {
        batch: Array.from({ length: 2501 }, () => ({
          type: "track",
          event: "X",
          anonymousId: "a",
        })),
      },
      auth,
    );
    assert.equal(many.status, 400);
    assert.match(many.body.error.message, /at most 2500 events/);
    const huge = await post(
      "/v1/track",
      {
        event: "X",
        anonymousId: "a",
        properties: { blob: "x".repeat(600 * 1024) },
      },
      auth,
    );
    assert.equal(huge.status, 413);
    assert.match(huge.body.error.message, /500 KB/);
    const big = await post(
      "/v1/track",
      {
        event: "X",
        anonymousId: "a",
        properties: { blob: "x".repeat(40 * 1024) },
      },
      auth,
    );
    assert.equal(big.status, 400);
    assert.match(big.body.error.message, /32 KB/);
    const bad = await post("/v1/track", "{not json", auth);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /not valid JSON/);
    const unknown = await post(
      "/v1/track",
      { event: "X", anonymousId: "a" },
      { authorization: basic("hw_nope") },
    );
    assert.equal(unknown.status, 401);
    const secret = await post("/v1/t", {
      event: "X",
      anonymousId: "a",
      writeKey: ws.secretKey,
    });
    assert.equal(secret.status, 401, "a secret key is not a write key");
  });

  it("refuses an event PostgreSQL cannot store on its own, so a 200 means all accepted events are stored", async () => {
    const ws = await createTestWorkspace(db());
    const batch = Array.from({ length: 100 }, (_, i) => ({
      type: "track",
      event: "Product Viewed",
      anonymousId: `range-anon-${i % 5}`,
      messageId: `range-${i}`,
      ...(i === 99 ? { timestamp: "-271821-04-20T00:00:00.000Z" } : {}),
    }));
    const response = await post(
      "/v1/batch",
      { batch },
      { authorization: basic(ws.writeKey) },
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.accepted, 99);
    assert.equal(response.body.rejected.length, 1);
    assert.equal(response.body.rejected[0].index, 99);
    assert.equal(response.body.rejected[0].path, "/batch/99/timestamp");
    assert.match(response.body.rejected[0].reason, /out of range.*0001-01-01/);
    await settle(herald);
    const stored = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/events?limit=500",
    );
    assert.equal(
      stored.body.items.length,
      99,
      "every accepted event is stored",
    );
  });

  it("answers 4xx, not a 503 to retry, for requests that can never succeed", async () => {
    const ws = await createTestWorkspace(db());
    const auth = { authorization: basic(ws.writeKey) };
    const event = JSON.stringify({ event: "X", anonymousId: "ctype-anon" });
    for (const contentType of ["", "foo"]) {
      const odd = await post("/v1/track", event, {
        ...auth,
        "content-type": contentType,
      });
      assert.equal(
        odd.status,
        415,
        `Content-Type ${JSON.stringify(contentType)}`,
      );
      assert.equal(odd.body.error.code, "unsupported_media_type");
      assert.match(odd.body.error.message, /application\/json/);
    }
    // sendBeacon's text/plain is JSON too.
    const beacon = await post("/v1/track", event, {
      ...auth,
      "content-type": "text/plain;charset=UTF-8",
    });
    assert.equal(beacon.status, 200);
    // Nested deeper than any encoder can take: refused alone, its neighbour stored.
    const deep = '{"a":'.repeat(20_000) + "1" + "}".repeat(20_000);
    const nested = await post(
      "/v1/batch",
      `{"batch": [{"type": "track", "event": "Deep", "anonymousId": "deep-anon", "properties": {"d": ${deep}}},
                  {"type": "track", "event": "Flat", "anonymousId": "deep-anon"}]}`,
      auth,
    );
    assert.equal(nested.status, 200, JSON.stringify(nested.body).slice(0, 300));
    assert.equal(nested.body.accepted, 1);
    assert.equal(nested.body.rejected[0].index, 0);
    assert.match(
      nested.body.rejected[0].path,
      /^\/batch\/0\/properties\/d\/a\//,
    );
    assert.match(nested.body.rejected[0].reason, /nested more than 32 levels/);
  });

  it("stores events with a non-numeric revenue or an invalid email, and reports each as a warning with its path", async () => {
    const ws = await createTestWorkspace(db());
    const response = await post(
      "/v1/batch",
      {
        batch: [
          {
            type: "track",
            event: "Order Completed",
            userId: "warn-user",
            messageId: "warn-order",
            properties: {
              order_id: "w-1",
              revenue: "lots",
              products: [{ product_id: "p1", price: "n/a", quantity: 1 }],
            },
          },
          {
            type: "identify",
            userId: "warn-user",
            messageId: "warn-identify",
            traits: { email: "not-an-email", first_name: "Wen" },
          },
        ],
      },
      { authorization: basic(ws.writeKey) },
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.accepted, 2);
    assert.deepEqual(
      response.body.warnings.map((w: { path: string }) => w.path),
      [
        "/batch/0/properties/revenue",
        "/batch/0/properties/products/0/price",
        "/batch/1/traits/email",
      ],
    );
    await settle(herald);
    const errors = await api(herald, ws.secretKey, "GET", "/api/ingest-errors");
    const reasons = errors.body.items.map((e: { reason: string }) => e.reason);
    assert.equal(reasons.length, 3);
    for (const reason of reasons)
      assert.match(reason, /^warning \(event stored\): \/batch\//);
    assert.ok(
      reasons.some((r: string) =>
        /traits\/email: .*not used to find the shopper/.test(r),
      ),
      reasons.join("\n"),
    );
    const profile = await profileOf(ws.secretKey, "userId=warn-user");
    assert.equal(profile.traits.email, "not-an-email", "kept as a trait");
    assert.ok(
      !profile.identities.some((i: { type: string }) => i.type === "email"),
      "not an identifier",
    );
    const events = await eventsOf(ws.secretKey, profile.id);
    assert.equal(events.length, 2, "both events stored");
  });

  it("answers browsers' CORS preflight", async () => {
    const response = await fetch(`${herald.url}/v1/t`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
      },
    });
    assert.equal(response.status, 204);
    assert.equal(
      response.headers.get("access-control-allow-origin"),
      "https://shop.example",
    );
    assert.match(
      response.headers.get("access-control-allow-headers") ?? "",
      /authorization/,
    );
  });

  it("refuses a request whose every event is refused with a 400 listing each, which clients do not retry", async () => {
    const ws = await createTestWorkspace(db());
    const response = await post(
      "/v1/batch",
      {
        batch: [
          { type: "track", anonymousId: "all-bad", messageId: "bad-1" },
          { type: "nope", anonymousId: "all-bad" },
        ],
      },
      { authorization: basic(ws.writeKey) },
    );
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, "invalid");
    assert.equal(
      response.body.error.message,
      "/batch/0/event " + response.body.rejected[0].reason,
    );
    assert.deepEqual(
      response.body.error.details.map((d: { path: string }) => d.path),
      ["/batch/0/event", "/batch/1/type"],
    );
    assert.equal(response.body.success, false);
    assert.equal(response.body.accepted, 0);
    assert.deepEqual(
      response.body.rejected.map((r: { index: number; messageId?: string }) => [
        r.index,
        r.messageId,
      ]),
      [
        [0, "bad-1"],
        [1, undefined],
      ],
    );
    const huge = await post(
      "/v1/track",
      {
        event: "X",
        anonymousId: "a",
        properties: { blob: "x".repeat(600 * 1024) },
      },
      { authorization: basic(ws.writeKey) },
    );
    assert.deepEqual([huge.status, huge.body.error.code], [413, "too_large"]);
  });

  it("answers 503 with a retry-after, which clients retry, when the events cannot be stored", async () => {
    const ws = await createTestWorkspace(db());
    const event = { event: "X", anonymousId: "down-anon", messageId: "down-1" };
    await db().query("alter table intake rename to intake_away");
    let response;
    try {
      response = await post("/v1/track", event, {
        authorization: basic(ws.writeKey),
      });
    } finally {
      await db().query("alter table intake_away rename to intake");
    }
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "2");
    assert.deepEqual(response.body.error, {
      code: "unavailable",
      message: "events could not be stored; retry",
    });
    const retried = await post("/v1/track", event, {
      authorization: basic(ws.writeKey),
    });
    assert.equal(retried.status, 200);
  });
});
