import {
  generateCode,
  poolExhausted,
  type IssuedCoupon,
} from "@herald/core/coupons/coupons";
import { DomainError } from "@herald/core/domain-error";
import type { Tx } from "../db/database.ts";
import {
  claimCode,
  codeByKey,
  getPool,
  insertIssuedCode,
  lockIssueKey,
  type CodeRow,
} from "./coupons.sql.ts";

const dayMs = 86_400_000;
const maxAttempts = 10;

/**
 * Issues one unique code of pool `poolId` to `profileId` under `key`, in the caller's
 * transaction. The same key always gets the same code (a re-rendered message, a retried
 * flow step), and a code is never issued twice: keys are serialised by an advisory lock
 * held until the transaction ends, uploaded codes are claimed with `skip locked`, and
 * generated codes are unique in the workspace (a collision draws again).
 *
 * Rendering keys by the message id; a flow's coupon action should key by its effect key
 * (run id + node id). Throws `not_found` for an unknown pool, `conflict` when an uploaded
 * pool has no codes left (the message must fail visibly, not go out with a blank) or when
 * the key already holds a code of another profile.
 */
export async function issueCoupon(
  tx: Tx,
  workspaceId: string,
  {
    poolId,
    profileId,
    key,
    now,
  }: { poolId: string; profileId: string; key: string; now: Date },
): Promise<IssuedCoupon> {
  const pool = await getPool(tx, workspaceId, poolId);
  if (!pool)
    throw new DomainError(
      "not_found",
      `there is no coupon pool "${poolId}": create it with POST /api/coupons/pools`,
      [{ path: `/coupons/${poolId}`, message: "unknown coupon pool" }],
    );
  const issued = (row: CodeRow): IssuedCoupon => ({
    code: row.code,
    poolId: pool.id,
    profileId: row.profile_id ?? profileId,
    issuedAt: row.issued_at ?? now,
    expiresAt: row.expires_at,
    value: pool.value,
    conditions: pool.conditions,
  });

  await lockIssueKey(tx, workspaceId, pool.id, key);
  const existing = await codeByKey(tx, workspaceId, pool.id, key);
  if (existing) {
    if (existing.profile_id !== null && existing.profile_id !== profileId)
      throw new DomainError(
        "conflict",
        `the key ${key} already holds a code of pool "${pool.id}" for another profile`,
      );
    return issued(existing);
  }
  const expiresAt = pool.expiresAfterDays
    ? new Date(now.getTime() + pool.expiresAfterDays * dayMs)
    : null;
  if (pool.kind === "uploaded") {
    const row = await claimCode(tx, workspaceId, {
      poolId: pool.id,
      profileId,
      key,
      at: now,
      expiresAt,
    });
    if (!row) throw poolExhausted(pool.id);
    return issued(row);
  }
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const row = await insertIssuedCode(tx, workspaceId, {
      poolId: pool.id,
      code: generateCode(pool.prefix, pool.codeLength),
      profileId,
      key,
      at: now,
      expiresAt,
    });
    if (row) return issued(row);
  }
  throw new DomainError(
    "conflict",
    `coupon pool "${pool.id}" drew ${maxAttempts} codes that exist already: make its codes longer`,
  );
}
