import { productLines } from "@herald/core/events/ecommerce";
import { pairsOf } from "@herald/core/recommendations/recommendations";
import type { Tx } from "../db/database.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import {
  addAffinities,
  addSales,
  deleteViews,
  getProducts,
  listViews,
  moveViews,
  recentViews,
  recordViews,
} from "./recommendations.sql.ts";
import type { EventHandler, ProcessedEvent } from "../workers/event-handler.ts";

/**
 * Keeps the counts recommendations read current, inside the event processor's
 * transaction: a new order adds its product pairs, its category pairs and its units to
 * the day's sales (an order reported twice is counted once: only `newOrder`); a product
 * view records the shopper's view and, the first time they view that product, pairs it
 * with what they viewed in the 30 days before ("viewed this, also viewed").
 *
 * Trade-off: counts only grow (no decay); bestsellers and trending read a window of daily
 * sales instead, so they follow the season while pairs keep the long memory.
 */

const dayMs = 86_400_000;
const coViewWindowMs = 30 * dayMs;
const coViewNeighbours = 20;

async function countOrder(
  tx: Tx,
  workspaceId: string,
  item: ProcessedEvent,
  now: Date,
) {
  const lines = productLines(item.event.properties).filter((l) => l.product_id);
  if (lines.length === 0) return;
  const ids = lines.map((l) => l.product_id ?? "");
  await addAffinities(tx, workspaceId, {
    kind: "bought",
    pairs: pairsOf(ids),
    at: now,
  });

  const categories = new Map<string, string>();
  for (const line of lines)
    if (line.product_id && line.category)
      categories.set(line.product_id, line.category);
  const unknown = ids.filter((id) => !categories.has(id));
  if (unknown.length > 0)
    for (const row of await getProducts(
      tx,
      workspaceId,
      unknown.map((productId) => ({ productId })),
    ))
      if (row.category) categories.set(row.product_id, row.category);
  await addAffinities(tx, workspaceId, {
    kind: "category",
    pairs: pairsOf([...categories.values()]),
    at: now,
  });

  const units = new Map<string, number>();
  for (const line of lines)
    units.set(
      line.product_id ?? "",
      (units.get(line.product_id ?? "") ?? 0) +
        Math.max(1, Math.round(line.quantity ?? 1)),
    );
  await addSales(
    tx,
    workspaceId,
    [...units].map(([productId, count]) => ({ productId, units: count })),
    item.event.timestamp.toISOString().slice(0, 10),
  );
}

/**
 * A batch's product views: recorded in one statement; each product a shopper views for
 * the first time is paired with the products they viewed before it in the 30 days before.
 */
async function countViews(
  tx: Tx,
  workspaceId: string,
  items: ProcessedEvent[],
  now: Date,
) {
  const views = new Map<
    string,
    {
      profileId: string;
      productId: string;
      first: Date;
      last: Date;
      count: number;
    }
  >();
  for (const item of items) {
    const productId = productLines(item.event.properties)[0]?.product_id;
    if (!productId) continue;
    const key = `${item.event.profileId}|${productId}`;
    const at = item.event.timestamp;
    const view = views.get(key);
    if (view) {
      view.count++;
      if (at < view.first) view.first = at;
      if (at > view.last) view.last = at;
    } else
      views.set(key, {
        profileId: item.event.profileId,
        productId,
        first: at,
        last: at,
        count: 1,
      });
  }
  const firsts = await recordViews(tx, workspaceId, [...views.values()]);
  if (firsts.size === 0) return;
  const fresh = [...firsts]
    .map((key) => views.get(key))
    .filter((v) => v !== undefined);
  const earliest = Math.min(...fresh.map((v) => v.first.getTime()));
  const recent = await recentViews(
    tx,
    workspaceId,
    [...new Set(fresh.map((v) => v.profileId))],
    new Date(earliest - coViewWindowMs),
  );
  const pairs: [string, string][] = [];
  for (const view of fresh) {
    const others = recent
      .filter(
        (r) =>
          r.profile_id === view.profileId &&
          r.product_id !== view.productId &&
          r.first_viewed_at <= view.first &&
          r.last_viewed_at.getTime() >= view.first.getTime() - coViewWindowMs,
      )
      .slice(0, coViewNeighbours);
    for (const other of others)
      pairs.push(
        [view.productId, other.product_id],
        [other.product_id, view.productId],
      );
  }
  await addAffinities(tx, workspaceId, { kind: "viewed", pairs, at: now });
}

/** The recommendation counts' event handler; register it with `processor.addHandler`. */
export const productAffinities: EventHandler = {
  name: "product-affinities",
  async handle(tx, workspaceId, events, context) {
    for (const item of events) {
      if (
        item.event.type === "track" &&
        item.event.name === "Order Completed" &&
        item.newOrder === true
      )
        await countOrder(tx, workspaceId, item, context.now);
    }
    await countViews(
      tx,
      workspaceId,
      events.filter(
        (item) =>
          item.event.type === "track" && item.event.name === "Product Viewed",
      ),
      context.now,
    );
  },
  async merge(tx, merge) {
    await moveViews(tx, merge.workspaceId, merge.mergedId, merge.survivorId);
  },
};

/** The products a shopper viewed, for privacy export and erasure. */
export const productViewsData: PersonalData = {
  name: "productViews",
  export: (q, workspaceId, profileIds) => listViews(q, workspaceId, profileIds),
  erase: (tx, workspaceId, profileIds) =>
    deleteViews(tx, workspaceId, profileIds),
};
