import type { ProductItem } from "@herald/core/recommendations/recommendations";
import type { Queryable, Tx } from "../db/database.ts";

/**
 * The counts recommendations are made from (pairs, daily sales, per-shopper views) and
 * the catalog reads that turn candidates into product items. Candidate queries take the
 * ids to leave out and whether out-of-stock products may appear, so that a block's limit
 * is filled from products it may actually show.
 */

/** A catalog row as blocks need it. */
export type ProductRow = {
  product_id: string;
  variant_id: string | null;
  name: string;
  price: number | null;
  compare_at_price: number | null;
  currency: string | null;
  url: string | null;
  image_url: string | null;
  category: string | null;
  brand: string | null;
  stock: number | null;
  status: string;
};

/** The item a template sees for a catalog row. */
export function toProductItem(row: ProductRow): ProductItem {
  const item: ProductItem = {
    product_id: row.product_id,
    name: row.name,
    price: row.price,
    compare_at_price: row.compare_at_price,
    currency: row.currency,
    url: row.url,
    image_url: row.image_url,
    category: row.category,
    brand: row.brand,
    stock: row.stock,
    in_stock: row.status === "active" && (row.stock === null || row.stock > 0),
  };
  if (row.variant_id) item.variant_id = row.variant_id;
  return item;
}

const productColumns = `p.product_id, null::text as variant_id, p.name, p.price, p.compare_at_price, p.currency,
  p.url, p.image_url, p.category, p.brand, p.stock, p.status`;
// $2 = ids to leave out, $3 = whether out-of-stock and unpublished products may appear.
const shownFilter = `p.product_id <> all($2::text[])
  and ($3::boolean or (p.status = 'active' and (p.stock is null or p.stock > 0)))`;

/** Adds pair counts (product pairs of an order, category pairs, co-views). */
export async function addAffinities(
  tx: Tx,
  workspaceId: string,
  {
    kind,
    pairs,
    at,
  }: {
    kind: "bought" | "viewed" | "category";
    pairs: readonly [string, string][];
    at: Date;
  },
): Promise<void> {
  if (pairs.length === 0) return;
  await tx.query(
    `insert into product_affinities (workspace_id, kind, item, other, count, updated_at)
     select $1, $2, a, b, count(*), $5 from unnest($3::text[], $4::text[]) as t(a, b) group by a, b
     on conflict (workspace_id, kind, item, other)
     do update set count = product_affinities.count + excluded.count, updated_at = excluded.updated_at`,
    [workspaceId, kind, pairs.map(([a]) => a), pairs.map(([, b]) => b), at],
  );
}

/** Adds an order's units to its products' daily sales. */
export async function addSales(
  tx: Tx,
  workspaceId: string,
  lines: readonly { productId: string; units: number }[],
  day: string,
): Promise<void> {
  if (lines.length === 0) return;
  await tx.query(
    `insert into product_sales_daily (workspace_id, product_id, day, units, orders)
     select $1, product_id, $4::date, sum(units), 1 from unnest($2::text[], $3::int[]) as t(product_id, units)
      group by product_id
     on conflict (workspace_id, product_id, day)
     do update set units = product_sales_daily.units + excluded.units,
                   orders = product_sales_daily.orders + 1`,
    [
      workspaceId,
      lines.map((l) => l.productId),
      lines.map((l) => l.units),
      day,
    ],
  );
}

/**
 * Records many product views at once (views of one shopper and product in the batch
 * counted together); returns the `profile|product` pairs viewed for the first time.
 */
export async function recordViews(
  tx: Tx,
  workspaceId: string,
  views: readonly {
    profileId: string;
    productId: string;
    first: Date;
    last: Date;
    count: number;
  }[],
): Promise<Set<string>> {
  if (views.length === 0) return new Set();
  const rows = await tx.query<{
    profile_id: string;
    product_id: string;
    inserted: boolean;
  }>(
    `insert into product_views (workspace_id, profile_id, product_id, first_viewed_at, last_viewed_at, views)
     select $1, v."profileId", v."productId", v.first, v.last, v.count
       from jsonb_to_recordset($2::jsonb) as v("profileId" uuid, "productId" text, first timestamptz, last timestamptz, count int)
      order by v."profileId", v."productId"
     on conflict (workspace_id, profile_id, product_id)
     do update set last_viewed_at = greatest(product_views.last_viewed_at, excluded.last_viewed_at),
                   views = product_views.views + excluded.views
     returning profile_id, product_id, (xmax = 0) as inserted`,
    [workspaceId, JSON.stringify(views)],
  );
  return new Set(
    rows
      .filter((row) => row.inserted)
      .map((row) => `${row.profile_id}|${row.product_id}`),
  );
}

/** Shoppers' product views since a time, most recent first. */
export async function recentViews(
  q: Queryable,
  workspaceId: string,
  profileIds: readonly string[],
  since: Date,
): Promise<
  {
    profile_id: string;
    product_id: string;
    first_viewed_at: Date;
    last_viewed_at: Date;
  }[]
