import Type from "typebox";
import { DomainError } from "../domain-error.ts";
import { maxMoney } from "../events/ecommerce.ts";

/**
 * Unique coupons. A pool is either generated (Herald makes each code when it is issued:
 * prefix + random characters, unique in the workspace) or uploaded (codes created in the
 * store's platform, handed out first in, first out). A code is issued once, to one
 * profile, under one key (the id of the message that rendered it), so re-rendering the
 * message gives the same code and no code reaches two people. An uploaded pool that runs
 * dry is an error at send time, never a blank code.
 */

/** A pool's id is also the name templates use: `{% coupon "WELCOME10" %}`. */
export const poolIdPattern = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

/** What a code is worth. */
export const CouponValue = Type.Object(
  {
    type: Type.Union([
      Type.Literal("percent"),
      Type.Literal("fixed_amount"),
      Type.Literal("free_shipping"),
    ]),
    amount: Type.Optional(Type.Number({ minimum: 0, maximum: maxMoney })),
    currency: Type.Optional(Type.String({ pattern: "^[A-Z]{3}$" })),
  },
  { additionalProperties: false },
);
export type CouponValue = Type.Static<typeof CouponValue>;

/** The conditions of use, as recorded for people and templates (the store enforces them). */
export const CouponConditions = Type.Object(
  {
    minimum_subtotal: Type.Optional(
      Type.Number({ minimum: 0, maximum: maxMoney }),
    ),
    once_per_customer: Type.Optional(Type.Boolean()),
    products: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
    categories: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type CouponConditions = Type.Static<typeof CouponConditions>;

/** A new pool, as the API takes it. */
export const NewCouponPool = Type.Object(
  {
    id: Type.String({ pattern: poolIdPattern }),
    kind: Type.Union([Type.Literal("generated"), Type.Literal("uploaded")]),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    prefix: Type.Optional(
      Type.String({
        pattern: "^[A-Z0-9_-]{0,20}$",
        description: "generated pools",
      }),
    ),
    codeLength: Type.Optional(
      Type.Integer({
        minimum: 6,
        maximum: 32,
        description: "random characters after the prefix (generated pools)",
      }),
    ),
    expiresAfterDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3650 }),
    ),
    value: Type.Optional(CouponValue),
    conditions: Type.Optional(CouponConditions),
  },
  { additionalProperties: false },
);
export type NewCouponPool = Type.Static<typeof NewCouponPool>;

/** A pool with its code counts. */
export interface CouponPool {
  id: string;
  kind: "generated" | "uploaded";
  description: string;
  prefix: string;
  codeLength: number;
  expiresAfterDays: number | null;
  value: Partial<CouponValue>;
  conditions: CouponConditions;
  createdAt: Date;
}

/** A code handed to a profile. */
export interface IssuedCoupon {
  code: string;
  poolId: string;
  profileId: string;
  issuedAt: Date;
  expiresAt: Date | null;
  value: Partial<CouponValue>;
  conditions: CouponConditions;
}

/** Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L). */
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/** A random code: the prefix and `length` characters of an unambiguous alphabet. */
export function generateCode(prefix: string, length: number): string {
  let out = prefix;
  while (out.length < prefix.length + length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      // 248 = 8 × 31: bytes above it would favour the first characters.
      if (byte < 248 && out.length < prefix.length + length)
        out += codeAlphabet[byte % codeAlphabet.length];
    }
  }
  return out;
}

const codePattern = /^[A-Za-z0-9_-]{3,64}$/;

/**
 * The codes of an uploaded CSV's rows: the `code` column when there is a header naming
 * it, else the first column; blank lines skipped, duplicates refused with their line.
 */
export function codesFromRows(rows: readonly (readonly string[])[]): string[] {
  const header = rows[0]?.map((cell) => cell.trim().toLowerCase()) ?? [];
  const codeColumn = header.indexOf("code");
  const start = codeColumn >= 0 ? 1 : 0;
  const column = Math.max(codeColumn, 0);
  const seen = new Map<string, number>();
  const codes: string[] = [];
  const problems: { path: string; message: string }[] = [];
  rows.slice(start).forEach((row, index) => {
    const line = index + start + 1;
    const code = (row[column] ?? "").trim();
    if (code === "") return;
    if (!codePattern.test(code)) {
      problems.push({
        path: `/csv/line/${line}`,
        message: `"${code}" is not a usable code (3–64 letters, digits, - or _)`,
      });
      return;
    }
    const key = code.toUpperCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push({
        path: `/csv/line/${line}`,
        message: `"${code}" repeats line ${earlier}`,
      });
      return;
    }
    seen.set(key, line);
    codes.push(code);
  });
  if (problems.length > 0)
    throw new DomainError(
      "invalid",
      `the CSV has ${problems.length} unusable line(s); first: ${problems[0]?.message}`,
      problems.slice(0, 100),
    );
  if (codes.length === 0)
    throw new DomainError("invalid", "the CSV holds no codes", [
      { path: "/body/csv", message: "no codes" },
    ]);
  return codes;
}

/** The error a render or a flow gets when a pool cannot give a code. */
export function poolExhausted(poolId: string): DomainError {
  return new DomainError(
    "conflict",
    `coupon pool "${poolId}" has no codes left: upload more codes (POST /api/coupons/pools/${poolId}/codes) and retry`,
    [{ path: `/coupons/${poolId}`, message: "no codes left" }],
  );
}
