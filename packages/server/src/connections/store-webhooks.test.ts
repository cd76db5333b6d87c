import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { standardTraitNames } from "@herald/core/profiles/standard-traits";
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

  it("lands Shopify and WooCommerce customers in the same profile fields as Segment's reserved identify traits", async () => {
    const standard = async (ws: NewWorkspace) => {
      await settle(herald);
      const found = await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?email=ana.lima@example.com",
      );
      assert.equal(found.body.items.length, 1, JSON.stringify(found.body));
      const traits = found.body.items[0].traits as Record<string, unknown>;
      return Object.fromEntries(
        standardTraitNames
          .filter((name) => traits[name] !== undefined)
          .map((name) => [name, traits[name]]),
      );
    };
    const expected = {
      first_name: "Ana",
      last_name: "Lima",
      name: "Ana Lima",
      email: "ana.lima@example.com",
      phone: "+351912345678",
      created_at: "2026-03-30T14:05:00.000Z",
      company_name: "Lima & Filhos",
      street: "Rua Augusta 1, 2º Esq",
      city: "Lisboa",
      state: "Lisboa",
      postal_code: "1100-048",
      country: "PT",
    };

    const segmentWs = await createTestWorkspace(db());
    const identified = await fetch(`${herald.url}/v1/identify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: segmentWs.writeKey,
        userId: "u-ana",
        traits: {
          firstName: "Ana",
          lastName: "Lima",
          email: "ana.lima@example.com",
          phone: "+351912345678",
          createdAt: "2026-03-30T14:05:00.000Z",
          company: { name: "Lima & Filhos" },
          address: {
            street: "Rua Augusta 1, 2º Esq",
            city: "Lisboa",
            state: "Lisboa",
            postalCode: "1100-048",
            country: "PT",
          },
        },
      }),
    });
    assert.equal(identified.status, 200);
    assert.deepEqual(await standard(segmentWs), expected);

    const shopifyWs = await createTestWorkspace(db());
    const shop = await connectShop(shopifyWs);
    const created = await shopify(
      shopifyWs,
      shop,
      "customers/create",
      fixture("shopify-customers-create"),
      "ev-customer",
    );
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.deepEqual(await standard(shopifyWs), expected);

    const wooWs = await createTestWorkspace(db());
    const wooSecret = "woo-webhook-secret";
    const store = `shop-${wooWs.id.slice(3, 9).toLowerCase()}.example`;
    await api(herald, wooWs.secretKey, "PUT", "/api/connections/woocommerce", {
      shop: `https://${store}`,
      secret: wooSecret,
    });
    const body = fixture("woocommerce-customer-created");
    const delivered = await fetch(`${herald.url}/webhooks/woocommerce`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-wc-webhook-source": `https://${store}/`,
        "x-wc-webhook-topic": "customer.created",
        "x-wc-webhook-signature": sign(body, wooSecret),
        "x-wc-webhook-delivery-id": "c-25",
      },
      body,
    });
    assert.equal(delivered.status, 200, await delivered.text());
    assert.deepEqual(await standard(wooWs), {
      ...expected,
      username: "ana.lima",
      avatar:
        "https://secure.gravatar.com/avatar/8eb1b522f60d11fa897de1dc6351b7e8?s=96",
    });
  });

  it("keeps Shopify's 64-bit ids exactly, from the webhook body to events, profiles, orders and the catalog", async () => {
    // Shopify's ids pass 2^53 (its own samples: order 820982911946154508); as JS numbers
    // they round, and the two variants below would become one.
    const ids: Record<string, string> = {
      "5801234567890": "820982911946154508", // order
      "30516318158903": "35429111093289337", // checkout
      "7012345678901": "115310627314723954", // customer
      "9012345678901": "715243470612851245", // address
      "14012345678901": "866550311766439020", // line item
      "8123456789012": "9007199254740993", // product
      "44123456789012": "49148385165394238", // variant
      "44123456789013": "49148385165394239", // variant
      "46123456789012": "51148385165394237", // inventory item
      "46123456789013": "51148385165394239", // inventory item
      "912345678901": "980982911946154511", // refund
      "4812345678901": "4812345678901234567", // fulfillment
    };
    const big = (name: string) =>
      Buffer.from(
        fixture(name)
          .toString("utf8")
          .replace(/\d{12,}/g, (digits) => ids[digits] ?? digits),
      );
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    const deliveries: [string, Buffer][] = [
      ["products/update", big("shopify-products-update")],
      ["checkouts/create", big("shopify-checkouts-create")],
      ["orders/create", big("shopify-orders-create")],
      ["fulfillments/create", big("shopify-fulfillments-create")],
      ["refunds/create", big("shopify-refunds-create")],
      [
        "inventory_levels/update",
        Buffer.from(
          '{"inventory_item_id":51148385165394239,"location_id":61234567,"available":7,"updated_at":"2026-04-05T10:00:00-04:00"}',
        ),
      ],
    ];
    for (const [topic, body] of deliveries) {
      const delivered = await shopify(ws, shop, topic, body, `ev-${topic}`);
      assert.equal(delivered.status, 200, JSON.stringify(delivered.body));
    }
    const cut = Buffer.from('{"id": 820982911946154508, "email": ');
    const refused = await shopify(ws, shop, "orders/create", cut, "ev-cut");
    assert.equal(refused.status, 400);
    assert.match(
      refused.body.error.message,
      /the webhook body is not JSON: .*at position 36/,
    );
    await settle(herald);

    const profile = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?email=guest.shopper@example.com",
      )
    ).body.items[0];
    assert.ok(
      profile.identities.some(
        (i: { type: string; value: string }) =>
          i.type === "shopify_customer_id" && i.value === "115310627314723954",
      ),
      JSON.stringify(profile.identities),
    );
    assert.equal(profile.traits.shopify_customer_id, "115310627314723954");
    assert.equal(profile.computed.revenue, 60, "the refund found its order");

    const events = async (name: string) =>
      (
        await api(
          herald,
          ws.secretKey,
          "GET",
          `/api/events?name=${encodeURIComponent(name)}`,
        )
      ).body.items[0].properties;
    const placed = await events("Order Completed");
    assert.equal(placed.order_id, "820982911946154508");
    assert.deepEqual(
      [placed.products[0].product_id, placed.products[0].variant_id],
      ["9007199254740993", "49148385165394238"],
    );
    const refunded = await events("Order Refunded");
    assert.deepEqual(
      [refunded.order_id, refunded.refund_id],
      ["820982911946154508", "980982911946154511"],
    );
    const shipped = await events("Order Shipped");
    assert.deepEqual(
      [shipped.order_id, shipped.fulfillment_id],
      ["820982911946154508", "4812345678901234567"],
    );

    const exported = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${profile.id}/export`,
    );
    assert.deepEqual(
      exported.body.orders.map(
        (o: { order_id: string; items: { variant_id: string }[] }) => [
          o.order_id,
          o.items.map((item) => item.variant_id),
        ],
      ),
      [["820982911946154508", ["49148385165394238"]]],
      JSON.stringify(exported.body.orders),
    );

    const product = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/catalog/products/9007199254740993",
    );
    assert.equal(product.status, 200, JSON.stringify(product.body));
    assert.deepEqual(
      product.body.variants
        .map((v: { variantId: string; stock: number }) => [
          v.variantId,
          v.stock,
        ])
        .sort(),
      [
        ["49148385165394238", 0],
        ["49148385165394239", 7],
      ],
    );
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

  it("refuses a webhook whose body holds something else where Herald reads a field, naming each", async () => {
    const ws = await createTestWorkspace(db());
    const shop = await connectShop(ws);
    const order = JSON.parse(fixture("shopify-orders-create").toString());
    order.customer = "robin@example.com";
    order.line_items[0].price = { amount: "10.00" };
    const response = await shopify(
      ws,
      shop,
      "orders/create",
      Buffer.from(JSON.stringify(order)),
      "ev-odd-order",
    );
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.error.code, "invalid");
    assert.match(
      response.body.error.message,
      /^the shopify orders\/create webhook body is invalid: \/customer must be object or null/,
    );
    assert.deepEqual(
      response.body.error.details.map((d: { path: string }) => d.path),
      ["/customer", "/line_items/0/price"],
    );
    await settle(herald);
    const events = await api(herald, ws.secretKey, "GET", "/api/events");
    assert.deepEqual(events.body.items, [], "nothing of it is stored");
    // A topic Herald does not map is not checked: it means nothing to it.
    const other = await shopify(
      ws,
      shop,
      "shop/update",
      Buffer.from('{"id": {"odd": true}}'),
      "ev-shop-update",
    );
    assert.deepEqual([other.status, other.body.events], [200, 0]);
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