> {
  if (profileIds.length === 0) return [];
  return q.query(
    `select profile_id, product_id, first_viewed_at, last_viewed_at from product_views
      where workspace_id = $1 and profile_id = any($2::uuid[]) and last_viewed_at >= $3
      order by last_viewed_at desc`,
    [workspaceId, [...profileIds], since],
  );
}

/** Moves a merged profile's views to the survivor (the survivor's row wins on a clash). */
export async function moveViews(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    `insert into product_views (workspace_id, profile_id, product_id, first_viewed_at, last_viewed_at, views)
     select workspace_id, $3, product_id, first_viewed_at, last_viewed_at, views from product_views
      where workspace_id = $1 and profile_id = $2
     on conflict (workspace_id, profile_id, product_id)
     do update set first_viewed_at = least(product_views.first_viewed_at, excluded.first_viewed_at),
                   last_viewed_at = greatest(product_views.last_viewed_at, excluded.last_viewed_at),
                   views = product_views.views + excluded.views`,
    [workspaceId, from, to],
  );
  await deleteViews(tx, workspaceId, [from]);
}

/** Deletes profiles' views (privacy erasure). */
export async function deleteViews(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from product_views where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}

/** Profiles' views (privacy export). */
export async function listViews(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select product_id, first_viewed_at, last_viewed_at, views from product_views
      where workspace_id = $1 and profile_id = any($2::uuid[]) order by last_viewed_at desc`,
    [workspaceId, profileIds],
  );
}

/** Catalog rows by product id, with the variant's price and stock where a variant is named. */
export async function getProducts(
  q: Queryable,
  workspaceId: string,
  lines: readonly { productId: string; variantId?: string }[],
): Promise<ProductRow[]> {
  if (lines.length === 0) return [];
  return q.query<ProductRow>(
    `select p.product_id, v.variant_id, coalesce(v.name, p.name) as name,
            coalesce(v.price, p.price) as price, coalesce(v.compare_at_price, p.compare_at_price) as compare_at_price,
            p.currency, p.url, p.image_url, p.category, p.brand, coalesce(v.stock, p.stock) as stock, p.status
       from unnest($2::text[], $3::text[]) with ordinality as l(product_id, variant_id, n)
       join products p on p.workspace_id = $1 and p.product_id = l.product_id
       left join product_variants v on v.workspace_id = $1 and v.product_id = l.product_id
        and v.variant_id = l.variant_id
      order by l.n`,
    [
      workspaceId,
      lines.map((l) => l.productId),
      lines.map((l) => l.variantId ?? null),
    ],
  );
}

/** The products a shopper bought (orders not cancelled). */
export async function purchasedProducts(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<string[]> {
  const rows = await q.query<{ product_id: string }>(
    `select distinct i.product_id from order_items i
       join orders o on o.workspace_id = i.workspace_id and o.order_id = i.order_id
      where i.workspace_id = $1 and i.profile_id = $2 and i.product_id is not null and o.status <> 'cancelled'`,
    [workspaceId, profileId],
  );
  return rows.map((r) => r.product_id);
}

/** The products of a shopper's latest order. */
export async function lastOrderProducts(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<string[]> {
  const rows = await q.query<{ product_id: string }>(
    `select i.product_id from order_items i
      where i.workspace_id = $1 and i.order_id = (
              select order_id from orders where workspace_id = $1 and profile_id = $2
               order by placed_at desc limit 1)
        and i.product_id is not null
      order by i.line`,
    [workspaceId, profileId],
  );
  return rows.map((r) => r.product_id);
}

/** What every candidate query takes: the ids to leave out, whether out-of-stock products may appear, how many. */
export interface CandidateFilter {
  exclude: readonly string[];
  includeOutOfStock: boolean;
  limit: number;
}

/** Products paired with `ids` (bought together or viewed together), by summed count. */
export async function pairedProducts(
  q: Queryable,
  workspaceId: string,
  {
    kind,
    ids,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & { kind: "bought" | "viewed"; ids: readonly string[] },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `select ${productColumns} from (
        select other, sum(count) as score from product_affinities
         where workspace_id = $1 and kind = $4 and item = any($5::text[])
         group by other) c
       join products p on p.workspace_id = $1 and p.product_id = c.other
      where ${shownFilter}
      order by c.score desc, p.product_id limit $6`,
    [workspaceId, [...exclude], includeOutOfStock, kind, [...ids], limit],
  );
}

/** Most units sold since `since` (optionally in one category). */
export async function bestsellingProducts(
  q: Queryable,
  workspaceId: string,
  {
    since,
    category,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & { since: string; category?: string | undefined },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `select ${productColumns} from (
        select product_id, sum(units) as units from product_sales_daily
         where workspace_id = $1 and day >= $4::date group by product_id) s
       join products p on p.workspace_id = $1 and p.product_id = s.product_id
      where ${shownFilter} and ($5::text is null or p.category = $5)
      order by s.units desc, p.product_id limit $6`,
    [
      workspaceId,
      [...exclude],
      includeOutOfStock,
      since,
      category ?? null,
      limit,
    ],
  );
}

/**
 * Selling faster in the week before `today` than in the four weeks before that: the
 * week's units against the weekly average of the four, over the noise of small numbers.
 */
export async function trendingProducts(
  q: Queryable,
  workspaceId: string,
  {
    today,
    category,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & { today: string; category?: string | undefined },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `select ${productColumns} from (
        select product_id,
               sum(units) filter (where day > $4::date - 7) as recent,
               coalesce(sum(units) filter (where day <= $4::date - 7), 0) / 4.0 as base
          from product_sales_daily
         where workspace_id = $1 and day > $4::date - 35 and day <= $4::date
         group by product_id) s
       join products p on p.workspace_id = $1 and p.product_id = s.product_id
      where s.recent > s.base and ${shownFilter} and ($5::text is null or p.category = $5)
      order by (s.recent - s.base) / sqrt(s.base + 1) desc, p.product_id limit $6`,
    [
      workspaceId,
      [...exclude],
      includeOutOfStock,
      today,
      category ?? null,
      limit,
    ],
  );
}

/**
 * The same category as a reference product at a higher price: same brand first, then the
 * smallest step up (the 64 GB phone leads to the 128 GB before the 1 TB).
 */
export async function upsellProducts(
  q: Queryable,
  workspaceId: string,
  {
    ids,
    category,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & {
    ids: readonly string[];
    category?: string | undefined;
  },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `select ${productColumns} from (
        select p.product_id,
               min(case when p.brand is not distinct from r.brand then 0 else 1 end) as other_brand,
               min(p.price / nullif(r.price, 0)) as step
          from products r
          join products p on p.workspace_id = r.workspace_id and p.category = r.category and p.price > r.price
         where r.workspace_id = $1 and r.product_id = any($4::text[]) and ($5::text is null or r.category = $5)
         group by p.product_id) c
       join products p on p.workspace_id = $1 and p.product_id = c.product_id
      where ${shownFilter}
      order by c.other_brand, c.step, p.product_id limit $6`,
    [
      workspaceId,
      [...exclude],
      includeOutOfStock,
      [...ids],
      category ?? null,
      limit,
    ],
  );
}

/**
 * Bestsellers (since `since`) of the categories most often bought together with the
 * reference products' categories, taking the best of each category in turn.
 */
export async function crossSellProducts(
  q: Queryable,
  workspaceId: string,
  {
    ids,
    since,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & { ids: readonly string[]; since: string },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `with refs as (
        select distinct category from products
         where workspace_id = $1 and product_id = any($4::text[]) and category is not null),
      cats as (
        select a.other as category, sum(a.count) as score from product_affinities a
         where a.workspace_id = $1 and a.kind = 'category' and a.item in (select category from refs)
           and a.other not in (select category from refs)
         group by a.other order by score desc limit 6),
      sales as (
        select product_id, sum(units) as units from product_sales_daily
         where workspace_id = $1 and day >= $5::date group by product_id),
      ranked as (
        select p.product_id, c.score,
               row_number() over (partition by p.category order by coalesce(s.units, 0) desc, p.product_id) as n
          from cats c
          join products p on p.workspace_id = $1 and p.category = c.category
          left join sales s on s.product_id = p.product_id
         where ${shownFilter})
     select ${productColumns} from ranked r join products p on p.workspace_id = $1 and p.product_id = r.product_id
      order by r.n, r.score desc, p.product_id limit $6`,
    [workspaceId, [...exclude], includeOutOfStock, [...ids], since, limit],
  );
}

/** A shopper's recently viewed products, most recent first. */
export async function recentlyViewedProducts(
  q: Queryable,
  workspaceId: string,
  {
    profileId,
    exclude,
    includeOutOfStock,
    limit,
  }: CandidateFilter & { profileId: string },
): Promise<ProductRow[]> {
  return q.query<ProductRow>(
    `select ${productColumns} from product_views v
       join products p on p.workspace_id = v.workspace_id and p.product_id = v.product_id
      where v.workspace_id = $1 and v.profile_id = $4 and ${shownFilter}
      order by v.last_viewed_at desc, p.product_id limit $5`,
    [workspaceId, [...exclude], includeOutOfStock, profileId, limit],
  );
}

/** Every purchase of a shopper's products, with the products' days of use per unit. */
export async function purchaseHistory(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<
  {
    product_id: string;
    placed_at: Date;
    quantity: number;
    days_of_use_per_unit: number | null;
  }[]
> {
  return q.query(
    `select i.product_id, i.placed_at, sum(i.quantity)::int as quantity, max(p.days_of_use_per_unit) as days_of_use_per_unit
       from order_items i
       join orders o on o.workspace_id = i.workspace_id and o.order_id = i.order_id and o.status = 'placed'
       left join products p on p.workspace_id = i.workspace_id and p.product_id = i.product_id
      where i.workspace_id = $1 and i.profile_id = $2 and i.product_id is not null
      group by i.order_id, i.product_id, i.placed_at
      order by i.placed_at`,
    [workspaceId, profileId],
  );
}
