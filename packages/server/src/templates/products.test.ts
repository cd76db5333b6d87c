import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import { countBacklog } from "../events/events.sql.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

const product = (
  product_id: string,
  category: string,
  price: number,
  extra: Record<string, unknown> = {},
) => ({
  product_id,
  name: product_id,
  category,
  price,
  brand: "Acme",
  stock: 10,
  url: `https://shop.example/${product_id}`,
  ...extra,
});

const order = (
  userId: string,
  orderId: string,
  ids: string[],
  timestamp = "2026-05-30T10:00:00Z",
  messageId?: string,
) => ({
  type: "track",
  event: "Order Completed",
  userId,
  timestamp,
  ...(messageId ? { messageId } : {}),
  properties: {
    order_id: orderId,
    products: ids.map((id) => ({ product_id: id, quantity: 1, price: 10 })),
  },
});

const view = (userId: string, productId: string, timestamp: string) => ({
  type: "track",
  event: "Product Viewed",
  userId,
  timestamp,
  properties: { product_id: productId },
});

describeOnDatabases("product blocks and recommendations", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db(), {
      clock: new ManualClock("2026-06-01T12:00:00Z"),
    });
  });
  after(() => herald.close());

  it("answers each source from orders and views, leaving out what is out of stock or already bought", async () => {
    const ws = await createTestWorkspace(db());
    const catalog = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/catalog/products",
      {
        products: [
          product("phone-64", "phones", 500),
          product("phone-128", "phones", 600),
          product("phone-256", "phones", 700),
          product("phone-1tb", "phones", 1200),
          product("phone-other", "phones", 650, { brand: "Other" }),
          product("case-a", "cases", 20),
          product("case-b", "cases", 25, { stock: 0 }),
          product("charger-x", "chargers", 30, { days_of_use_per_unit: 30 }),
          product("protector", "screen", 10),
        ],
      },
    );
    assert.equal(catalog.status, 200, JSON.stringify(catalog.body));
    const batch = [
      order("u1", "o1", ["phone-64", "case-a"]),
      // The same order reported again (a webhook after the storefront): counted once.
      order(
        "u1",
        "o1",
        ["phone-64", "case-a"],
        "2026-05-30T10:00:00Z",
        "o1-again",
      ),
      order("u2", "o2", ["phone-64", "case-a", "charger-x"]),
      order("u3", "o3", ["phone-128", "case-b"]),
      order("u4", "o4", ["phone-64", "protector"]),
      order("t", "o5", ["charger-x"], "2026-04-20T10:00:00Z"),
      view("u1", "phone-64", "2026-05-29T10:00:00Z"),
      view("u1", "phone-256", "2026-05-29T10:05:00Z"),
      view("u2", "phone-64", "2026-05-29T11:00:00Z"),
      view("u2", "phone-256", "2026-05-29T11:05:00Z"),
      view("u3", "phone-64", "2026-05-29T12:00:00Z"),
      view("u3", "case-a", "2026-05-29T12:05:00Z"),
      view("t", "phone-1tb", "2026-05-31T09:00:00Z"),
      view("t", "phone-64", "2026-05-31T10:00:00Z"),
    ];
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    for (let i = 0; i < 500; i++) {
      await settle(herald);
      if ((await countBacklog(db())) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [pair] = await db().query<{ count: number }>(
      `select count from product_affinities
        where workspace_id = $1 and kind = 'bought' and item = 'phone-64' and other = 'case-a'`,
      [ws.id],
    );
    assert.equal(pair?.count, 2, "o1 reported twice counts once");

    const blocks: Record<string, string> = {
      together: '"bought_together" for: "phone-64"',
      togetherAll: '"bought_together" for: "phone-64" include_purchased: true',
      oos: '"bought_together" for: "phone-128"',
      oosAsked: '"bought_together" for: "phone-128" include_out_of_stock: true',
      upsell: '"upsell" for: "phone-64" limit: 3',
      cross: '"cross_sell" for: "phone-64" limit: 2',
      best: '"bestsellers" limit: 2',
      bestCases: '"bestsellers" category: "cases"',
      alsoViewed: '"also_viewed"',
      recent: '"recently_viewed"',
      due: '"replenishment"',
      trending: '"trending" limit: 1',
      event: '"event"',
    };
    const text = Object.entries(blocks)
      .map(
        ([name, args]) =>
          `${name}={% products ${args} as list %}{{ list | map: "product_id" | join: "," }}`,
      )
      .join("\n");
    const created = await api(herald, ws.secretKey, "POST", "/api/templates", {
      name: "blocks",
      channel: "sms",
      content: { text },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/profiles?userId=t",
    );
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${created.body.template.id}/preview`,
      {
        profileId: found.body.items[0].id,
        data: {
          products: [
            { product_id: "phone-64", quantity: 1 },
            { product_id: "case-b" },
          ],
        },
      },
    );
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    const got = Object.fromEntries(
      (preview.body.content.text as string)
        .split("\n")
        .map((line) => line.split("=")),
    );
    assert.deepEqual(got, {
      // charger-x was bought by this shopper; case-b is out of stock.
      together: "case-a,protector",
      togetherAll: "case-a,charger-x,protector",
      oos: "",
      oosAsked: "case-b",
      // Same brand first, smallest step up first; the cheaper phone never.
      upsell: "phone-128,phone-256,phone-1tb",
      // Cases are bought with phones most; then chargers (already bought) and screen.
      cross: "case-a,protector",
      best: "phone-64,case-a",
      bestCases: "case-a",
      // Shoppers who viewed phone-64 (an event line) viewed phone-256 most, then the rest.
      alsoViewed: "phone-256,case-a,phone-1tb",
      recent: "phone-64,phone-1tb",
      // Bought 2026-04-20, 30 days of use: due.
      due: "charger-x",
      trending: "phone-64",
      // The event's lines whole, out of stock included: it is their cart.
      event: "phone-64,case-b",
    });
  });
});
