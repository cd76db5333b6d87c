import type { ProductInput } from "../catalog/catalog.ts";
import type { IncomingEvent, JsonObject } from "../events/event.ts";
import { normalizeEmail } from "../identity/identifiers.ts";

/**
 * CSV imports of a store's history: customers become identify calls, order lines become
 * one `Order Completed` per order id, product rows become catalog upserts. Column names
 * are matched loosely (case, spaces and dashes ignored, common aliases accepted). Message
 * ids derive from the data, so importing the same file twice stores nothing new.
 */

/** The kinds of file `herald import` takes. */
export const importKinds = ["customers", "orders", "products"] as const;
export type ImportKind = (typeof importKinds)[number];

/** A CSV row by normalised column name, with its line number in the file. */
export interface CsvRow {
  line: number;
  values: Record<string, string>;
}

/** A row that could not be used, and why. */
export interface RejectedRow {
  line: number;
  reason: string;
}

const aliases: Record<string, string> = {
  emailaddress: "email",
  mail: "email",
  phonenumber: "phone",
  mobile: "phone",
  firstname: "first_name",
  givenname: "first_name",
  lastname: "last_name",
  surname: "last_name",
  familyname: "last_name",
  customerid: "customer_id",
  userid: "customer_id",
  id: "id",
  orderid: "order_id",
  ordernumber: "order_id",
  createdat: "created_at",
  placedat: "placed_at",
  orderdate: "placed_at",
  date: "placed_at",
  productid: "product_id",
  variantid: "variant_id",
  productname: "name",
  title: "name",
  imageurl: "image_url",
  image: "image_url",
  compareatprice: "compare_at_price",
  daysofuseperunit: "days_of_use_per_unit",
  acceptsmarketing: "email_consent",
  emailconsent: "email_consent",
  emailmarketing: "email_consent",
  smsconsent: "sms_consent",
  qty: "quantity",
  countrycode: "country",
};

// Customer columns under Herald's names for Segment's reserved traits (Shopify's export
// says "Address1", "Province", "Zip", newer ones "Default Address Zip").
const customerAliases: Record<string, string> = {
  title: "title",
  fullname: "name",
  customername: "name",
  company: "company_name",
  companyname: "company_name",
  address: "street",
  address1: "street",
  addressline1: "street",
  streetaddress: "street",
  address2: "address2",
  addressline2: "address2",
  province: "state",
  region: "state",
  stateprovince: "state",
  zip: "postal_code",
  zipcode: "postal_code",
  postcode: "postal_code",
  postalcode: "postal_code",
  birthdate: "birthday",
  dateofbirth: "birthday",
  dob: "birthday",
};

/** The normalised name of a CSV header in a file of `kind`. */
export function columnName(header: string, kind?: ImportKind): string {
  const key = header
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, "");
  const plain = header
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "_");
  if (kind === "customers") {
    const unprefixed = key.replace(/^defaultaddress(?=.)/, "");
    const alias = customerAliases[unprefixed] ?? aliases[unprefixed];
    if (alias) return alias;
    if (unprefixed !== key) return plain.replace(/^default_?address_?/, "");
  }
  return aliases[key] ?? plain;
}

const value = (row: CsvRow, ...names: string[]): string | undefined => {
  for (const name of names) {
    const v = row.values[name]?.trim();
    if (v) return v;
  }
  return undefined;
};

function number(row: CsvRow, name: string): number | undefined | "bad" {
  const raw = value(row, name);
  if (raw === undefined) return undefined;
  const n = Number(raw.replace(/[^0-9.-]/g, ""));
  return Number.isFinite(n) && /\d/.test(raw) ? n : "bad";
}

function date(row: CsvRow, ...names: string[]): Date | undefined | "bad" {
  const raw = value(row, ...names);
  if (raw === undefined) return undefined;
  const d = new Date(raw);
  return Number.isNaN(d.getTime()) ? "bad" : d;
}

/** A short stable hash of text (FNV-1a, 2×32 bits), for message ids. */
export function stableHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(i), 0x811c9dc5) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

type EventShape = Omit<IncomingEvent, "receivedAt" | "source" | "silent">;

