import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { identifierKey } from "@herald/core/identity/identifiers";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import { encodeIntakeItem } from "../events/intake.sql.ts";
import { silentLogger } from "../logger.ts";
import { startFakeHttp } from "../testing/fake-http.ts";
import { patchSettings } from "../testing/messaging.ts";
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
import { SegmentTimers } from "../workers/segment-timers.ts";

const day = 86_400_000;

describeOnDatabases("segments API", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T00:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  // Workers that see only the test's workspace: other test files share the database.
  const computerFor = (ws: NewWorkspace) =>
    new SegmentComputer({
      db: db(),
      clock,
      logger: silentLogger,
      batchSize: 2,
      workspaceId: ws.id,
    });
  const timersFor = (ws: NewWorkspace) =>
    new SegmentTimers({
      db: db(),
      clock,
      logger: silentLogger,
      workspaceId: ws.id,
    });

  /** Processes everything: events, computations, due timers, and the events they record. */
  const settle = (ws: NewWorkspace) =>
    settleWorkspace(herald, ws.id, [computerFor(ws), timersFor(ws)]);

  async function send(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await settle(ws);
  }

  async function profileId(ws: NewWorkspace, userId: string): Promise<string> {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles?userId=${userId}`,
    );
    const id = found.body.items[0]?.id as string | undefined;
    assert.ok(id, `a profile for ${userId}`);
    return id;
  }

  async function heraldEvents(ws: NewWorkspace, name: string) {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/events?name=${encodeURIComponent(name)}&limit=500`,
    );
    return found.body.items as {
      profileId: string;
      properties: Record<string, unknown>;
      timestamp: string;
      silent: boolean;
    }[];
  }

  it("computes a new segment in batches with visible progress, then lists its members page by page", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [
      ...["a", "b", "c", "d", "e"].map((userId, i) => ({
        type: "identify",
        userId,
        traits: {
          plan: i % 2 === 0 ? "pro" : "free",
          email: `${userId}@shop.test`,
        },
      })),
    ]);
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Pro plan",
      definition: { type: "trait", trait: "plan", op: "equals", value: "pro" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "computing");
    assert.deepEqual(created.body.progress, { processed: 0, total: 5 });
    const id = created.body.id as string;

    const computer = computerFor(ws);
    await computer.step();
    const halfway = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/segments/${id}`,
    );
    assert.equal(halfway.body.status, "computing");
    assert.deepEqual(halfway.body.progress, { processed: 2, total: 5 });

    await computer.runPending();
    const ready = await api(herald, ws.secretKey, "GET", `/api/segments/${id}`);
    assert.equal(ready.body.status, "ready");
    assert.deepEqual(ready.body.progress, { processed: 5, total: 5 });
    assert.equal(ready.body.memberCount, 3);

    const first = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/segments/${id}/members?limit=2`,
    );
    assert.equal(first.body.items.length, 2);
    assert.ok(first.body.next);
    const second = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/segments/${id}/members?limit=2&after=${first.body.next}`,
    );
    assert.equal(second.body.items.length, 1);
    assert.equal(second.body.next, null);
    const emails = [...first.body.items, ...second.body.items]
      .map((m: { email: string }) => m.email)
      .sort();
    assert.deepEqual(emails, ["a@shop.test", "c@shop.test", "e@shop.test"]);
    assert.equal(
      (await heraldEvents(ws, "Segment Entered")).length,
      0,
      "a new segment's starting members are not entries",
    );
  });

  it("previews a draft's count without saving it", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [
      { type: "identify", userId: "a", traits: { age: 17 } },
      { type: "identify", userId: "b", traits: { age: "30" } },
      { type: "identify", userId: "c", traits: {} },
    ]);
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/segments/preview",
      {
        definition: { type: "trait", trait: "age", op: "gte", value: 18 },
      },
    );
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.deepEqual(preview.body, { count: 1, total: 3 });
    assert.deepEqual(
      (await api(herald, ws.secretKey, "GET", "/api/segments")).body.items,
      [],
    );
  });

  it("segments on average order value leave out orders of unknown amount, live and in a computed count", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const definition = {
      type: "attribute",
      attribute: "averageOrderValue",
      op: "gte",
      value: 30,
    };
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Big baskets",
      definition,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    await settle(ws);
    const order = (userId: string, orderId: string, revenue: unknown) => ({
      type: "track",
      event: "Order Completed",
      userId,
      properties: { order_id: orderId, revenue },
    });
    await send(ws, [
      order("unpriced", "u-1", 40),
      order("unpriced", "u-2", "abc"),
      order("small", "s-1", 40),
      order("small", "s-2", 10),
    ]);
    const unpriced = await profileId(ws, "unpriced");
    assert.deepEqual(
      (await segmentMembers(herald, ws.secretKey, id)).map((m) => m.profileId),
      [unpriced],
      "AOV 40 (not 20) for the shopper whose second order has no amount",
    );
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/segments/preview",
      { definition },
    );
    assert.deepEqual(preview.body, { count: 1, total: 2 });
  });

  it("refuses a bad definition, naming where and what is wrong", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const bad = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Broken",
      definition: {
        type: "and",
        conditions: [
          {
            type: "attribute",
            attribute: "orderCount",
            op: "contains",
            value: "2",
          },
          { type: "segment", segmentId: "seg_missing" },
        ],
      },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid");
    assert.deepEqual(
      bad.body.error.details.map((d: { path: string }) => d.path),
      ["/body/definition/conditions/0/op"],
    );
    assert.match(bad.body.error.message, /contains does not apply here/);

    const unknown = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Refers to nothing",
      definition: { type: "segment", segmentId: "seg_missing" },
    });
    assert.equal(unknown.status, 400);
    assert.equal(
      unknown.body.error.details[0].path,
      "/body/definition/segmentId",
    );
  });

  it("refuses segments that refer to each other in a circle, and deleting one still in use", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const a = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "A",
      definition: { type: "tag", tag: "x" },
    });
    const b = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "B",
      definition: { type: "segment", segmentId: a.body.id },
    });
    assert.equal(b.status, 201);
    const loop = await api(
      herald,
      ws.secretKey,
      "PATCH",
      `/api/segments/${a.body.id}`,
      {
        definition: { type: "segment", segmentId: b.body.id },
      },
    );
    assert.equal(loop.status, 409);
    assert.match(loop.body.error.message, /circle/);
    const inUse = await api(
      herald,
      ws.secretKey,
      "DELETE",
      `/api/segments/${a.body.id}`,
    );
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.error.message, /used by "B"/);
    const taken = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "a",
      definition: { type: "tag", tag: "y" },
    });
    assert.equal(taken.status, 409);
    assert.equal(
      (await api(herald, ws.secretKey, "DELETE", `/api/segments/${b.body.id}`))
        .status,
      200,
    );
    assert.equal(
      (await api(herald, ws.secretKey, "DELETE", `/api/segments/${a.body.id}`))
        .status,
      200,
    );
  });

  it("enters and leaves as events arrive, records both with time, and emits each change once", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [
      { type: "identify", userId: "kim", traits: { email: "kim@shop.test" } },
    ]);
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Browsed shoes, no cart",
      definition: {
        type: "and",
        conditions: [
          {
            type: "event",
            event: "Product Viewed",
            where: [{ property: "category", op: "equals", value: "shoes" }],
            count: { op: "at_least", value: 2 },
            withinDays: 7,
          },
          {
            type: "not",
            condition: { type: "event", event: "Product Added", withinDays: 7 },
          },
        ],
      },
    });
    const id = created.body.id as string;
    await settle(ws);
    const kim = await profileId(ws, "kim");
    const view = {
      type: "track",
      userId: "kim",
      event: "Product Viewed",
      properties: { category: "shoes" },
    };
    await send(ws, [view]);
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/segments/${id}`)).body
        .memberCount,
      0,
    );
    clock.advance(3_600_000);
    await send(ws, [{ ...view, properties: { category: "hats" } }]);
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/segments/${id}`)).body
        .memberCount,
      0,
      "hats do not count",
    );
    await send(ws, [view]);
    const enteredAt = clock.now().toISOString();
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/segments/${id}`)).body
        .memberCount,
      1,
    );

    clock.advance(3_600_000);
    await send(ws, [
      {
        type: "track",
        userId: "kim",
        event: "Product Added",
        properties: { category: "shoes" },
      },
    ]);
    const exitedAt = clock.now().toISOString();
    assert.equal(
      (await api(herald, ws.secretKey, "GET", `/api/segments/${id}`)).body
        .memberCount,
      0,
    );

    const mine = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${kim}/segments`,
    );
    assert.deepEqual(mine.body.items, []);
    assert.deepEqual(
      mine.body.history.map(
        (h: { change: string; cause: string; at: string }) => [
          h.change,
          h.cause,
          h.at,
        ],
      ),
      [
        ["exited", "event", exitedAt],
        ["entered", "event", enteredAt],
      ],
    );
    const entered = await heraldEvents(ws, "Segment Entered");
    const exited = await heraldEvents(ws, "Segment Exited");
    assert.equal(entered.length, 1);
    assert.equal(exited.length, 1);
    assert.deepEqual(entered[0]?.properties, {
      segment_id: id,
      segment_name: "Browsed shoes, no cart",
    });
    assert.equal(entered[0]?.profileId, kim);
    assert.equal(entered[0]?.timestamp, enteredAt);
    assert.equal(entered[0]?.silent, false);
  });

  it("records changes caused by imported (silent) events as silent, so flows do not fire on history", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Customers",
      definition: {
        type: "attribute",
        attribute: "orderCount",
        op: "gte",
        value: 1,
      },
    });
    await settle(ws);
    const identifiers = [{ type: "user_id" as const, value: "old-customer" }];
    await herald.ingest.write(ws.id, [
      encodeIntakeItem({
        identifiers,
        event: {
          messageId: `import-${identifierKey(identifiers[0] ?? { type: "user_id", value: "" })}`,
          type: "track",
          name: "Order Completed",
          userId: "old-customer",
          anonymousId: null,
          properties: { order_id: "old-1", revenue: 20 },
          traits: null,
          context: {},
          timestamp: new Date(clock.now().getTime() - 400 * day),
          receivedAt: clock.now(),
          source: "import",
          silent: true,
        },
      }),
    ]);
    await settle(ws);
    const entered = await heraldEvents(ws, "Segment Entered");
    assert.equal(entered.length, 1);
    assert.equal(entered[0]?.silent, true);
  });

  it("lets 'no order in the last 90 days' members enter at the exact moment, with no new events", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const orderedAt = clock.now().getTime() - 10 * day;
    await send(ws, [
      {
        type: "track",
        userId: "lapsing",
        event: "Order Completed",
        timestamp: new Date(orderedAt).toISOString(),
        properties: { order_id: "o-lapsing", revenue: 40 },
      },
      {
        type: "track",
        userId: "loyal",
        event: "Order Completed",
        timestamp: new Date(orderedAt).toISOString(),
        properties: { order_id: "o-loyal", revenue: 40 },
      },
    ]);
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Lapsed customers",
      definition: {
        type: "and",
        conditions: [
          { type: "attribute", attribute: "orderCount", op: "gte", value: 1 },
          {
            type: "event",
            event: "Order Completed",
            count: { op: "exactly", value: 0 },
            withinDays: 90,
          },
        ],
      },
    });
    const id = created.body.id as string;
    await settle(ws);
    const lapsing = await profileId(ws, "lapsing");
    const edge = orderedAt + 90 * day;

    // The loyal customer orders again 30 days later, moving their own edge.
    clock.set(new Date(orderedAt + 30 * day));
    await send(ws, [
      {
        type: "track",
        userId: "loyal",
        event: "Order Completed",
        properties: { order_id: "o-loyal-2", revenue: 40 },
      },
    ]);

    // From here on the workers run on their own, woken by the clock alone.
    const workers = [timersFor(ws)];
    for (const worker of workers) worker.start();
    try {
      clock.set(new Date(edge - 1));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(
        (await api(herald, ws.secretKey, "GET", `/api/segments/${id}`)).body
          .memberCount,
        0,
      );

      clock.set(new Date(edge));
      let members: { profileId: string; enteredAt: string }[] = [];
      for (let wait = 0; wait < 100 && members.length === 0; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        members = await segmentMembers(herald, ws.secretKey, id);
      }
      assert.deepEqual(
        members.map((m) => [m.profileId, m.enteredAt]),
        [[lapsing, new Date(edge).toISOString()]],
        "the lapsing customer enters exactly 90 days after their order; the loyal one does not",
      );
      await settleWorkspace(herald, ws.id);
      const entered = await heraldEvents(ws, "Segment Entered");
      assert.deepEqual(
        entered.map((e) => [e.profileId, e.timestamp, e.silent]),
        [[lapsing, new Date(edge).toISOString(), false]],
      );
    } finally {
      for (const worker of workers) await worker.stop();
    }
  });

  it("follows segments of segments, tags and lists in the same transaction as the change", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [
      { type: "identify", userId: "vip", traits: { plan: "pro" } },
    ]);
    const pro = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Pro",
      definition: { type: "trait", trait: "plan", op: "equals", value: "pro" },
    });
    const list = await api(herald, ws.secretKey, "POST", "/api/lists", {
      name: "VIP news",
    });
    const vip = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Pro VIPs on the list",
      definition: {
        type: "and",
        conditions: [
          { type: "segment", segmentId: pro.body.id },
          { type: "tag", tag: "vip" },
          { type: "list", listId: list.body.id },
        ],
      },
    });
    await settle(ws);
    const id = await profileId(ws, "vip");
    const count = async () =>
      (await api(herald, ws.secretKey, "GET", `/api/segments/${vip.body.id}`))
        .body.memberCount as number;
    assert.equal(
      (
        await api(herald, ws.secretKey, "POST", `/api/profiles/${id}/tags`, {
          tag: "vip",
        })
      ).status,
      200,
    );
    assert.equal(await count(), 0);
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "PUT",
          `/api/lists/${list.body.id}/members/${id}`,
          { status: "subscribed" },
        )
      ).status,
      200,
    );
    assert.equal(
      await count(),
      1,
      "tag, list and the Pro segment: in, with no event processed in between",
    );
    await send(ws, [
      { type: "identify", userId: "vip", traits: { plan: "free" } },
    ]);
    assert.equal(
      await count(),
      0,
      "leaving Pro takes them out of the segment built on it",
    );
  });

  it("counts a shopper reachable only where a message gets through: suppressions, push subscriptions, Telegram links", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await send(ws, [
      {
        type: "identify",
        userId: "a",
        traits: { email: "a@shop.test", phone: "+4915100000001" },
      },
      {
        type: "identify",
        userId: "b",
        traits: { email: "b@shop.test", phone: "+4915100000002" },
      },
    ]);
    const segments: Record<string, string> = {};
    for (const channel of ["email", "sms", "push", "telegram"]) {
      const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
        name: `Reachable by ${channel}`,
        definition: { type: "reachable", channel },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      segments[channel] = created.body.id as string;
    }
    await settle(ws);
    const a = await profileId(ws, "a");
    const b = await profileId(ws, "b");
    /** Members kept live, and the same condition counted in bulk by the compiled SQL. */
    const reachable = async (channel: string) => {
      const members = (
        await segmentMembers(herald, ws.secretKey, segments[channel] ?? "")
      )
        .map((m) => m.profileId)
        .sort();
      const preview = await api(
        herald,
        ws.secretKey,
        "POST",
        "/api/segments/preview",
        { definition: { type: "reachable", channel } },
      );
      assert.equal(
        preview.body.count,
        members.length,
        `${channel}: bulk count`,
      );
      return members;
    };
    assert.deepEqual(await reachable("email"), [a, b].sort());
    assert.deepEqual(await reachable("sms"), [a, b].sort());
    assert.deepEqual(await reachable("push"), []);
    assert.deepEqual(await reachable("telegram"), []);

    // A suppressed address is not reachable; lifting the suppression brings it back.
    const suppress = (channel: string, address: string) =>
      api(herald, ws.secretKey, "POST", "/api/suppressions", {
        channel,
        address,
      });
    assert.equal((await suppress("email", "a@shop.test")).status, 204);
    assert.equal((await suppress("sms", "+4915100000002")).status, 204);
    assert.deepEqual(await reachable("email"), [b]);
    assert.deepEqual(await reachable("sms"), [a]);
    const lifted = await api(
      herald,
      ws.secretKey,
      "DELETE",
      "/api/suppressions/email/a%40shop.test",
    );
    assert.equal(lifted.status, 204);
    assert.deepEqual(await reachable("email"), [a, b].sort());

    // A browser's push subscription makes its shopper reachable by push, until it goes.
    const endpoint = "https://push.example.test/send/b-browser";
    const subscribed = await fetch(`${herald.url}/v1/push/subscriptions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: ws.writeKey,
        userId: "b",
        subscription: {
          endpoint,
          keys: {
            p256dh:
              "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
            auth: "tBHItJI5svbpez7KI4CCXg",
          },
        },
      }),
    });
    assert.equal(subscribed.status, 201, await subscribed.text());
    await settle(ws);
    assert.deepEqual(await reachable("push"), [b]);
    const unsubscribed = await fetch(`${herald.url}/v1/push/subscriptions`, {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, endpoint }),
    });
    assert.equal(unsubscribed.status, 204);
    await settle(ws);
    assert.deepEqual(await reachable("push"), []);

    // A chat linked through the bot's /start link makes its shopper reachable by Telegram.
    const bot = await startFakeHttp(() => ({
      status: 200,
      body: { ok: true, result: true },
    }));
    try {
      await patchSettings(herald, ws.secretKey, {
        telegram: {
          botToken: "123:abc",
          botUsername: "shop_bot",
          baseUrl: bot.url,
        },
      });
      const link = await api(
        herald,
        ws.secretKey,
        "GET",
        `/api/profiles/${a}/telegram-link`,
      );
      assert.equal(link.status, 200, JSON.stringify(link.body));
      await api(herald, ws.secretKey, "POST", "/api/messages/telegram/webhook");
      const setWebhook = JSON.parse(
        bot.requests.find((r) => r.path.endsWith("/setWebhook"))?.body ?? "{}",
      ) as { url: string; secret_token: string };
      const update = async (text: string) => {
        const response = await fetch(
          herald.url + new URL(setWebhook.url).pathname,
          {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "x-telegram-bot-api-secret-token": setWebhook.secret_token,
            },
            body: JSON.stringify({
              update_id: 1,
              message: {
                message_id: 1,
                chat: { id: 5550001, type: "private" },
                from: { id: 5550001 },
                text,
              },
            }),
          },
        );
        assert.equal(response.status, 200, await response.text());
        await settle(ws);
      };
      await update(`/start ${link.body.token}`);
      assert.deepEqual(await reachable("telegram"), [a]);
      await update("/stop");
      assert.deepEqual(await reachable("telegram"), []);
    } finally {
      await bot.close();
    }
  });

  it("when profiles merge, records the absorbed profile's exits and the survivor's entries, and starts the survivor's flows", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const segment = async (name: string, definition: unknown) => {
      const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
        name,
        definition,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const browsers = await segment("Viewed shoes", {
      type: "event",
      event: "Product Viewed",
      where: [{ property: "category", op: "equals", value: "shoes" }],
    });
    const anonymous = await segment("No email yet", {
      type: "attribute",
      attribute: "email",
      op: "not_exists",
    });
    const pro = await segment("Pro plan", {
      type: "trait",
      trait: "plan",
      op: "equals",
      value: "pro",
    });
    const flow = await api(herald, ws.secretKey, "POST", "/api/flows", {
      name: "Shoe browsers",
      trigger: { type: "segment_entered", segmentId: browsers },
      start: "done",
      nodes: { done: { type: "exit" } },
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
    const published = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/flows/${flow.body.id}/publish`,
    );
    assert.equal(published.status, 200, JSON.stringify(published.body));
    await settle(ws);

    // Two profiles in different segments: a visitor who browsed shoes, a pro customer.
    await send(ws, [
      {
        type: "track",
        anonymousId: "browser-1",
        event: "Product Viewed",
        properties: { category: "shoes" },
      },
      {
        type: "identify",
        userId: "kim",
        traits: { plan: "pro", email: "kim@shop.test" },
      },
    ]);
    const [visitor] = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?anonymousId=browser-1",
      )
    ).body.items as { id: string }[];
    assert.ok(visitor);
    const kim = await profileId(ws, "kim");
    assert.notEqual(visitor.id, kim);
    const runsFor = async (profile: string) =>
      (
        await db().query<{ n: number }>(
          "select count(*)::int as n from flow_runs where workspace_id = $1 and flow_id = $2 and profile_id = $3",
          [ws.id, flow.body.id, profile],
        )
      )[0]?.n;
    assert.equal(await runsFor(visitor.id), 1);

    clock.advance(60_000);
    // The visitor logs in: the two profiles are one shopper.
    await send(ws, [
      { type: "identify", userId: "kim", anonymousId: "browser-1" },
    ]);
    // The known customer survives; the visitor's profile is absorbed into it.
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          "/api/profiles?anonymousId=browser-1",
        )
      ).body.items[0]?.id,
      kim,
    );
    const who = (id: string) =>
      id === kim ? "kim" : id === visitor.id ? "visitor" : id;
    const historyOf = async (segmentId: string) =>
      (
        (
          await api(
            herald,
            ws.secretKey,
            "GET",
            `/api/segments/${segmentId}/history`,
          )
        ).body.items as { profileId: string; change: string; cause: string }[]
      )
        .map((h) => `${who(h.profileId)} ${h.change} ${h.cause}`)
        .sort();
    const events = async (name: string) =>
      (await heraldEvents(ws, name))
        .map(
          (e) =>
            `${String(e.properties.segment_name)}${e.silent ? " (silent)" : ""}`,
        )
        .sort();

    // The shopper is in both segments now, as the survivor.
    for (const id of [browsers, pro])
      assert.deepEqual(
        (await segmentMembers(herald, ws.secretKey, id)).map(
          (m) => m.profileId,
        ),
        [kim],
      );
    assert.deepEqual(await segmentMembers(herald, ws.secretKey, anonymous), []);
    assert.deepEqual(await historyOf(browsers), [
      "kim entered event",
      "visitor entered event",
      "visitor exited merge",
    ]);
    assert.deepEqual(await historyOf(anonymous), [
      "visitor entered event",
      "visitor exited merge",
    ]);
    // Each ended membership is an exit: a real one where the shopper left the segment (the
    // visitor has an email now), a silent one where it goes on in the survivor, so that no
    // "left the segment" flow fires for a shopper still in it.
    assert.deepEqual(await events("Segment Exited"), [
      "No email yet",
      "Viewed shoes (silent)",
    ]);
    assert.deepEqual(await events("Segment Entered"), [
      "No email yet",
      "Pro plan",
      "Viewed shoes",
      "Viewed shoes",
    ]);
    assert.equal(
      await runsFor(kim),
      1,
      "the flow on entering Viewed shoes starts for the survivor",
    );
  });
});
