import type { ListStatus } from "../lists/lists.ts";
import type { Profile } from "../profiles/profile.ts";
import {
  frequencyScore,
  rfmGroup,
  type RfmThresholds,
} from "../profiles/rfm.ts";
import { atomKey, atomsOfNode, noFacts, type AtomFacts } from "./atoms.ts";
import {
  splitPath,
  type Attribute,
  type ConditionOf,
  type EventCount,
  type PropertyFilter,
  type SegmentCondition,
} from "./condition.ts";
import {
  compareNumbers,
  dayMs,
  earliest,
  fixed,
  testInstant,
  testJson,
  valueAt,
  type Outcome,
} from "./value-test.ts";

/**
 * Evaluates a condition tree for one profile from its facts: the profile itself, its
 * memberships, and the behaviour atoms the database aggregated. Besides the answer it
 * returns the next instant the answer may change with no new data (a window's edge, a
 * birthday), which becomes the profile's timer for the segment.
 *
 * Trade-off: the next instant of `and` / `or` / `not` is the earliest of its children's,
 * even when the change of a child cannot change the whole; the timer then wakes, finds
 * nothing changed and sets the next one. Early is harmless, late would be wrong.
 */

/** What a condition can read about one profile. */
export interface ProfileFacts {
  profile: Profile;
  /** Ids of the segments the profile is in. */
  segments: ReadonlySet<string>;
  lists: ReadonlyMap<string, ListStatus>;
  tags: ReadonlySet<string>;
  scores: ReadonlyMap<string, number>;
  /** Behaviour atoms by key (see atoms.ts); a missing atom matched nothing. */
  atoms: ReadonlyMap<string, AtomFacts>;
  /** What delivery knows beside consent (see `ReachFact`). */
  reach: ReadonlySet<ReachFact>;
}

/**
 * Delivery's facts about a profile that decide whether a channel reaches it: its email
 * address or phone number is suppressed (hard bounce, complaint, manual), it has an active
 * web push subscription, it has a linked Telegram chat.
 */
export type ReachFact =
  "email_suppressed" | "sms_suppressed" | "push_subscribed" | "telegram_linked";

/** The time and the values frozen for a segment's evaluation. */
export interface EvaluationContext {
  now: Date;
  /** RFM cut points frozen when the segment was computed; without them no one is in a group. */
  rfm?: RfmThresholds | undefined;
}

/** The answer and when it may change (epoch ms). */
export type Evaluation = Outcome;

function countMatches(count: EventCount | undefined, n: number): boolean {
  const { op, value } = count ?? { op: "at_least", value: 1 };
  if (op === "at_least") return n >= value;
  if (op === "at_most") return n <= value;
  return n === value;
}

/** When a windowed count drops: the oldest counted match leaving the window. */
function windowEdge(
  facts: AtomFacts,
  withinDays: number | null,
  now: number,
): number | null {
  if (withinDays === null || !facts.oldest) return null;
  const edge = facts.oldest.getTime() + withinDays * dayMs;
  return edge > now ? edge : null;
}

const time = (date: Date | null): number | null => date?.getTime() ?? null;

/** The value of a profile attribute: text, number or instant (ms), or null. */
export function attributeValue(
  profile: Profile,
  attribute: Exclude<Attribute, "daysSinceLastOrder">,
): string | number | null {
  const o = profile.orders;
  switch (attribute) {
    case "email":
      return profile.email;
    case "phone":
      return profile.phone;
    case "country":
      return profile.country;
    case "city":
      return profile.city;
    case "timeZone":
      return profile.timeZone;
    case "locale":
      return profile.locale;
    case "orderCount":
      return o.orderCount;
    case "revenue":
      return o.revenue;
    case "averageOrderValue":
      return o.valuedOrderCount > 0 ? o.revenue / o.valuedOrderCount : null;
    case "avgDaysBetweenOrders":
      return o.avgDaysBetweenOrders;
    case "createdAt":
      return time(profile.createdAt);
    case "firstSeenAt":
      return time(profile.firstSeenAt);
    case "lastSeenAt":
      return time(profile.lastSeenAt);
    case "firstOrderAt":
      return time(o.firstOrderAt);
    case "lastOrderAt":
      return time(o.lastOrderAt);
    case "expectedNextOrderAt":
      return time(o.expectedNextOrderAt);
  }
}

function evaluateAttribute(
  condition: ConditionOf<"attribute">,
  profile: Profile,
  now: number,
): Outcome {
  if (condition.attribute === "daysSinceLastOrder") {
    const last = time(profile.orders.lastOrderAt);
    if (
      last === null ||
      (condition.op !== "gt" &&
        condition.op !== "gte" &&
        condition.op !== "lt" &&
        condition.op !== "lte")
    )
      return fixed(false);
    // days ≥ v ⇔ now ≥ last + v days; the strict comparisons flip a millisecond later.
    const edge = last + Math.round(condition.value * dayMs);
    const strict = condition.op === "gt" || condition.op === "lte";
    const flip = strict ? edge + 1 : edge;
    const reached = now >= flip;
    const value =
      condition.op === "gt" || condition.op === "gte" ? reached : !reached;
    return { value, next: flip > now ? flip : null };
  }
  const raw = attributeValue(profile, condition.attribute);
  switch (condition.op) {
    case "before":
    case "after":
    case "within_last_days":
    case "more_than_days_ago":
    case "within_next_days":
    case "anniversary_within_days":
      return typeof raw === "number"
        ? testInstant(condition.op, raw, condition, now)
        : fixed(false);
    default:
      return testJson(condition, raw, now);
  }
}

