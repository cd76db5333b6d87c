import Type from "typebox";
import {
  ProductInput,
  upsertProducts,
  type Product,
} from "@herald/core/catalog/catalog";
import { DomainError } from "@herald/core/domain-error";
import { isJsonObject } from "@herald/core/events/event";
import { parseWith } from "@herald/core/validation";
import {
  catalogWrites,
  getProduct,
  listCatalogChanges,
  listProducts,
} from "./catalog.sql.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const ProductBatch = Type.Object(
  { products: Type.Array(ProductInput, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);

const ChangeView = Type.Object({
  productId: Type.String(),
  variantId: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  oldValue: Type.Union([Type.Number(), Type.Null()]),
  newValue: Type.Union([Type.Number(), Type.Null()]),
});

const ProductView = Type.Object({
  productId: Type.String(),
  name: Type.String(),
  url: Type.Union([Type.String(), Type.Null()]),
  imageUrl: Type.Union([Type.String(), Type.Null()]),
  category: Type.Union([Type.String(), Type.Null()]),
  brand: Type.Union([Type.String(), Type.Null()]),
  price: Type.Union([Type.Number(), Type.Null()]),
  compareAtPrice: Type.Union([Type.Number(), Type.Null()]),
  currency: Type.Union([Type.String(), Type.Null()]),
  stock: Type.Union([Type.Integer(), Type.Null()]),
  daysOfUsePerUnit: Type.Union([Type.Number(), Type.Null()]),
  status: Type.String(),
  attributes: Type.Record(Type.String(), Type.Unknown()),
  variants: Type.Array(
    Type.Object({
      variantId: Type.String(),
      sku: Type.Union([Type.String(), Type.Null()]),
      name: Type.Union([Type.String(), Type.Null()]),
      price: Type.Union([Type.Number(), Type.Null()]),
      compareAtPrice: Type.Union([Type.Number(), Type.Null()]),
      stock: Type.Union([Type.Integer(), Type.Null()]),
      inventoryItemId: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});

/** Upserts and reads of the store's catalog. */
export function registerCatalogRoutes(api: App, deps: HttpDeps): void {
  const tags = ["catalog"];

  api.post(
    "/catalog/products",
    {
      schema: {
        tags,
        summary:
          "Create or update one product, or many as {products: [...]}; fields left out keep their values",
        body: Type.Unknown(),
        response: {
          200: Type.Object({
            upserted: Type.Integer(),
            changes: Type.Array(ChangeView),
          }),
        },
      },
    },
    async (request) => {
      const body = request.body;
      const inputs =
        isJsonObject(body) && "products" in body
          ? parseWith(ProductBatch, body, "the product batch").products
          : [parseWith(ProductInput, body, "the product")];
      const now = deps.clock.now();
      const result = await deps.db.tx((tx) =>
        upsertProducts(
          catalogWrites(tx, request.auth.workspaceId, now),
          inputs,
        ),
      );
      return { upserted: result.products.length, changes: result.changes };
    },
  );

  api.get(
    "/catalog/products",
    {
      schema: {
        tags,
        summary: "Products by id, optionally of one category",
        querystring: Type.Object({
          category: Type.Optional(Type.String()),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          after: Type.Optional(
            Type.String({
              description: "the `next` cursor of the previous page",
            }),
          ),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(ProductView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { limit, after, category } = request.query;
      const rows = await listProducts(deps.db, request.auth.workspaceId, {
        limit: limit + 1,
        ...(after ? { after } : {}),
        ...(category ? { category } : {}),
      });
      const items: Product[] = rows.slice(0, limit);
      return {
        items,
        next: rows.length > limit ? (items.at(-1)?.productId ?? null) : null,
      };
    },
  );

  api.get(
    "/catalog/products/:productId",
    {
      schema: {
        tags,
        summary: "A product with its variants and its price and stock history",
        params: Type.Object({ productId: Type.String() }),
        response: {
          200: Type.Intersect([
            ProductView,
            Type.Object({
              history: Type.Array(
                Type.Intersect([
                  ChangeView,
                  Type.Object({
                    changedAt: Type.String({ format: "date-time" }),
                  }),
                ]),
              ),
            }),
          ]),
        },
      },
    },
    async (request) => {
      const { workspaceId } = request.auth;
      const product = await getProduct(
        deps.db,
        workspaceId,
        request.params.productId,
      );
      if (!product)
        throw new DomainError(
          "not_found",
          `no product ${request.params.productId}`,
        );
      const history = await listCatalogChanges(
        deps.db,
        workspaceId,
        product.productId,
        100,
      );
      return {
        ...product,
        history: history.map((h) => ({
          ...h,
          changedAt: h.changedAt.toISOString(),
        })),
      };
    },
  );
}
