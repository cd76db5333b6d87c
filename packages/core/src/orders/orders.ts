import {
  asNumber,
  productLines,
  type ProductLine,
} from "../events/ecommerce.ts";
import type { IncomingEvent } from "../events/event.ts";

/**
 * Orders as e-commerce events describe them. `Order Completed` places an order once per
 * order id, however many sources report it (the storefront, a webhook, a retry); the
 * later lifecycle events change it.
 */

/** A placed order. */
export interface OrderRecord {
  orderId: string;
  checkoutId: string | null;
  cartId: string | null;
  currency: string | null;
  total: number | null;
  /**
   * After discounts, without shipping and tax (the spec's `revenue`); null when the event
   * gives no amount that is a number (the order counts, its amount does not).
   */
  revenue: number | null;
  subtotal: number | null;
  tax: number | null;
  shipping: number | null;
  discount: number | null;
  coupon: string | null;
  items: ProductLine[];
  placedAt: Date;
}

/** The news an order-lifecycle event carries. */
export type OrderChange =
  | { kind: "placed"; order: OrderRecord }
  | { kind: "updated"; orderId: string; order: Partial<OrderRecord> }
  | { kind: "cancelled"; orderId: string }
  | { kind: "refunded"; orderId: string; amount: number | null }
  | { kind: "fulfillment"; orderId: string; fulfillment: Fulfillment };

/** The latest fulfilment news of an order. */
export interface Fulfillment {
  status: "fulfilled" | "shipped" | "delivered" | "ready_for_pickup";
  tracking_number?: string;
  tracking_url?: string;
  carrier?: string;
  at: string;
}

const idText = (value: unknown): string | null =>
  typeof value === "string" && value.trim() !== ""
    ? value.trim()
    : typeof value === "number"
      ? String(value)
      : null;

const money = (value: unknown): number | null => {
  const n = asNumber(value);
  return n === undefined ? null : Math.round(n * 100) / 100;
};

/** The order an `Order Completed` (or `Order Updated`) event describes. */
export function orderFromEvent(event: IncomingEvent): OrderRecord {
  const p = event.properties;
  const items = productLines(p);
  const itemsTotal = items.some((item) => item.price !== undefined)
    ? items.reduce(
        (sum, item) => sum + (item.price ?? 0) * (item.quantity ?? 1),
        0,
      )
    : null;
  const total = money(p.total);
  const shipping = money(p.shipping);
  const tax = money(p.tax);
  const revenue =
    money(p.revenue) ??
    money(p.subtotal) ??
    (total !== null
      ? Math.round((total - (shipping ?? 0) - (tax ?? 0)) * 100) / 100
      : null) ??
    (itemsTotal !== null ? Math.round(itemsTotal * 100) / 100 : null);
  return {
    orderId: idText(p.order_id) ?? event.messageId,
    checkoutId: idText(p.checkout_id),
    cartId: idText(p.cart_id),
    currency: typeof p.currency === "string" ? p.currency.toUpperCase() : null,
    total: total ?? revenue,
    revenue,
    subtotal: money(p.subtotal),
    tax,
    shipping,
    discount: money(p.discount),
    coupon: idText(p.coupon),
    items,
    placedAt: event.timestamp,
  };
}

const fulfillmentStatus: Record<string, Fulfillment["status"]> = {
  "Order Fulfilled": "fulfilled",
  "Order Shipped": "shipped",
  "Order Delivered": "delivered",
  "Order Ready for Pickup": "ready_for_pickup",
};

/** What an event changes about an order, if it is an order-lifecycle event with an order id. */
export function orderChange(event: IncomingEvent): OrderChange | undefined {
  if (event.type !== "track" || !event.name) return undefined;
  if (event.name === "Order Completed")
    return { kind: "placed", order: orderFromEvent(event) };
  const orderId = idText(event.properties.order_id);
  if (!orderId) return undefined;
  switch (event.name) {
    case "Order Updated": {
      const { orderId: _id, placedAt: _at, ...order } = orderFromEvent(event);
      const present = Object.fromEntries(
        Object.entries(order).filter(
          ([key, value]) =>
            value !== null &&
            (key !== "items" || (value as unknown[]).length > 0),
        ),
      );
      return { kind: "updated", orderId, order: present };
    }
    case "Order Cancelled":
      return { kind: "cancelled", orderId };
    case "Order Refunded":
      return {
        kind: "refunded",
        orderId,
        amount:
          money(event.properties.total) ?? money(event.properties.revenue),
      };
  }
  const status = fulfillmentStatus[event.name];
  if (!status) return undefined;
  const p = event.properties;
  const fulfillment: Fulfillment = {
    status,
    at: event.timestamp.toISOString(),
  };
  const trackingNumber = idText(p.tracking_number);
  const trackingUrl = idText(p.tracking_url);
  const carrier = idText(p.carrier ?? p.tracking_company);
  if (trackingNumber) fulfillment.tracking_number = trackingNumber;
  if (trackingUrl) fulfillment.tracking_url = trackingUrl;
  if (carrier) fulfillment.carrier = carrier;
  return { kind: "fulfillment", orderId, fulfillment };
}
