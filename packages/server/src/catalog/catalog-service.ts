import type { Clock } from "@herald/core/clock";
import * as catalog from "@herald/core/catalog/catalog";
import type { CatalogChange, Product } from "@herald/core/catalog/catalog";
import { DomainError } from "@herald/core/domain-error";
import type { Database } from "../db/database.ts";
import * as catalogSql from "./catalog.sql.ts";

/**
 * The store's catalog as the admin API manages it: upserting products (fields left out
 * keep their values; price and stock changes are recorded in the same transaction) and
 * reading them with their history.
 */

/** What the catalog use-cases run with: the database and the clock. */
export interface CatalogDeps {
  db: Database;
  clock: Clock;
}

/**
 * Creates or updates one product, or many as {products: [...]}; resolves to how many
 * were upserted and the price and stock changes that made.
 */
export async function upsertProducts(
  { db, clock }: CatalogDeps,
  workspaceId: string,
  body: unknown,
): Promise<{ upserted: number; changes: CatalogChange[] }> {
  const inputs = catalog.parseProductUpsert(body);
  const now = clock.now();
  const result = await db.tx((tx) =>
    catalog.upsertProducts(
      catalogSql.catalogWrites(tx, workspaceId, now),
      inputs,
    ),
  );
  return { upserted: result.products.length, changes: result.changes };
}

/** A page of products by id (of one category), with the cursor of the next page. */
export async function listProducts(
  db: Database,
  workspaceId: string,
  page: {
    limit: number;
    after?: string | undefined;
    category?: string | undefined;
  },
): Promise<{ items: Product[]; next: string | null }> {
  const { limit, after, category } = page;
  const rows = await catalogSql.listProducts(db, workspaceId, {
    limit: limit + 1,
    ...(after ? { after } : {}),
    ...(category ? { category } : {}),
  });
  const items = rows.slice(0, limit);
  return {
    items,
    next: rows.length > limit ? (items.at(-1)?.productId ?? null) : null,
  };
}

/** A product with its variants and its last 100 price and stock changes; `not_found` otherwise. */
export async function getProduct(
  db: Database,
  workspaceId: string,
  productId: string,
): Promise<Product & { history: (CatalogChange & { changedAt: Date })[] }> {
  const product = await catalogSql.getProduct(db, workspaceId, productId);
  if (!product) throw new DomainError("not_found", `no product ${productId}`);
  const history = await catalogSql.listCatalogChanges(
    db,
    workspaceId,
    product.productId,
    100,
  );
  return { ...product, history };
}
