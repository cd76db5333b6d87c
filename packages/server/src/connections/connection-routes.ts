import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { normalizeShop } from "@herald/core/webhooks/connections";
import {
  deleteConnection,
  findConnectionByShop,
  listConnections,
  upsertConnection,
} from "./connections.sql.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const Platform = Type.Union([
  Type.Literal("shopify"),
  Type.Literal("woocommerce"),
]);

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
  const view = (c: {
    platform: "shopify" | "woocommerce";
    shop: string;
    createdAt: Date;
  }) => ({
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
        params: Type.Object({ platform: Platform }),
        body: Type.Object(
          {
            shop: Type.String({
              minLength: 3,
              description:
                "acme.myshopify.com, or https://shop.example for WooCommerce",
            }),
            secret: Type.String({
              minLength: 8,
              description:
                "Shopify's app client secret / WooCommerce's webhook secret",
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: ConnectionView },
      },
    },
    async (request) => {
      const { platform } = request.params;
      const shop = normalizeShop(platform, request.body.shop);
      const taken = await findConnectionByShop(deps.db, platform, shop);
      if (taken && taken.workspaceId !== request.auth.workspaceId) {
        throw new DomainError(
          "conflict",
          `${shop} is already connected to another workspace; disconnect it there first`,
        );
      }
      const connection = {
        workspaceId: request.auth.workspaceId,
        platform,
        shop,
        secret: request.body.secret,
        createdAt: deps.clock.now(),
      };
      await upsertConnection(deps.db, connection);
      return view(connection);
    },
  );

  api.delete(
    "/connections/:platform",
    {
      schema: {
        tags,
        summary: "Disconnect a store",
        params: Type.Object({ platform: Platform }),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      if (
        !(await deleteConnection(
          deps.db,
          request.auth.workspaceId,
          request.params.platform,
        ))
      ) {
        throw new DomainError(
          "not_found",
          `no ${request.params.platform} store is connected`,
        );
      }
      return reply.status(204).send(null);
    },
  );
}
