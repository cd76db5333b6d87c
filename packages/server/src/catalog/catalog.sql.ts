import type {
  CatalogChange,
  CatalogWrites,
  Product,
  Variant,
} from "@herald/core/catalog/catalog";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `products` with its variants aggregated. */
type ProductRow = {
  product_id: string;
  name: string;
  url: string | null;
  image_url: string | null;
  category: string | null;
  brand: string | null;
  price: number | null;
  compare_at_price: number | null;
  currency: string | null;
  stock: number | null;
  days_of_use_per_unit: number | null;
  status: Product["status"];
  attributes: Record<string, unknown>;
  variants: Variant[];
  updated_at: Date;
};

const productColumns = `p.product_id, p.name, p.url, p.image_url, p.category, p.brand, p.price, p.compare_at_price,
  p.currency, p.stock, p.days_of_use_per_unit, p.status, p.attributes, p.updated_at,
  coalesce((select jsonb_agg(jsonb_build_object('variantId', v.variant_id, 'sku', v.sku, 'name', v.name,
              'price', v.price, 'compareAtPrice', v.compare_at_price, 'stock', v.stock,
              'inventoryItemId', v.inventory_item_id) order by v.variant_id)
              from product_variants v where v.workspace_id = p.workspace_id and v.product_id = p.product_id), '[]') as variants`;

/** The product of a row. */
export function toProduct(row: ProductRow): Product {
  return {
    productId: row.product_id,
    name: row.name,
    url: row.url,
    imageUrl: row.image_url,
    category: row.category,
    brand: row.brand,
    price: row.price,
    compareAtPrice: row.compare_at_price,
    currency: row.currency,
    stock: row.stock,
    daysOfUsePerUnit: row.days_of_use_per_unit,
    status: row.status,
    attributes: row.attributes,
    // jsonb numbers arrive as numbers already; numeric columns inside jsonb too.
    variants: row.variants,
  };
}

/** Products by id, locked for update. */
export async function lockProducts(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<Map<string, Product>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<ProductRow>(
    `select ${productColumns} from products p
      where p.workspace_id = $1 and p.product_id = any($2::text[]) order by p.product_id for update`,
    [workspaceId, ids],
  );
  return new Map(rows.map((row) => [row.product_id, toProduct(row)]));
}

/** Writes products and their variants as given. */
export async function saveProducts(
  tx: Tx,
  workspaceId: string,
  products: Product[],
  at: Date,
): Promise<void> {
  if (products.length === 0) return;
  await tx.query(
    `insert into products (workspace_id, product_id, name, url, image_url, category, brand, price, compare_at_price,
                           currency, stock, days_of_use_per_unit, status, attributes, created_at, updated_at)
     select $1, r.product_id, r.name, r.url, r.image_url, r.category, r.brand, r.price, r.compare_at_price, r.currency,
            r.stock, r.days_of_use_per_unit, r.status, coalesce(r.attributes, '{}'::jsonb), $3, $3
       from jsonb_to_recordset($2::jsonb) as r(product_id text, name text, url text, image_url text, category text,
            brand text, price numeric, compare_at_price numeric, currency text, stock integer,
            days_of_use_per_unit real, status text, attributes jsonb)
     on conflict (workspace_id, product_id) do update set
       name = excluded.name, url = excluded.url, image_url = excluded.image_url, category = excluded.category,
       brand = excluded.brand, price = excluded.price, compare_at_price = excluded.compare_at_price,
       currency = excluded.currency, stock = excluded.stock, days_of_use_per_unit = excluded.days_of_use_per_unit,
       status = excluded.status, attributes = excluded.attributes, updated_at = excluded.updated_at`,
    [
      workspaceId,
      JSON.stringify(
        products.map((p) => ({
          product_id: p.productId,
          name: p.name,
          url: p.url,
          image_url: p.imageUrl,
          category: p.category,
          brand: p.brand,
          price: p.price,
          compare_at_price: p.compareAtPrice,
          currency: p.currency,
          stock: p.stock,
          days_of_use_per_unit: p.daysOfUsePerUnit,
          status: p.status,
          attributes: p.attributes,
        })),
      ),
      at,
    ],
  );
  const variants = products.flatMap((p) =>
    p.variants.map((v) => ({ product_id: p.productId, ...v })),
  );
  if (variants.length === 0) return;
  await tx.query(
    `insert into product_variants (workspace_id, product_id, variant_id, sku, name, price, compare_at_price, stock,
                                   inventory_item_id, updated_at)
     select $1, r.product_id, r."variantId", r.sku, r.name, r.price, r."compareAtPrice", r.stock, r."inventoryItemId", $3
       from jsonb_to_recordset($2::jsonb) as r(product_id text, "variantId" text, sku text, name text, price numeric,
            "compareAtPrice" numeric, stock integer, "inventoryItemId" text)
     on conflict (workspace_id, product_id, variant_id) do update set
       sku = excluded.sku, name = excluded.name, price = excluded.price, compare_at_price = excluded.compare_at_price,
       stock = excluded.stock, inventory_item_id = excluded.inventory_item_id, updated_at = excluded.updated_at`,
    [workspaceId, JSON.stringify(variants), at],
  );
}

