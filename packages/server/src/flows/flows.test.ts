import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock, ms } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { patchSettings } from "../testing/messaging.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

/** An email template for a test, with Liquid that uses the trigger event. */
async function template(
  herald: Herald,
  ws: NewWorkspace,
  name: string,
): Promise<string> {
  const created = await api(herald, ws.secretKey, "POST", "/api/templates", {
    name,
    channel: "email",
    content: {
      subject: `${name} for {{ profile.first_name | default: "you" }}`,
      mjml: `<mjml><mj-body><mj-section><mj-column><mj-text>${name}</mj-text></mj-column></mj-section></mj-body></mjml>`,
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.template.id as string;
}

describeOnDatabases("flows", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-05-04T10:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  async function track(ws: NewWorkspace, body: Record<string, unknown>) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: ws.writeKey,
        batch: [
          { type: "track", timestamp: clock.now().toISOString(), ...body },
        ],
      }),
    });
    assert.equal(response.status, 200, await response.text());
  }

  /** A published flow that sends a checkout nudge, its goal an order within 3 days. */
  async function checkoutNudgeFlow(ws: NewWorkspace): Promise<string> {
    const nudge = await template(herald, ws, "checkout nudge");
    const created = await api(herald, ws.secretKey, "POST", "/api/flows", {
      name: "Checkout nudge",
      trigger: { type: "event", event: "Checkout Started" },
      start: "nudge",
      nodes: {
        nudge: {
          type: "send",
          channel: "email",
          templateId: nudge,
          next: "done",
        },
        done: { type: "exit" },
      },
      settings: {
        goal: { event: "Order Completed" },
        conversionWindowDays: 3,
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const flowId = created.body.id as string;
    await api(herald, ws.secretKey, "POST", `/api/flows/${flowId}/publish`);
    return flowId;
  }

  async function messagesOf(ws: NewWorkspace, email: string) {
    const profile = (
      await api(herald, ws.secretKey, "GET", `/api/profiles?email=${email}`)
    ).body.items[0];
    if (!profile) return [];
    const page = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/messages?profileId=${profile.id}`,
    );
    return (
      page.body.items as { templateId: string; source: { nodeId?: string } }[]
    ).map((m) => m.templateId);
  }

  async function cartFlow(ws: NewWorkspace) {
    const reminder = await template(herald, ws, "cart reminder");
    const definition = {
      name: "Abandoned cart",
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
          matchCorrelation: true,
          timeout: { hours: 1 },
          next: "done",
          timeoutNext: "remind",
        },
        remind: {
          type: "send",
          channel: "email",
          templateId: reminder,
          next: "done",
        },
        done: { type: "exit" },
      },
      settings: {
        goal: { event: "Order Completed", matchCorrelation: true },
        reentry: { policy: "one_active_per_key" },
      },
    };
    const created = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/flows",
      definition,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "POST",
          `/api/flows/${created.body.id}/publish`,
        )
      ).status,
      200,
    );
    return { flowId: created.body.id as string, reminder, definition };
  }

  it("reminds a shopper who left a cart an hour ago, and not one who ordered 30 minutes in", async () => {
    const ws = await createTestWorkspace(db());
    const { flowId, reminder } = await cartFlow(ws);
    for (const who of ["buyer", "leaver"]) {
      await track(ws, {
        type: "identify",
        userId: who,
        traits: { email: `${who}@shop.test` },
      });
      await track(ws, {
        event: "Product Added",
        userId: who,
        properties: { cart_id: `cart-${who}`, product_id: "p1", price: 30 },
      });
    }
    await settle(herald);
    clock.advance(30 * ms.minute);
    await track(ws, {
      event: "Order Completed",
      userId: "buyer",
      properties: { order_id: "o-1", cart_id: "cart-buyer", revenue: 30 },
    });
    await settle(herald);
    clock.advance(31 * ms.minute);
    await settle(herald);

    assert.deepEqual(await messagesOf(ws, "leaver@shop.test"), [reminder]);
    assert.deepEqual(
      await messagesOf(ws, "buyer@shop.test"),
      [],
      "the order ended the run before its email",
    );
    const stats = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flowId}/stats`,
    );
    // The buyer's order is awaited by the wait (its `event` branch) and is the goal, but it
    // came before the run sent anything: not a conversion, and no revenue.
    assert.deepEqual(stats.body.nodes.wait.branches, { event: 1, timeout: 1 });
    assert.deepEqual(stats.body.nodes.wait.branchResults, {
      event: {
        passed: 1,
        converted: 0,
        revenue: 0,
        conversionRate: 0,
        exitedBeforeFirstMessage: 1,
      },
      timeout: {
        passed: 1,
        converted: 0,
        revenue: 0,
        conversionRate: 0,
        exitedBeforeFirstMessage: 0,
      },
    });
    assert.equal(stats.body.nodes.remind.entered, 1);
    assert.deepEqual(
      [stats.body.nodes.remind.converted, stats.body.nodes.wait.revenue],
      [0, 0],
    );
    assert.equal(stats.body.nodes.done.completed, 2);
    assert.deepEqual(
      [
        stats.body.totals.entered,
        stats.body.totals.converted,
        stats.body.totals.exitedBeforeFirstMessage,
        stats.body.totals.revenue,
      ],
      [2, 0, 1, 0],
    );
  });

  it("holds marketing over the frequency cap until the cap allows it, skips it where the step says so, drops it when the run ends, and lets receipts through", async () => {
    const ws = await createTestWorkspace(db());
    await patchSettings(herald, ws.secretKey, {
      frequencyCap: { messages: 1, hours: 24 },
    });
    const news = await template(herald, ws, "news");
    const remind = await template(herald, ws, "cart reminder");
    const flash = await template(herald, ws, "flash sale");
    const receipt = await template(herald, ws, "receipt");
    const live = async (definition: Record<string, unknown>) => {
      const created = await api(herald, ws.secretKey, "POST", "/api/flows", {
        ...definition,
        settings: {
          reentry: { policy: "every_time" },
          ...(definition.settings ?? {}),
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await api(
        herald,
        ws.secretKey,
        "POST",
        `/api/flows/${created.body.id}/publish`,
      );
    };
    const sendThen = (
      templateId: string,
      extra: Record<string, unknown> = {},
    ) => ({
      start: "send",
      nodes: {
        send: {
          type: "send",
          channel: "email",
          templateId,
          next: "done",
          ...extra,
        },
        done: { type: "exit" },
      },
    });
    await live({
      name: "News",
      trigger: { type: "event", event: "Signed Up" },
      ...sendThen(news),
    });
    await live({
      name: "Flash sale",
      trigger: { type: "event", event: "Flash Sale Viewed" },
      ...sendThen(flash, { whenCapped: "skip" }),
    });
    await live({
      name: "Receipt",
      trigger: { type: "event", event: "Order Completed" },
      ...sendThen(receipt, { transactional: true }),
    });
    await live({
      name: "Cart",
      trigger: {
        type: "event",
        event: "Product Added",
        correlation: "cart_id",
      },
      start: "wait",
      nodes: {
        wait: { type: "wait", duration: { hours: 1 }, next: "send" },
        send: {
          type: "send",
          channel: "email",
          templateId: remind,
          next: "next_day",
        },
        // Live for another day, as the library's cart flow is: its goal still ends it.
        next_day: { type: "wait", duration: { days: 1 }, next: "done" },
        done: { type: "exit" },
      },
      settings: {
        goal: { event: "Order Completed", matchCorrelation: true },
        reentry: { policy: "one_active_per_key" },
      },
    });
    const ledger = async (email: string) => {
      const profile = (
        await api(herald, ws.secretKey, "GET", `/api/profiles?email=${email}`)
      ).body.items[0];
      const page = await api(
        herald,
        ws.secretKey,
        "GET",
        `/api/messages?profileId=${profile.id}`,
      );
      const rows = new Map<string, Record<string, string>>();
      for (const m of page.body.items) rows.set(m.templateId, m);
      return rows;
    };
    const step = async () => {
      await settle(herald);
      await herald.sender.drain(ws.id);
    };

    for (const who of ["buyer", "waiter"]) {
      await track(ws, {
        type: "identify",
        userId: who,
        traits: { email: `${who}@shop.test`, email_consent: true },
      });
      await track(ws, { event: "Signed Up", userId: who });
      await track(ws, {
        event: "Product Added",
        userId: who,
        properties: { cart_id: `cart-${who}`, product_id: "p1", price: 30 },
      });
    }
    await track(ws, { event: "Flash Sale Viewed", userId: "buyer" });
    await step();
    const newsSentAt = (await ledger("buyer@shop.test")).get(news)?.sentAt;
    assert.ok(newsSentAt, "the first marketing message goes out");
    const skipped = (await ledger("buyer@shop.test")).get(flash);
    assert.deepEqual(
      [skipped?.status, skipped?.decisionStep],
      ["skipped", "frequency_cap"],
    );
    assert.match(skipped?.reason ?? "", /skips when capped/);

    clock.advance(ms.hour);
    await step();
    const freesAt = new Date(Date.parse(newsSentAt) + ms.day + 1).toISOString();
    for (const who of ["buyer", "waiter"]) {
      const held = (await ledger(`${who}@shop.test`)).get(remind);
      assert.deepEqual(
        [held?.status, held?.decisionStep, held?.sendAt],
        ["deferred", "frequency_cap", freesAt],
        `${who}'s reminder waits for the cap`,
      );
      assert.match(
        held?.reason ?? "",
        /1 marketing messages in the last 24 h.*waits until/,
      );
    }

    await track(ws, {
      event: "Order Completed",
      userId: "buyer",
      properties: { order_id: "o-1", cart_id: "cart-buyer", revenue: 30 },
    });
    await step();
    const bought = await ledger("buyer@shop.test");
    assert.equal(
      bought.get(receipt)?.status,
      "sent",
      "receipts ignore the cap",
    );
    assert.deepEqual(
      [bought.get(remind)?.status, bought.get(remind)?.decisionStep],
      ["skipped", "flow_ended"],
      "the order made the held reminder stale",
    );

    clock.set(new Date(freesAt));
    await step();
    assert.equal(
      (await ledger("waiter@shop.test")).get(remind)?.status,
      "sent",
    );
    assert.equal(
      (await ledger("buyer@shop.test")).get(remind)?.status,
      "skipped",
    );
  });

  it("counts an order after the run ended as its conversion only within the conversion window", async () => {
    const ws = await createTestWorkspace(db());
    const flowId = await checkoutNudgeFlow(ws);
    for (const who of ["soon", "late"]) {
      await track(ws, {
        type: "identify",
        userId: who,
        traits: { email: `${who}@shop.test`, email_consent: true },
      });
      await track(ws, { event: "Checkout Started", userId: who });
    }
    await settle(herald);
    await herald.sender.drain(ws.id); // the nudges go out: the orders come after them
    const order = (who: string, revenue: number) =>
      track(ws, {
        event: "Order Completed",
        userId: who,
        properties: { order_id: `o-${who}`, revenue },
      });
    clock.advance(2 * ms.day);
    await order("soon", 50);
    await settle(herald);
    clock.advance(2 * ms.day);
    await order("late", 70);
    await settle(herald);

    const stats = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flowId}/stats`,
    );
    assert.deepEqual(
      [
        stats.body.totals.entered,
        stats.body.totals.completed,
        stats.body.totals.converted,
        stats.body.totals.revenue,
      ],
      [2, 2, 1, 50],
      JSON.stringify(stats.body.totals),
    );
  });

  it("counts a goal order of unknown amount as a conversion that adds no revenue", async () => {
    const ws = await createTestWorkspace(db());
    const flowId = await checkoutNudgeFlow(ws);
    const buyers = { priced: 50, text: "abc", flag: true };
    for (const who of Object.keys(buyers)) {
      await track(ws, {
        type: "identify",
        userId: who,
        traits: { email: `${who}@shop.test`, email_consent: true },
      });
      await track(ws, { event: "Checkout Started", userId: who });
    }
    await settle(herald);
    await herald.sender.drain(ws.id);
    clock.advance(ms.hour);
    for (const [who, revenue] of Object.entries(buyers))
      await track(ws, {
        event: "Order Completed",
        userId: who,
        properties: { order_id: `o-${who}`, revenue },
      });
    await settle(herald);

    const stats = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flowId}/stats`,
    );
    assert.deepEqual(
      [
        stats.body.totals.converted,
        stats.body.totals.revenue,
        stats.body.nodes.nudge.revenue,
      ],
      [3, 50, 50],
      JSON.stringify(stats.body),
    );
  });

  it("dry-runs a draft: who its trigger and filters pick, and which branch each takes, sending nothing", async () => {
    const ws = await createTestWorkspace(db());
    const vipNote = await template(herald, ws, "vip note");
    const plainNote = await template(herald, ws, "plain note");
    const vip = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "VIP",
      definition: { type: "trait", trait: "tier", op: "equals", value: "vip" },
    });
    assert.equal(vip.status, 201, JSON.stringify(vip.body));
    for (const [who, tier, category] of [
      ["vera", "vip", "shoes"],
      ["paul", "basic", "shoes"],
      ["hana", "vip", "hats"],
    ] as const) {
      await track(ws, {
        type: "identify",
        userId: who,
        traits: { email: `${who}@shop.test`, tier },
      });
      await track(ws, {
        event: "Product Viewed",
        userId: who,
        properties: { product_id: `p-${who}`, category },
      });
    }
    await settle(herald);
    const created = await api(herald, ws.secretKey, "POST", "/api/flows", {
      name: "Shoe lovers",
      trigger: {
        type: "event",
        event: "Product Viewed",
        filters: [{ property: "category", op: "eq", value: "shoes" }],
      },
      start: "who",
      nodes: {
        who: {
          type: "split",
          branches: [
            { label: "vip", when: { inSegment: vip.body.id }, next: "vip" },
          ],
          otherwise: "plain",
        },
        vip: {
          type: "send",
          channel: "email",
          templateId: vipNote,
          next: "done",
        },
        plain: {
          type: "send",
          channel: "email",
          templateId: plainNote,
          next: "done",
        },
        done: { type: "exit" },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const dry = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/flows/${created.body.id}/dry-run`,
      {},
    );
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    const got = Object.fromEntries(
      (
        dry.body.paths as {
          email: string;
          messages: { templateId: string }[];
        }[]
      ).map((p) => [p.email, p.messages.map((m) => m.templateId)]),
    );
    assert.deepEqual(got, {
      "vera@shop.test": [vipNote],
      "paul@shop.test": [plainNote],
    });
    assert.deepEqual(await messagesOf(ws, "vera@shop.test"), []);
  });

  it("starts one run per cart, and a second cart gets a run of its own", async () => {
    const ws = await createTestWorkspace(db());
    const { flowId } = await cartFlow(ws);
    await track(ws, {
      event: "Product Added",
      userId: "many",
      properties: { cart_id: "c1", product_id: "p1" },
    });
    await track(ws, {
      event: "Product Added",
      userId: "many",
      properties: { cart_id: "c1", product_id: "p2" },
    });
    await track(ws, {
      event: "Product Added",
      userId: "many",
      properties: { cart_id: "c2", product_id: "p3" },
    });
    await settle(herald);
    const runs = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/flows/${flowId}/runs`,
    );
    assert.deepEqual(
      runs.body.items.map((r: { correlation: string }) => r.correlation).sort(),
      ["c1", "c2"],
    );
  });

  it("lets runs in flight finish on their version while new entrants use the new one", async () => {
    const ws = await createTestWorkspace(db());
    const { flowId, reminder, definition } = await cartFlow(ws);
    await track(ws, {
      type: "identify",
      userId: "early",
      traits: { email: "early@shop.test" },
    });
    await track(ws, {
      event: "Product Added",
      userId: "early",
      properties: { cart_id: "e1" },
    });
    await settle(herald);

    const second = await template(herald, ws, "cart reminder v2");
    const edited = {
      ...definition,
      nodes: {
        ...definition.nodes,
        remind: {
          type: "send",
          channel: "email",
          templateId: second,
          next: "done",
        },
      },
    };
    assert.equal(
      (await api(herald, ws.secretKey, "PUT", `/api/flows/${flowId}`, edited))
        .status,
      200,
    );
    assert.deepEqual(
      (await api(herald, ws.secretKey, "POST", `/api/flows/${flowId}/publish`))
        .body,
      { version: 2 },
    );
    await track(ws, {
      type: "identify",
      userId: "late",
      traits: { email: "late@shop.test" },
    });
    await track(ws, {
      event: "Product Added",
      userId: "late",
      properties: { cart_id: "l1" },
    });
    await settle(herald);
    clock.advance(ms.hour + ms.minute);
    await settle(herald);

    assert.deepEqual(
      await messagesOf(ws, "early@shop.test"),
      [reminder],
      "the run started on v1 sent v1's email",
    );
    assert.deepEqual(await messagesOf(ws, "late@shop.test"), [second]);
  });

  it("holds runs of a paused flow where they are and sends nothing until resumed", async () => {
    const ws = await createTestWorkspace(db());
    const { flowId, reminder } = await cartFlow(ws);
    await track(ws, {
      type: "identify",
      userId: "paused",
      traits: { email: "paused@shop.test" },
    });
    await track(ws, {
      event: "Product Added",
      userId: "paused",
      properties: { cart_id: "p1" },
    });
    await settle(herald);
    assert.equal(
      (await api(herald, ws.secretKey, "POST", `/api/flows/${flowId}/pause`))
        .body.status,
      "paused",
    );
    clock.advance(2 * ms.hour);
    await settle(herald);
    assert.deepEqual(await messagesOf(ws, "paused@shop.test"), []);
    await api(herald, ws.secretKey, "POST", `/api/flows/${flowId}/resume`);
    await settle(herald);
    assert.deepEqual(await messagesOf(ws, "paused@shop.test"), [reminder]);
  });

  it("refuses a flow with problems, naming the node", async () => {
    const ws = await createTestWorkspace(db());
    const bad = await api(herald, ws.secretKey, "POST", "/api/flows", {
      name: "Broken",
      trigger: { type: "event", event: "Product Added" },
      start: "a",
      nodes: {
        a: {
          type: "send",
          channel: "email",
          templateId: "no-such-template",
          next: "b",
        },
        b: { type: "exit" },
        c: { type: "exit" },
      },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.body.error.details.map((d: { message: string }) => d.message),
      ["node a: no template no-such-template"],
    );
  });

  // Last: it moves the suite's clock to 2027.
  it("fires a monthly schedule from 31 January on 28 February and 31 March at 09:00 in its zone", async () => {
    const ws = await createTestWorkspace(db());
    await track(ws, {
      type: "identify",
      userId: "reader",
      traits: { email: "reader@shop.test", email_consent: true },
    });
    await settle(herald);
    const digest = await template(herald, ws, "monthly digest");
    const created = await api(herald, ws.secretKey, "POST", "/api/flows", {
      name: "Monthly digest",
      trigger: {
        type: "schedule",
        every: "month",
        start: "2027-01-31T08:00:00Z", // 09:00 in Berlin (winter time)
        timeZone: "Europe/Berlin",
      },
      start: "send",
      nodes: {
        send: {
          type: "send",
          channel: "email",
          templateId: digest,
          next: "done",
        },
        done: { type: "exit" },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const flowId = created.body.id as string;
    await api(herald, ws.secretKey, "POST", `/api/flows/${flowId}/publish`);
    const entered = async (at: string) => {
      clock.set(new Date(at));
      await settle(herald);
      const runs = await api(
        herald,
        ws.secretKey,
        "GET",
        `/api/flows/${flowId}/runs`,
      );
      return runs.body.items.length as number;
    };
    assert.equal(await entered("2027-01-31T07:59:00Z"), 0);
    assert.equal(await entered("2027-01-31T08:00:00Z"), 1);
    assert.equal(await entered("2027-02-28T07:59:00Z"), 1);
    assert.equal(
      await entered("2027-02-28T08:00:00Z"),
      2,
      "February's last day",
    );
    assert.equal(
      await entered("2027-03-28T09:00:00Z"),
      2,
      "no drift to the 28th",
    );
    // Summer time since 28 March: 09:00 in Berlin is 07:00 UTC.
    assert.equal(await entered("2027-03-31T06:59:00Z"), 2);
    assert.equal(await entered("2027-03-31T07:00:00Z"), 3);
    assert.equal(await entered("2027-04-30T07:00:00Z"), 4);
  });
});
