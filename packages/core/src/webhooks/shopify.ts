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
 * Shopify webhooks, mapped to Segment's e-commerce spec (plus Herald's order-lifecycle
 * events), profiles and the catalog. Orders link to their checkout by `checkout_token`
 * and `cart_token`; the storefront script may put the browser's anonymous id in a cart
 * attribute (`herald_anonymous_id`), which ties the order to the browsing history.
 */

/** The topics Herald understands. */
export const shopifyTopics = [
  "checkouts/create",
  "checkouts/update",
  "orders/create",
  "orders/paid",
  "orders/fulfilled",
  "orders/cancelled",
  "fulfillments/create",
  "fulfillments/update",
  "refunds/create",
  "customers/create",
  "customers/update",
  "products/create",
  "products/update",
  "inventory_levels/update",
] as const;

const anonymousIdAttribute = "herald_anonymous_id";

function anonymousIdOf(payload: JsonObject): string | null {
  const attributes = objs(payload.note_attributes);
  return str(attributes.find((a) => a.name === anonymousIdAttribute)?.value);
}

function shopper(payload: JsonObject): {
  anonymousId: string | null;
  context: JsonObject;
} {
  const customer = obj(payload.customer);
  const address = obj(payload.billing_address ?? payload.shipping_address);
  return {
    anonymousId: anonymousIdOf(payload),
    context: {
      externalIds: externalIds({
        shopify_customer_id: customer.id,
        email: payload.email ?? payload.contact_email ?? customer.email,
        phone: payload.phone ?? customer.phone ?? address.phone,
        cart_token: payload.cart_token,
        checkout_token:
          payload.checkout_token ??
          (payload.abandoned_checkout_url ? payload.token : undefined),
      }),
      ...(str(payload.customer_locale)
        ? { locale: str(payload.customer_locale) }
        : {}),
      ...(str(address.country_code)
        ? {
            location: compact({
              country: str(address.country_code),
              city: str(address.city),
            }),
          }
        : {}),
    },
  };
}

function lineItems(payload: JsonObject): JsonObject[] {
  return objs(payload.line_items).map((item) =>
    compact({
      product_id: str(item.product_id),
      variant_id: str(item.variant_id),
      sku: str(item.sku),
      name: str(item.title) ?? str(item.name),
      variant: str(item.variant_title),
      brand: str(item.vendor),
      price: num(item.price),
      quantity: num(item.quantity),
    }),
  );
}

function money(payload: JsonObject): JsonObject {
  const shipping = num(
    obj(obj(payload.total_shipping_price_set).shop_money).amount,
  );
  return compact({
    total: num(payload.total_price),
    subtotal: num(payload.subtotal_price),
    revenue: num(payload.subtotal_price),
    tax: num(payload.total_tax),
    discount: num(payload.total_discounts),
    shipping,
    coupon: str(objs(payload.discount_codes)[0]?.code),
    currency: str(payload.currency),
  });
}

function event(
  dedupeKey: string | null,
  name: string | null,
  payload: JsonObject,
  properties: JsonObject,
  at: unknown,
): MappedEvent {
  const who = shopper(payload);
  return {
    dedupeKey,
    type: "track",
    name,
    userId: null,
    anonymousId: who.anonymousId,
    properties,
    traits: null,
    context: who.context,
    timestamp: time(at),
  };
}

/**
 * The identify call for a customer object: traits (Segment's reserved ones in its shape,
 * the default address as `address`) and marketing consent.
 */