const known = new Set(["email", "phone", "customer_id", "created_at", "id"]);

/**
 * A customer row as an identify call; every column not otherwise used becomes a trait,
 * address columns under Herald's names (`street`, `city`, `state`, `postal_code`, …).
 */
export function customerRow(
  row: CsvRow,
  now: Date,
): { event: EventShape } | RejectedRow {
  const rawEmail = value(row, "email");
  const email = rawEmail ? normalizeEmail(rawEmail) : undefined;
  if (rawEmail && !email)
    return { line: row.line, reason: `"${rawEmail}" is not an email address` };
  const customerId = value(row, "customer_id", "id");
  const phone = value(row, "phone");
  if (!email && !customerId && !phone)
    return {
      line: row.line,
      reason: "a customer needs an email, a phone or a customer_id",
    };
  const created = date(row, "created_at");
  if (created === "bad")
    return {
      line: row.line,
      reason: `created_at "${value(row, "created_at")}" is not a date`,
    };
  const traits: JsonObject = {};
  for (const [name, v] of Object.entries(row.values))
    if (!known.has(name) && v.trim() !== "") traits[name] = v.trim();
  const address2 = value(row, "address2");
  if (typeof traits.street === "string" && address2)
    traits.street = `${traits.street}, ${address2}`;
  if (email) traits.email = email;
  if (phone) traits.phone = phone;
  if (created) traits.created_at = created.toISOString();
  const at = now;
  return {
    event: {
      messageId: `import:customer:${stableHash(JSON.stringify(row.values))}`,
      type: "identify",
      name: null,
      userId: customerId ?? null,
      anonymousId: null,
      properties: {},
      traits,
      context: {},
      timestamp: at,
    },
  };
}

/**
 * Order line rows grouped into `Order Completed` calls (one per order id, lines in
 * `products`), plus `Order Cancelled` / `Order Refunded` for rows whose status says so.
 */
export function orderRows(rows: CsvRow[]): {
  events: EventShape[];
  rejected: RejectedRow[];
} {
  const rejected: RejectedRow[] = [];
  const orders = new Map<
    string,
    { first: CsvRow; lines: JsonObject[]; placedAt: Date }
  >();
  for (const row of rows) {
    const orderId = value(row, "order_id");
    if (!orderId) {
      rejected.push({
        line: row.line,
        reason: "an order row needs an order_id",
      });
      continue;
    }
    const placedAt = date(row, "placed_at", "created_at");
    if (placedAt === undefined || placedAt === "bad") {
      rejected.push({
        line: row.line,
        reason: `order ${orderId} needs a placed_at date (got "${value(row, "placed_at", "created_at") ?? ""}")`,
      });
      continue;
    }
    const email = value(row, "email");
    if (!normalizeEmail(email) && !value(row, "customer_id", "phone")) {
      rejected.push({
        line: row.line,
        reason: `order ${orderId} names no customer (email, phone or customer_id)`,
      });
      continue;
    }
    const numbers = [
      "price",
      "quantity",
      "total",
      "revenue",
      "subtotal",
      "tax",
      "shipping",
      "discount",
    ].map((n) => [n, number(row, n)] as const);
    const bad = numbers.find(([, v]) => v === "bad");
    if (bad) {
      rejected.push({
        line: row.line,
        reason: `${bad[0]} "${value(row, bad[0])}" is not a number`,
      });
      continue;
    }
    const line: JsonObject = {};
    for (const key of [
      "product_id",
      "variant_id",
      "sku",
      "name",
      "category",
      "brand",
    ]) {
      const v = value(row, key);
      if (v) line[key] = v;
    }
    const price = number(row, "price");
    const quantity = number(row, "quantity");
    if (typeof price === "number") line.price = price;
    if (typeof quantity === "number") line.quantity = quantity;
    const order = orders.get(orderId) ?? { first: row, lines: [], placedAt };
    if (Object.keys(line).length > 0) order.lines.push(line);
    orders.set(orderId, order);
  }

  const events: EventShape[] = [];
  for (const [orderId, order] of orders) {
    const row = order.first;
    const properties: JsonObject = { order_id: orderId, products: order.lines };
    for (const key of [
      "total",
      "revenue",
      "subtotal",
      "tax",
      "shipping",
      "discount",
    ]) {
      const n = number(row, key);
      if (typeof n === "number") properties[key] = n;
    }
    for (const key of ["currency", "coupon"]) {
      const v = value(row, key);
      if (v) properties[key] = v;
    }
    const identity = {
      userId: value(row, "customer_id") ?? null,
      anonymousId: null,
      context: {
        traits: {
          ...(value(row, "email") ? { email: value(row, "email") } : {}),
          ...(value(row, "phone") ? { phone: value(row, "phone") } : {}),
        },
      },
    };
    const base = {
      type: "track" as const,
      traits: null,
      timestamp: order.placedAt,
      ...identity,
    };
    events.push({
      ...base,
      messageId: `import:order:${orderId}`,
      name: "Order Completed",
      properties,
    });
    const status = value(row, "status")?.toLowerCase();
    if (status === "cancelled" || status === "canceled") {
      events.push({
        ...base,
        messageId: `import:order:${orderId}:cancelled`,
        name: "Order Cancelled",
        properties: { order_id: orderId },
      });
    } else if (status === "refunded") {
      events.push({
        ...base,
        messageId: `import:order:${orderId}:refunded`,
        name: "Order Refunded",
        properties: { order_id: orderId },
      });
    }
  }
  return { events, rejected };
}

