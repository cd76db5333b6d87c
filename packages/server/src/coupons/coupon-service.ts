import type { Clock } from "@herald/core/clock";
import { parse as parseCsv } from "csv-parse/sync";
import {
  codesFromRows,
  type CouponPool,
  type NewCouponPool,
} from "@herald/core/coupons/coupons";
import { DomainError } from "@herald/core/domain-error";
import type { Database } from "../db/database.ts";
import * as couponsSql from "./coupons.sql.ts";
import { issueCoupon } from "./issue-coupon.ts";

/**
 * Coupon pools as the admin API manages them: creating a pool, uploading codes to it,
 * reporting its codes and their counts, and issuing a code by hand (flows and templates
 * issue theirs with issue-coupon.ts inside their own transactions).
 */

/** What the coupon use-cases run with: the database and the clock. */
export interface CouponDeps {
  db: Database;
  clock: Clock;
}

/** A pool with how many of its codes are in each state. */
export type CountedPool = CouponPool & { counts?: couponsSql.PoolCounts };

/** A code of a pool as the admin API reports it: who got it under which key, its order. */
export interface CouponCode {
  code: string;
  status: couponsSql.CodeRow["status"];
  profileId: string | null;
  key: string | null;
  issuedAt: Date | null;
  expiresAt: Date | null;
  redeemedAt: Date | null;
  orderId: string | null;
}

const toCode = (row: couponsSql.CodeRow): CouponCode => ({
  code: row.code,
  status: row.status,
  profileId: row.profile_id,
  key: row.issue_key,
  issuedAt: row.issued_at,
  expiresAt: row.expires_at,
  redeemedAt: row.redeemed_at,
  orderId: row.order_id,
});

/** A pool by id (exact, else case-insensitive); `not_found` when there is none. */
async function requirePool(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<CouponPool> {
  const pool = await couponsSql.getPool(db, workspaceId, id);
  if (!pool)
    throw new DomainError("not_found", `there is no coupon pool "${id}"`);
  return pool;
}

/** Creates a pool unless the workspace has one with its id; true when it made it. */
export async function addPool(
  { db, clock }: CouponDeps,
  workspaceId: string,
  pool: NewCouponPool,
): Promise<boolean> {
  return couponsSql.insertPool(db, workspaceId, pool, clock.now());
}

/** Creates a pool; `conflict` when the id is taken. */
export async function createPool(
  deps: CouponDeps,
  workspaceId: string,
  pool: NewCouponPool,
): Promise<CouponPool> {
  const { db } = deps;
  if (!(await addPool(deps, workspaceId, pool)))
    throw new DomainError(
      "conflict",
      `a coupon pool "${pool.id}" exists already`,
      [{ path: "/body/id", message: "taken" }],
    );
  return requirePool(db, workspaceId, pool.id);
}

/** The workspace's pools with their available, issued, redeemed and expired counts. */
export async function listPools(
  { db, clock }: CouponDeps,
  workspaceId: string,
): Promise<CountedPool[]> {
  return couponsSql.listPools(db, workspaceId, clock.now());
}

/** A pool with its counts; `not_found` when there is none. */
export async function getPool(
  deps: CouponDeps,
  workspaceId: string,
  id: string,
): Promise<CountedPool> {
  const pool = await requirePool(deps.db, workspaceId, id);
  const all = await listPools(deps, workspaceId);
  return all.find((p) => p.id === pool.id) ?? pool;
}

/**
 * Adds the codes of a CSV (a `code` column, or the first column) or of a list to an
 * uploaded pool; codes the workspace already has are skipped.
 */
export async function uploadCodes(
  { db, clock }: CouponDeps,
  workspaceId: string,
  poolId: string,
  upload: { csv?: string | undefined; codes?: string[] | undefined },
): Promise<{ added: number; skipped: number }> {
  const pool = await requirePool(db, workspaceId, poolId);
  if (pool.kind !== "uploaded")
    throw new DomainError(
      "invalid",
      `pool "${pool.id}" generates its codes; upload codes to a pool of kind "uploaded"`,
    );
  const { csv, codes } = upload;
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
      throw new DomainError("invalid", `the CSV cannot be read: ${reason}`, [
        { path: "/body/csv", message: reason },
      ]);
    }
  } else rows = (codes ?? []).map((code) => [code]);
  const list = codesFromRows(rows);
  const added = await db.tx((tx) =>
    couponsSql.insertCodes(tx, workspaceId, {
      poolId: pool.id,
      codes: list,
      at: clock.now(),
    }),
  );
  return { added, skipped: list.length - added };
}

/** A page of a pool's codes (of one status), oldest first after `after`, and the next cursor. */
export async function listCodes(
  db: Database,
  workspaceId: string,
  poolId: string,
  page: {
    status?: couponsSql.CodeRow["status"] | undefined;
    after: number;
    limit: number;
  },
): Promise<{ items: CouponCode[]; next: number | null }> {
  const pool = await requirePool(db, workspaceId, poolId);
  const rows = await couponsSql.listCodes(db, workspaceId, {
    poolId: pool.id,
    ...page,
  });
  return {
    items: rows.map(toCode),
    next: rows.length === page.limit ? (rows.at(-1)?.seq ?? null) : null,
  };
}

/** Issues a code of a pool to a profile under a key: the same key gives the same code again. */
export async function issueCode(
  { db, clock }: CouponDeps,
  workspaceId: string,
  poolId: string,
  request: { profileId: string; key: string },
): Promise<CouponCode> {
  const now = clock.now();
  const issued = await db.tx((tx) =>
    issueCoupon(tx, workspaceId, { poolId, ...request, now }),
  );
  return {
    code: issued.code,
    status: "issued",
    profileId: issued.profileId,
    key: request.key,
    issuedAt: issued.issuedAt,
    expiresAt: issued.expiresAt,
    redeemedAt: null,
    orderId: null,
  };
}