function customerIdentify(
  customer: JsonObject,
  at: unknown,
  dedupeKey: string | null = null,
): MappedEvent | undefined {
  if (!str(customer.id) && !str(customer.email)) return undefined;
  const address = obj(customer.default_address);
  const consent = (value: unknown) => str(obj(value).state);
  const traits = compact({
    email: str(customer.email),
    phone: str(customer.phone),
    first_name: str(customer.first_name),
    last_name: str(customer.last_name),
    created_at: time(customer.created_at)?.toISOString(),
    shopify_customer_id: str(customer.id),
    tags: str(customer.tags),
    email_consent: consent(customer.email_marketing_consent),
    sms_consent: consent(customer.sms_marketing_consent),
    company: str(address.company) ? { name: str(address.company) } : null,
    address:
      Object.keys(address).length > 0
        ? compact({
            street: street(address.address1, address.address2),
            city: str(address.city),
            state: str(address.province),
            postalCode: str(address.zip),
            country: str(address.country_code),
          })
        : null,
  });
  return {
    dedupeKey,
    type: "identify",
    name: null,
    userId: null,
    anonymousId: null,
    properties: {},
    traits,
    context: {
      externalIds: externalIds({
        shopify_customer_id: customer.id,
        email: customer.email,
        phone: customer.phone,
      }),
    },
    timestamp: time(at),
  };
}

function product(
  payload: JsonObject,
  shopDomain: string | null,
): ProductInput | undefined {
  const id = str(payload.id);
  if (!id) return undefined;
  const variants = objs(payload.variants);
  const image =
    str(obj(payload.image).src) ?? str(objs(payload.images)[0]?.src);
  const status = str(payload.status);
  const prices = variants.map((v) => num(v.price)).filter((p) => p !== null);
  const compareAt = variants
    .map((v) => num(v.compare_at_price))
    .filter((p) => p !== null);
  return {
    product_id: id,
    ...(str(payload.title) ? { name: str(payload.title) ?? id } : {}),
    url:
      shopDomain && str(payload.handle)
        ? `https://${shopDomain}/products/${str(payload.handle)}`
        : null,
    image_url: image,
    category: str(payload.product_type),
    brand: str(payload.vendor),
    ...(prices.length > 0 ? { price: Math.min(...prices) } : {}),
    ...(compareAt.length > 0
      ? { compare_at_price: Math.min(...compareAt) }
      : {}),
    ...(status === "active" || status === "draft" || status === "archived"
      ? { status }
      : {}),
    variants: variants
      .filter((v) => str(v.id))
      .map((v) => ({
        variant_id: str(v.id) ?? "",
        sku: str(v.sku),
        name: str(v.title),
        price: num(v.price),
        compare_at_price: num(v.compare_at_price),
        stock:
          typeof v.inventory_quantity === "number"
            ? Math.trunc(v.inventory_quantity)
            : null,
        inventory_item_id: str(v.inventory_item_id),
      })),
  };
}

const deliveryStatus: Record<string, string> = {
  delivered: "Order Delivered",
  ready_for_pickup: "Order Ready for Pickup",
};