/** Records price and stock changes. */
export async function insertCatalogChanges(
  tx: Tx,
  workspaceId: string,
  changes: CatalogChange[],
  at: Date,
): Promise<void> {
  if (changes.length === 0) return;
  await tx.query(
    `insert into catalog_changes (workspace_id, product_id, variant_id, kind, old_value, new_value, changed_at)
     select $1, r."productId", r."variantId", r.kind, r."oldValue", r."newValue", $3
       from jsonb_to_recordset($2::jsonb) as r("productId" text, "variantId" text, kind text, "oldValue" numeric, "newValue" numeric)`,
    [workspaceId, JSON.stringify(changes), at],
  );
}

/** The CatalogWrites port of core, in a transaction. */
export function catalogWrites(
  tx: Tx,
  workspaceId: string,
  at: Date,
): CatalogWrites {
  return {
    getProducts: (ids) => lockProducts(tx, workspaceId, ids),
    saveProducts: (products) => saveProducts(tx, workspaceId, products, at),
    recordChanges: (changes) =>
      insertCatalogChanges(tx, workspaceId, changes, at),
  };
}

/** One product with its variants. */
export async function getProduct(
  q: Queryable,
  workspaceId: string,
  productId: string,
): Promise<Product | undefined> {
  const [row] = await q.query<ProductRow>(
    `select ${productColumns} from products p where p.workspace_id = $1 and p.product_id = $2`,
    [workspaceId, productId],
  );
  return row && toProduct(row);
}

/** A page of products by id, optionally of one category. */
export async function listProducts(
  q: Queryable,
  workspaceId: string,
  page: { limit: number; after?: string; category?: string },
): Promise<Product[]> {
  const rows = await q.query<ProductRow>(
    `select ${productColumns} from products p
      where p.workspace_id = $1 and ($2::text is null or p.product_id > $2) and ($3::text is null or p.category = $3)
      order by p.product_id limit $4`,
    [workspaceId, page.after ?? null, page.category ?? null, page.limit],
  );
  return rows.map(toProduct);
}

/** A product's price and stock history, newest first. */
export async function listCatalogChanges(
  q: Queryable,
  workspaceId: string,
  productId: string,
  limit: number,
): Promise<(CatalogChange & { changedAt: Date })[]> {
  const rows = await q.query<{
    variant_id: string | null;
    kind: CatalogChange["kind"];
    old_value: number | null;
    new_value: number | null;
    changed_at: Date;
  }>(
    `select variant_id, kind, old_value, new_value, changed_at from catalog_changes
      where workspace_id = $1 and product_id = $2 order by changed_at desc, id desc limit $3`,
    [workspaceId, productId, limit],
  );
  return rows.map((r) => ({
    productId,
    variantId: r.variant_id,
    kind: r.kind,
    oldValue: r.old_value,
    newValue: r.new_value,
    changedAt: r.changed_at,
  }));
}

/** The product and variant an inventory item (Shopify) belongs to. */
export async function findByInventoryItem(
  q: Queryable,
  workspaceId: string,
  inventoryItemId: string,
): Promise<{ productId: string; variantId: string } | undefined> {
  const [row] = await q.query<{ product_id: string; variant_id: string }>(
    "select product_id, variant_id from product_variants where workspace_id = $1 and inventory_item_id = $2 limit 1",
    [workspaceId, inventoryItemId],
  );
  return row && { productId: row.product_id, variantId: row.variant_id };
}
