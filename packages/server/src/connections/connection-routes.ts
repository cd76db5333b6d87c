import Type from "typebox";
import {
  connectStore,
  disconnectStore,
  listConnections,
  type ConnectionSummary,
} from "./connection-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const Platform = Type.Union([
  Type.Literal("shopify"),
  Type.Literal("woocommerce"),
]);

const PlatformParams = Type.Object({ platform: Platform });
const StoreCredentials = Type.Object(
  {
    shop: Type.String({
      minLength: 3,
      description:
        "acme.myshopify.com, or https://shop.example for WooCommerce",
    }),
    secret: Type.String({
      minLength: 8,
      description: "Shopify's app client secret / WooCommerce's webhook secret",
    }),
  },
  { additionalProperties: false },
);

const ConnectionView = Type.Object({
  platform: Platform,
  shop: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  webhookUrl: Type.String({
    description: "Where to point the store's webhooks",
  }),
});

/** Connecting a Shopify or WooCommerce store, whose webhooks then feed the workspace. */
export function registerConnectionRoutes(api: App, deps: HttpDeps): void {
  const tags = ["connections"];
  const view = (c: ConnectionSummary) => ({
    platform: c.platform,
    shop: c.shop,
    createdAt: c.createdAt.toISOString(),
    webhookUrl: `${deps.config.publicUrl}/webhooks/${c.platform}`,
  });

  api.get(
    "/connections",
    {
      schema: {
        tags,
        summary: "The stores connected to this workspace (never their secrets)",
        response: { 200: Type.Object({ items: Type.Array(ConnectionView) }) },
      },
    },
    async (request) => ({
      items: (await listConnections(deps.db, request.auth.workspaceId)).map(
        view,
      ),
    }),
  );

  api.put(
    "/connections/:platform",
    {
      schema: {
        tags,
        summary:
          "Connect a store: its shop domain (Shopify) or URL (WooCommerce) and its webhook secret",
        params: PlatformParams,
        body: StoreCredentials,
        response: { 200: ConnectionView },
      },
    },
    async (request) =>
      view(
        await connectStore(deps, request.auth.workspaceId, {
          platform: request.params.platform,
          ...request.body,
        }),
      ),
  );

  api.delete(
    "/connections/:platform",
    {
      schema: {
        tags,
        summary: "Disconnect a store",
        params: PlatformParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await disconnectStore(
        deps.db,
        request.auth.workspaceId,
        request.params.platform,
      );
      return reply.status(204).send(null);
    },
  );
}
