import { DomainError } from "../domain-error.ts";
import { channels } from "../profiles/consent.ts";
import type { Profile } from "../profiles/profile.ts";
import {
  messageEventNames,
  splitPath,
  walkConditions,
  type Attribute,
  type SegmentCondition,
} from "./condition.ts";

/**
 * The dependency index: which changes can change a segment's answer. A change is named by
 * a key — `event:<name>`, `trait:<key>`, `attr:<attribute>`, `consent:<channel>`,
 * `reach:<channel>` (a suppression, push subscription or Telegram link), `orders`, `segment:<id>`, `list:<id>`, `tag:<tag>`, `score:<name>` — and an event only
 * re-evaluates the segments that depend on one of the keys it produced, for its profile
 * only. A profile seen for the first time (or a merge survivor) is evaluated against every
 * segment.
 */

/** The key of a change to one thing a condition can read. */
export type ChangeKey = string;

/** The change keys of orders and everything computed from them. */
export const ordersKey = "orders";

const attributeKeys: Record<Attribute, ChangeKey | null> = {
  email: "attr:email",
  phone: "attr:phone",
  country: "attr:country",
  city: "attr:city",
  timeZone: "attr:timeZone",
  locale: "attr:locale",
  createdAt: null,
  firstSeenAt: "attr:firstSeenAt",
  lastSeenAt: "attr:lastSeenAt",
  orderCount: ordersKey,
  revenue: ordersKey,
  averageOrderValue: ordersKey,
  avgDaysBetweenOrders: ordersKey,
  daysSinceLastOrder: ordersKey,
  firstOrderAt: ordersKey,
  lastOrderAt: ordersKey,
  expectedNextOrderAt: ordersKey,
};

/** The change key of what delivery knows about reaching a profile on a channel. */
export const reachKey = (channel: string): ChangeKey => `reach:${channel}`;

/** The change key of an event name. */
export const eventKey = (name: string): ChangeKey => `event:${name}`;

/** The keys whose change can change the answer of `condition`. */
export function dependenciesOf(condition: SegmentCondition): Set<ChangeKey> {
  const keys = new Set<ChangeKey>();
  for (const node of walkConditions(condition)) {
    switch (node.type) {
      case "and":
      case "or":
      case "not":
        break;
      case "trait":
        keys.add(`trait:${splitPath(node.trait)[0] ?? node.trait}`);
        break;
      case "attribute": {
        const key = attributeKeys[node.attribute];
        if (key) keys.add(key);
        break;
      }
      case "event":
      case "event_time":
        keys.add(eventKey(node.event));
        break;
      case "event_without":
        keys.add(eventKey(node.event));
        keys.add(eventKey(node.without.event));
        break;
      case "message":
        for (const name of messageEventNames(node.action, node.channel))
          keys.add(eventKey(name));
        break;
      case "purchased":
      case "coupon":
      case "rfm":
        keys.add(ordersKey);
        break;
      case "consent":
        keys.add(`consent:${node.channel}`);
        break;
      case "reachable":
        keys.add(`consent:${node.channel}`);
        keys.add(reachKey(node.channel));
        if (node.channel === "email") keys.add("attr:email");
        if (node.channel === "sms") keys.add("attr:phone");
        break;
      case "segment":
        keys.add(`segment:${node.segmentId}`);
        break;
      case "list":
        keys.add(`list:${node.listId}`);
        // Other features may change list status beside Herald's list functions and
        // report it with these events.
        keys.add(eventKey("Subscribed"));
        keys.add(eventKey("Unsubscribed"));
        break;
      case "tag":
        keys.add(`tag:${node.tag}`);
        break;
      case "score":
        keys.add(`score:${node.score}`);
        break;
    }
  }
  return keys;
}

const same = (a: unknown, b: unknown) =>
  a === b || JSON.stringify(a) === JSON.stringify(b);

/** The keys of what differs between two states of a profile. */
export function changedKeys(previous: Profile, next: Profile): ChangeKey[] {
  const keys: ChangeKey[] = [];
  for (const key of new Set([
    ...Object.keys(previous.traits),
    ...Object.keys(next.traits),
  ]))
    if (!same(previous.traits[key], next.traits[key]))
      keys.push(`trait:${key}`);
  for (const field of [
    "email",
    "phone",
    "country",
    "city",
    "timeZone",
    "locale",
  ] as const)
    if (previous[field] !== next[field]) keys.push(`attr:${field}`);
  for (const field of ["firstSeenAt", "lastSeenAt"] as const)
    if (previous[field]?.getTime() !== next[field]?.getTime())
      keys.push(`attr:${field}`);
  for (const channel of channels)
    if (previous.consent[channel]?.status !== next.consent[channel]?.status)
      keys.push(`consent:${channel}`);
  if (!same(previous.orders, next.orders)) keys.push(ordersKey);
  return keys;
}

/** The segments a condition refers to. */
export function referencedSegments(condition: SegmentCondition): string[] {
  const ids = new Set<string>();
  for (const node of walkConditions(condition))
    if (node.type === "segment") ids.add(node.segmentId);
  return [...ids];
}

/**
 * The segment ids ordered so that every segment comes after those it refers to; throws a
 * conflict naming the loop when segments refer to each other in a circle.
 */
export function evaluationOrder(
  definitions: ReadonlyMap<string, SegmentCondition>,
): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (id: string, trail: string[]) => {
    const seen = state.get(id);
    if (seen === "done") return;
    if (seen === "visiting") {
      const loop = [...trail.slice(trail.indexOf(id)), id];
      throw new DomainError(
        "conflict",
        `segments may not refer to each other in a circle: ${loop.join(" → ")}`,
      );
    }
    const definition = definitions.get(id);
    state.set(id, "visiting");
    if (definition)
      for (const ref of referencedSegments(definition))
        if (definitions.has(ref)) visit(ref, [...trail, id]);
    state.set(id, "done");
    order.push(id);
  };
  for (const id of [...definitions.keys()].sort()) visit(id, []);
  return order;
}
