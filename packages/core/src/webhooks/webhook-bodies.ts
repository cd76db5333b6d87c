import Type, { type TProperties, type TSchema } from "typebox";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { findErrors } from "../validation.ts";
import type { StorePlatform } from "./connections.ts";

/**
 * The fields of Shopify's and WooCommerce's webhook bodies that the mappers (shopify.ts,
 * woocommerce.ts) read, with the types the platforms send them as. A delivery is checked
 * against its topic's schema before it is mapped: a field Herald reads that holds
 * something else (an object where an id belongs) refuses the delivery with its path,
 * instead of being read as missing. Every field may be absent or null, and fields Herald
 * does not read are not looked at; ids, amounts and times may come as strings or numbers
 * (64-bit ids arrive as exact digit strings, amounts as decimal strings).
 */

/** An id, an amount, a time or a name: a string or a number, or null. */
const Scalar = Type.Union([Type.String(), Type.Number(), Type.Null()]);

/** An object of the given fields, any of them absent; more fields are allowed. */
const fields = (properties: TProperties) =>
  Type.Object(
    Object.fromEntries(
      Object.entries(properties).map(([name, schema]) => [
        name,
        Type.Optional(schema),
      ]),
    ),
  );

/** Scalar fields by name. */
const scalars = (...names: string[]): TProperties =>
  Object.fromEntries(names.map((name) => [name, Scalar]));

/** A nested object of the given fields, or null. */
const nested = (properties: TProperties) =>
  Type.Union([fields(properties), Type.Null()]);

/** A list of objects of the given fields, or null. */
const list = (properties: TProperties) =>
  Type.Union([Type.Array(fields(properties)), Type.Null()]);

const shopifyAddress = nested(
  scalars(
    "phone",
    "country_code",
    "city",
    "company",
    "address1",
    "address2",
    "province",
    "zip",
  ),
);

const shopifyCustomer: TProperties = {
  ...scalars(
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "created_at",
    "updated_at",
    "tags",
  ),
  email_marketing_consent: nested(scalars("state")),
  sms_marketing_consent: nested(scalars("state")),
  default_address: shopifyAddress,
};

const shopifyLineItem = scalars(
  "product_id",
  "variant_id",
  "sku",
  "title",
  "name",
  "variant_title",
  "vendor",
  "price",
  "quantity",
);

/** What every Shopify shopper event reads: who, where, and the order's figures and lines. */
const shopifyShopperEvent: TProperties = {
  ...scalars(
    "id",
    "email",
    "contact_email",
    "phone",
    "token",
    "cart_token",
    "checkout_token",
    "abandoned_checkout_url",
    "customer_locale",
    "created_at",
    "updated_at",
    "processed_at",
    "total_price",
    "subtotal_price",
    "total_tax",
    "total_discounts",
    "currency",
  ),
  note_attributes: list({ name: Scalar, value: Type.Unknown() }),
  customer: nested(shopifyCustomer),
  billing_address: shopifyAddress,
  shipping_address: shopifyAddress,
  total_shipping_price_set: nested({
    shop_money: nested(scalars("amount")),
  }),
  discount_codes: list(scalars("code")),
  line_items: list(shopifyLineItem),
};

const ShopifyCheckout = fields({
  ...shopifyShopperEvent,
  ...scalars("completed_at"),
});

const ShopifyOrder = fields({
  ...shopifyShopperEvent,
  ...scalars("name", "order_number", "cancel_reason", "cancelled_at"),
  fulfillments: list(
    scalars("tracking_number", "tracking_url", "tracking_company"),
  ),
});

const ShopifyFulfillment = fields({
  ...shopifyShopperEvent,
  ...scalars(
    "order_id",
    "shipment_status",
    "tracking_number",
    "tracking_url",
    "tracking_company",
  ),
});

const ShopifyRefund = fields({
  ...shopifyShopperEvent,
  ...scalars("order_id", "note"),
  transactions: list(scalars("kind", "status", "amount", "currency")),
  refund_line_items: list({
    line_item: nested(shopifyLineItem),
    quantity: Scalar,
  }),
});

const ShopifyCustomer = fields(shopifyCustomer);

const ShopifyProduct = fields({
  ...scalars("id", "title", "handle", "product_type", "vendor", "status"),
  image: nested(scalars("src")),
  images: list(scalars("src")),
  variants: list(
    scalars(
      "id",
      "sku",
      "title",
      "price",
      "compare_at_price",
      "inventory_quantity",
      "inventory_item_id",
    ),
  ),
});

