import type { FastifyRequest } from "fastify";
import Type from "typebox";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { receiveStoreWebhook } from "./store-webhook-service.ts";

/**
 * The store webhook addresses, `POST /webhooks/shopify` and `POST /webhooks/woocommerce`:
 * the raw body and the platform's headers go to `receiveStoreWebhook` (the signature is
 * checked over the exact bytes), and a delivery applied is answered 200.
 */

/** The first of `names` the request carries as a header. */
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

/** The raw body a delivery came with (the content parser keeps it as bytes). */
const rawBody = (request: FastifyRequest): Buffer =>
  Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);

/** A webhook address may name its workspace (`?workspace=`) instead of the store. */
const WebhookQuery = Type.Object({
  workspace: Type.Optional(Type.String()),
});

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

    hooks.post(
      "/webhooks/shopify",
      { schema: { hide: true, querystring: WebhookQuery } },
      async (request, reply) => {
        const { workspace } = request.query;
        const shop = header(
          request,
          "x-shopify-shop-domain",
          "shopify-shop-domain",
        );
        const signature = header(
          request,
          "x-shopify-hmac-sha256",
          "shopify-hmac-sha256",
        );
        const id = header(
          request,
          "x-shopify-event-id",
          "shopify-event-id",
          "x-shopify-webhook-id",
          "shopify-webhook-id",
        );
        const topic = header(request, "x-shopify-topic", "shopify-topic");
        const result = await receiveStoreWebhook(deps, {
          platform: "shopify",
          workspace,
          shop,
          signature,
          id,
          topic,
          body: rawBody(request),
        });
        return reply.status(200).send({ received: true, ...result });
      },
    );

    hooks.post(
      "/webhooks/woocommerce",
      { schema: { hide: true, querystring: WebhookQuery } },
      async (request, reply) => {
        const { workspace } = request.query;
        const body = rawBody(request);
        const signature = header(request, "x-wc-webhook-signature");
        // WooCommerce checks a new webhook with an unsigned ping and needs exactly 200.
        if (!signature && /^webhook_id=\d+$/.test(body.toString("utf8").trim()))
          return reply.status(200).send();
        const shop = header(request, "x-wc-webhook-source");
        const id = header(request, "x-wc-webhook-delivery-id");
        const topic = header(request, "x-wc-webhook-topic");
        const result = await receiveStoreWebhook(deps, {
          platform: "woocommerce",
          workspace,
          shop,
          signature,
          id,
          topic,
          body,
        });
        return reply.status(200).send({ received: true, ...result });
      },
    );
  });
}
