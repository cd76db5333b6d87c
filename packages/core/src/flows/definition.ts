import Type from "typebox";
import { MessageChannel } from "../messages/content.ts";

/**
 * Flow definitions: a trigger, a graph of nodes (waits, conditions, actions) and settings.
 * A definition is what a marketer edits; publishing freezes it as an immutable version
 * that runs follow. JSON (or YAML for flows kept in git), validated by `validateFlow`.
 */

const NodeId = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });

/** A length of time; the parts add up. */
export const Duration = Type.Object(
  {
    days: Type.Optional(Type.Number({ minimum: 0, maximum: 36_500 })),
    hours: Type.Optional(Type.Number({ minimum: 0, maximum: 876_000 })),
    minutes: Type.Optional(Type.Number({ minimum: 0, maximum: 52_560_000 })),
  },
  { additionalProperties: false },
);
export type Duration = Type.Static<typeof Duration>;

/** Comparison operators of filters and conditions. */
export const operators = [
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "contains",
  "not_contains",
  "in",
  "exists",
  "not_exists",
] as const;

/**
 * A test of one value. `property` is a dotted path: in event filters, into the event's
 * properties (`category`, `products.0.price`); in conditions, rooted at `event.` (the
 * trigger event's properties), `profile.` (traits under `profile.traits.`, and
 * `profile.orderCount`, `profile.revenue`, `profile.country`…) or `run.` (what the run
 * gathered, such as `run.coupons.WELCOME`).
 */
