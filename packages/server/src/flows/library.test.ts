import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock, ms } from "@herald/core/clock";
import {
  edges,
  type Condition,
  type FlowDefinition,
} from "@herald/core/flows/definition";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { libraryFlows } from "./library.ts";

/**
 * One scenario per library flow, through the real API: install it live, send the events a
 * store would, move the clock, and check who got which message when, and who left.
 */

/** The nodes reachable from `start`, `start` included. */
function reachable(definition: FlowDefinition, start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    const node = definition.nodes[id];
    if (seen.has(id) || !node) continue;
    seen.add(id);
    todo.push(...edges(node).map((e) => e.next));
  }
  return seen;
}

/** True when a condition holds only for someone who did `event` (a `didEvent` not negated). */
function requiresEvent(condition: Condition, event: string): boolean {
  if ("didEvent" in condition) return condition.didEvent === event;
  if ("all" in condition)
    return condition.all.some((c) => requiresEvent(c, event));
  if ("any" in condition)
    return (
      condition.any.length > 0 &&
      condition.any.every((c) => requiresEvent(c, event))
    );
  return false;
}

/**
 * What is wrong with a library flow's messaging: a branch that messages people who did the
 * goal or an exit event (they are done: the flow that owns that moment, such as the order
 * confirmation, speaks to them), a flow triggered by its own goal, and transactional
 * sends mixed into a marketing flow (they would bypass consent and the cap).
 */
function messagingMistakes(definition: FlowDefinition): string[] {
  const settings = definition.settings ?? {};
  const done = [
    ...(settings.goal ? [settings.goal.event] : []),
    ...(settings.exitWhen ?? []).map((e) => e.event),
  ];
  const mistakes: string[] = [];
  const sendsFrom = (start: string) =>
    [...reachable(definition, start)].filter(
      (id) => definition.nodes[id]?.type === "send",
    );
  if (
    definition.trigger.type === "event" &&
    settings.goal?.event === definition.trigger.event
  )
    mistakes.push(`triggered by its own goal ${settings.goal.event}`);
  for (const [id, node] of Object.entries(definition.nodes)) {
    if (node.type === "wait_for_event" && done.includes(node.event)) {
      const sends = sendsFrom(node.next);
      if (sends.length > 0)
        mistakes.push(
          `${id}: after ${node.event} it sends ${sends.join(", ")}`,
        );
    }
    if (node.type === "split")
      for (const branch of node.branches)
        for (const event of done)
          if (requiresEvent(branch.when, event)) {
            const sends = sendsFrom(branch.next);
            if (sends.length > 0)
              mistakes.push(
                `${id}: people who did ${event} get ${sends.join(", ")}`,
              );
          }
  }
  const sends = Object.entries(definition.nodes).flatMap(([id, node]) =>
    node.type === "send" && node.channel !== "webhook" ? [{ id, node }] : [],
  );
  const transactional = sends.filter((s) => s.node.transactional);
  if (transactional.length > 0 && transactional.length < sends.length)
    mistakes.push(
      `transactional ${transactional.map((s) => s.id).join(", ")} in a marketing flow`,
    );
  if (transactional.length > 0 && settings.goal)
    mistakes.push(
      "a transactional flow with a goal counts receipts as conversions",
    );
  return mistakes;
}

describe("the flow library's messaging", () => {
  it("messages no one who reached the goal, and sends transactional mail only from transactional flows", () => {
    const found = libraryFlows.flatMap((flow) =>
      messagingMistakes(
        flow.define({
          template: (key) => `tpl_${key}`,
          segment: (key) => `seg_${key}`,
          now: new Date("2026-06-01T09:00:00Z"),
        }),
      ).map((mistake) => `${flow.name}: ${mistake}`),
    );
    assert.deepEqual(found, []);
  });

  it("finds the mistake in a flow that thanks buyers from a reminder flow", () => {
    const definition: FlowDefinition = {
      name: "Thanks from a reminder",
      trigger: {
        type: "event",
        event: "Product Added",
        correlation: "cart_id",
      },
      start: "wait",
      nodes: {
        wait: {
          type: "wait_for_event",
          event: "Order Completed",
          timeout: { hours: 1 },
          next: "thanks",
          timeoutNext: "remind",
        },
        remind: {
          type: "send",
          channel: "email",
          templateId: "r",
          next: "done",
        },
        thanks: {
          type: "send",
          channel: "email",
          templateId: "t",
          transactional: true,
          next: "done",
        },
        done: { type: "exit" },
      },
      settings: { goal: { event: "Order Completed" } },
    };
    assert.deepEqual(messagingMistakes(definition), [
      "wait: after Order Completed it sends thanks",
      "transactional thanks in a marketing flow",
      "a transactional flow with a goal counts receipts as conversions",
    ]);
  });
});

