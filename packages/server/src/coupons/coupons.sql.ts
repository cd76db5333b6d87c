import type {
  CouponConditions,
  CouponPool,
  CouponValue,
  NewCouponPool,
} from "@herald/core/coupons/coupons";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `coupon_pools`. */
type PoolRow = {
  id: string;
  kind: "generated" | "uploaded";
  description: string;
  prefix: string;
  code_length: number;
  expires_after_days: number | null;
  value: Partial<CouponValue>;
  conditions: CouponConditions;
  created_at: Date;
};

const toPool = (row: PoolRow): CouponPool => ({
  id: row.id,
  kind: row.kind,
  description: row.description,
  prefix: row.prefix,
  codeLength: row.code_length,
  expiresAfterDays: row.expires_after_days,
  value: row.value,
  conditions: row.conditions,
  createdAt: row.created_at,
});

/** A row of `coupon_codes` as handed out and reported. */
export type CodeRow = {
  code: string;
  pool_id: string;
  status: "available" | "issued" | "redeemed";
  profile_id: string | null;
  issue_key: string | null;
  issued_at: Date | null;
  expires_at: Date | null;
  redeemed_at: Date | null;
  order_id: string | null;
};

const codeColumns =
  "code, pool_id, status, profile_id, issue_key, issued_at, expires_at, redeemed_at, order_id";

/** Creates a pool; false when the id is taken. */
export async function insertPool(
  q: Queryable,
  workspaceId: string,
  pool: NewCouponPool,
  at: Date,
): Promise<boolean> {
  const rows = await q.query(
    `insert into coupon_pools (workspace_id, id, kind, description, prefix, code_length, expires_after_days,
                               value, conditions, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing returning id`,
    [
      workspaceId,
      pool.id,
      pool.kind,
      pool.description ?? "",
      pool.prefix ?? "",
      pool.codeLength ?? 8,
      pool.expiresAfterDays ?? null,
      JSON.stringify(pool.value ?? {}),
      JSON.stringify(pool.conditions ?? {}),
      at,
    ],
  );
  return rows.length > 0;
}

/** A pool by id (exact, else case-insensitive). */
export async function getPool(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<CouponPool | undefined> {
  const [row] = await q.query<PoolRow>(
    `select id, kind, description, prefix, code_length, expires_after_days, value, conditions, created_at
       from coupon_pools where workspace_id = $1 and upper(id) = upper($2)
      order by id = $2 desc limit 1`,
    [workspaceId, id],
  );
  return row && toPool(row);
}

/** How many codes of a pool are in each state (`expired`: issued, past expiry, unredeemed). */
export type PoolCounts = {
  available: number;
  issued: number;
  redeemed: number;
  expired: number;
};

/** The pools of a workspace with their code counts. */
export async function listPools(
  q: Queryable,
  workspaceId: string,
  now: Date,
): Promise<(CouponPool & { counts: PoolCounts })[]> {
  const rows = await q.query<PoolRow & { counts: PoolCounts }>(
    `select p.id, p.kind, p.description, p.prefix, p.code_length, p.expires_after_days, p.value, p.conditions,
            p.created_at,
            jsonb_build_object(
              'available', count(*) filter (where c.status = 'available'),
              'issued', count(*) filter (where c.status = 'issued'),
              'redeemed', count(*) filter (where c.status = 'redeemed'),
              'expired', count(*) filter (where c.status = 'issued' and c.expires_at < $2)) as counts
       from coupon_pools p
       left join coupon_codes c on c.workspace_id = p.workspace_id and c.pool_id = p.id
      where p.workspace_id = $1
      group by p.workspace_id, p.id order by p.created_at, p.id`,
    [workspaceId, now],
  );
  return rows.map((row) => ({ ...toPool(row), counts: row.counts }));
}

/** Adds uploaded codes; returns how many were new (codes already in the workspace are skipped). */
export async function insertCodes(
  tx: Tx,
  workspaceId: string,
  { poolId, codes, at }: { poolId: string; codes: readonly string[]; at: Date },
): Promise<number> {
  const rows = await tx.query(
    `insert into coupon_codes (workspace_id, pool_id, code, status, created_at)
     select $1, $2, code, 'available', $4 from unnest($3::text[]) with ordinality as t(code, n) order by n
     on conflict do nothing returning code`,
    [workspaceId, poolId, codes, at],
  );
  return rows.length;
}

/**
 * Serialises issuing under one key (pool + issue key) until the transaction ends, so two
 * renders of the same message cannot both take a code. Other keys are not held up.
 */
export async function lockIssueKey(
  tx: Tx,
  workspaceId: string,
  poolId: string,
  key: string,
): Promise<void> {
  await tx.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `coupon:${workspaceId}:${poolId}:${key}`,
  ]);
}

