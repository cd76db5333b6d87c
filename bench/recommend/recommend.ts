/**
 * bench/recommend: offline quality of co-purchase recommendations. Generated order
 * histories (order-history.ts: skewed popularity, favourite categories, partner products)
 * are split by time; the orders before the cut go through Herald's own counting code
 * (the event processor's product-affinities handler and the order ledger), and for every
 * shopper who orders again after the cut both recommenders get five slots:
 *
 * - bought together: Herald's `bought_together` query for the products of the shopper's
 *   last order before the cut;
 * - baseline: Herald's `bestsellers` query over the same period;
 *
 * both leaving out what the shopper already bought, as templates do by default. A hit is
 * any of the five in the shopper's next order. Hit rate at 5 = hits / shoppers.
 *
 *   node --import tsx bench/recommend/recommend.ts          (npm run bench:recommend)
 *
 * Environment: BENCH_POSTGRES_URL (server for `herald_bench_recommend`), BENCH_SHOPPERS
 * (default 4,000), BENCH_SEED (default 7).
 */
import { ManualClock } from "../../packages/core/src/clock.ts";
import { upsertProducts } from "../../packages/core/src/catalog/catalog.ts";
import type { StoredEvent } from "../../packages/core/src/events/event.ts";
import { orderFromEvent } from "../../packages/core/src/orders/orders.ts";
import { emptyProfile } from "../../packages/core/src/profiles/profile.ts";
import { createWorkspace } from "../../packages/core/src/workspaces/workspaces.ts";
import { catalogWrites } from "../../packages/server/src/catalog/catalog.sql.ts";
import { insertOrder } from "../../packages/server/src/orders/orders.sql.ts";
import { insertProfiles } from "../../packages/server/src/profiles/profiles.sql.ts";
import {
  bestsellingProducts,
  pairedProducts,
  purchasedProducts,
} from "../../packages/server/src/recommendations/recommendations.sql.ts";
import { workspaceStore } from "../../packages/server/src/workspaces/workspaces.sql.ts";
import type { ProcessedEvent } from "../../packages/server/src/workers/event-handler.ts";
import { productAffinities } from "../../packages/server/src/recommendations/product-affinities.ts";
import { uuidv7 } from "../../packages/core/src/ids.ts";
import { freshBenchDatabase } from "../lib/bench-database.ts";
import { generateHistory } from "./order-history.ts";

const shoppers = Number(process.env.BENCH_SHOPPERS ?? 4_000);
const seed = Number(process.env.BENCH_SEED ?? 7);
const start = new Date("2025-06-01T00:00:00Z");
const days = 365;
const cut = new Date(start.getTime() + 270 * 86_400_000);

const { db } = await freshBenchDatabase("herald_bench_recommend");
const clock = new ManualClock(cut);
const workspace = await createWorkspace(workspaceStore(db), clock, {
  name: "bench recommend",
});
const ws = workspace.id;
const { products, orders } = generateHistory({
  seed,
  categories: 30,
  productsPerCategory: 25,
  shoppers,
  start,
  days,
});
const train = orders.filter((o) => o.placedAt < cut);
const test = orders.filter((o) => o.placedAt >= cut);
console.log(
  `${products.length} products, ${shoppers.toLocaleString("en-US")} shoppers, ` +
    `${train.length.toLocaleString("en-US")} orders before the cut, ${test.length.toLocaleString("en-US")} after`,
);

await db.tx((tx) =>
  upsertProducts(
    catalogWrites(tx, ws, cut),
    products.map((p) => ({
      product_id: p.productId,
      name: p.productId,
      category: p.category,
      price: p.price,
    })),
  ),
);
const profileIds = Array.from({ length: shoppers }, () => uuidv7(start));
for (let i = 0; i < shoppers; i += 1000)
  await db.tx((tx) =>
    insertProfiles(tx, ws, profileIds.slice(i, i + 1000), start),
  );