type Installed = { flowId: string; templates: Record<string, string> };
const day = ms.day;

describeOnDatabases("the flow library", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T09:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  async function install(ws: NewWorkspace, name: string): Promise<Installed> {
    // Library messages name the store and link to it: installing needs both.
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      storeName: "Test Shop",
      storeUrl: "https://shop.test",
    });
    const installed = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/flows/library/${name}`,
      { publish: true },
    );
    assert.equal(installed.status, 201, JSON.stringify(installed.body));
    return {
      flowId: installed.body.flow.id,
      templates: installed.body.templates,
    };
  }

  async function send(ws: NewWorkspace, ...batch: Record<string, unknown>[]) {
    clock.advance(ms.second); // each call its own instant, so messages sort by time
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: ws.writeKey,
        batch: batch.map((e) => ({
          type: "track",
          timestamp: clock.now().toISOString(),
          ...e,
        })),
      }),
    });
    assert.equal(response.status, 200, await response.text());
    await settle(herald);
    await herald.sender.drain(); // a conversion needs a message sent before the goal
  }

  const shopper = (
    ws: NewWorkspace,
    id: string,
    traits: Record<string, unknown> = {},
  ) =>
    send(ws, {
      type: "identify",
      userId: id,
      traits: {
        email: `${id}@shop.test`,
        email_consent: true, // marketing goes out, so conversions can be earned
        first_name: id,
        ...traits,
      },
    });

  async function later(ms: number) {
    clock.advance(ms);
    await settle(herald);
    await herald.sender.drain();
  }

  /** The library template keys of the messages a shopper got, oldest first. */
  async function got(
    ws: NewWorkspace,
    flow: Installed,
    id: string,
  ): Promise<string[]> {
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles?userId=${id}`,
    );
    const profile = found.body.items[0];
    if (!profile) return [];
    const page = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/messages?profileId=${profile.id}&limit=100`,
    );
    const byId = new Map(
      Object.entries(flow.templates).map(([key, templateId]) => [
        templateId,
        key,
      ]),
    );
    return (
      page.body.items as {
        templateId: string | null;
        channel: string;
        createdAt: string;
      }[]
    )
      .map((m) => ({
        at: m.createdAt,
        key: m.templateId
          ? (byId.get(m.templateId) ?? m.templateId)
          : `${m.channel}:inline`,
      }))
      .sort((a, b) => a.at.localeCompare(b.at) || a.key.localeCompare(b.key))
      .map((m) => m.key);
  }

  /** The flow's totals from its stats: entered, converted, revenue, … */
  async function totals(ws: NewWorkspace, flow: Installed) {
    const stats = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flow.flowId}/stats`,
    );
    assert.equal(stats.status, 200, JSON.stringify(stats.body));
    return stats.body.totals as {
      entered: number;
      converted: number;
      exitedBeforeFirstMessage: number;
      revenue: number;
    };
  }

  it("installs and publishes every flow of the library", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const listed = await api(herald, ws.secretKey, "GET", "/api/flows/library");
    assert.equal(listed.status, 200);
    const names = (listed.body.items as { name: string }[]).map((f) => f.name);
    assert.equal(names.length, libraryFlows.length);
    for (const name of names) await install(ws, name);
  });

  it("welcome: the series over 20 days, ended by a first order", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "welcome");
    await shopper(ws, "wendy");
    await shopper(ws, "oscar");
    await send(
      ws,
      { event: "Signed Up", userId: "wendy" },
      { event: "Signed Up", userId: "oscar" },
    );
    assert.deepEqual(await got(ws, flow, "wendy"), ["welcome_1"]);
    await later(3 * day);
    await send(ws, {
      event: "Order Completed",
      userId: "oscar",
      properties: { order_id: "w-1", revenue: 40 },
    });
    for (const wait of [0, 4, 3, 10]) await later(wait * day);
    assert.deepEqual(await got(ws, flow, "wendy"), [
      "welcome_1",
      "welcome_2",
      "welcome_3",
      "welcome_4",
      "welcome_5",
    ]);
    assert.deepEqual(
      await got(ws, flow, "oscar"),
      ["welcome_1", "welcome_2"],
      "the first order ended Oscar's series",
    );
    await send(ws, { event: "Signed Up", userId: "wendy" });
    assert.equal((await got(ws, flow, "wendy")).length, 5, "once per shopper");
  });

  it("first-purchase: thanks for the first order only", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "first-purchase");
    await shopper(ws, "fay");
    await send(ws, {
      event: "Order Completed",
      userId: "fay",
      properties: { order_id: "f-1", revenue: 20 },
    });
    await send(ws, {
      event: "Order Completed",
      userId: "fay",
      properties: { order_id: "f-2", revenue: 20 },
    });
    assert.deepEqual(await got(ws, flow, "fay"), ["first_purchase"]);
  });

  it("browse-abandonment: a reminder an hour after a second view or a long look, none after a glance or adding to cart", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "browse-abandonment");
    for (const who of ["bea", "carl", "dan", "eve"]) await shopper(ws, who);
    const view = (userId: string, extra: Record<string, unknown> = {}) => ({
      event: "Product Viewed",
      userId,
      properties: { product_id: "p1", ...extra },
    });
    await send(
      ws,
      view("bea"),
      view("carl"),
      view("dan"),
      view("eve", { view_seconds: 90 }),
    );
    await later(5 * ms.minute);
    await send(ws, view("bea"), view("carl"));
    await later(15 * ms.minute);
    await send(ws, {
      event: "Product Added",
      userId: "carl",
      properties: { product_id: "p1", cart_id: "c" },
    });
    await later(50 * ms.minute);
    assert.deepEqual(await got(ws, flow, "bea"), ["browse_1"], "viewed twice");
    assert.deepEqual(
      await got(ws, flow, "eve"),
      ["browse_1"],
      "looked for 90 s",
    );
    assert.deepEqual(await got(ws, flow, "carl"), [], "added to the cart");
    assert.deepEqual(await got(ws, flow, "dan"), [], "a single glance");
  });

  it("abandoned-cart: 1 h email, 24 h SMS with a phone, 48 h incentive; an order ends the reminders with nothing more sent", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "abandoned-cart");
    await shopper(ws, "ana", { phone: "+14155552671" });
    await shopper(ws, "ben");
    await send(
      ws,
      {
        event: "Product Added",
        userId: "ana",
        properties: { cart_id: "ca", product_id: "p1", price: 50 },
      },
      {
        event: "Product Added",
        userId: "ben",
        properties: { cart_id: "cb", product_id: "p1", price: 50 },
      },
    );
    await later(ms.hour);
    assert.deepEqual(await got(ws, flow, "ana"), ["cart_1"]);
    await later(10 * ms.hour);
    await send(ws, {
      event: "Order Completed",
      userId: "ben",
      properties: { order_id: "b-1", cart_id: "cb", revenue: 50 },
    });
    await later(13 * ms.hour);
    assert.deepEqual(await got(ws, flow, "ana"), ["cart_1", "cart_sms"]);
    await later(24 * ms.hour);
    assert.deepEqual(await got(ws, flow, "ana"), [
      "cart_1",
      "cart_sms",
      "cart_3",
    ]);
    assert.deepEqual(await got(ws, flow, "ben"), ["cart_1"]);
    const { converted, exitedBeforeFirstMessage, revenue } = await totals(
      ws,
      flow,
    );
    assert.deepEqual(
      [converted, exitedBeforeFirstMessage, revenue],
      [1, 0, 50],
      "Ben ordered after his reminder went out: a conversion, with his order's revenue",
    );
    const runs = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flow.flowId}/runs?status=exited`,
    );
    const [ben] = runs.body.items;
    assert.equal(ben.goal.timing, "after_first_message");
    assert.ok(ben.goal.firstMessageAt < ben.goal.at);
  });

  it("abandoned-cart: a buyer who orders before the first reminder gets nothing from it", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "abandoned-cart");
    await shopper(ws, "cal");
    await send(ws, {
      event: "Product Added",
      userId: "cal",
      properties: { cart_id: "cc", product_id: "p1", price: 30 },
    });
    await later(30 * ms.minute);
    await send(ws, {
      event: "Order Completed",
      userId: "cal",
      properties: { order_id: "c-1", cart_id: "cc", revenue: 30 },
    });
    for (const wait of [1, 24, 48]) await later(wait * ms.hour);
    assert.deepEqual(await got(ws, flow, "cal"), []);
    const stats = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flow.flowId}/stats`,
    );
    const { converted, exitedBeforeFirstMessage, revenue } = stats.body.totals;
    assert.deepEqual(
      [converted, exitedBeforeFirstMessage, revenue],
      [0, 1, 0],
      "an order before any message is not the flow's conversion",
    );
    assert.equal(stats.body.nodes.wait_1h.exitedBeforeFirstMessage, 1);
    const runs = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flow.flowId}/runs`,
    );
    assert.deepEqual(runs.body.items[0].goal, {
      at: runs.body.items[0].goal.at,
      firstMessageAt: null,
      timing: "before_first_message",
    });
  });

  it("abandoned-checkout: the same shape for a started checkout, ended by its order", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "abandoned-checkout");
    await shopper(ws, "cleo");
    await send(ws, {
      event: "Checkout Started",
      userId: "cleo",
      properties: {
        checkout_id: "k1",
        value: 80,
        products: [{ product_id: "p1", price: 80 }],
      },
    });
    await later(ms.hour);
    await later(23 * ms.hour);
    await send(ws, {
      event: "Order Completed",
      userId: "cleo",
      properties: { order_id: "k-o", checkout_id: "k1", revenue: 80 },
    });
    await later(24 * ms.hour);
    assert.deepEqual(await got(ws, flow, "cleo"), ["checkout_1", "checkout_2"]);
  });

  it("upsell: offers the step up when there is one, and nothing when there is not", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      products: [
        {
          product_id: "phone-64",
          name: "Phone 64 GB",
          category: "phones",
          price: 499,
          stock: 10,
        },
        {
          product_id: "phone-256",
          name: "Phone 256 GB",
          category: "phones",
          price: 599,
          stock: 10,
        },
        {
          product_id: "case",
          name: "Case",
          category: "cases",
          price: 20,
          stock: 10,
        },
      ],
    });
    const flow = await install(ws, "upsell");
    await shopper(ws, "uma");
    await shopper(ws, "vic");
    await send(
      ws,
      {
        event: "Product Added",
        userId: "uma",
        properties: { product_id: "phone-64", cart_id: "u" },
      },
      {
        event: "Product Added",
        userId: "vic",
        properties: { product_id: "case", cart_id: "v" },
      },
    );
    await later(2 * ms.hour);
    assert.deepEqual(await got(ws, flow, "uma"), ["upsell"]);
    assert.deepEqual(await got(ws, flow, "vic"), [], "no dearer case to offer");
  });

  it("cross-sell: complementary products a day after the order, a second series two weeks on", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      products: [
        {
          product_id: "tent",
          name: "Tent",
          category: "tents",
          price: 200,
          stock: 5,
        },
        {
          product_id: "mat",
          name: "Sleeping mat",
          category: "mats",
          price: 40,
          stock: 5,
        },
      ],
    });
    for (let i = 0; i < 3; i++) {
      await send(ws, {
        event: "Order Completed",
        userId: `past-${i}`,
        properties: {
          order_id: `past-${i}`,
          revenue: 240,
          products: [
            { product_id: "tent", category: "tents", price: 200 },
            { product_id: "mat", category: "mats", price: 40 },
          ],
        },
      });
    }
    const flow = await install(ws, "cross-sell");
    await shopper(ws, "xena");
    await send(ws, {
      event: "Order Completed",
      userId: "xena",
      properties: {
        order_id: "x-1",
        revenue: 200,
        products: [{ product_id: "tent", category: "tents", price: 200 }],
      },
    });
    await later(day);
    assert.deepEqual(await got(ws, flow, "xena"), ["cross_sell_1"]);
    await later(14 * day);
    assert.deepEqual(await got(ws, flow, "xena"), [
      "cross_sell_1",
      "cross_sell_2",
    ]);
  });

  it("review-request: waits by product type; a bad rating gets an apology, no answer a reminder", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      teamEmail: "team@shop.test",
    });
    const flow = await install(ws, "review-request");
    await shopper(ws, "rae");
    await shopper(ws, "sol");
    await send(
      ws,
      {
        event: "Order Delivered",
        userId: "rae",
        properties: {
          order_id: "r1",
          products: [{ product_id: "shirt", category: "apparel" }],
        },
      },
      {
        event: "Order Delivered",
        userId: "sol",
        properties: {
          order_id: "s1",
          products: [{ product_id: "sofa", category: "furniture" }],
        },
      },
    );
    await later(10 * day);
    assert.deepEqual(
      await got(ws, flow, "rae"),
      ["review_ask"],
      "apparel: asked after 10 days",
    );
    assert.deepEqual(await got(ws, flow, "sol"), [], "furniture waits 3 weeks");
    await send(ws, {
      event: "Product Reviewed",
      userId: "rae",
      properties: { product_id: "shirt", rating: 2 },
    });
    assert.deepEqual(
      await got(ws, flow, "rae"),
      ["review_ask", "email:inline", "review_sorry"],
      "the apology and a note to the team",
    );
    await later(11 * day);
    await later(7 * day);
    assert.deepEqual(await got(ws, flow, "sol"), [
      "review_ask",
      "review_reminder",
    ]);
  });

  it("replenishment: 100 capsules at one a day are reordered on day 92", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      product_id: "capsules",
      name: "Capsules",
      price: 20,
      days_of_use_per_unit: 1,
    });
    const flow = await install(ws, "replenishment");
    await shopper(ws, "rita");
    await send(ws, {
      event: "Order Completed",
      userId: "rita",
      properties: {
        order_id: "c-1",
        revenue: 20,
        products: [{ product_id: "capsules", quantity: 100, price: 0.2 }],
      },
    });
    await later(91 * day);
    assert.deepEqual(await got(ws, flow, "rita"), []);
    await later(day);
    assert.deepEqual(await got(ws, flow, "rita"), ["replenish"]);
  });

  it("birthday: a code a week before, a reminder five days later if unused, every year", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "birthday");
    // A birthday 20 days from now (the shared clock has moved on through earlier tests).
    const birthday = new Date(clock.now().getTime() + 20 * day);
    const fires = Date.UTC(
      birthday.getUTCFullYear(),
      birthday.getUTCMonth(),
      birthday.getUTCDate() - 7,
      10,
      0,
    );
    await shopper(ws, "bo", {
      birthday: `1990-${birthday.toISOString().slice(5, 10)}`,
    });
    await later(fires - clock.now().getTime() - ms.minute);
    assert.deepEqual(await got(ws, flow, "bo"), [], "not yet");
    await later(ms.minute);
    assert.deepEqual(
      await got(ws, flow, "bo"),
      ["birthday"],
      "a week before, at 10:00 (UTC: no time zone is known)",
    );
    await later(5 * day);
    assert.deepEqual(await got(ws, flow, "bo"), [
      "birthday",
      "birthday_reminder",
    ]);
    await later(365 * day);
    assert.equal(
      (await got(ws, flow, "bo")).filter((k) => k === "birthday").length,
      2,
      "again next year",
    );
  });

  it("referral: happy reviewers are invited; a referral completed within 30 days earns a reward", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "referral");
    await shopper(ws, "hap");
    await shopper(ws, "sad");
    await send(
      ws,
      { event: "Product Reviewed", userId: "hap", properties: { rating: 5 } },
      { event: "Product Reviewed", userId: "sad", properties: { rating: 2 } },
    );
    await later(3 * day);
    await send(ws, {
      event: "Referral Completed",
      userId: "hap",
      properties: { friend: "x" },
    });
    assert.deepEqual(await got(ws, flow, "hap"), [
      "referral_invite",
      "referral_reward",
    ]);
    assert.deepEqual(await got(ws, flow, "sad"), []);
  });

  it("vip: invited once on reaching five orders, and tagged", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "vip");
    await shopper(ws, "val");
    for (let i = 1; i <= 6; i++)
      await send(ws, {
        event: "Order Completed",
        userId: "val",
        properties: { order_id: `v-${i}`, revenue: 30 },
      });
    assert.deepEqual(await got(ws, flow, "val"), ["vip_invite"]);
    const profile = (
      await api(herald, ws.secretKey, "GET", "/api/profiles?userId=val")
    ).body.items[0];
    assert.ok(profile.traits.vip_since);
  });

  it("back-in-stock and price-drop: interested shoppers hear of a restock and a 10% drop", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      product_id: "boot",
      name: "Boot",
      price: 100,
      stock: 0,
    });
    const stock = await install(ws, "back-in-stock");
    const drop = await install(ws, "price-drop");
    await shopper(ws, "ivy");
    await shopper(ws, "ned");
    await send(ws, {
      event: "Product Viewed",
      userId: "ivy",
      properties: { product_id: "boot" },
    });
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      product_id: "boot",
      stock: 12,
    });
    await settle(herald);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      product_id: "boot",
      price: 95,
    });
    await settle(herald);
    await api(herald, ws.secretKey, "POST", "/api/catalog/products", {
      product_id: "boot",
      price: 80,
    });
    await settle(herald);
    const both = {
      flowId: "",
      templates: { ...stock.templates, ...drop.templates },
    };
    assert.deepEqual(
      await got(ws, both, "ivy"),
      ["back_in_stock", "price_drop"],
      "the 5% drop did not count, the 16% one did",
    );
    assert.deepEqual(await got(ws, both, "ned"), [], "not interested");
  });

  it("transactional: confirmation, shipped, delivered, and a pickup reminder after 3 days", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const confirm = await install(ws, "order-confirmation");
    const shipped = await install(ws, "order-shipped");
    const delivered = await install(ws, "order-delivered");
    const pickup = await install(ws, "ready-for-pickup");
    await shopper(ws, "tom");
    await shopper(ws, "pia");
    await send(ws, {
      event: "Order Completed",
      userId: "tom",
      properties: { order_id: "t-1", total: 55 },
    });
    await send(ws, {
      event: "Order Shipped",
      userId: "tom",
      properties: {
        order_id: "t-1",
        tracking_number: "1Z",
        tracking_url: "https://ups.example/1Z",
      },
    });
    await send(ws, {
      event: "Order Delivered",
      userId: "tom",
      properties: { order_id: "t-1" },
    });
    await send(
      ws,
      {
        event: "Order Ready for Pickup",
        userId: "tom",
        properties: { order_id: "t-2" },
      },
      {
        event: "Order Ready for Pickup",
        userId: "pia",
        properties: { order_id: "p-1" },
      },
    );
    await later(day);
    await send(ws, {
      event: "Order Picked Up",
      userId: "pia",
      properties: { order_id: "p-1" },
    });
    await later(2 * day);
    const templates = {
      ...confirm.templates,
      ...shipped.templates,
      ...delivered.templates,
      ...pickup.templates,
    };
    assert.deepEqual(await got(ws, { flowId: "", templates }, "tom"), [
      "confirmation",
      "shipped",
      "delivered",
      "pickup",
      "pickup_reminder",
    ]);
    assert.deepEqual(
      await got(ws, { flowId: "", templates }, "pia"),
      ["pickup"],
      "collected in time: no reminder",
    );
  });

  it("nps: asks a week after delivery; a detractor gets an apology and the team is told", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      teamEmail: "team@shop.test",
    });
    const flow = await install(ws, "nps");
    await shopper(ws, "dee");
    await shopper(ws, "pro");
    await send(
      ws,
      {
        event: "Order Delivered",
        userId: "dee",
        properties: { order_id: "d1" },
      },
      {
        event: "Order Delivered",
        userId: "pro",
        properties: { order_id: "p1" },
      },
    );
    await later(7 * day);
    await send(
      ws,
      {
        event: "Survey Answered",
        userId: "dee",
        properties: { survey: "nps", score: 3 },
      },
      {
        event: "Survey Answered",
        userId: "pro",
        properties: { survey: "nps", score: 10 },
      },
    );
    assert.deepEqual(await got(ws, flow, "dee"), [
      "nps_ask",
      "email:inline",
      "nps_sorry",
    ]);
    assert.deepEqual(await got(ws, flow, "pro"), ["nps_ask", "nps_promoter"]);
  });

  it("win-back: 90 days after the last order a code, a reminder, a last ask; silence unsubscribes", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "win-back");
    for (const id of ["gone", "back", "clicker"]) {
      await shopper(ws, id);
      await send(ws, {
        event: "Order Completed",
        userId: id,
        properties: { order_id: `${id}-1`, revenue: 40 },
      });
    }
    await later(90 * day - 10 * ms.minute);
    assert.deepEqual(await got(ws, flow, "gone"), [], "not lapsed yet");
    await later(10 * ms.minute);
    for (const id of ["gone", "back", "clicker"])
      assert.deepEqual(
        await got(ws, flow, id),
        ["winback_1"],
        `${id} lapsed at 90 days to the minute, with no event`,
      );

    await later(day);
    await send(ws, {
      event: "Order Completed",
      userId: "back",
      properties: { order_id: "back-2", revenue: 55 },
    });
    // Week by week: each wait starts when the step before it ran.
    await later(6 * day);
    await later(7 * day);
    await send(ws, {
      event: "Email Link Clicked",
      userId: "clicker",
      properties: { link_url: "https://shop.test/yes" },
    });
    await later(7 * day);

    assert.deepEqual(await got(ws, flow, "back"), ["winback_1"], "came back");
    for (const id of ["gone", "clicker"])
      assert.deepEqual(await got(ws, flow, id), [
        "winback_1",
        "winback_2",
        "winback_3",
      ]);
    const consent = async (id: string) =>
      (await api(herald, ws.secretKey, "GET", `/api/profiles?userId=${id}`))
        .body.items[0].consent.email?.status;
    assert.equal(await consent("gone"), "unsubscribed", "sunset");
    assert.notEqual(await consent("clicker"), "unsubscribed", "answered");
    const { entered, converted, revenue } = await totals(ws, flow);
    assert.deepEqual([entered, converted], [3, 1]);
    assert.equal(revenue, 55);
  });

  it("seasonal-offer: at 10:00 on Thanksgiving in each US shopper's own time zone, to no one else", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const flow = await install(ws, "seasonal-offer");
    await shopper(ws, "nyc", {
      timezone: "America/New_York",
      address: { country: "US" },
    });
    await shopper(ws, "la", {
      timezone: "America/Los_Angeles",
      address: { country: "US" },
    });
    await shopper(ws, "ber", {
      timezone: "Europe/Berlin",
      address: { country: "DE" },
    });
    const year = clock.now().getUTCFullYear();
    const november = new Date(Date.UTC(year, 10, 1)).getUTCDay();
    const thanksgiving = Date.UTC(year, 10, 1 + ((4 - november + 7) % 7) + 21);
    assert.ok(thanksgiving > clock.now().getTime(), "the test year's is ahead");
    // 10:00 in New York in November (EST, UTC-5) is 15:00 UTC; in Los Angeles, 18:00.
    await later(
      thanksgiving + 15 * ms.hour - ms.minute - clock.now().getTime(),
    );
    assert.deepEqual(await got(ws, flow, "nyc"), [], "not before 10:00");
    await later(ms.minute);
    assert.deepEqual(await got(ws, flow, "nyc"), ["seasonal"]);
    assert.deepEqual(await got(ws, flow, "la"), [], "still 7:00 in LA");
    await later(3 * ms.hour);
    assert.deepEqual(await got(ws, flow, "la"), ["seasonal"]);
    await later(day);
    assert.deepEqual(await got(ws, flow, "ber"), [], "not in the US");
    assert.deepEqual(await got(ws, flow, "nyc"), ["seasonal"], "once");
  });
});
