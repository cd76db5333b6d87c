import { isJsonObject, type JsonObject } from "./event.ts";

/**
 * Segment's E-commerce Spec v2 names, the v1 names still sent by older integrations, and
 * the transactional events Herald adds for order messages.
 */

/** The v2 event names Herald understands, plus its order-lifecycle additions. */
export const ecommerceEvents = [
  "Products Searched",
  "Product List Viewed",
  "Product List Filtered",
  "Promotion Viewed",
  "Promotion Clicked",
  "Product Clicked",
  "Product Viewed",
  "Product Added",
  "Product Removed",
  "Cart Viewed",
  "Checkout Started",
  "Checkout Step Viewed",
  "Checkout Step Completed",
  "Payment Info Entered",
  "Order Updated",
  "Order Completed",
  "Order Refunded",
  "Order Cancelled",
  "Coupon Entered",
  "Coupon Applied",
  "Coupon Denied",
  "Coupon Removed",
  "Product Added to Wishlist",
  "Product Removed from Wishlist",
  "Wishlist Product Added to Cart",
  "Product Shared",
  "Cart Shared",
  "Product Reviewed",
  // Herald's additions for transactional messages.
  "Checkout Updated",
  "Order Paid",
  "Order Fulfilled",
  "Order Shipped",
  "Order Delivered",
  "Order Ready for Pickup",
] as const;

/** The v1 names, mapped to v2. */
const v1Names: Record<string, string> = {
  "Searched Products": "Products Searched",
  "Viewed Product Category": "Product List Viewed",
  "Viewed Product List": "Product List Viewed",
  "Filtered Product List": "Product List Filtered",
  "Viewed Promotion": "Promotion Viewed",
  "Clicked Promotion": "Promotion Clicked",
  "Clicked Product": "Product Clicked",
  "Viewed Product": "Product Viewed",
  "Added Product": "Product Added",
  "Removed Product": "Product Removed",
  "Viewed Cart": "Cart Viewed",
  "Started Checkout": "Checkout Started",
  "Started Order": "Checkout Started",
  "Viewed Checkout Step": "Checkout Step Viewed",
  "Completed Checkout Step": "Checkout Step Completed",
  "Entered Payment Info": "Payment Info Entered",
  "Updated Order": "Order Updated",
  "Completed Order": "Order Completed",
  "Refunded Order": "Order Refunded",
  "Cancelled Order": "Order Cancelled",
  "Entered Coupon": "Coupon Entered",
  "Applied Coupon": "Coupon Applied",
  "Denied Coupon": "Coupon Denied",
  "Removed Coupon": "Coupon Removed",
  "Added Product to Wishlist": "Product Added to Wishlist",
  "Removed Product from Wishlist": "Product Removed from Wishlist",
  "Added Wishlist Product to Cart": "Wishlist Product Added to Cart",
  "Shared Product": "Product Shared",
  "Shared Cart": "Cart Shared",
  "Reviewed Product": "Product Reviewed",
};

const byLowerCase = new Map<string, string>([
  ...ecommerceEvents.map((name) => [name.toLowerCase(), name] as const),
  ...Object.entries(v1Names).map(([v1, v2]) => [v1.toLowerCase(), v2] as const),
]);

/** The spec name for `name` (v1 names and case variants mapped to v2), else `name` itself. */
export function normalizeEventName(name: string): string {
  return byLowerCase.get(name.trim().toLowerCase()) ?? name.trim();
}

/** v1 camelCase property names and their v2 spellings. */
const v1Properties: Record<string, string> = {
  orderId: "order_id",
  checkoutId: "checkout_id",
  cartId: "cart_id",
  productId: "product_id",
  couponId: "coupon_id",
  couponName: "coupon_name",
  listId: "list_id",
  wishlistId: "wishlist_id",
  reviewId: "review_id",
  imageUrl: "image_url",
  trackingNumber: "tracking_number",
  trackingUrl: "tracking_url",
};

function renameV1(object: JsonObject, inProducts: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(object)) {
    const renamed =
      inProducts && key === "id" ? "product_id" : (v1Properties[key] ?? key);
    if (!(renamed in out) || renamed === key) out[renamed] = value;
  }
  return out;
}

/**
 * E-commerce properties in v2 spelling: v1 camelCase keys renamed (`orderId` →
 * `order_id`, a product's `id` → `product_id`); names already in v2 are kept as sent.
 */