const loadStart = performance.now();
for (let i = 0; i < train.length; i += 200) {
  const chunk = train.slice(i, i + 200);
  await db.tx(async (tx) => {
    const processed: ProcessedEvent[] = [];
    for (const order of chunk) {
      const profileId = profileIds[order.shopper] ?? "";
      const event: StoredEvent = {
        workspaceId: ws,
        seq: 0,
        profileId,
        messageId: order.orderId,
        type: "track",
        name: "Order Completed",
        userId: null,
        anonymousId: null,
        properties: {
          order_id: order.orderId,
          products: order.productIds.map((id) => ({
            product_id: id,
            quantity: 1,
          })),
        },
        traits: null,
        context: {},
        timestamp: order.placedAt,
        receivedAt: order.placedAt,
        source: "import",
        silent: true,
      };
      const newOrder = await insertOrder(tx, ws, {
        profileId,
        order: orderFromEvent(event),
        messageId: order.orderId,
        at: order.placedAt,
      });
      const profile = emptyProfile(ws, profileId, start);
      processed.push({ event, previous: profile, profile, newOrder });
    }
    await productAffinities.handle(tx, ws, processed, {
      now: cut,
      profiles: new Map(),
      ordersChanged: new Set(),
    });
  });
}
const loadSeconds = (performance.now() - loadStart) / 1000;
// What autovacuum would do after a bulk load: without statistics the planner guesses one row.
await db.query("analyze");

const lastBefore = new Map<number, string[]>();
for (const order of train) lastBefore.set(order.shopper, order.productIds);
const firstAfter = new Map<number, string[]>();
for (const order of test)
  if (!firstAfter.has(order.shopper))
    firstAfter.set(order.shopper, order.productIds);

const since = new Date(start).toISOString().slice(0, 10);
let cases = 0;
let togetherHits = 0;
let bestsellerHits = 0;
let togetherFilled = 0;
const timing = { purchased: 0, together: 0, best: 0 };
for (const [shopper, next] of firstAfter) {
  const last = lastBefore.get(shopper);
  if (!last) continue;
  const profileId = profileIds[shopper] ?? "";
  let t = performance.now();
  const bought = await purchasedProducts(db, ws, profileId);
  timing.purchased += performance.now() - t;
  t = performance.now();
  const together = await pairedProducts(db, ws, {
    kind: "bought",
    ids: last,
    exclude: bought,
    includeOutOfStock: false,
    limit: 5,
  });
  timing.together += performance.now() - t;
  t = performance.now();
  const best = await bestsellingProducts(db, ws, {
    since,
    exclude: bought,
    includeOutOfStock: false,
    limit: 5,
  });
  timing.best += performance.now() - t;
  cases++;
  togetherFilled += together.length;
  if (together.some((p) => next.includes(p.product_id))) togetherHits++;
  if (best.some((p) => next.includes(p.product_id))) bestsellerHits++;
}

const pct = (n: number) => `${((100 * n) / cases).toFixed(1)}%`;
console.log(
  `counted ${train.length.toLocaleString("en-US")} orders through the handler in ${loadSeconds.toFixed(1)} s ` +
    `(${Math.round(train.length / loadSeconds).toLocaleString("en-US")} orders/s)`,
);
console.log(
  `${cases.toLocaleString("en-US")} shoppers ordered again after the cut ` +
    `(ms per query: purchases ${(timing.purchased / cases).toFixed(2)}, bought together ` +
    `${(timing.together / cases).toFixed(2)}, bestsellers ${(timing.best / cases).toFixed(2)})`,
);
console.log(
  `hit rate at 5, bought together:     ${pct(togetherHits)} (avg ${(togetherFilled / cases).toFixed(1)} of 5 slots filled)`,
);
console.log(`hit rate at 5, bestseller baseline: ${pct(bestsellerHits)}`);
console.log(
  `ratio bought together / bestsellers: ${(togetherHits / Math.max(1, bestsellerHits)).toFixed(2)}`,
);
await db.close();
