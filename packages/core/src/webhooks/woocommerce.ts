import type { ProductInput } from "../catalog/catalog.ts";
import type { JsonObject } from "../events/event.ts";
import {
  compact,
  emptyMapping,
  externalIds,
  num,
  obj,
  objs,
  str,
  street,
  time,
  type MappedEvent,
  type WebhookMapping,
} from "./mapping.ts";

/**
 * WooCommerce webhooks (REST API v3 resources), mapped to the same spec events, profiles
 * and catalog as Shopify's. An order becomes `Order Completed` once it is paid
 * (processing, on-hold or completed); later status changes become the lifecycle events.
 */

const paidStatuses = new Set(["processing", "on-hold", "completed"]);

function orderEvent(
  fact: string,
  name: string,
  order: JsonObject,
  properties: JsonObject,
  at: unknown,
): MappedEvent {
  const billing = obj(order.billing);
  const meta = objs(order.meta_data);
  return {
    dedupeKey: `order:${str(order.id) ?? ""}:${fact}`,
    type: "track",
    name,
    userId: null,
    anonymousId: str(meta.find((m) => m.key === "herald_anonymous_id")?.value),
    properties,
    traits: null,
    context: {
      externalIds: externalIds({
        woo_customer_id: num(order.customer_id) ? order.customer_id : null,
        email: billing.email,
        phone: billing.phone,
        cart_token: order.cart_hash,
      }),
      ...(str(billing.country)
        ? {
            location: compact({
              country: str(billing.country),
              city: str(billing.city),
            }),
          }
        : {}),
    },
    timestamp: time(at),
  };
}

function orderProperties(order: JsonObject): JsonObject {
  const total = num(order.total);
  const tax = num(order.total_tax);
  const shipping = num(order.shipping_total);
  return compact({
    order_id: str(order.id),
    order_number: str(order.number),
    cart_id: str(order.cart_hash),
    total,
    revenue:
      total === null
        ? null
        : Math.round((total - (tax ?? 0) - (shipping ?? 0)) * 100) / 100,
    tax,
    shipping,
    discount: num(order.discount_total),
    coupon: str(objs(order.coupon_lines)[0]?.code),
    currency: str(order.currency),
    affiliation: "WooCommerce",
    products: objs(order.line_items).map((item) =>
      compact({
        product_id: str(item.product_id),
        variant_id: num(item.variation_id) ? str(item.variation_id) : null,
        sku: str(item.sku),
        name: str(item.name),
        price: num(item.price),
        quantity: num(item.quantity),
      }),
    ),
  });
}

/** A WooCommerce time: its `_gmt` twin read as UTC when present. */
function utc(resource: JsonObject, field: string): unknown {
  const gmt = str(resource[`${field}_gmt`]);
  return gmt ? `${gmt}Z` : resource[field];
}

/** The identify call for a customer: Segment's reserved traits in its shape, billing address as `address`. */
function customerIdentify(
  customer: JsonObject,
  at: unknown,
): MappedEvent | undefined {
  const billing = obj(customer.billing);
  const email = str(customer.email) ?? str(billing.email);
  if (!str(customer.id) && !email) return undefined;
  const created = utc(customer, "date_created");
  const address = compact({
    street: street(billing.address_1, billing.address_2),
    city: str(billing.city),
    state: str(billing.state),
    postalCode: str(billing.postcode),
    country: str(billing.country),
  });
  return {
    dedupeKey: null,
    type: "identify",
    name: null,
    userId: null,
    anonymousId: null,
    properties: {},
    traits: compact({
      email,
      phone: str(billing.phone),
      first_name: str(customer.first_name) ?? str(billing.first_name),
      last_name: str(customer.last_name) ?? str(billing.last_name),
      username: str(customer.username),
      avatar: str(customer.avatar_url),
      created_at: created ? time(created)?.toISOString() : null,
      woo_customer_id: str(customer.id),
      company: str(billing.company) ? { name: str(billing.company) } : null,
      address: Object.keys(address).length > 0 ? address : null,
    }),
    context: {
      externalIds: externalIds({
        woo_customer_id: customer.id,
        email,
        phone: billing.phone,
      }),
    },
    timestamp: time(at ?? utc(customer, "date_modified")),
  };
}

function product(payload: JsonObject): ProductInput | undefined {
  const id = str(payload.id);
  if (!id) return undefined;
  const sale = num(payload.sale_price);
  const regular = num(payload.regular_price);
  const status = str(payload.status);
  return {
    product_id: id,
    ...(str(payload.name) ? { name: str(payload.name) ?? id } : {}),
    url: str(payload.permalink),
    image_url: str(objs(payload.images)[0]?.src),
    category: str(objs(payload.categories)[0]?.name),
    brand: str(objs(payload.brands)[0]?.name),
    price: num(payload.price),
    compare_at_price:
      sale !== null && regular !== null && regular > sale ? regular : null,
    stock:
      payload.manage_stock === true &&
      typeof payload.stock_quantity === "number"
        ? Math.trunc(payload.stock_quantity)
        : null,
    status:
      status === "publish"
        ? "active"
        : status === "trash"
          ? "archived"
          : "draft",
  };
}

/** What a WooCommerce webhook of `topic` (`order.created`, …) means. */
export function mapWooCommerceWebhook(
  topic: string,
  payload: JsonObject,
): WebhookMapping {
  const out = emptyMapping();
  const [resource, action] = topic.split(".");
  if (resource === "order" && (action === "created" || action === "updated")) {
    const status = str(payload.status) ?? "";
    const at = utc(payload, "date_modified") ?? utc(payload, "date_created");
    const customer = customerIdentify(
      {
        ...obj(payload.billing),
        id: num(payload.customer_id) ? payload.customer_id : null,
        billing: payload.billing,
      },
      at,
    );
    if (paidStatuses.has(status)) {
      if (customer) out.events.push(customer);
      out.events.push(
        orderEvent(
          "placed",
          "Order Completed",
          payload,
          orderProperties(payload),
          utc(payload, "date_paid") ?? at,
        ),
      );
      if (status === "completed") {
        out.events.push(
          orderEvent(
            "fulfilled",
            "Order Fulfilled",
            payload,
            compact({ order_id: str(payload.id) }),
            utc(payload, "date_completed") ?? at,
          ),
        );
      }
    } else if (status === "cancelled") {
      out.events.push(
        orderEvent(
          "cancelled",
          "Order Cancelled",
          payload,
          compact({ order_id: str(payload.id) }),
          at,
        ),
      );
    } else if (status === "refunded") {
      out.events.push(
        orderEvent(
          "refunded",
          "Order Refunded",
          payload,
          compact({ order_id: str(payload.id), total: num(payload.total) }),
          at,
        ),
      );
    } else if (status === "pending" || status === "checkout-draft") {
      out.events.push(
        orderEvent(
          "checkout",
          "Checkout Started",
          payload,
          { ...orderProperties(payload), checkout_id: str(payload.id) },
          at,
        ),
      );
    }
  } else if (
    resource === "customer" &&
    (action === "created" || action === "updated")
  ) {
    const identify = customerIdentify(payload, undefined);
    if (identify) out.events.push(identify);
  } else if (
    resource === "product" &&
    (action === "created" || action === "updated" || action === "restored")
  ) {
    const mapped = product(payload);
    if (mapped) out.products.push(mapped);
  } else if (
    resource === "product" &&
    action === "deleted" &&
    str(payload.id)
  ) {
    out.products.push({
      product_id: str(payload.id) ?? "",
      status: "archived",
    });
  }
  return out;
}
