import { parse as parseCsv } from "csv-parse/sync";
import Type from "typebox";
import {
  codesFromRows,
  CouponConditions,
  CouponValue,
  NewCouponPool,
  type CouponPool,
} from "@herald/core/coupons/coupons";
import { DomainError } from "@herald/core/domain-error";
import { issueCoupon } from "./issue-coupon.ts";
import {
  getPool,
  insertCodes,
  insertPool,
  listCodes,
  listPools,
  type CodeRow,
  type PoolCounts,
} from "./coupons.sql.ts";
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

const poolView = (pool: CouponPool & { counts?: PoolCounts }) => ({
  ...pool,
  createdAt: pool.createdAt.toISOString(),
});
const iso = (d: Date | null) => d?.toISOString() ?? null;
const codeView = (row: CodeRow) => ({
  code: row.code,
  status: row.status,
  profileId: row.profile_id,
  key: row.issue_key,
  issuedAt: iso(row.issued_at),
  expiresAt: iso(row.expires_at),
  redeemedAt: iso(row.redeemed_at),
  orderId: row.order_id,
});

/** Coupon pools: create, upload codes, report issued and redeemed codes, issue one. */
export function registerCouponRoutes(api: App, deps: HttpDeps): void {
  const tags = ["coupons"];
  const requirePool = async (workspaceId: string, id: string) => {
    const pool = await getPool(deps.db, workspaceId, id);
    if (!pool)
      throw new DomainError("not_found", `there is no coupon pool "${id}"`);
    return pool;
  };

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
    async (request, reply) => {
      const created = await insertPool(
        deps.db,
        request.auth.workspaceId,
        request.body,
        deps.clock.now(),
      );
      if (!created)
        throw new DomainError(
          "conflict",
          `a coupon pool "${request.body.id}" exists already`,
          [{ path: "/body/id", message: "taken" }],
        );
      const pool = await requirePool(request.auth.workspaceId, request.body.id);
      return reply.status(201).send(poolView(pool));
    },
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
      items: (
        await listPools(deps.db, request.auth.workspaceId, deps.clock.now())
      ).map(poolView),
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
    async (request) => {
      const pool = await requirePool(
        request.auth.workspaceId,
        request.params.id,
      );
      const all = await listPools(
        deps.db,
        request.auth.workspaceId,
        deps.clock.now(),
      );
      return poolView(all.find((p) => p.id === pool.id) ?? pool);
    },
  );

  api.post(
    "/coupons/pools/:id/codes",
    {
      schema: {
        tags,
        summary:
          "Upload codes to an uploaded pool: a CSV (a `code` column, or the first column) or a list",
        params: PoolParams,
        body: Type.Object({
          csv: Type.Optional(Type.String({ maxLength: 20_000_000 })),
          codes: Type.Optional(
            Type.Array(Type.String(), { maxItems: 500_000 }),
          ),
        }),
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
    async (request) => {
      const pool = await requirePool(
        request.auth.workspaceId,
        request.params.id,
      );
      if (pool.kind !== "uploaded")
        throw new DomainError(
          "invalid",
          `pool "${pool.id}" generates its codes; upload codes to a pool of kind "uploaded"`,
        );
      const { csv, codes } = request.body;
      let rows: string[][];
      if (csv !== undefined) {
        try {
          rows = parseCsv(csv, {
            relax_column_count: true,
            skip_empty_lines: true,
            bom: true,
          });
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          throw new DomainError(
            "invalid",
            `the CSV cannot be read: ${reason}`,
            [{ path: "/body/csv", message: reason }],
          );
        }
      } else rows = (codes ?? []).map((code) => [code]);
      const list = codesFromRows(rows);
      const added = await deps.db.tx((tx) =>
        insertCodes(
          tx,
          request.auth.workspaceId,
          pool.id,
          list,
          deps.clock.now(),
        ),
      );
      return { added, skipped: list.length - added };
    },
  );

  api.get(
    "/coupons/pools/:id/codes",
    {
      schema: {
        tags,
        summary:
          "A pool's codes, e.g. ?status=redeemed for redemptions with their orders",
        params: PoolParams,
        querystring: Type.Object({
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
        }),
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
      const pool = await requirePool(
        request.auth.workspaceId,
        request.params.id,
      );
      const { status, after, limit } = request.query;
      const rows = await listCodes(
        deps.db,
        request.auth.workspaceId,
        pool.id,
        status,
        after,
        limit,
      );
      return {
        items: rows.map(codeView),
        next: rows.length === limit ? (rows.at(-1)?.seq ?? null) : null,
      };
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
        body: Type.Object({
          profileId: Type.String({ format: "uuid" }),
          key: Type.String({ minLength: 1, maxLength: 200 }),
        }),
        response: { 200: CodeView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const now = deps.clock.now();
      const issued = await deps.db.tx((tx) =>
        issueCoupon(
          tx,
          request.auth.workspaceId,
          request.params.id,
          request.body.profileId,
          request.body.key,
          now,
        ),
      );
      return {
        code: issued.code,
        status: "issued",
        profileId: issued.profileId,
        key: request.body.key,
        issuedAt: issued.issuedAt.toISOString(),
        expiresAt: iso(issued.expiresAt),
        redeemedAt: null,
        orderId: null,
      };
    },
  );
}
