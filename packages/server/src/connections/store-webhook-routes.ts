import { createHmac, createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { isInteger, isSafeNumber, parse } from "lossless-json";
import { DomainError } from "@herald/core/domain-error";
import { isJsonObject, type JsonObject } from "@herald/core/events/event";
import {
  applyWebhook,
  type WebhookWrites,
} from "@herald/core/webhooks/apply-webhook";
import {
  normalizeShop,
  type StorePlatform,
} from "@herald/core/webhooks/connections";
import {
  findOverlongId,
  type WebhookMapping,
} from "@herald/core/webhooks/mapping";
import { mapShopifyWebhook } from "@herald/core/webhooks/shopify";
import { mapWooCommerceWebhook } from "@herald/core/webhooks/woocommerce";
import { catalogWrites, findByInventoryItem } from "../catalog/catalog.sql.ts";
import {
  findConnectionByShop,
  getConnection,
  orderProfile,
  recordDelivery,
  type StoreConnection,
} from "./connections.sql.ts";
import type { Tx } from "../db/database.ts";
import { insertIngestErrors } from "../events/ingest-errors.sql.ts";
import { appendEvents, appendProfileEvents } from "../events/event-log.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

/**
 * Store webhooks: Shopify and WooCommerce. The signature is checked over the raw body with
 * the connection's secret before anything is parsed (64-bit ids kept as exact strings); a
 * delivery id seen before is answered 200 and changes nothing; the rest is applied in one
 * short transaction, then answered.
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

const header = (
  request: FastifyRequest,
  ...names: string[]
): string | undefined => {
  for (const name of names) {
    const value = request.headers[name];
    if (typeof value === "string" && value !== "") return value;
  }
  return undefined;
};

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

/** The `/webhooks/*` routes. */
export async function registerWebhookRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  await app.register(async (hooks: App) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: 5 * 1024 * 1024 },
      (_request, body, done) => done(null, body),
    );

    async function receive(
      request: FastifyRequest,
      reply: FastifyReply,
      platform: StorePlatform,
      found: {
        connection: StoreConnection | undefined;
        shop: string | undefined;
      },
      signature: string | undefined,
      delivery: { id: string | undefined; topic: string | undefined },
      map: (topic: string, payload: JsonObject, shop: string) => WebhookMapping,
    ) {
      const raw = Buffer.isBuffer(request.body)
        ? request.body
        : Buffer.alloc(0);
      const { connection } = found;
      if (!connection)
        throw new DomainError(
          "not_found",
          `no workspace is connected to ${platform} store ${found.shop ?? "(none named)"}: connect it with PUT /api/connections/${platform}`,
        );
      if (!verifyHmacBase64(raw, signature, connection.secret))
        throw new DomainError(
          "unauthorized",
          `the ${platform} webhook signature does not match the connection's secret`,
        );
      if (!delivery.topic)
        throw new DomainError("invalid", "the webhook names no topic");
      let payload: unknown;
      try {
        payload = parseWebhookJson(raw.toString("utf8"));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new DomainError(
          "invalid",
          `the webhook body is not JSON: ${reason}`,
        );
      }
      if (!isJsonObject(payload))
        throw new DomainError(
          "invalid",
          "the webhook body is not a JSON object",
        );
      const deliveryId =
        delivery.id ?? createHash("sha256").update(raw).digest("hex");
      const now = deps.clock.now();
      const settings = await deps.settings.get(connection.workspaceId);
      const mapping = map(delivery.topic, payload, connection.shop);
      const overlong = findOverlongId(mapping, deliveryId);
      if (overlong)
        throw new DomainError(
          "invalid",
          `the ${platform} ${delivery.topic} webhook cannot be stored: ${overlong.path} ${overlong.message}`,
          [overlong],
        );
      const body = raw.toString("utf8");
      const result = await deps.db.tx((tx) =>
        applyWebhook(
          webhookWrites(
            tx,
            connection,
            { id: deliveryId, topic: delivery.topic ?? "", body },
            now,
          ),
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
      return reply.status(200).send({ received: true, ...result });
    }

    async function lookup(
      platform: StorePlatform,
      request: FastifyRequest,
      shop: string | undefined,
    ) {
      const workspace = (request.query as { workspace?: string }).workspace;
      if (workspace)
        return {
          connection: await getConnection(deps.db, workspace, platform),
          shop: workspace,
        };
      if (!shop) return { connection: undefined, shop: undefined };
      let normalized: string;
      try {
        normalized = normalizeShop(platform, shop);
      } catch (error) {
        if (error instanceof DomainError)
          return { connection: undefined, shop };
        throw error;
      }
      return {
        connection: await findConnectionByShop(deps.db, platform, normalized),
        shop: normalized,
      };
    }

    hooks.post(
      "/webhooks/shopify",
      { schema: { hide: true } },
      async (request, reply) => {
        const shop = header(
          request,
          "x-shopify-shop-domain",
          "shopify-shop-domain",
        );
        return receive(
          request,
          reply,
          "shopify",
          await lookup("shopify", request, shop),
          header(request, "x-shopify-hmac-sha256", "shopify-hmac-sha256"),
          {
            id: header(
              request,
              "x-shopify-event-id",
              "shopify-event-id",
              "x-shopify-webhook-id",
              "shopify-webhook-id",
            ),
            topic: header(request, "x-shopify-topic", "shopify-topic"),
          },
          mapShopifyWebhook,
        );
      },
    );

    hooks.post(
      "/webhooks/woocommerce",
      { schema: { hide: true } },
      async (request, reply) => {
        const raw = Buffer.isBuffer(request.body)
          ? request.body
          : Buffer.alloc(0);
        const signature = header(request, "x-wc-webhook-signature");
        // WooCommerce checks a new webhook with an unsigned ping and needs exactly 200.
        if (!signature && /^webhook_id=\d+$/.test(raw.toString("utf8").trim()))
          return reply.status(200).send();
        const source = header(request, "x-wc-webhook-source");
        return receive(
          request,
          reply,
          "woocommerce",
          await lookup("woocommerce", request, source),
          signature,
          {
            id: header(request, "x-wc-webhook-delivery-id"),
            topic: header(request, "x-wc-webhook-topic"),
          },
          (topic, payload) => mapWooCommerceWebhook(topic, payload),
        );
      },
    );
  });
}
