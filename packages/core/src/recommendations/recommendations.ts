import { DomainError } from "../domain-error.ts";

/**
 * Product blocks and recommendations: the lists of products a template places with
 * `{% products "source" … as items %}`. Each source is answered from the catalog and from
 * counts the event processor keeps current (co-purchases per order, co-views per shopper,
 * daily sales). Products out of stock and products the shopper already bought are left
 * out unless a block asks for them.
 */

/** Where a block's products come from. */
export const productSources = [
  /** The triggering event's lines: the cart, checkout or order items. */
  "event",
  /** What this shopper viewed, most recent first. */
  "recently_viewed",
  /** Bought in the same orders as the reference products. */
  "bought_together",
  /** Viewed by the shoppers who viewed the reference products. */
  "also_viewed",
  /** The same category as a reference product, at a higher price. */
  "upsell",
  /** Bestsellers of the categories bought together with the reference categories. */
  "cross_sell",
  /** Most units sold in the last 30 days. */
  "bestsellers",
  /** Selling faster in the last 7 days than in the 4 weeks before. */
  "trending",
  /** What this shopper buys again and is due to run out of. */
  "replenishment",
] as const;
export type ProductSource = (typeof productSources)[number];

/** Options of a block, from its tag (`limit: 4 category: "shoes"`). */
export interface ProductQuery {
  source: ProductSource;
  limit: number;
  /** Only this category (bestsellers, trending, upsell, cross-sell). */
  category?: string;
  /** The products to start from; by default the event's, else the last viewed, else the last order's. */
  productIds?: string[];
  includeOutOfStock: boolean;
  includePurchased: boolean;
  /** Replenishment: days ahead that count as due now. */
  dueWithinDays: number;
}

/** One product of a block, as templates see it. */
export interface ProductItem {
  product_id: string;
  variant_id?: string;
  name: string;
  price: number | null;
  compare_at_price: number | null;
  currency: string | null;
  url: string | null;
  image_url: string | null;
  category: string | null;
  brand: string | null;
  /** Units in stock; null when the store does not track stock. */
  stock: number | null;
  in_stock: boolean;
  /** On event lines: the quantity in the cart or order. */
  quantity?: number;
  /** Replenishment: when the shopper is expected to run out (ISO). */
  due_at?: string;
}

const maxLimit = 24;

/** The query a tag's options describe; invalid DomainError on a bad source or option. */
export function productQuery(
  source: unknown,
  options: Record<string, unknown>,
): ProductQuery {
  if (
    typeof source !== "string" ||
    !(productSources as readonly string[]).includes(source)
  ) {
    throw new DomainError(
      "invalid",
      `unknown product source ${JSON.stringify(source)}: use one of ${productSources.join(", ")}`,
    );
  }
  // The event's own lines are shown whole unless a limit is given.
  const limitValue = Number(
    options.limit ?? (source === "event" ? maxLimit : 4),
  );
  const limit = Number.isFinite(limitValue)
    ? Math.max(1, Math.min(maxLimit, Math.floor(limitValue)))
    : 4;
  const query: ProductQuery = {
    source: source as ProductSource,
    limit,
    includeOutOfStock: options.include_out_of_stock === true,
    includePurchased: options.include_purchased === true,
    dueWithinDays: Number(options.due_within_days ?? 7) || 0,
  };
  if (typeof options.category === "string" && options.category !== "")
    query.category = options.category;
  const ids = referenceIds(options.for);
  if (ids.length > 0) query.productIds = ids;
  return query;
}

/** Product ids from a `for:` option: an id, a list of ids, or product lines / items. */
export function referenceIds(value: unknown): string[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  const ids: string[] = [];
  for (const item of list) {
    if (typeof item === "string" && item !== "") ids.push(item);
    else if (typeof item === "number") ids.push(String(item));
    else if (typeof item === "object" && item !== null) {
      const id = (item as Record<string, unknown>).product_id;
      if (typeof id === "string" && id !== "") ids.push(id);
      else if (typeof id === "number") ids.push(String(id));
    }
  }
  return [...new Set(ids)];
}

/** At most this many distinct products of one order are paired (n² pairs). */
export const maxPairedProducts = 20;

/** The ordered pairs (a, b), a ≠ b, of the distinct ids: both directions, for one lookup. */
export function pairsOf(ids: readonly string[]): [string, string][] {
  const distinct = [...new Set(ids)].slice(0, maxPairedProducts);
  const pairs: [string, string][] = [];
  for (const a of distinct)
    for (const b of distinct) if (a !== b) pairs.push([a, b]);
  return pairs;
}

const dayMs = 86_400_000;

/** One purchase of a product by a shopper. */
export interface Purchase {
  at: Date;
  quantity: number;
}

/**
 * When a shopper will run out of a product: from their own rhythm when they bought it at
 * least twice (the average gap, scaled by the last quantity over the usual one), else
 * from the product's days of use per unit × the quantity bought; null when neither is
 * known.
 */
export function replenishmentDue(
  purchases: readonly Purchase[],
  daysOfUsePerUnit: number | null,
): Date | null {
  const sorted = [...purchases].sort((a, b) => a.at.getTime() - b.at.getTime());
  const last = sorted.at(-1);
  if (!last) return null;
  if (sorted.length >= 2) {
    const first = sorted[0] ?? last;
    const gaps = (last.at.getTime() - first.at.getTime()) / (sorted.length - 1);
    const usual =
      sorted.slice(0, -1).reduce((sum, p) => sum + p.quantity, 0) /
      (sorted.length - 1);
    const scale = usual > 0 ? last.quantity / usual : 1;
    if (gaps > 0) return new Date(last.at.getTime() + gaps * scale);
  }
  if (daysOfUsePerUnit && daysOfUsePerUnit > 0)
    return new Date(
      last.at.getTime() + daysOfUsePerUnit * Math.max(1, last.quantity) * dayMs,
    );
  return null;
}
