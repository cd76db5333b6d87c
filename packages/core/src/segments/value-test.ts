import Type from "typebox";
import { isJsonObject } from "../events/event.ts";

/**
 * A value test, the comparison of one value at the leaves of the condition language: its
 * shape (the `ValueTest` schema) and what it means, that is the comparisons segment
 * conditions apply to traits, profile attributes and event properties, and the instant at
 * which a time-relative test will change its answer with no new data. The SQL compiler in
 * server compiles the same tests; a property test keeps the two in agreement, so every
 * rule here is exact and two-valued (a missing value is false for positive tests and true
 * for their negations).
 */

/** A day in milliseconds: windows are exact multiples of it (no calendar, no DST). */
export const dayMs = 86_400_000;

/** Tests of equality with one value. */
export const equalityOps = ["equals", "not_equals"] as const;
/** Tests on text, ASCII case-insensitive. */
export const textOps = ["contains", "not_contains", "starts_with"] as const;
/** Tests of membership in a set of values. */
export const setOps = ["in", "not_in"] as const;
/** Tests of presence. */
export const presenceOps = ["exists", "not_exists"] as const;
/** Numeric comparisons. */
export const numberOps = ["gt", "gte", "lt", "lte"] as const;
/** Comparisons with a fixed instant. */
export const dateOps = ["before", "after"] as const;
/** Comparisons with the current time, which change as time passes. */
export const relativeOps = [
  "within_last_days",
  "more_than_days_ago",
  "within_next_days",
  "anniversary_within_days",
] as const;

/** Every value-test operator. */
export const valueOps = [
  ...equalityOps,
  ...textOps,
  ...setOps,
  ...presenceOps,
  ...numberOps,
  ...dateOps,
  ...relativeOps,
] as const;
export type ValueOp = (typeof valueOps)[number];

/** The result of a test: its answer now, and the next instant (ms) it may change by time alone. */
export interface Outcome {
  value: boolean;
  /** Epoch milliseconds after `now`, or null when only new data can change the answer. */
  next: number | null;
}

/** An answer that time cannot change. */
export const fixed = (value: boolean): Outcome => ({ value, next: null });

/** The earlier of two optional instants. */
export function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Lower-cases ASCII letters only, as the SQL compiler does, so both agree on any text. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The value at a dotted path inside JSON objects (arrays are not entered); undefined if absent. */
export function valueAt(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const key of path) {
    if (!isJsonObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** A JSON number, or a string holding a plain decimal number; else undefined. */
export function numericValue(value: unknown): number | undefined {
  if (typeof value === "number")
    return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && /^-?[0-9]+(\.[0-9]+)?$/.test(value))
    return Number(value);
  return undefined;
}

/** ISO dates and date-times Herald reads as instants; the SQL function herald_json_time matches it. */
export const datePattern =
  /^([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,3}))?)?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$/;

/** Days of a rolling window or a relative date. */
export const Days = Type.Integer({ minimum: 0, maximum: 36_500 });
const Scalar = Type.Union([
  Type.String({ maxLength: 1000 }),
  Type.Number({ minimum: -1e15, maximum: 1e15 }),
  Type.Boolean(),
]);
const DateText = Type.String({ pattern: datePattern.source });

/** A comparison of one value: `op` and its operand (`value`, `values` or `days`). */
export const ValueTest = Type.Union([
  Type.Object({ op: Type.Enum([...equalityOps]), value: Scalar }),
  Type.Object({
    op: Type.Enum([...textOps]),
    value: Type.String({ minLength: 1, maxLength: 1000 }),
  }),
  Type.Object({
    op: Type.Enum([...setOps]),
    values: Type.Array(Scalar, { minItems: 1, maxItems: 1000 }),
  }),
  Type.Object({ op: Type.Enum([...presenceOps]) }),
  Type.Object({
    op: Type.Enum([...numberOps]),
    value: Type.Number({ minimum: -1e15, maximum: 1e15 }),
  }),
  Type.Object({ op: Type.Enum([...dateOps]), value: DateText }),
  Type.Object({ op: Type.Enum([...relativeOps]), days: Days }),
]);
export type ValueTest = Type.Static<typeof ValueTest>;

/**
 * A string holding an ISO 8601 date or date-time, as epoch milliseconds: date-only and
 * offset-less values read as UTC; impossible dates (31 February) are not dates.
 */