/** What a Shopify webhook of `topic` means; unknown topics mean nothing. */
export function mapShopifyWebhook(
  topic: string,
  payload: JsonObject,
  shopDomain: string | null,
): WebhookMapping {
  const out = emptyMapping();
  switch (topic) {
    case "checkouts/create":
    case "checkouts/update": {
      const started = topic === "checkouts/create";
      out.events.push(
        event(
          started ? `checkout:${str(payload.token) ?? ""}:started` : null,
          started ? "Checkout Started" : "Checkout Updated",
          payload,
          compact({
            checkout_id: str(payload.token),
            cart_id: str(payload.cart_token),
            ...money(payload),
            value: num(payload.subtotal_price),
            products: lineItems(payload),
            checkout_url: str(payload.abandoned_checkout_url),
            completed: payload.completed_at ? true : null,
          }),
          payload.updated_at ?? payload.created_at,
        ),
      );
      break;
    }
    case "orders/create": {
      const identify = customerIdentify(
        obj(payload.customer),
        payload.created_at,
        `order:${str(payload.id) ?? ""}:customer`,
      );
      if (identify) out.events.push(identify);
      out.events.push(
        event(
          `order:${str(payload.id) ?? ""}:completed`,
          "Order Completed",
          payload,
          compact({
            order_id: str(payload.id),
            order_number: str(payload.name) ?? str(payload.order_number),
            checkout_id: str(payload.checkout_token),
            cart_id: str(payload.cart_token),
            ...money(payload),
            products: lineItems(payload),
            affiliation: "Shopify",
          }),
          payload.processed_at ?? payload.created_at,
        ),
      );
      break;
    }
    case "orders/paid":
      out.events.push(
        event(
          `order:${str(payload.id) ?? ""}:paid`,
          "Order Paid",
          payload,
          compact({ order_id: str(payload.id), ...money(payload) }),
          payload.updated_at,
        ),
      );
      break;
    case "orders/cancelled":
      out.events.push(
        event(
          `order:${str(payload.id) ?? ""}:cancelled`,
          "Order Cancelled",
          payload,
          compact({
            order_id: str(payload.id),
            reason: str(payload.cancel_reason),
            ...money(payload),
          }),
          payload.cancelled_at ?? payload.updated_at,
        ),
      );
      break;
    case "orders/fulfilled": {
      const fulfillment = objs(payload.fulfillments)[0] ?? {};
      out.events.push(
        event(
          `order:${str(payload.id) ?? ""}:fulfilled`,
          "Order Fulfilled",
          payload,
          compact({
            order_id: str(payload.id),
            tracking_number: str(fulfillment.tracking_number),
            tracking_url: str(fulfillment.tracking_url),
            carrier: str(fulfillment.tracking_company),
          }),
          payload.updated_at,
        ),
      );
      break;
    }
    case "fulfillments/create":
    case "fulfillments/update": {
      const status = str(payload.shipment_status);
      const name =
        topic === "fulfillments/create"
          ? "Order Shipped"
          : status
            ? deliveryStatus[status]
            : undefined;
      if (!name) break;
      out.orderId = str(payload.order_id);
      out.events.push(
        event(
          `fulfillment:${str(payload.id) ?? ""}:${topic === "fulfillments/create" ? "shipped" : (status ?? "")}`,
          name,
          payload,
          compact({
            order_id: str(payload.order_id),
            fulfillment_id: str(payload.id),
            tracking_number: str(payload.tracking_number),
            tracking_url: str(payload.tracking_url),
            carrier: str(payload.tracking_company),
            status,
            products: lineItems(payload),
          }),
          payload.updated_at ?? payload.created_at,
        ),
      );
      break;
    }
    case "refunds/create": {
      const refunded = objs(payload.transactions)
        .filter((t) => str(t.kind) === "refund" && str(t.status) !== "failure")
        .reduce((sum, t) => sum + (num(t.amount) ?? 0), 0);
      out.orderId = str(payload.order_id);
      out.events.push(
        event(
          `refund:${str(payload.id) ?? ""}`,
          "Order Refunded",
          payload,
          compact({
            order_id: str(payload.order_id),
            refund_id: str(payload.id),
            total: refunded > 0 ? Math.round(refunded * 100) / 100 : null,
            currency: str(objs(payload.transactions)[0]?.currency),
            reason: str(payload.note),
            products: objs(payload.refund_line_items).map((r) =>
              compact({
                ...lineItems({ line_items: [r.line_item] })[0],
                quantity: num(r.quantity),
              }),
            ),
          }),
          payload.processed_at ?? payload.created_at,
        ),
      );
      break;
    }
    case "customers/create":
    case "customers/update": {
      const identify = customerIdentify(
        payload,
        payload.updated_at ?? payload.created_at,
      );
      if (identify) out.events.push(identify);
      break;
    }
    case "products/create":
    case "products/update": {
      const mapped = product(payload, shopDomain);
      if (mapped) out.products.push(mapped);
      break;
    }
    case "inventory_levels/update": {
      const item = str(payload.inventory_item_id);
      const available = num(payload.available);
      if (item && available !== null)
        out.stock.push({
          inventoryItemId: item,
          available: Math.trunc(available),
        });
      break;
    }
  }
  return out;
}
