import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { isDomainError } from "@herald/core/domain-error";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { TemplateRenderer } from "../templates/content-renderer.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  segmentMembers,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { SettingsCache } from "../workspaces/settings-cache.ts";
import { countBacklog } from "../events/events.sql.ts";

describeOnDatabases("unique coupons", (db) => {
  let herald: Herald;
  let renderer: TemplateRenderer;
  const clock = new ManualClock("2026-06-01T10:00:00Z");
  before(async () => {
    herald = await startTestHerald(db(), { clock });
    renderer = new TemplateRenderer({
      db: db(),
      clock,
      settings: new SettingsCache(db()),
    });
  });
  after(() => herald.close());

  /**
   * settle(), then wait out events that a transaction elsewhere on the server (another
   * database's tests) still hides from the processor, so a render sees their profiles.
   */
  async function settleAll() {
    for (let i = 0; i < 500; i++) {
      await settle(herald);
      if ((await countBacklog(db())) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function shoppers(ws: NewWorkspace, count: number): Promise<string[]> {
    const batch = Array.from({ length: count }, (_, i) => ({
      type: "identify",
      userId: `u${i}`,
      traits: { email: `u${i}@example.com` },
    }));
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200);
    await settleAll();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const found = await api(
        herald,
        ws.secretKey,
        "GET",
        `/api/profiles?userId=u${i}`,
      );
      ids.push(found.body.items[0].id as string);
    }
    return ids;
  }

  async function smsTemplate(ws: NewWorkspace, text: string): Promise<string> {
    const created = await api(herald, ws.secretKey, "POST", "/api/templates", {
      name: `coupon ${Math.random()}`,
      channel: "sms",
      content: { text },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.template.id as string;
  }

  it("gives every recipient their own generated code under many concurrent renders, the same one on re-render", async () => {
    const ws = await createTestWorkspace(db());
    const pool = await api(herald, ws.secretKey, "POST", "/api/coupons/pools", {
      id: "WELCOME10",
      kind: "generated",
      prefix: "WELCOME-",
      codeLength: 6,
      expiresAfterDays: 14,
      value: { type: "percent", amount: 10 },
      conditions: { minimum_subtotal: 50, once_per_customer: true },
    });
    assert.equal(pool.status, 201, JSON.stringify(pool.body));
    const templateId = await smsTemplate(
      ws,
      '{% coupon "WELCOME10" as c %}Code {{ c.code }} until {{ c.expires_at | format_date: "long" }} / {% coupon "WELCOME10" %}',
    );
    const profiles = await shoppers(ws, 40);
    const render = (profileId: string, messageId: string) =>
      renderer.render({
        workspaceId: ws.id,
        templateId,
        profileId,
        messageId,
        data: {},
        links: {},
      });
    // Every message twice, all at once: 80 renders racing for 40 codes.
    const jobs = profiles.flatMap((profileId, i) => [
      render(profileId, `m-${i}`),
      render(profileId, `m-${i}`),
    ]);
    const texts = (await Promise.all(jobs)).map((r) =>
      r.content.channel === "sms" ? r.content.text : "",
    );
    const codes = texts.map((text) =>
      /^Code (WELCOME-\w{6}) until June 15, 2026 \/ (\S+)$/.exec(text),
    );
    for (const [i, match] of codes.entries()) {
      assert.ok(match, texts[i]);
      assert.equal(
        match[1],
        match[2],
        "one code per message, however often the tag appears",
      );
    }
    const perMessage = codes.map((m) => m?.[1]);
    for (let i = 0; i < profiles.length; i++)
      assert.equal(
        perMessage[2 * i],
        perMessage[2 * i + 1],
        "a re-render gets the same code",
      );
    assert.equal(
      new Set(perMessage).size,
      profiles.length,
      "no code went to two messages",
    );
    const listed = await api(herald, ws.secretKey, "GET", "/api/coupons/pools");
    assert.deepEqual(listed.body.items[0].counts, {
      available: 0,
      issued: 40,
      redeemed: 0,
      expired: 0,
    });
  });

  it("hands out uploaded codes once each under concurrency, then fails visibly when they run out", async () => {
    const ws = await createTestWorkspace(db());
    assert.equal(
      (
        await api(herald, ws.secretKey, "POST", "/api/coupons/pools", {
          id: "SHOP15",
          kind: "uploaded",
        })
      ).status,
      201,
    );
    const upload = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/coupons/pools/SHOP15/codes",
      {
        csv: "code,value\nSHOP15-A,15\nSHOP15-B,15\nSHOP15-C,15\nSHOP15-D,15\nSHOP15-E,15\nSHOP15-F,15\nSHOP15-G,15\nSHOP15-H,15\n",
      },
    );
    assert.deepEqual(upload.body, { added: 8, skipped: 0 });
    const dup = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/coupons/pools/SHOP15/codes",
      { csv: "X-1\nx-1\n" },
    );
    assert.equal(dup.status, 400);
    assert.match(dup.body.error.message, /repeats line 1/);

    const templateId = await smsTemplate(
      ws,
      'Your code: {% coupon "SHOP15" %}',
    );
    const profiles = await shoppers(ws, 20);
    const results = await Promise.allSettled(
      profiles.map((profileId, i) =>
        renderer.render({
          workspaceId: ws.id,
          templateId,
          profileId,
          messageId: `s-${i}`,
          data: {},
          links: {},
        }),
      ),
    );
    const codes = results
      .filter((r) => r.status === "fulfilled")
      .map((r) =>
        r.value.content.channel === "sms" ? r.value.content.text : "",
      );
    const failures = results
      .filter((r) => r.status === "rejected")
      .map((r) => r.reason as unknown);
    assert.equal(codes.length, 8);
    assert.equal(new Set(codes).size, 8, "no uploaded code twice");
    for (const code of codes) assert.match(code, /^Your code: SHOP15-[A-H]$/);
    assert.equal(failures.length, 12);
    for (const failure of failures) {
      assert.ok(isDomainError(failure, "conflict"), String(failure));
      assert.match(
        failure.message,
        /coupon pool "SHOP15" has no codes left: upload more codes/,
      );
    }
  });

  it("records redemptions from Order Completed once, reports them, and segments on the pool", async () => {
    const ws = await createTestWorkspace(db());
    await api(herald, ws.secretKey, "POST", "/api/coupons/pools", {
      id: "BACK20",
      kind: "generated",
      prefix: "BACK-",
    });
    const [profileId = ""] = await shoppers(ws, 2);
    const segment = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Came back with BACK20",
      definition: { type: "coupon", pool: "BACK20", withinDays: 30 },
    });
    assert.equal(segment.status, 201, JSON.stringify(segment.body));
    const issued = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/coupons/pools/BACK20/issue",
      { profileId, key: "flow-run-1/node-3" },
    );
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const again = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/coupons/pools/BACK20/issue",
      { profileId, key: "flow-run-1/node-3" },
    );
    assert.equal(again.body.code, issued.body.code);

    const order = {
      type: "track",
      event: "Order Completed",
      userId: "u0",
      properties: {
        order_id: "o-77",
        total: 40,
        coupon: issued.body.code.toLowerCase(),
      },
    };
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: ws.writeKey,
        batch: [
          order,
          { ...order, messageId: "again" },
          {
            type: "track",
            event: "Order Completed",
            userId: "u1",
            properties: {
              order_id: "o-78",
              total: 30,
              coupon: "SUMMER, FREESHIP",
            },
          },
        ],
      }),
    });
    assert.equal(response.status, 200);
    await settleAll();
    const redeemed = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/coupons/pools/BACK20/codes?status=redeemed",
    );
    assert.equal(redeemed.body.items.length, 1);
    assert.equal(redeemed.body.items[0].code, issued.body.code);
    assert.equal(redeemed.body.items[0].orderId, "o-77");
    assert.equal(redeemed.body.items[0].profileId, profileId);
    const members = await segmentMembers(herald, ws.secretKey, segment.body.id);
    assert.deepEqual(
      members.map((m) => m.profileId),
      [profileId],
      "the shopper who used a BACK20 code, not the one with other coupons",
    );
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/segments/preview",
      {
        definition: {
          type: "or",
          conditions: [
            { type: "coupon", pool: "BACK20" },
            { type: "coupon", coupon: "freeship" },
          ],
        },
      },
    );
    assert.deepEqual(preview.body, { count: 2, total: 2 });
    const missing = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/coupons/pools/NOPE/issue",
      { profileId, key: "k" },
    );
    assert.equal(missing.status, 404);
  });
});
