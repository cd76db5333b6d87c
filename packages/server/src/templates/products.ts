import { productLines } from "@herald/core/events/ecommerce";
import { isJsonObject } from "@herald/core/events/event";
import type { Profile } from "@herald/core/profiles/profile";
import {
  replenishmentDue,
  type ProductItem,
  type ProductQuery,
} from "@herald/core/recommendations/recommendations";
import type { Queryable } from "../db/database.ts";
import {
  bestsellingProducts,
  crossSellProducts,
  getProducts,
  lastOrderProducts,
  pairedProducts,
  purchaseHistory,
  purchasedProducts,
  recentlyViewedProducts,
  toProductItem,
  trendingProducts,
  upsellProducts,
} from "../recommendations/recommendations.sql.ts";

/**
 * Answers the `{% products %}` blocks of one render from the catalog and the counts the
 * event processor keeps. Per render it remembers what it looked up (the shopper's
 * purchases, each block's answer), so a block used in both the HTML and the text part
 * costs one query.
 */

/** Who and what a render is about. */
export interface ProductContext {
  workspaceId: string;
  profile: Profile | undefined;
  /** The triggering event's properties. */
  data: Record<string, unknown>;
  now: Date;
}

const dayMs = 86_400_000;
const day = (at: Date, daysBack = 0) =>
  new Date(at.getTime() - daysBack * dayMs).toISOString().slice(0, 10);

/** The block resolver of one render. */
export function productResolver(
  q: Queryable,
  context: ProductContext,
): (query: ProductQuery) => Promise<ProductItem[]> {
  const { workspaceId, profile, data, now } = context;
  const answers = new Map<string, Promise<ProductItem[]>>();
  let purchased: Promise<string[]> | undefined;
  const purchasedIds = () =>
    (purchased ??= profile
      ? purchasedProducts(q, workspaceId, profile.id)
      : Promise.resolve([]));
  const eventLines = productLines(data).filter((line) => line.product_id);

  const references = async (query: ProductQuery): Promise<string[]> => {
    if (query.productIds) return query.productIds;
    const fromEvent = eventLines.map((line) => line.product_id ?? "");
    if (fromEvent.length > 0) return [...new Set(fromEvent)];
    const viewed = profile?.computed.last_product_viewed;
    if (isJsonObject(viewed) && typeof viewed.product_id === "string")
      return [viewed.product_id];
    return profile ? lastOrderProducts(q, workspaceId, profile.id) : [];
  };

  const eventItems = async (query: ProductQuery): Promise<ProductItem[]> => {
    const lines = productLines(data).slice(0, query.limit);
    const rows = await getProducts(
      q,
      workspaceId,
      lines
        .filter((line) => line.product_id)
        .map((line) => ({
          productId: line.product_id ?? "",
          ...(line.variant_id ? { variantId: line.variant_id } : {}),
        })),
    );
    const byId = new Map(
      rows.map((row) => [row.product_id, toProductItem(row)]),
    );
    return lines.map((line) => {
      const known = line.product_id ? byId.get(line.product_id) : undefined;
      const item: ProductItem = {
        product_id: line.product_id ?? line.sku ?? "",
        name: line.name ?? known?.name ?? "",
        price: line.price ?? known?.price ?? null,
        compare_at_price: known?.compare_at_price ?? null,
        currency:
          known?.currency ??
          (typeof data.currency === "string" ? data.currency : null),
        url: line.url ?? known?.url ?? null,
        image_url: line.image_url ?? known?.image_url ?? null,
        category: line.category ?? known?.category ?? null,
        brand: line.brand ?? known?.brand ?? null,
        stock: known?.stock ?? null,
        in_stock: known?.in_stock ?? true,
        quantity: line.quantity ?? 1,
      };
      const variantId = line.variant_id ?? known?.variant_id;
      if (variantId) item.variant_id = variantId;
      return item;
    });
  };

  const replenishment = async (query: ProductQuery): Promise<ProductItem[]> => {
    if (!profile) return [];
    const history = await purchaseHistory(q, workspaceId, profile.id);
    const byProduct = new Map<string, typeof history>();
    for (const row of history)
      byProduct.set(row.product_id, [
        ...(byProduct.get(row.product_id) ?? []),
        row,
      ]);
    const horizon = now.getTime() + query.dueWithinDays * dayMs;
    const due = [...byProduct]
      .map(([productId, rows]) => ({
        productId,
        at: replenishmentDue(
          rows.map((r) => ({ at: r.placed_at, quantity: r.quantity })),
          rows[0]?.days_of_use_per_unit ?? null,
        ),
      }))
      .filter(
        (d): d is { productId: string; at: Date } =>
          d.at !== null && d.at.getTime() <= horizon,
      )
      .sort((a, b) => a.at.getTime() - b.at.getTime());
    const rows = await getProducts(
      q,
      workspaceId,
      due.map((d) => ({ productId: d.productId })),
    );
    const dueAt = new Map(due.map((d) => [d.productId, d.at]));
    return rows
      .map(toProductItem)
      .filter((item) => query.includeOutOfStock || item.in_stock)
      .slice(0, query.limit)
      .map((item) => ({
        ...item,
        due_at: dueAt.get(item.product_id)?.toISOString() ?? "",
      }));
  };

  const answer = async (query: ProductQuery): Promise<ProductItem[]> => {
    if (query.source === "event") return eventItems(query);
    if (query.source === "replenishment") return replenishment(query);
    const refs =
      query.source === "bestsellers" ||
      query.source === "trending" ||
      query.source === "recently_viewed"
        ? []
        : await references(query);
    const exclude = [
      ...refs,
      ...(query.includePurchased ? [] : await purchasedIds()),
    ];
    const filter = {
      exclude,
      includeOutOfStock: query.includeOutOfStock,
      limit: query.limit,
    };
    let rows;
    switch (query.source) {
      case "recently_viewed":
        rows = profile
          ? await recentlyViewedProducts(q, workspaceId, {
              ...filter,
              profileId: profile.id,
            })
          : [];
        break;
      case "bought_together":
        rows = await pairedProducts(q, workspaceId, {
          ...filter,
          kind: "bought",
          ids: refs,
        });
        break;
      case "also_viewed":
        rows = await pairedProducts(q, workspaceId, {
          ...filter,
          kind: "viewed",
          ids: refs,
        });
        break;
      case "upsell":
        rows = await upsellProducts(q, workspaceId, {
          ...filter,
          ids: refs,
          category: query.category,
        });
        break;
      case "cross_sell":
        rows = await crossSellProducts(q, workspaceId, {
          ...filter,
          ids: refs,
          since: day(now, 90),
        });
        break;
      case "bestsellers":
        rows = await bestsellingProducts(q, workspaceId, {
          ...filter,
          since: day(now, 30),
          category: query.category,
        });
        break;
      case "trending":
        rows = await trendingProducts(q, workspaceId, {
          ...filter,
          today: day(now),
          category: query.category,
        });
        break;
    }
    return rows.map(toProductItem);
  };

  return (query) => {
    const key = JSON.stringify(query);
    let result = answers.get(key);
    if (!result) {
      result = answer(query);
      answers.set(key, result);
    }
    return result;
  };
}
