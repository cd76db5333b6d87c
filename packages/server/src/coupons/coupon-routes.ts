import Type from "typebox";
import {
  CouponConditions,
  CouponValue,
  NewCouponPool,
} from "@herald/core/coupons/coupons";
import {
  createPool,
  getPool,
  issueCode,
  listCodes,
  listPools,
  uploadCodes,
  type CouponCode,
  type CountedPool,
} from "./coupon-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";

const Counts = Type.Object({
  available: Type.Integer(),
  issued: Type.Integer(),
  redeemed: Type.Integer(),
  expired: Type.Integer({
    description: "issued, past their expiry, not redeemed",
  }),
});
const PoolView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  description: Type.String(),
  prefix: Type.String(),
  codeLength: Type.Integer(),
  expiresAfterDays: Type.Union([Type.Integer(), Type.Null()]),
  value: Type.Partial(CouponValue),
  conditions: CouponConditions,
  createdAt: Type.String({ format: "date-time" }),
  counts: Type.Optional(Counts),
});
const CodeView = Type.Object({
  code: Type.String(),
  status: Type.String(),
  profileId: Type.Union([Type.String(), Type.Null()]),
  key: Type.Union([Type.String(), Type.Null()]),
  issuedAt: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  redeemedAt: Type.Union([Type.String(), Type.Null()]),
  orderId: Type.Union([Type.String(), Type.Null()]),
});
const PoolParams = Type.Object({ id: Type.String() });
const CodeUpload = Type.Object({
  csv: Type.Optional(Type.String({ maxLength: 20_000_000 })),
  codes: Type.Optional(Type.Array(Type.String(), { maxItems: 500_000 })),
});
const CodePage = Type.Object({
  status: Type.Optional(
    Type.Union([
      Type.Literal("available"),
      Type.Literal("issued"),
      Type.Literal("redeemed"),
    ]),
  ),
  after: Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    default: 0,
  }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});
const IssueRequest = Type.Object({
  profileId: Type.String({ format: "uuid" }),
  key: Type.String({ minLength: 1, maxLength: 200 }),
});

const poolView = (pool: CountedPool) => ({
  ...pool,
  createdAt: pool.createdAt.toISOString(),
});
const iso = (d: Date | null) => d?.toISOString() ?? null;
const codeView = (code: CouponCode) => ({
  ...code,
  issuedAt: iso(code.issuedAt),
  expiresAt: iso(code.expiresAt),
  redeemedAt: iso(code.redeemedAt),
});

/** Coupon pools: create, upload codes, report issued and redeemed codes, issue one. */
export function registerCouponRoutes(api: App, deps: HttpDeps): void {
  const tags = ["coupons"];

  api.post(
    "/coupons/pools",
    {
      schema: {
        tags,
        summary:
          'Create a pool: generated (prefix + random code per recipient) or uploaded (codes from the store); templates use {% coupon "ID" %}',
        body: NewCouponPool,
        response: { 201: PoolView, 409: ErrorBody },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          poolView(
            await createPool(deps, request.auth.workspaceId, request.body),
          ),
        ),
  );

  api.get(
    "/coupons/pools",
    {
      schema: {
        tags,
        summary:
          "Pools with their available, issued, redeemed and expired counts",
        response: { 200: Type.Object({ items: Type.Array(PoolView) }) },
      },
    },
    async (request) => ({
      items: (await listPools(deps, request.auth.workspaceId)).map(poolView),
    }),
  );

  api.get(
    "/coupons/pools/:id",
    {
      schema: {
        tags,
        summary: "A pool with its counts",
        params: PoolParams,
        response: { 200: PoolView, 404: ErrorBody },
      },
    },
    async (request) =>
      poolView(
        await getPool(deps, request.auth.workspaceId, request.params.id),
      ),
  );

  api.post(
    "/coupons/pools/:id/codes",
    {
      schema: {
        tags,
        summary:
          "Upload codes to an uploaded pool: a CSV (a `code` column, or the first column) or a list",
        params: PoolParams,
        body: CodeUpload,
        response: {
          200: Type.Object({
            added: Type.Integer(),
            skipped: Type.Integer({
              description: "codes the workspace already had",
            }),
          }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) =>
      uploadCodes(
        deps,
        request.auth.workspaceId,
        request.params.id,
        request.body,
      ),
  );

  api.get(
    "/coupons/pools/:id/codes",
    {
      schema: {
        tags,
        summary:
          "A pool's codes, e.g. ?status=redeemed for redemptions with their orders",
        params: PoolParams,
        querystring: CodePage,
        response: {
          200: Type.Object({
            items: Type.Array(CodeView),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const page = await listCodes(
        deps.db,
        request.auth.workspaceId,
        request.params.id,
        request.query,
      );
      return { items: page.items.map(codeView), next: page.next };
    },
  );

  api.post(
    "/coupons/pools/:id/issue",
    {
      schema: {
        tags,
        summary:
          "Issue a code to a profile under a key: the same key gives the same code again",
        params: PoolParams,
        body: IssueRequest,
        response: { 200: CodeView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) =>
      codeView(
        await issueCode(
          deps,
          request.auth.workspaceId,
          request.params.id,
          request.body,
        ),
      ),
  );
}