/** Profiles with no orders are in no RFM group. */
function evaluateRfm(
  condition: ConditionOf<"rfm">,
  profile: Profile,
  thresholds: RfmThresholds | undefined,
  now: number,
): Outcome {
  const last = time(profile.orders.lastOrderAt);
  if (!thresholds || profile.orders.orderCount <= 0 || last === null)
    return fixed(false);
  // Recency drops a step when (now - last) in days exceeds a cut point.
  const edges = thresholds.recencyDays.map(
    (cut) => last + Math.round(cut * dayMs) + 1,
  );
  const passed = edges.filter((edge) => now >= edge).length;
  const group = rfmGroup(5 - passed, frequencyScore(profile.orders.orderCount));
  const future = edges.filter((edge) => edge > now);
  return {
    value: (condition.groups as readonly string[]).includes(group),
    next: future.length > 0 ? Math.min(...future) : null,
  };
}

const keyCache = new WeakMap<SegmentCondition, string[]>();

/** The keys of a node's atoms, computed once per node object. */
function atomKeysOf(condition: SegmentCondition): string[] {
  let keys = keyCache.get(condition);
  if (!keys) {
    keys = atomsOfNode(condition).map(atomKey);
    keyCache.set(condition, keys);
  }
  return keys;
}

/** Evaluates `condition` for one profile. */
export function evaluateCondition(
  condition: SegmentCondition,
  facts: ProfileFacts,
  context: EvaluationContext,
): Evaluation {
  const now = context.now.getTime();
  const atom = (index: number): AtomFacts => {
    const key = atomKeysOf(condition)[index];
    return (key !== undefined && facts.atoms.get(key)) || noFacts;
  };
  switch (condition.type) {
    case "and":
    case "or": {
      let next: number | null = null;
      let value = condition.type === "and";
      for (const child of condition.conditions) {
        const result = evaluateCondition(child, facts, context);
        next = earliest(next, result.next);
        value =
          condition.type === "and"
            ? value && result.value
            : value || result.value;
      }
      return { value, next };
    }
    case "not": {
      const result = evaluateCondition(condition.condition, facts, context);
      return { value: !result.value, next: result.next };
    }
    case "trait":
      return testJson(
        condition,
        valueAt(facts.profile.traits, splitPath(condition.trait)),
        now,
      );
    case "attribute":
      return evaluateAttribute(condition, facts.profile, now);
    case "event":
    case "message": {
      const found = atom(0);
      const withinDays = condition.withinDays ?? null;
      return {
        value: countMatches(condition.count, found.count),
        next: windowEdge(found, withinDays, now),
      };
    }
    case "event_time": {
      const found = atom(0);
      const at = condition.which === "first" ? found.first : found.last;
      if (condition.op === "exists") return fixed(at !== null);
      if (condition.op === "not_exists") return fixed(at === null);
      if (!at) return fixed(false);
      switch (condition.op) {
        case "before":
        case "after":
        case "within_last_days":
        case "more_than_days_ago":
        case "within_next_days":
        case "anniversary_within_days":
          return testInstant(condition.op, at.getTime(), condition, now);
        default:
          return fixed(false);
      }
    }
    case "event_without": {
      const did = atom(0).last?.getTime() ?? null;
      const then = atom(1).last?.getTime() ?? null;
      if (did === null) return fixed(false);
      const edge = did + condition.withinDays * dayMs;
      const inWindow = now < edge;
      return {
        value: inWindow && (then === null || then < did),
        next: inWindow ? edge : null,
      };
    }
    case "purchased":
    case "coupon": {
      const found = atom(0);
      return {
        value: found.count > 0,
        next: windowEdge(found, condition.withinDays ?? null, now),
      };
    }
    case "rfm":
      return evaluateRfm(condition, facts.profile, context.rfm, now);
    case "consent":
      return fixed(
        facts.profile.consent[condition.channel]?.status === condition.status,
      );
    case "reachable": {
      // An address to send to that is not suppressed, and no opt-out of the channel.
      const { profile, reach } = facts;
      if (profile.consent[condition.channel]?.status === "unsubscribed")
        return fixed(false);
      if (condition.channel === "email")
        return fixed(profile.email !== null && !reach.has("email_suppressed"));
      if (condition.channel === "sms")
        return fixed(profile.phone !== null && !reach.has("sms_suppressed"));
      return fixed(
        reach.has(
          condition.channel === "push" ? "push_subscribed" : "telegram_linked",
        ),
      );
    }
    case "segment":
      return fixed(facts.segments.has(condition.segmentId));
    case "list":
      return fixed(
        facts.lists.get(condition.listId) ===
          (condition.status ?? "subscribed"),
      );
    case "tag":
      return fixed(facts.tags.has(condition.tag));
    case "score":
      return fixed(
        compareNumbers(
          condition.op,
          facts.scores.get(condition.score) ?? 0,
          condition.value,
        ),
      );
  }
}

/** True when an event has the rule's name and passes all its property filters. */
export function eventMatches(
  rule: { event: string; where?: readonly PropertyFilter[] | undefined },
  event: { name: string | null; properties: Record<string, unknown> },
  now: Date,
): boolean {
  if (event.name !== rule.event) return false;
  return (rule.where ?? []).every(
    (filter) =>
      testJson(
        filter,
        valueAt(event.properties, splitPath(filter.property)),
        now.getTime(),
      ).value,
  );
}