/** The code already issued under a key, if any. */
export async function codeByKey(
  tx: Tx,
  workspaceId: string,
  poolId: string,
  key: string,
): Promise<CodeRow | undefined> {
  const [row] = await tx.query<CodeRow>(
    `select ${codeColumns} from coupon_codes where workspace_id = $1 and pool_id = $2 and issue_key = $3`,
    [workspaceId, poolId, key],
  );
  return row;
}

/** A code of a pool handed to a profile under a key, at a time, until an expiry. */
export interface CodeIssue {
  poolId: string;
  profileId: string;
  key: string;
  at: Date;
  expiresAt: Date | null;
}

/**
 * Takes the oldest available uploaded code for a profile under a key. `skip locked`
 * lets concurrent issuers take different codes instead of queueing on the same one.
 */
export async function claimCode(
  tx: Tx,
  workspaceId: string,
  { poolId, profileId, key, at, expiresAt }: CodeIssue,
): Promise<CodeRow | undefined> {
  const [row] = await tx.query<CodeRow>(
    `update coupon_codes set status = 'issued', profile_id = $3, issue_key = $4, issued_at = $5, expires_at = $6
      where workspace_id = $1 and code = (
              select code from coupon_codes where workspace_id = $1 and pool_id = $2 and status = 'available'
               order by seq limit 1 for update skip locked)
      returning ${codeColumns}`,
    [workspaceId, poolId, profileId, key, at, expiresAt],
  );
  return row;
}

/** Inserts a generated code issued to a profile; undefined when the code exists already. */
export async function insertIssuedCode(
  tx: Tx,
  workspaceId: string,
  { poolId, code, profileId, key, at, expiresAt }: CodeIssue & { code: string },
): Promise<CodeRow | undefined> {
  const [row] = await tx.query<CodeRow>(
    `insert into coupon_codes (workspace_id, pool_id, code, status, profile_id, issue_key, issued_at, expires_at,
                               created_at)
     values ($1, $2, $3, 'issued', $4, $5, $6, $7, $6)
     on conflict do nothing returning ${codeColumns}`,
    [workspaceId, poolId, code, profileId, key, at, expiresAt],
  );
  return row;
}

/** Marks a code redeemed by an order; the code row, when the code is one of Herald's. */
export async function redeemCode(
  tx: Tx,
  workspaceId: string,
  {
    code,
    orderId,
    profileId,
    at,
  }: { code: string; orderId: string; profileId: string; at: Date },
): Promise<CodeRow | undefined> {
  const [row] = await tx.query<CodeRow>(
    `update coupon_codes set status = 'redeemed', redeemed_at = $4, order_id = $3,
            profile_id = coalesce(profile_id, $5)
      where workspace_id = $1 and upper(code) = upper($2) and status <> 'redeemed'
      returning ${codeColumns}`,
    [workspaceId, code, orderId, at, profileId],
  );
  return row;
}

/** A pool's codes, optionally of one status, oldest first after `after` (keyset). */
export async function listCodes(
  q: Queryable,
  workspaceId: string,
  {
    poolId,
    status,
    after,
    limit,
  }: {
    poolId: string;
    status?: CodeRow["status"] | undefined;
    after: number;
    limit: number;
  },
): Promise<(CodeRow & { seq: number })[]> {
  return q.query(
    `select ${codeColumns}, seq from coupon_codes
      where workspace_id = $1 and pool_id = $2 and ($3::text is null or status = $3) and seq > $4
      order by seq limit $5`,
    [workspaceId, poolId, status ?? null, after, limit],
  );
}

/** Codes issued to profiles (privacy export and the profile's coupons). */
export async function listProfileCodes(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<CodeRow[]> {
  return q.query(
    `select ${codeColumns} from coupon_codes where workspace_id = $1 and profile_id = any($2::uuid[])
      order by issued_at`,
    [workspaceId, profileIds],
  );
}

/** Moves a merged profile's codes to the survivor. */
export async function moveCodes(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update coupon_codes set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** Forgets who got codes (privacy erasure); the codes stay so they are never handed out again. */
export async function forgetCodeOwners(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "update coupon_codes set profile_id = null where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