export function parseDateValue(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = datePattern.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo) - 1;
  const day = Number(d);
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month ||
    date.getUTCDate() !== day
  )
    return undefined;
  const ms = Number((frac ?? "").padEnd(3, "0"));
  date.setUTCHours(Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), ms);
  let offset = 0;
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  return date.getTime() - offset * 60_000;
}

/** Midnight UTC of the day holding `at`. */
function utcDay(at: number): number {
  return Math.floor(at / dayMs) * dayMs;
}

/** Midnight UTC of `year`-`month`-`day`, rolling over like Date.UTC (29 Feb → 1 Mar). */
function utcDate(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime();
}

/** The next anniversary (midnight UTC) of `at` on or after the UTC day of `now`. */
export function nextAnniversary(at: number, now: number): number {
  const of = new Date(at);
  const today = utcDay(now);
  const year = new Date(today).getUTCFullYear();
  const month = of.getUTCMonth();
  const day = of.getUTCDate();
  const thisYear = utcDate(year, month, 1) + (day - 1) * dayMs;
  return thisYear >= today
    ? thisYear
    : utcDate(year + 1, month, 1) + (day - 1) * dayMs;
}

/** A candidate instant, kept only if it lies after `now`. */
const after = (at: number, now: number): number | null =>
  at > now ? at : null;

/** A time-relative test of an instant, with when its answer changes. */
export function testInstant(
  op: (typeof relativeOps)[number] | (typeof dateOps)[number],
  at: number,
  operand: { days?: number; value?: string },
  now: number,
): Outcome {
  const span = (operand.days ?? 0) * dayMs;
  switch (op) {
    case "before":
      return fixed(at < (parseDateValue(operand.value) ?? Number.NaN));
    case "after":
      return fixed(at > (parseDateValue(operand.value) ?? Number.NaN));
    case "within_last_days":
      // at ≤ now < at + span
      return {
        value: at <= now && now < at + span,
        next: earliest(after(at, now), after(at + span, now)),
      };
    case "more_than_days_ago":
      return { value: at + span <= now, next: after(at + span, now) };
    case "within_next_days":
      // now < at ≤ now + span
      return {
        value: now < at && at - span <= now,
        next: earliest(after(at - span, now), after(at, now)),
      };
    case "anniversary_within_days": {
      const next = nextAnniversary(at, now);
      const within = next - utcDay(now) <= span;
      return { value: within, next: within ? next + dayMs : next - span };
    }
  }
}

function sameScalar(a: unknown, b: string | number | boolean): boolean {
  return typeof a === typeof b && a === b;
}

/** Applies a value test to a JSON value (a trait or an event property). */
export function testJson(
  test: ValueTest,
  value: unknown,
  now: number,
): Outcome {
  switch (test.op) {
    case "equals":
      return fixed(sameScalar(value, test.value));
    case "not_equals":
      return fixed(!sameScalar(value, test.value));
    case "contains":
    case "not_contains": {
      const found =
        typeof value === "string" &&
        asciiLower(value).includes(asciiLower(test.value));
      return fixed(test.op === "contains" ? found : !found);
    }
    case "starts_with":
      return fixed(
        typeof value === "string" &&
          asciiLower(value).startsWith(asciiLower(test.value)),
      );
    case "in":
    case "not_in": {
      const found = test.values.some((v) => sameScalar(value, v));
      return fixed(test.op === "in" ? found : !found);
    }
    case "exists":
      return fixed(value !== undefined && value !== null);
    case "not_exists":
      return fixed(value === undefined || value === null);
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = numericValue(value);
      return fixed(n !== undefined && compareNumbers(test.op, n, test.value));
    }
    case "before":
    case "after":
    case "within_last_days":
    case "more_than_days_ago":
    case "within_next_days":
    case "anniversary_within_days": {
      const at = parseDateValue(value);
      if (at === undefined) return fixed(false);
      return testInstant(test.op, at, test, now);
    }
  }
}

/** `a op b` for the numeric operators. */
export function compareNumbers(
  op: (typeof numberOps)[number],
  a: number,
  b: number,
): boolean {
  switch (op) {
    case "gt":
      return a > b;
    case "gte":
      return a >= b;
    case "lt":
      return a < b;
    case "lte":
      return a <= b;
  }
}