export function normalizeEcommerceProperties(
  properties: JsonObject,
): JsonObject {
  const out = renameV1(properties, false);
  const products: unknown = out.products;
  if (Array.isArray(products)) {
    out.products = products.map((item: unknown) =>
      isJsonObject(item) ? renameV1(item, true) : item,
    );
  }
  return out;
}

/** A product line of an e-commerce event, as the spec names its fields. */
export interface ProductLine {
  product_id?: string;
  variant_id?: string;
  sku?: string;
  name?: string;
  category?: string;
  brand?: string;
  variant?: string;
  price?: number;
  quantity?: number;
  url?: string;
  image_url?: string;
}

const asString = (value: unknown): string | undefined =>
  typeof value === "string" && value !== ""
    ? value
    : typeof value === "number"
      ? String(value)
      : undefined;

/** A number from a number or a numeric string, else undefined. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (
    typeof value === "string" &&
    value.trim() !== "" &&
    Number.isFinite(Number(value))
  )
    return Number(value);
  return undefined;
}

/** Properties that hold money, kept in numeric(16, 2) columns (orders, catalog). */
const moneyProperties = [
  "revenue",
  "total",
  "subtotal",
  "tax",
  "shipping",
  "discount",
  "price",
  "value",
] as const;

/** The largest amount of money storage keeps (numeric(16, 2)). */
export const maxMoney = 99_999_999_999_999;
/** The largest quantity storage keeps (integer). */
export const maxQuantity = 2_147_483_647;

/** What is wrong with an event's e-commerce numbers: one that cannot be stored, and ones that are not numbers. */
export interface NumberProblems {
  /** A number past what storage keeps: the event is refused. */
  refused?: { path: string; message: string };
  /** Values that are not numbers: the event is kept, these are not counted. */
  warnings: { path: string; message: string }[];
}

/**
 * Checks the e-commerce numbers of an event's properties (`revenue`, `total`, `price`,
 * `quantity`, `value`, …, and those of each of its `products`), with their paths.
 */
export function checkEcommerceNumbers(properties: JsonObject): NumberProblems {
  const warnings: NumberProblems["warnings"] = [];
  const check = (
    object: JsonObject,
    key: string,
    path: string,
    max: number,
  ): NumberProblems["refused"] => {
    const value = object[key];
    if (value === undefined || value === null || value === "") return;
    const n = asNumber(value);
    if (n === undefined) {
      warnings.push({
        path,
        message: `${key} is not a number (${JSON.stringify(value).slice(0, 40)}); the event is kept, but this value is not counted — send a number`,
      });
      return;
    }
    if (Math.abs(n) > max)
      return {
        path,
        message: `${key} is out of range: at most ${max} can be stored`,
      };
  };
  const checkAll = (object: JsonObject, path: string) => {
    for (const key of moneyProperties) {
      const refused = check(object, key, `${path}/${key}`, maxMoney);
      if (refused) return refused;
    }
    return check(object, "quantity", `${path}/quantity`, maxQuantity);
  };
  let refused = checkAll(properties, "/properties");
  const products: unknown = properties.products;
  if (Array.isArray(products)) {
    for (const [i, item] of products.entries()) {
      if (refused) break;
      if (isJsonObject(item))
        refused = checkAll(item, `/properties/products/${i}`);
    }
  }
  return refused ? { refused, warnings } : { warnings };
}

/** The product lines of an event: its `products` array, or the event itself for single-product events. */
export function productLines(properties: JsonObject): ProductLine[] {
  const items = Array.isArray(properties.products)
    ? properties.products.filter(isJsonObject)
    : [properties];
  return items
    .map((item) => {
      const line: ProductLine = {};
      const text = {
        product_id: asString(item.product_id),
        variant_id: asString(item.variant_id),
        sku: asString(item.sku),
      };
      if (text.product_id) line.product_id = text.product_id;
      if (text.variant_id) line.variant_id = text.variant_id;
      if (text.sku) line.sku = text.sku;
      for (const key of [
        "name",
        "category",
        "brand",
        "variant",
        "url",
        "image_url",
      ] as const) {
        const value = asString(item[key]);
        if (value) line[key] = value;
      }
      const price = asNumber(item.price);
      if (price !== undefined) line.price = price;
      const quantity = asNumber(item.quantity);
      if (quantity !== undefined) line.quantity = quantity;
      return line;
    })
    .filter(
      (line) =>
        line.product_id !== undefined ||
        line.sku !== undefined ||
        line.name !== undefined,
    );
}
