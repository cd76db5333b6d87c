import Type from "typebox";
import { getProduct, listProducts, upsertProducts } from "./catalog-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

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

const ProductPage = Type.Object({
  category: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  after: Type.Optional(
    Type.String({
      description: "the `next` cursor of the previous page",
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
        // ProductUpsert in the API document: the service checks it, naming each problem's path.
        body: Type.Unknown(),
        response: {
          200: Type.Object({
            upserted: Type.Integer(),
            changes: Type.Array(ChangeView),
          }),
        },
      },
    },
    async (request) =>
      upsertProducts(deps, request.auth.workspaceId, request.body),
  );

  api.get(
    "/catalog/products",
    {
      schema: {
        tags,
        summary: "Products by id, optionally of one category",
        querystring: ProductPage,
        response: {
          200: Type.Object({
            items: Type.Array(ProductView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) =>
      listProducts(deps.db, request.auth.workspaceId, request.query),
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
      const product = await getProduct(
        deps.db,
        request.auth.workspaceId,
        request.params.productId,
      );
      return {
        ...product,
        history: product.history.map((h) => ({
          ...h,
          changedAt: h.changedAt.toISOString(),
        })),
      };
    },
  );
}
