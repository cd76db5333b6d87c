import { createHmac, createHash, timingSafeEqual } from "node:crypto";
import { isInteger, isSafeNumber, parse } from "lossless-json";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { isJsonObject } from "@herald/core/events/event";
import {
  applyWebhook,
  type WebhookResult,
  type WebhookWrites,
} from "@herald/core/webhooks/apply-webhook";
import {
  normalizeShop,
  type StorePlatform,
} from "@herald/core/webhooks/connections";
import { findOverlongId } from "@herald/core/webhooks/mapping";
import { mapShopifyWebhook } from "@herald/core/webhooks/shopify";
import { checkWebhookBody } from "@herald/core/webhooks/webhook-bodies";
import { mapWooCommerceWebhook } from "@herald/core/webhooks/woocommerce";
import { catalogWrites, findByInventoryItem } from "../catalog/catalog.sql.ts";
import type { Database, Tx } from "../db/database.ts";
import { appendEvents, appendProfileEvents } from "../events/event-log.ts";
import { insertIngestErrors } from "../events/ingest-errors.sql.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import {
  findConnectionByShop,
  getConnection,
  orderProfile,
  recordDelivery,
  type StoreConnection,
} from "./connections.sql.ts";

/**
 * Store webhooks: Shopify and WooCommerce. The signature is checked over the raw body with
 * the connection's secret before anything is parsed (64-bit ids kept as exact strings);
 * the body is checked against the fields Herald reads of its topic; a delivery id seen
 * before changes nothing; the rest is applied in one short transaction (its events
 * through the event log), then answered.
 */

/** True when `signature` is the base64 HMAC-SHA256 of `body` under `secret`. */
export function verifyHmacBase64(
  body: Buffer,
  signature: string | undefined,
  secret: string,
): boolean {
  if (!signature) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  const given = Buffer.from(signature, "base64");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A webhook body as JSON, with every integer too big for a JS number kept as its exact
 * digits in a string: Shopify's ids pass 2^53 (820982911946154508), and `JSON.parse`
 * would round them. Every other number reads as `JSON.parse` reads it.
 */
export function parseWebhookJson(text: string): unknown {
  return parse(text, null, (digits) =>
    isInteger(digits) && !isSafeNumber(digits) ? digits : Number(digits),
  );
}

/** One delivery as it arrived: who it says it is from, its headers and its raw body. */
export interface StoreDelivery {
  platform: StorePlatform;
  /** The workspace named in the webhook address (`?workspace=`), which wins over `shop`. */
  workspace?: string;
  /** The store it names (Shopify's shop domain, WooCommerce's source URL). */
  shop?: string;
  signature?: string;
  /** The platform's delivery id; without one, the body's hash stands in. */
  id?: string;
  topic?: string;
  body: Buffer;
}

/** What `receiveStoreWebhook` needs. */
export interface StoreWebhookDeps {
  db: Database;
  clock: Clock;
  settings: SettingsCache;
}

/** The connection a delivery is for, by the workspace its address names or by its store. */
async function findDeliveryConnection(
  db: Database,
  delivery: StoreDelivery,
): Promise<{ connection: StoreConnection | undefined; shop?: string }> {
  const { platform, workspace, shop } = delivery;
  if (workspace)
    return {
      connection: await getConnection(db, workspace, platform),
      shop: workspace,
    };
  if (!shop) return { connection: undefined };
  let normalized: string;
  try {
    normalized = normalizeShop(platform, shop);
  } catch (error) {
    if (error instanceof DomainError) return { connection: undefined, shop };
    throw error;
  }
  return {
    connection: await findConnectionByShop(db, platform, normalized),
    shop: normalized,
  };
}

/** The WebhookWrites port of core, in a transaction. */
function webhookWrites(
  tx: Tx,
  connection: StoreConnection,
  delivery: { id: string; topic: string; body: string },
  now: Date,
): WebhookWrites {
  const { workspaceId, platform } = connection;
  return {
    recordDelivery: () =>
      recordDelivery(tx, {
        workspaceId,
        platform,
        deliveryId: delivery.id,
        topic: delivery.topic,
        at: now,
      }),
    appendEvents: async (items) =>
      (await appendEvents(tx, workspaceId, items, now)).size,
    async appendOrderEvents(orderId, events) {
      const profileId = await orderProfile(
        tx,
        workspaceId,
        `${platform}:order:${orderId}:completed`,
        orderId,
      );
      if (!profileId) return false;
      await appendProfileEvents(
        tx,
        workspaceId,
        events.map((event) => ({ ...event, profileId })),
      );
      return true;
    },
    catalog: catalogWrites(tx, workspaceId, now),
    variantOfInventoryItem: (id) => findByInventoryItem(tx, workspaceId, id),
    reject: (reason) =>
      insertIngestErrors(
        tx,
        workspaceId,
        [
          {
            source: platform,
            endpoint: `/webhooks/${platform} ${delivery.topic}`,
            batchIndex: null,
            messageId: delivery.id,
            reason,
            payload: delivery.body.slice(0, 4096),
          },
        ],
        now,
      ),
  };
}

/**
 * Receives one store delivery: finds its connection, checks its signature and its body,
 * and applies it in one transaction. Throws `not_found` for a store no workspace is
 * connected to, `unauthorized` for a signature that does not match, `invalid` for a body
 * Herald cannot read.
 */
export async function receiveStoreWebhook(
  deps: StoreWebhookDeps,
  delivery: StoreDelivery,
): Promise<WebhookResult> {
  const { platform, body: raw } = delivery;
  const found = await findDeliveryConnection(deps.db, delivery);
  const { connection } = found;
  if (!connection)
    throw new DomainError(
      "not_found",
      `no workspace is connected to ${platform} store ${found.shop ?? "(none named)"}: connect it with PUT /api/connections/${platform}`,
    );
  if (!verifyHmacBase64(raw, delivery.signature, connection.secret))
    throw new DomainError(
      "unauthorized",
      `the ${platform} webhook signature does not match the connection's secret`,
    );
  const { topic } = delivery;
  if (!topic) throw new DomainError("invalid", "the webhook names no topic");
  let payload: unknown;
  try {
    payload = parseWebhookJson(raw.toString("utf8"));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DomainError("invalid", `the webhook body is not JSON: ${reason}`);
  }
  if (!isJsonObject(payload))
    throw new DomainError("invalid", "the webhook body is not a JSON object");
  checkWebhookBody(platform, topic, payload);
  const deliveryId =
    delivery.id ?? createHash("sha256").update(raw).digest("hex");
  const now = deps.clock.now();
  const settings = await deps.settings.get(connection.workspaceId);
  const mapping =
    platform === "shopify"
      ? mapShopifyWebhook(topic, payload, connection.shop)
      : mapWooCommerceWebhook(topic, payload);
  const overlong = findOverlongId(mapping, deliveryId);
  if (overlong)
    throw new DomainError(
      "invalid",
      `the ${platform} ${topic} webhook cannot be stored: ${overlong.path} ${overlong.message}`,
      [overlong],
    );
  const body = raw.toString("utf8");
  return deps.db.tx((tx) =>
    applyWebhook(
      webhookWrites(tx, connection, { id: deliveryId, topic, body }, now),
      mapping,
      {
        source: platform,
        deliveryId,
        receivedAt: now,
        ...(settings.defaultPhoneRegion
          ? { defaultPhoneRegion: settings.defaultPhoneRegion }
          : {}),
      },
    ),
  );
}