const ShopifyInventoryLevel = fields(scalars("inventory_item_id", "available"));

const shopifyBodies: Record<string, TSchema> = {
  "checkouts/create": ShopifyCheckout,
  "checkouts/update": ShopifyCheckout,
  "orders/create": ShopifyOrder,
  "orders/paid": ShopifyOrder,
  "orders/fulfilled": ShopifyOrder,
  "orders/cancelled": ShopifyOrder,
  "fulfillments/create": ShopifyFulfillment,
  "fulfillments/update": ShopifyFulfillment,
  "refunds/create": ShopifyRefund,
  "customers/create": ShopifyCustomer,
  "customers/update": ShopifyCustomer,
  "products/create": ShopifyProduct,
  "products/update": ShopifyProduct,
  "inventory_levels/update": ShopifyInventoryLevel,
};

/** A WooCommerce resource's time and its `_gmt` twin. */
const wooTimes = (...names: string[]) =>
  scalars(...names.flatMap((name) => [name, `${name}_gmt`]));

const wooBilling = nested(
  scalars(
    "email",
    "phone",
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
  ),
);

const WooOrder = fields({
  ...scalars(
    "id",
    "number",
    "status",
    "cart_hash",
    "customer_id",
    "currency",
    "total",
    "total_tax",
    "shipping_total",
    "discount_total",
  ),
  ...wooTimes("date_created", "date_modified", "date_paid", "date_completed"),
  billing: wooBilling,
  meta_data: list({ key: Scalar, value: Type.Unknown() }),
  coupon_lines: list(scalars("code")),
  line_items: list(
    scalars("product_id", "variation_id", "sku", "name", "price", "quantity"),
  ),
});

const WooCustomer = fields({
  ...scalars("id", "email", "first_name", "last_name", "username"),
  ...scalars("avatar_url"),
  ...wooTimes("date_created", "date_modified"),
  billing: wooBilling,
});

const WooProduct = fields({
  ...scalars(
    "id",
    "name",
    "permalink",
    "status",
    "price",
    "regular_price",
    "sale_price",
    "stock_quantity",
  ),
  // true or false on a product; a variation may say "parent".
  manage_stock: Type.Union([Type.Boolean(), Type.String(), Type.Null()]),
  images: list(scalars("src")),
  categories: list(scalars("name")),
  brands: list(scalars("name")),
});

/** The schema of a WooCommerce topic's body (`order.created`: an order), if Herald reads it. */
function wooBodyOf(topic: string): TSchema | undefined {
  switch (topic.split(".")[0]) {
    case "order":
      return WooOrder;
    case "customer":
      return WooCustomer;
    case "product":
      return WooProduct;
    default:
      return undefined;
  }
}

/**
 * Problems as one detail per field: a union's alternatives joined ("must be string or
 * number or null"), and a list or object left out when the problem is inside it.
 */
function perField(errors: ErrorDetail[]): ErrorDetail[] {
  const byPath = new Map<string, string[]>();
  for (const { path, message } of errors) {
    if (message === "must match a schema in anyOf") continue;
    byPath.set(path, [...(byPath.get(path) ?? []), message]);
  }
  const paths = [...byPath.keys()];
  return paths
    .filter((path) => !paths.some((other) => other.startsWith(`${path}/`)))
    .map((path) => ({
      path,
      message: `must be ${(byPath.get(path) ?? [])
        .map((m) => m.replace(/^must be /, ""))
        .join(" or ")}`,
    }));
}

/**
 * Checks a delivery's body against what Herald reads of its topic; throws an `invalid`
 * DomainError naming each field that holds something else. Topics Herald does not map
 * are not checked (they mean nothing to it).
 */
export function checkWebhookBody(
  platform: StorePlatform,
  topic: string,
  body: unknown,
): void {
  const schema =
    platform === "shopify" ? shopifyBodies[topic] : wooBodyOf(topic);
  if (!schema) return;
  const problems = perField(findErrors(schema, body));
  const [first] = problems;
  if (first)
    throw new DomainError(
      "invalid",
      `the ${platform} ${topic} webhook body is invalid: ${first.path} ${first.message}`,
      problems,
    );
}
