import Type from "typebox";
import { maxMoney } from "../events/ecommerce.ts";
import { isJsonObject } from "../events/event.ts";
import { parseWith } from "../validation.ts";

/**
 * The store's catalog: products and their variants with price, compare-at price, stock,
 * category, brand, URL, image and an optional "days of use per unit" for replenishment.
 * Upserts merge: fields an update leaves out keep their values. Every change of a price or
 * a stock level is recorded, so a price drop or a restock can be found and acted on.
 */

const Money = Type.Union([
  Type.Number({ minimum: 0, maximum: maxMoney }),
  Type.Null(),
]);
const Id = Type.Union([
  Type.String({ minLength: 1, maxLength: 255 }),
  Type.Integer({
    minimum: -Number.MAX_SAFE_INTEGER,
    maximum: Number.MAX_SAFE_INTEGER,
  }),
]);

/** Units in stock: an integer column. */
const Stock = Type.Integer({ minimum: -2_147_483_648, maximum: 2_147_483_647 });

/** A variant as the API and webhooks send it. */
export const VariantInput = Type.Object(
  {
    variant_id: Id,
    sku: Type.Optional(
      Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
    ),
    name: Type.Optional(
      Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
    ),
    price: Type.Optional(Money),
    compare_at_price: Type.Optional(Money),
    stock: Type.Optional(Type.Union([Stock, Type.Null()])),
    inventory_item_id: Type.Optional(Type.Union([Id, Type.Null()])),
  },
  { additionalProperties: false },
);
export type VariantInput = Type.Static<typeof VariantInput>;

/** A product as the API and webhooks send it. */
export const ProductInput = Type.Object(
  {
    product_id: Id,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    url: Type.Optional(
      Type.Union([Type.String({ maxLength: 2048 }), Type.Null()]),
    ),
    image_url: Type.Optional(
      Type.Union([Type.String({ maxLength: 2048 }), Type.Null()]),
    ),
    category: Type.Optional(
      Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
    ),
    brand: Type.Optional(
      Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
    ),
    price: Type.Optional(Money),
    compare_at_price: Type.Optional(Money),
    currency: Type.Optional(
      Type.Union([Type.String({ pattern: "^[A-Za-z]{3}$" }), Type.Null()]),
    ),
    stock: Type.Optional(Type.Union([Stock, Type.Null()])),
    days_of_use_per_unit: Type.Optional(
      Type.Union([
        Type.Number({ exclusiveMinimum: 0, maximum: 36_500 }),
        Type.Null(),
      ]),
    ),
    status: Type.Optional(
      Type.Union([
        Type.Literal("active"),
        Type.Literal("draft"),
        Type.Literal("archived"),
      ]),
    ),
    attributes: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    variants: Type.Optional(Type.Array(VariantInput, { maxItems: 1000 })),
  },
  { additionalProperties: false },
);
export type ProductInput = Type.Static<typeof ProductInput>;

