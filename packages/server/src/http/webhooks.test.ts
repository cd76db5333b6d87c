import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

const fixture = (name: string) =>
  fs.readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url));
const sign = (body: Buffer | string, secret: string) =>
  createHmac("sha256", secret).update(body).digest("base64");

describeOnDatabases("store webhooks and the catalog", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db(), {
      clock: new ManualClock("2026-04-20T00:00:00Z"),
    });
  });
  after(() => herald.close());

  const secret = "shpss_test_client_secret_1234";

  async function shopify(
    ws: NewWorkspace,
    shop: string,
    topic: string,
    body: Buffer,
    eventId: string,
    signature = sign(body, secret),
  ) {
    const response = await fetch(`${herald.url}/webhooks/shopify`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": signature,
        "x-shopify-shop-domain": shop,
        "x-shopify-api-version": "2026-01",
        "x-shopify-webhook-id": `wh-${eventId}`,
        "x-shopify-event-id": eventId,
        "x-shopify-triggered-at": "2026-04-02T14:17:14Z",
      },
      body,
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  async function connectShop(ws: NewWorkspace) {
    const shop = `acme-${ws.id.slice(3, 11).toLowerCase()}.myshopify.com`;
    const connected = await api(
      herald,
      ws.secretKey,
      "PUT",
      "/api/connections/shopify",
      { shop: `https://${shop}/`, secret },
    );
    assert.equal(connected.status, 200, JSON.stringify(connected.body));
    assert.equal(connected.body.shop, shop);
    return shop;
  }

  it("turns a storefront cart, a Shopify checkout and its order into one shopper with one order", async () => {
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    await fetch(`${herald.url}/v1/track`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: ws.writeKey,
        event: "Product Added",
        anonymousId: "storefront-anon-77",
        properties: {
          product_id: "8123456789012",
          price: 120,
          cart_id: "Z2NwLWV1cm9wZS13ZXN0MTowMUhKOFc3",
        },
      }),
    });

    const checkout = fixture("shopify-checkouts-create");
    const forgedCheckout = await shopify(
      ws,
      shop,
      "checkouts/create",
      checkout,
      "ev-checkout-forged",
      sign(checkout, "not-the-secret"),
    );
    assert.equal(forgedCheckout.status, 401);
    assert.equal(
      (await shopify(ws, shop, "checkouts/create", checkout, "ev-checkout"))
        .status,
      200,
    );
    const checkoutAgain = await shopify(
      ws,
      shop,
      "checkouts/create",
      checkout,
      "ev-checkout",
    );
    assert.deepEqual(
      [checkoutAgain.status, checkoutAgain.body.duplicate],
      [200, true],
      "the checkout delivered twice is stored once",
    );
    const order = fixture("shopify-orders-create");
    const forged = await shopify(
      ws,
      shop,
      "orders/create",
      order,
      "ev-order-forged",
      sign(order, "not-the-secret"),
    );
    assert.equal(forged.status, 401);
    assert.match(forged.body.error.message, /signature does not match/);
    const first = await shopify(ws, shop, "orders/create", order, "ev-order");
    assert.deepEqual(
      [first.status, first.body.duplicate, first.body.events],
      [200, false, 2],
    );
    const again = await shopify(ws, shop, "orders/create", order, "ev-order");
    assert.deepEqual(
      [again.status, again.body.duplicate],
      [200, true],
      "the same delivery is dropped",
    );
    const retried = await shopify(
      ws,
      shop,
      "orders/create",
      order,
      "ev-order-resent",
    );
    assert.deepEqual(
      [retried.status, retried.body.events],
      [200, 0],
      "another delivery of the same order stores nothing new",
    );
    await settle(herald);

    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/profiles?email=guest.shopper@example.com",
    );
    assert.equal(found.body.items.length, 1);
    const profile = found.body.items[0];
    assert.ok(
      profile.identities.some(
        (i: { type: string; value: string }) =>
          i.type === "anonymous_id" && i.value === "storefront-anon-77",
      ),
    );
    assert.ok(
      profile.identities.some(
        (i: { type: string; value: string }) =>
          i.type === "shopify_customer_id" && i.value === "7012345678901",
      ),
    );
    assert.equal(profile.traits.first_name, "Robin");
    assert.equal(profile.consent.email.status, "subscribed");
    assert.equal(profile.computed.orderCount, 1);
    assert.equal(profile.computed.revenue, 108);
    const events = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.id}/events`,
    );
    const names = events.body.items
      .map((e: { name: string | null; type: string }) => e.name ?? e.type)
      .sort();
    assert.deepEqual(names, [
      "Checkout Started",
      "Order Completed",
      "Product Added",
      "identify",
    ]);
    const placed = events.body.items.find(
      (e: { name: string }) => e.name === "Order Completed",
    );
    assert.deepEqual(
      [
        placed.properties.order_id,
        placed.properties.checkout_id,
        placed.properties.coupon,
        placed.properties.products[0].brand,
      ],
      [
        "5801234567890",
        "f1e2d3c4b5a6978877665544332211aa",
        "SPRING10",
        "Peakline",
      ],
    );

    // A fulfilment names no shopper: it lands on the order's.
    assert.equal(
      (
        await shopify(
          ws,
          shop,
          "fulfillments/create",
          fixture("shopify-fulfillments-create"),
          "ev-ship",
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await shopify(
          ws,
          shop,
          "refunds/create",
          fixture("shopify-refunds-create"),
          "ev-refund",
        )
      ).status,
      200,
    );
    await settle(herald);
    const shipped = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/events?name=Order%20Shipped`,
    );
    assert.equal(shipped.body.items[0].profileId, profile.id);
    assert.equal(
      shipped.body.items[0].properties.tracking_number,
      "1Z999AA10123456784",
    );
    const afterRefund = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.id}`,
    );
    assert.equal(afterRefund.body.computed.revenue, 60, "108 − 48 refunded");
  });

  it("keeps the catalog from product and inventory webhooks, with price and stock history", async () => {
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    const product = fixture("shopify-products-update");
    assert.equal(
      (await shopify(ws, shop, "products/update", product, "ev-product"))
        .status,
      200,
    );
    const level = Buffer.from(
      JSON.stringify({
        inventory_item_id: 46123456789012,
        location_id: 61234567,
        available: 6,
        updated_at: "2026-04-05T10:00:00-04:00",
      }),
    );
    assert.equal(
      (await shopify(ws, shop, "inventory_levels/update", level, "ev-stock"))
        .status,
      200,
    );

    const stored = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/catalog/products/8123456789012",
    );
    assert.equal(stored.status, 200);
    assert.equal(stored.body.name, "Trail Runner 2");
    assert.equal(stored.body.url, `https://${shop}/products/trail-runner-2`);
    assert.equal(stored.body.category, "Running Shoes");
    assert.equal(stored.body.stock, 10, "6 + 4 after the restock");
    const restock = stored.body.history.find(
      (h: { variantId: string; kind: string }) =>
        h.variantId === "44123456789012" && h.kind === "stock",
    );
    assert.deepEqual([restock.oldValue, restock.newValue], [0, 6]);
  });

  it("upserts products through the API, refusing a malformed one with its path", async () => {
    const ws = await createTestWorkspace(db());
    const bad = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/catalog/products",
      { products: [{ product_id: "a", price: -1 }] },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/products/0/price");
    const ok = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/catalog/products",
      {
        products: [
          {
            product_id: "cap-100",
            name: "Capsules x100",
            category: "coffee",
            price: 20,
            stock: 0,
            days_of_use_per_unit: 1,
          },
          {
            product_id: "grinder",
            name: "Grinder",
            category: "equipment",
            price: 80,
          },
        ],
      },
    );
    assert.equal(ok.body.upserted, 2);
    const dropped = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/catalog/products",
      { product_id: "cap-100", price: 17, stock: 12 },
    );
    assert.deepEqual(
      dropped.body.changes.map(
        (c: { kind: string; oldValue: number; newValue: number }) => [
          c.kind,
          c.oldValue,
          c.newValue,
        ],
      ),
      [
        ["price", 20, 17],
        ["stock", 0, 12],
      ],
    );
    const list = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/catalog/products?category=coffee",
    );
    assert.deepEqual(
      list.body.items.map(
        (p: { productId: string; daysOfUsePerUnit: number }) => [
          p.productId,
          p.daysOfUsePerUnit,
        ],
      ),
      [["cap-100", 1]],
    );
  });

  it("answers WooCommerce's ping with 200 and maps a paid order", async () => {
    const ws = await createTestWorkspace(db());
    const wooSecret = "woo-webhook-secret";
    const store = `shop-${ws.id.slice(3, 9).toLowerCase()}.example`;
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      defaultPhoneRegion: "DE",
    });
    assert.equal(
      (
        await api(herald, ws.secretKey, "PUT", "/api/connections/woocommerce", {
          shop: `https://${store}`,
          secret: wooSecret,
        })
      ).status,
      200,
    );
    const ping = await fetch(`${herald.url}/webhooks/woocommerce`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "webhook_id=15",
    });
    assert.equal(ping.status, 200);
    const body = fixture("woocommerce-order-created");
    const delivered = await fetch(`${herald.url}/webhooks/woocommerce`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "WooCommerce/9.1.0 Hookshot (WordPress/6.6)",
        "x-wc-webhook-source": `https://${store}/`,
        "x-wc-webhook-topic": "order.created",
        "x-wc-webhook-resource": "order",
        "x-wc-webhook-event": "created",
        "x-wc-webhook-signature": sign(body, wooSecret),
        "x-wc-webhook-id": "15",
        "x-wc-webhook-delivery-id": "8a1f",
      },
      body,
    });
    assert.equal(delivered.status, 200, await delivered.text());
    await settle(herald);
    const profile = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?email=lena.koch@example.de",
      )
    ).body.items[0];
    assert.equal(profile.phone, "+4930901820");
    assert.equal(profile.computed.orderCount, 1);
    assert.equal(
      profile.computed.revenue,
      40,
      "52.50 − 7.60 tax − 4.90 shipping",
    );
    assert.equal(profile.computed.country, "DE");
  });

  it("refuses a webhook with an id longer than any id with a 400 naming it", async () => {
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    const refund = JSON.parse(fixture("shopify-refunds-create").toString());
    refund.id = "9".repeat(300_000);
    const response = await shopify(
      ws,
      shop,
      "refunds/create",
      Buffer.from(JSON.stringify(refund)),
      "ev-long-refund",
    );
    assert.equal(
      response.status,
      400,
      JSON.stringify(response.body).slice(0, 300),
    );
    assert.equal(response.body.error.code, "invalid");
    assert.match(response.body.error.message, /longer than 255 characters/);
    assert.match(response.body.error.details[0].path, /refund/);
  });

  it("stores a webhook holding NUL and lone surrogates, with U+FFFD in their place", async () => {
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    const text = fixture("shopify-orders-create")
      .toString()
      .replaceAll('"Robin"', '"Rob\\u0000in \\ud800"');
    const body = Buffer.from(text);
    const response = await shopify(ws, shop, "orders/create", body, "ev-nul");
    assert.equal(response.status, 200, JSON.stringify(response.body));
    await settle(herald);
    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/profiles?email=guest.shopper@example.com",
    );
    assert.equal(found.body.items[0]?.traits.first_name, "Rob\ufffdin \ufffd");
  });
});
