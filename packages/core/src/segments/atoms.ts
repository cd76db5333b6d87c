import {
  messageEventNames,
  walkConditions,
  type PropertyFilter,
  type SegmentCondition,
} from "./condition.ts";

/**
 * Behaviour atoms: the aggregates over a profile's events and orders that behaviour and
 * purchase conditions read. The database computes them (for a batch of profiles when
 * events arrive, for ranges of profiles in bulk) with the same SQL; the evaluator only
 * compares the figures, so a condition never loads a shopper's whole history.
 */

/** Events of some names matching property filters, counted within an optional window. */
export interface EventAtom {
  kind: "events";
  names: string[];
  where: PropertyFilter[];
  withinDays: number | null;
}

/** Purchased order lines (of orders that still count) matching product, category, brand. */
export interface PurchaseAtom {
  kind: "purchases";
  productId: string | null;
  category: string | null;
  brand: string | null;
  withinDays: number | null;
}

/** Orders (that still count) that used a coupon: any, a given code, or a code of a pool. */
export interface CouponAtom {
  kind: "coupons";
  coupon: string | null;
  /** A coupon pool: the order used one of its codes (generated or uploaded). */
  pool: string | null;
  withinDays: number | null;
}

/** Any behaviour atom. */
export type Atom = EventAtom | PurchaseAtom | CouponAtom;

/**
 * The figures of one atom for one profile, over the matches within its window (all of
 * them when it has none): how many, the oldest (when it leaves the window the count
 * drops), the first and the last.
 */
export interface AtomFacts {
  count: number;
  oldest: Date | null;
  first: Date | null;
  last: Date | null;
}

/** Facts of an atom nothing matched. */
export const noFacts: AtomFacts = {
  count: 0,
  oldest: null,
  first: null,
  last: null,
};

/** A stable key of an atom, for deduplication and lookups. */
export function atomKey(atom: Atom): string {
  return JSON.stringify(atom);
}

/** The atom of an event name and filters. */
export function eventAtom(
  event: string,
  where: PropertyFilter[] | undefined,
  withinDays: number | null,
): EventAtom {
  return { kind: "events", names: [event], where: where ?? [], withinDays };
}

/** The atoms a single condition (not its children) reads, in a fixed order. */
export function atomsOfNode(condition: SegmentCondition): Atom[] {
  switch (condition.type) {
    case "event":
      return [
        eventAtom(
          condition.event,
          condition.where,
          condition.withinDays ?? null,
        ),
      ];
    case "event_time":
      return [eventAtom(condition.event, condition.where, null)];
    case "event_without":
      // Only the window matters: the last `event` must be in it, and a `without` event
      // after that one is in it too.
      return [
        eventAtom(condition.event, condition.where, condition.withinDays),
        eventAtom(
          condition.without.event,
          condition.without.where,
          condition.withinDays,
        ),
      ];
    case "message":
      return [
        {
          kind: "events",
          names: messageEventNames(condition.action, condition.channel),
          where: [],
          withinDays: condition.withinDays ?? null,
        },
      ];
    case "purchased":
      return [
        {
          kind: "purchases",
          productId: condition.productId ?? null,
          category: condition.category ?? null,
          brand: condition.brand ?? null,
          withinDays: condition.withinDays ?? null,
        },
      ];
    case "coupon":
      return [
        {
          kind: "coupons",
          coupon: condition.coupon ?? null,
          pool: condition.pool ?? null,
          withinDays: condition.withinDays ?? null,
        },
      ];
    default:
      return [];
  }
}

/** Every atom of a tree (or of several), by key. */
export function atomsOf(
  conditions: Iterable<SegmentCondition>,
): Map<string, Atom> {
  const atoms = new Map<string, Atom>();
  for (const root of conditions)
    for (const node of walkConditions(root))
      for (const atom of atomsOfNode(node)) atoms.set(atomKey(atom), atom);
  return atoms;
}