export const Filter = Type.Object(
  {
    property: Type.String({ minLength: 1 }),
    op: Type.Union([
      Type.Literal("eq"),
      Type.Literal("neq"),
      Type.Literal("gt"),
      Type.Literal("gte"),
      Type.Literal("lt"),
      Type.Literal("lte"),
      Type.Literal("contains"),
      Type.Literal("not_contains"),
      Type.Literal("in"),
      Type.Literal("exists"),
      Type.Literal("not_exists"),
    ]),
    value: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type Filter = Type.Static<typeof Filter>;

/** An event a flow reacts to, with property filters. */
export interface EventMatch {
  event: string;
  filters?: Filter[] | undefined;
  matchCorrelation?: boolean | undefined;
}

const EventMatch = {
  event: Type.String({ minLength: 1 }),
  filters: Type.Optional(Type.Array(Filter)),
  /** Only an event about the same cart / checkout / order as the run's trigger counts. */
  matchCorrelation: Type.Optional(Type.Boolean()),
};

/** A condition of a split node. */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | Filter
  | { inSegment: string }
  | { didEvent: string; filters?: Filter[] }
  | { recommends: "upsell" | "cross_sell" };

export const Condition = Type.Cyclic(
  {
    Condition: Type.Union([
      Type.Object(
        { all: Type.Array(Type.Ref("Condition")) },
        { additionalProperties: false },
      ),
      Type.Object(
        { any: Type.Array(Type.Ref("Condition")) },
        { additionalProperties: false },
      ),
      Type.Object(
        { not: Type.Ref("Condition") },
        { additionalProperties: false },
      ),
      Filter,
      Type.Object(
        { inSegment: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          didEvent: Type.String({ minLength: 1 }),
          filters: Type.Optional(Type.Array(Filter)),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          recommends: Type.Union([
            Type.Literal("upsell"),
            Type.Literal("cross_sell"),
          ]),
        },
        { additionalProperties: false },
      ),
    ]),
  },
  "Condition",
);

/** What starts a run. */
export const Trigger = Type.Union([
  Type.Object(
    {
      type: Type.Literal("event"),
      ...EventMatch,
      /** The trigger-event property that names what the run is about: `cart_id`, `checkout_id`, `order_id`. */
      correlation: Type.Optional(Type.String({ minLength: 1 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Union([
        Type.Literal("segment_entered"),
        Type.Literal("segment_exited"),
      ]),
      segmentId: Type.String({ minLength: 1 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("date"),
      /** A date trait, such as `birthday` (yyyy-mm-dd) or `signed_up_at`. */
      trait: Type.String({ minLength: 1 }),
      /** Days before (negative) or after the date. */
      offsetDays: Type.Integer({ minimum: -365, maximum: 365 }),
      /** Every year on the anniversary (birthdays), or once. */
      yearly: Type.Boolean(),
      /** Local time of day in the shopper's time zone. */
      at: Type.Optional(
        Type.String({ pattern: "^([01]\\d|2[0-3]):[0-5]\\d$" }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("schedule"),
      every: Type.Union([
        Type.Literal("once"),
        Type.Literal("day"),
        Type.Literal("week"),
        Type.Literal("month"),
        Type.Literal("year"),
      ]),
      /**
       * The first occurrence, with its offset. Later ones keep its date and time of day in
       * the schedule's time zone: a monthly schedule from 31 January fires on the last day
       * of shorter months, a daily one at 09:00 across DST changes.
       */
      start: Type.String({ format: "date-time" }),
      /** The schedule's time zone (IANA); the store's when absent, else UTC. */
      timeZone: Type.Optional(Type.String({ minLength: 1 })),
      /** Who enters: a segment's members, or every profile with an email or phone. */
      segmentId: Type.Optional(Type.String({ minLength: 1 })),
      /** Send at the start's time of day in each shopper's own time zone. */
      localTime: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("catalog"),
      change: Type.Union([
        Type.Literal("back_in_stock"),
        Type.Literal("price_drop"),
        Type.Literal("low_stock"),
      ]),
      /** Who counts as interested: shoppers who sent one of these events for the product. */
      interestEvents: Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
      }),
      withinDays: Type.Integer({ minimum: 1, maximum: 365 }),
      /** For low_stock: the level below which it counts. */
      below: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
      ),
      /** For price_drop: the smallest drop that counts, in percent. */
      minDropPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal("form"), formId: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal("api") }, { additionalProperties: false }),
]);
export type Trigger = Type.Static<typeof Trigger>;

const next = { next: NodeId };

/** The steps of a flow. */
export const FlowNode = Type.Union([
  Type.Object(
    { type: Type.Literal("wait"), duration: Duration, ...next },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("wait_until"),
      time: Type.String({ pattern: "^([01]\\d|2[0-3]):[0-5]\\d$" }),
      /** ISO weekdays allowed (1 = Monday … 7 = Sunday); any day when absent. */
      weekdays: Type.Optional(
        Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), { minItems: 1 }),
      ),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("wait_for_date"),
      /** A date: `profile.traits.x` or `event.x` (a trigger-event property). */
      property: Type.String({ minLength: 1 }),
      offsetDays: Type.Optional(Type.Integer({ minimum: -365, maximum: 365 })),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("wait_replenishment"),
      /** Days a parcel takes, subtracted so the reminder arrives before the last unit is used. */
      shippingDays: Type.Integer({ minimum: 0, maximum: 60 }),
      /** Days before the reorder must ship, to decide and order without running out. */
      leadDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
      /** Used when the products have no days of use per unit and the shopper no interval. */
      fallbackDays: Type.Integer({ minimum: 1, maximum: 730 }),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("wait_for_event"),
      ...EventMatch,
      timeout: Duration,
      next: NodeId,
      timeoutNext: NodeId,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("split"),
      branches: Type.Array(
        Type.Object(
          {
            label: Type.Optional(Type.String()),
            when: Condition,
            next: NodeId,
          },
          { additionalProperties: false },
        ),
        { minItems: 1 },
      ),
      otherwise: NodeId,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("random"),
      branches: Type.Array(
        Type.Object(
          {
            label: Type.String({ minLength: 1 }),
            percent: Type.Number({ exclusiveMinimum: 0, maximum: 100 }),
            next: NodeId,
          },
          { additionalProperties: false },
        ),
        { minItems: 2 },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("send"),
      channel: MessageChannel,
      templateId: Type.String({ minLength: 1 }),
      /** Order messages and the like: consent for marketing, frequency cap and quiet hours do not apply. */
      transactional: Type.Optional(Type.Boolean()),
      /** Send only to subscribed members of this list. */
      listId: Type.Optional(Type.String()),
      /**
       * Over the workspace's frequency cap: `wait` until the cap allows it (the default),
       * or `skip` a message that is only worth sending now.
       */
      whenCapped: Type.Optional(
        Type.Union([Type.Literal("wait"), Type.Literal("skip")]),
      ),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("update_profile"),
      traits: Type.Record(Type.String(), Type.Unknown()),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("tag"),
      action: Type.Union([Type.Literal("add"), Type.Literal("remove")]),
      tag: Type.String({ minLength: 1 }),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("score"),
      name: Type.String({ minLength: 1 }),
      points: Type.Number({ minimum: -1e9, maximum: 1e9 }),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("list"),
      listId: Type.String({ minLength: 1 }),
      action: Type.Union([
        Type.Literal("subscribe"),
        Type.Literal("unsubscribe"),
      ]),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("webhook"),
      url: Type.String({ pattern: "^https?://" }),
      /** Sent as JSON with the profile and the trigger event when absent. */
      body: Type.Optional(Type.Unknown()),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("notify"),
      /** A team member's email address, or a webhook URL (Slack, a CRM). */
      to: Type.String({ minLength: 3 }),
      subject: Type.String({ minLength: 1 }),
      text: Type.String({ minLength: 1 }),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("coupon"),
      poolId: Type.String({ minLength: 1 }),
      ...next,
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal("exit") }, { additionalProperties: false }),
]);
export type FlowNode = Type.Static<typeof FlowNode>;

/** When a run may start again for the same shopper. */
export const Reentry = Type.Union([
  Type.Object(
    { policy: Type.Literal("once") },
    { additionalProperties: false },
  ),
  Type.Object(
    { policy: Type.Literal("every_time") },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      policy: Type.Literal("once_per"),
      days: Type.Integer({ minimum: 1, maximum: 36_500 }),
    },
    { additionalProperties: false },
  ),
  /** One run at a time per correlation value (cart, checkout, order). */
  Type.Object(
    { policy: Type.Literal("one_active_per_key") },
    { additionalProperties: false },
  ),
]);
export type Reentry = Type.Static<typeof Reentry>;

/** The longest conversion window a flow may set, in days. */
export const maxConversionWindowDays = 90;

/** Flow-wide settings. */
export const FlowSettings = Type.Object(
  {
    /** The event that means the flow worked: it ends the run and counts as a conversion, with revenue. */
    goal: Type.Optional(
      Type.Object(EventMatch, { additionalProperties: false }),
    ),
    /** Events that end a run early (without counting as a conversion). */
    exitWhen: Type.Optional(
      Type.Array(Type.Object(EventMatch, { additionalProperties: false })),
    ),
    reentry: Type.Optional(Reentry),
    obeyFrequencyCap: Type.Optional(Type.Boolean()),
    obeyQuietHours: Type.Optional(Type.Boolean()),
    /** How long after a message an order still counts as its conversion. */
    conversionWindowDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: maxConversionWindowDays }),
    ),
  },
  { additionalProperties: false },
);
export type FlowSettings = Type.Static<typeof FlowSettings>;

/** A whole flow definition. */
export const FlowDefinition = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    trigger: Trigger,
    start: NodeId,
    nodes: Type.Record(NodeId, FlowNode),
    settings: Type.Optional(FlowSettings),
  },
  { additionalProperties: false },
);
export type FlowDefinition = Type.Static<typeof FlowDefinition>;

/** Milliseconds in a duration. */
export function durationMs(duration: Duration): number {
  return (
    ((duration.days ?? 0) * 24 * 60 +
      (duration.hours ?? 0) * 60 +
      (duration.minutes ?? 0)) *
    60_000
  );
}

/** The nodes a node leads to, with the edge's name. */
export function edges(node: FlowNode): { next: string; label: string }[] {
  switch (node.type) {
    case "exit":
      return [];
    case "wait_for_event":
      return [
        { next: node.next, label: "event" },
        { next: node.timeoutNext, label: "timeout" },
      ];
    case "split":
      return [
        ...node.branches.map((b, i) => ({
          next: b.next,
          label: b.label ?? `branch ${i + 1}`,
        })),
        { next: node.otherwise, label: "otherwise" },
      ];
    case "random":
      return node.branches.map((b) => ({ next: b.next, label: b.label }));
    default:
      return [{ next: node.next, label: "next" }];
  }
}
