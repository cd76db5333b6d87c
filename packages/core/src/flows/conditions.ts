import type { Condition, Filter } from "./definition.ts";

/**
 * Reading paths and testing filters and conditions, for triggers, waits, goals and split
 * nodes. Loose where stores are loose: "42" equals 42, dates compare as dates, text
 * comparisons ignore case.
 */

/** An event as flows see it. */
export interface FlowEvent {
  name: string;
  properties: Record<string, unknown>;
  timestamp: Date;
}

/** What a condition may look at. */
export interface ConditionFacts {
  /** `event.`, `profile.` and `run.` roots of paths. */
  roots: {
    event: Record<string, unknown>;
    profile: Record<string, unknown>;
    run: Record<string, unknown>;
  };
  /** Segments the shopper is in now (of those the flow mentions). */
  segments: ReadonlySet<string>;
  /** The shopper's events since entering the run (of the names the flow mentions). */
  eventsSinceEntry: readonly FlowEvent[];
  /** Kinds of recommendation that have something to offer for the trigger's products. */
  recommendations?: ReadonlySet<"upsell" | "cross_sell">;
}

/** The value at a dotted path (`products.0.price`), or undefined. */
export function readPath(root: unknown, path: string): unknown {
  let current = root;
  for (const part of path.split(".")) {
    if (current === null || current === undefined) return undefined;
    if (Array.isArray(current))
      current = /^\d+$/.test(part) ? current[Number(part)] : undefined;
    else if (typeof current === "object")
      current = (current as Record<string, unknown>)[part];
    else return undefined;
  }
  return current;
}

/** A scalar as text (ids are sent as strings or numbers); undefined for anything else. */
export function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" || typeof value === "boolean")
    return String(value);
  return undefined;
}

const isBlank = (value: unknown) =>
  value === undefined || value === null || value === "";

function asComparable(value: unknown): number | string | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  if (typeof value === "string") {
    const trimmed = value.trim();
    if (trimmed !== "" && Number.isFinite(Number(trimmed)))
      return Number(trimmed);
    if (
      /^\d{4}-\d{2}-\d{2}/.test(trimmed) &&
      !Number.isNaN(Date.parse(trimmed))
    )
      return Date.parse(trimmed);
    return trimmed.toLowerCase();
  }
  return undefined;
}

function equal(a: unknown, b: unknown): boolean {
  const x = asComparable(a);
  const y = asComparable(b);
  return x !== undefined && x === y;
}

/** True when `actual` passes `op` against `expected`. */
export function compare(
  actual: unknown,
  op: Filter["op"],
  expected: unknown,
): boolean {
  switch (op) {
    case "exists":
      return !isBlank(actual);
    case "not_exists":
      return isBlank(actual);
    case "eq":
      return equal(actual, expected);
    case "neq":
      return !equal(actual, expected);
    case "in":
      return (
        Array.isArray(expected) &&
        expected.some((option) => equal(actual, option))
      );
    case "contains":
    case "not_contains": {
      const found = Array.isArray(actual)
        ? actual.some((item) => equal(item, expected))
        : typeof actual === "string" &&
          typeof expected === "string" &&
          actual.toLowerCase().includes(expected.toLowerCase());
      return op === "contains" ? found : !found;
    }
    default: {
      const x = asComparable(actual);
      const y = asComparable(expected);
      if (x === undefined || y === undefined || typeof x !== typeof y)
        return false;
      return op === "gt"
        ? x > y
        : op === "gte"
          ? x >= y
          : op === "lt"
            ? x < y
            : x <= y;
    }
  }
}

/** True when every filter passes on `properties`. */
export function passesFilters(
  properties: Record<string, unknown>,
  filters: readonly Filter[] = [],
): boolean {
  return filters.every((filter) =>
    compare(readPath(properties, filter.property), filter.op, filter.value),
  );
}

/** True when `condition` holds. */
export function evaluateCondition(
  condition: Condition,
  facts: ConditionFacts,
): boolean {
  if ("all" in condition)
    return condition.all.every((c) => evaluateCondition(c, facts));
  if ("any" in condition)
    return condition.any.some((c) => evaluateCondition(c, facts));
  if ("not" in condition) return !evaluateCondition(condition.not, facts);
  if ("inSegment" in condition) return facts.segments.has(condition.inSegment);
  if ("recommends" in condition)
    return facts.recommendations?.has(condition.recommends) ?? false;
  if ("didEvent" in condition) {
    return facts.eventsSinceEntry.some(
      (e) =>
        e.name === condition.didEvent &&
        passesFilters(e.properties, condition.filters),
    );
  }
  const [root, ...rest] = condition.property.split(".");
  const base =
    root === "event" || root === "profile" || root === "run"
      ? facts.roots[root]
      : undefined;
  return compare(
    rest.length > 0 ? readPath(base, rest.join(".")) : base,
    condition.op,
    condition.value,
  );
}

/** Segment ids and event names a condition mentions, for the facts to load. */
export function conditionNeeds(
  condition: Condition,
  into: {
    segments: Set<string>;
    events: Set<string>;
    recommendations?: Set<"upsell" | "cross_sell">;
  },
): void {
  if ("all" in condition) condition.all.forEach((c) => conditionNeeds(c, into));
  else if ("any" in condition)
    condition.any.forEach((c) => conditionNeeds(c, into));
  else if ("not" in condition) conditionNeeds(condition.not, into);
  else if ("inSegment" in condition) into.segments.add(condition.inSegment);
  else if ("didEvent" in condition) into.events.add(condition.didEvent);
  else if ("recommends" in condition)
    into.recommendations?.add(condition.recommends);
}