/** Many products at once. */
export const ProductBatch = Type.Object(
  { products: Type.Array(ProductInput, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export type ProductBatch = Type.Static<typeof ProductBatch>;

/** What an upsert sends: one product, or many as {products: [...]}. */
export const ProductUpsert = Type.Union([ProductInput, ProductBatch]);
export type ProductUpsert = Type.Static<typeof ProductUpsert>;

/**
 * The products of an upsert: a body with `products` is a batch, anything else one
 * product; invalid DomainError with the path of each problem.
 */
export function parseProductUpsert(body: unknown): ProductInput[] {
  return isJsonObject(body) && "products" in body
    ? parseWith(ProductBatch, body, "the product batch").products
    : [parseWith(ProductInput, body, "the product")];
}

/** A variant as stored. */
export interface Variant {
  variantId: string;
  sku: string | null;
  name: string | null;
  price: number | null;
  compareAtPrice: number | null;
  stock: number | null;
  inventoryItemId: string | null;
}

/** A product as stored. */
export interface Product {
  productId: string;
  name: string;
  url: string | null;
  imageUrl: string | null;
  category: string | null;
  brand: string | null;
  price: number | null;
  compareAtPrice: number | null;
  currency: string | null;
  /** Sum of the variants' stock when they track it; null when stock is not tracked. */
  stock: number | null;
  daysOfUsePerUnit: number | null;
  status: "active" | "draft" | "archived";
  attributes: Record<string, unknown>;
  variants: Variant[];
}

/** A price or stock change, for the history and the price-drop / restock triggers. */
export interface CatalogChange {
  productId: string;
  variantId: string | null;
  kind: "price" | "stock";
  oldValue: number | null;
  newValue: number | null;
}

const text = (value: string | number | null | undefined): string | null =>
  value === undefined || value === null ? null : String(value);

function pick<T>(input: T | undefined, current: T): T {
  return input === undefined ? current : input;
}

function mergeVariant(
  current: Variant | undefined,
  input: VariantInput,
): Variant {
  return {
    variantId: String(input.variant_id),
    sku: pick(input.sku, current?.sku ?? null),
    name: pick(input.name, current?.name ?? null),
    price: pick(input.price, current?.price ?? null),
    compareAtPrice: pick(
      input.compare_at_price,
      current?.compareAtPrice ?? null,
    ),
    stock: pick(input.stock, current?.stock ?? null),
    inventoryItemId:
      input.inventory_item_id === undefined
        ? (current?.inventoryItemId ?? null)
        : text(input.inventory_item_id),
  };
}

/**
 * The product after applying `input` to `current` (undefined for a new product). Variants
 * named by the input are merged one by one; variants it does not name are kept. A new
 * product without a name is named by its id.
 */
export function mergeProduct(
  current: Product | undefined,
  input: ProductInput,
): Product {
  const byId = new Map((current?.variants ?? []).map((v) => [v.variantId, v]));
  for (const variant of input.variants ?? []) {
    const id = String(variant.variant_id);
    byId.set(id, mergeVariant(byId.get(id), variant));
  }
  const variants = [...byId.values()];
  const tracked = variants.filter((v) => v.stock !== null);
  const ownStock = pick(input.stock, current?.stock ?? null);
  const prices = variants.map((v) => v.price).filter((p) => p !== null);
  return {
    productId: String(input.product_id),
    name: input.name ?? current?.name ?? String(input.product_id),
    url: pick(input.url, current?.url ?? null),
    imageUrl: pick(input.image_url, current?.imageUrl ?? null),
    category: pick(input.category, current?.category ?? null),
    brand: pick(input.brand, current?.brand ?? null),
    // A product without its own price shows its cheapest variant's.
    price:
      input.price !== undefined
        ? input.price
        : (current?.price ?? (prices.length > 0 ? Math.min(...prices) : null)),
    compareAtPrice: pick(
      input.compare_at_price,
      current?.compareAtPrice ?? null,
    ),
    currency:
      input.currency === undefined
        ? (current?.currency ?? null)
        : (input.currency?.toUpperCase() ?? null),
    stock:
      tracked.length > 0
        ? tracked.reduce((sum, v) => sum + Math.max(0, v.stock ?? 0), 0)
        : ownStock,
    daysOfUsePerUnit: pick(
      input.days_of_use_per_unit,
      current?.daysOfUsePerUnit ?? null,
    ),
    status: input.status ?? current?.status ?? "active",
    attributes: { ...current?.attributes, ...input.attributes },
    variants,
  };
}

/** The price and stock changes between two states of a product (all of them for a new one). */
export function catalogChanges(
  before: Product | undefined,
  after: Product,
): CatalogChange[] {
  const changes: CatalogChange[] = [];
  const compare = (
    variantId: string | null,
    kind: CatalogChange["kind"],
    old: number | null | undefined,
    now: number | null,
  ) => {
    if ((old ?? null) !== now && !(old === undefined && now === null)) {
      changes.push({
        productId: after.productId,
        variantId,
        kind,
        oldValue: old ?? null,
        newValue: now,
      });
    }
  };
  compare(null, "price", before?.price, after.price);
  compare(null, "stock", before?.stock, after.stock);
  const old = new Map((before?.variants ?? []).map((v) => [v.variantId, v]));
  for (const variant of after.variants) {
    const previous = old.get(variant.variantId);
    compare(variant.variantId, "price", previous?.price, variant.price);
    compare(variant.variantId, "stock", previous?.stock, variant.stock);
  }
  return changes;
}

/** True when a stock change brings something back: from none (or negative) to some. */
export function isRestock(change: CatalogChange): boolean {
  return (
    change.kind === "stock" &&
    (change.oldValue ?? 0) <= 0 &&
    (change.newValue ?? 0) > 0
  );
}

/** True when a price change lowers the price. */
export function isPriceDrop(change: CatalogChange): boolean {
  return (
    change.kind === "price" &&
    change.oldValue !== null &&
    change.newValue !== null &&
    change.newValue < change.oldValue
  );
}

/** The storage an upsert needs, bound to one transaction of one workspace. */
export interface CatalogWrites {
  /** The current state of the given products, locked until the transaction ends. */
  getProducts(productIds: string[]): Promise<Map<string, Product>>;
  saveProducts(products: Product[]): Promise<void>;
  recordChanges(changes: CatalogChange[]): Promise<void>;
}

/** Applies product upserts (later inputs for the same product win) and records what changed. */
export async function upsertProducts(
  store: CatalogWrites,
  inputs: ProductInput[],
): Promise<{ products: Product[]; changes: CatalogChange[] }> {
  const ids = [...new Set(inputs.map((input) => String(input.product_id)))];
  const before = await store.getProducts(ids);
  const after = new Map(before);
  for (const input of inputs) {
    const id = String(input.product_id);
    after.set(id, mergeProduct(after.get(id), input));
  }
  const products = ids
    .map((id) => after.get(id))
    .filter((p) => p !== undefined);
  const changes = products.flatMap((product) =>
    catalogChanges(before.get(product.productId), product),
  );
  await store.saveProducts(products);
  await store.recordChanges(changes);
  return { products, changes };
}