/** Product rows (one per product, or one per variant sharing a product_id) as catalog upserts. */
export function productRows(rows: CsvRow[]): {
  products: ProductInput[];
  rejected: RejectedRow[];
} {
  const rejected: RejectedRow[] = [];
  const products = new Map<string, ProductInput>();
  for (const row of rows) {
    const productId = value(row, "product_id", "id");
    if (!productId) {
      rejected.push({
        line: row.line,
        reason: "a product row needs a product_id",
      });
      continue;
    }
    const numbers = [
      "price",
      "compare_at_price",
      "stock",
      "days_of_use_per_unit",
    ].map((n) => [n, number(row, n)] as const);
    const bad = numbers.find(
      ([name, v]) =>
        v === "bad" || (typeof v === "number" && v < 0 && name !== "stock"),
    );
    if (bad) {
      rejected.push({
        line: row.line,
        reason: `${bad[0]} "${value(row, bad[0])}" is not a valid number`,
      });
      continue;
    }
    const n = Object.fromEntries(numbers) as Record<string, number | undefined>;
    const status = value(row, "status")?.toLowerCase();
    const product: ProductInput = products.get(productId) ?? {
      product_id: productId,
    };
    const name = value(row, "name");
    if (name && !product.name) product.name = name;
    for (const key of [
      "url",
      "image_url",
      "category",
      "brand",
      "currency",
    ] as const) {
      const v = value(row, key);
      if (v && product[key] === undefined)
        product[key] = key === "currency" ? v.toUpperCase() : v;
    }
    if (status === "active" || status === "draft" || status === "archived")
      product.status = status;
    if (n.days_of_use_per_unit && n.days_of_use_per_unit > 0)
      product.days_of_use_per_unit = n.days_of_use_per_unit;
    const variantId = value(row, "variant_id");
    if (variantId) {
      product.variants = [
        ...(product.variants ?? []),
        {
          variant_id: variantId,
          ...(value(row, "sku") ? { sku: value(row, "sku") } : {}),
          ...(value(row, "variant_name", "variant")
            ? { name: value(row, "variant_name", "variant") }
            : {}),
          ...(n.price !== undefined ? { price: n.price } : {}),
          ...(n.compare_at_price !== undefined
            ? { compare_at_price: n.compare_at_price }
            : {}),
          ...(n.stock !== undefined ? { stock: Math.trunc(n.stock) } : {}),
        },
      ];
    } else {
      if (n.price !== undefined) product.price = n.price;
      if (n.compare_at_price !== undefined)
        product.compare_at_price = n.compare_at_price;
      if (n.stock !== undefined) product.stock = Math.trunc(n.stock);
    }
    products.set(productId, product);
  }
  return { products: [...products.values()], rejected };
}
