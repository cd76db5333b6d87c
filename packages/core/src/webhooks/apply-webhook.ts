import { upsertProducts, type CatalogWrites } from "../catalog/catalog.ts";
import type { EventSource, IncomingEvent } from "../events/event.ts";
import { correctTimestamp } from "../events/tracking-call.ts";
import {
  extractIdentifiers,
  type Identifier,
} from "../identity/identifiers.ts";
import type { WebhookMapping } from "./mapping.ts";

/**
 * Applies one store webhook delivery in one transaction: record the delivery (a delivery
 * seen before changes nothing), store its events on the right shoppers, and update the
 * catalog. Events that name no shopper (a fulfilment without an email) go to the shopper
 * of their order.
 */

/** The storage a delivery needs, bound to one transaction of one workspace. */
export interface WebhookWrites {
  /** Records the delivery id; false when it was recorded before. */
  recordDelivery(): Promise<boolean>;
  appendEvents(
    items: { event: IncomingEvent; identifiers: Identifier[] }[],
  ): Promise<number>;
  /** Stores events on the shopper of an order; false when the order is unknown. */
  appendOrderEvents(orderId: string, events: IncomingEvent[]): Promise<boolean>;
  catalog: CatalogWrites;
  variantOfInventoryItem(
    inventoryItemId: string,
  ): Promise<{ productId: string; variantId: string } | undefined>;
  /** Notes something of the delivery that could not be used, for the ingest-errors log. */
  reject(reason: string): Promise<void>;
}

/** What a delivery did. */
export interface WebhookResult {
  duplicate: boolean;
  events: number;
  products: number;
  stockUpdates: number;
}

/** Applies a mapped delivery; see the module comment. */
export async function applyWebhook(
  writes: WebhookWrites,
  mapping: WebhookMapping,
  meta: {
    source: EventSource;
    deliveryId: string;
    receivedAt: Date;
    defaultPhoneRegion?: string;
  },
): Promise<WebhookResult> {
  if (!(await writes.recordDelivery()))
    return { duplicate: true, events: 0, products: 0, stockUpdates: 0 };

  const events: IncomingEvent[] = mapping.events.map((mapped, index) => ({
    messageId: `${meta.source}:${mapped.dedupeKey ?? `${meta.deliveryId}:${index}`}`,
    type: mapped.type,
    name: mapped.name,
    userId: mapped.userId,
    anonymousId: mapped.anonymousId,
    properties: mapped.properties,
    traits: mapped.traits,
    context: mapped.context,
    timestamp: correctTimestamp(meta.receivedAt, mapped.timestamp, null),
    receivedAt: meta.receivedAt,
    source: meta.source,
    silent: false,
  }));
  const identified = events.map((event) => ({
    event,
    identifiers: extractIdentifiers(event, meta.defaultPhoneRegion),
  }));
  const named = identified.filter((item) => item.identifiers.length > 0);
  const anonymous = identified
    .filter((item) => item.identifiers.length === 0)
    .map((item) => item.event);
  let stored = await writes.appendEvents(named);
  if (anonymous.length > 0) {
    if (
      mapping.orderId &&
      (await writes.appendOrderEvents(mapping.orderId, anonymous))
    )
      stored += anonymous.length;
    else
      await writes.reject(
        `${anonymous.map((e) => e.name).join(", ")} names no shopper and no known order (${mapping.orderId ?? "none"})`,
      );
  }

  const products = [...mapping.products];
  for (const level of mapping.stock) {
    const variant = await writes.variantOfInventoryItem(level.inventoryItemId);
    if (variant)
      products.push({
        product_id: variant.productId,
        variants: [{ variant_id: variant.variantId, stock: level.available }],
      });
    else
      await writes.reject(
        `inventory item ${level.inventoryItemId} belongs to no known product variant yet`,
      );
  }
  if (products.length > 0) await upsertProducts(writes.catalog, products);
  return {
    duplicate: false,
    events: stored,
    products: mapping.products.length,
    stockUpdates: mapping.stock.length,
  };
}
