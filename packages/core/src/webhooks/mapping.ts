import type { ProductInput } from "../catalog/catalog.ts";
import {
  isJsonObject,
  type EventType,
  type JsonObject,
} from "../events/event.ts";

/**
 * What a store platform's webhook means to Herald: spec events about a shopper, catalog
 * upserts, and stock levels. Shared by the Shopify and WooCommerce mappers.
 */

/** One event a webhook stands for. */
export interface MappedEvent {
  /**
   * A key naming the fact itself (`order:1001:completed`), so that every delivery reporting
   * it maps to the same message id and it is stored once; null for facts that are new with
   * each delivery (a checkout or customer update).
   */
  dedupeKey: string | null;
  type: EventType;
  name: string | null;
  userId: string | null;
  anonymousId: string | null;
  properties: JsonObject;
  traits: JsonObject | null;
  /** Carries the platform's customer id, email, phone and cart tokens as externalIds. */
  context: JsonObject;
  timestamp: Date | null;
}

/** Everything one webhook delivery stands for. */
export interface WebhookMapping {
  events: MappedEvent[];
  products: ProductInput[];
  stock: { inventoryItemId: string; available: number }[];
  /** Set when the events name no shopper: they belong to this order's shopper. */
  orderId: string | null;
}

export const emptyMapping = (): WebhookMapping => ({
  events: [],
  products: [],
  stock: [],
  orderId: null,
});

/** The longest id (a delivery's, an order's, a refund's) a webhook may carry: ids are indexed. */
export const maxWebhookIdLength = 255;

/**
 * The first id of a delivery longer than `maxWebhookIdLength`, with where it is: its
 * delivery id, an event's key, shopper ids, or an `…_id` property.
 */
export function findOverlongId(
  mapping: WebhookMapping,
  deliveryId: string,
): { path: string; message: string } | undefined {
  const tooLong = (path: string, value: unknown) =>
    typeof value === "string" && value.length > maxWebhookIdLength
      ? {
          path,
          message: `is longer than ${maxWebhookIdLength} characters (${value.length}); no id is that long`,
        }
      : undefined;
  const found =
    tooLong("/headers/delivery-id", deliveryId) ??
    tooLong("/orderId", mapping.orderId);
  if (found) return found;
  for (const [i, event] of mapping.events.entries()) {
    const at = `/events/${i}`;
    const problem =
      Object.entries(event.properties)
        .filter(([key]) => key.endsWith("_id"))
        .map(([key, value]) => tooLong(`${at}/properties/${key}`, value))
        .find(Boolean) ??
      tooLong(`${at}/userId`, event.userId) ??
      tooLong(`${at}/anonymousId`, event.anonymousId) ??
      tooLong(`${at}/key`, event.dedupeKey);
    if (problem) return problem;
  }
  for (const [i, level] of mapping.stock.entries()) {
    const problem = tooLong(
      `/stock/${i}/inventoryItemId`,
      level.inventoryItemId,
    );
    if (problem) return problem;
  }
  return undefined;
}

/** A string or a number as text; anything else as null. */
export function str(value: unknown): string | null {
  if (typeof value === "string")
    return value.trim() === "" ? null : value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

/** A street address from its lines (`address1`, `address2`), skipping empty ones. */
export function street(...lines: unknown[]): string | null {
  const given = lines.map(str).filter((line) => line !== null);
  return given.length > 0 ? given.join(", ") : null;
}

/** A money amount from a number or a decimal string. */
export function num(value: unknown): number | null {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && value.trim() !== ""
        ? Number(value)
        : NaN;
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : null;
}

/** A nested object, or an empty one. */
export function obj(value: unknown): JsonObject {
  return isJsonObject(value) ? value : {};
}

/** The objects of an array, or none. */
export function objs(value: unknown): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

/** A time, or null. */
export function time(value: unknown): Date | null {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `context.externalIds` for the identifiers a webhook knows, skipping empty ones. */
export function externalIds(ids: Record<string, unknown>): JsonObject[] {
  return Object.entries(ids)
    .map(([type, value]) => ({ type, id: str(value) }))
    .filter((entry) => entry.id !== null)
    .map((entry) => ({
      id: entry.id,
      type: entry.type,
      collection: "users",
      encoding: "none",
    }));
}

/** Drops undefined and null values so stored properties stay readable. */
export function compact(object: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(object).filter(
      ([, value]) => value !== null && value !== undefined,
    ),
  );
}
