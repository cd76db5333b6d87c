import Type from "typebox";
import Value from "typebox/value";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { isJsonObject, type JsonObject } from "../events/event.ts";
import { listStatuses } from "../lists/lists.ts";
import { channels } from "../profiles/consent.ts";
import { rfmGroups } from "../profiles/rfm.ts";
import {
  Days,
  ValueTest,
  dateOps,
  datePattern,
  equalityOps,
  numberOps,
  presenceOps,
  relativeOps,
  setOps,
  textOps,
  valueOps,
  type ValueOp,
} from "./value-test.ts";

/**
 * The segment condition language: a JSON tree of `and` / `or` / `not` over conditions on
 * who a shopper is (traits, profile and commerce attributes, RFM group, consent), what
 * they did (events with property filters, counts and rolling windows, first / last time,
 * "did A but not B since"), what they bought (products, categories, brands, coupons), how
 * they engage with messages, and where they belong (segments, lists, tags, scores).
 *
 * Flows reuse it for their condition nodes. `validateCondition` checks a tree and names
 * the path of every problem; the TypeBox schema `SegmentCondition` describes the same
 * shapes for the UI and the API documentation.
 */

const lit = <const T extends string>(...values: readonly T[]) =>
  Type.Enum<T[]>([...values]);

/** A filter on an event property (dotted path into nested objects). */
export const PropertyFilter = Type.Intersect([
  Type.Object({ property: Type.String({ minLength: 1, maxLength: 200 }) }),
  ValueTest,
]);
export type PropertyFilter = Type.Static<typeof PropertyFilter>;

/** Profile attributes holding text. */
export const textAttributes = [
  "email",
  "phone",
  "country",
  "city",
  "timeZone",
  "locale",
] as const;
/** Profile attributes holding numbers (commerce figures). */
export const numberAttributes = [
  "orderCount",
  "revenue",
  "averageOrderValue",
  "avgDaysBetweenOrders",
  "daysSinceLastOrder",
] as const;
/** Profile attributes holding instants. */
export const dateAttributes = [
  "createdAt",
  "firstSeenAt",
  "lastSeenAt",
  "firstOrderAt",
  "lastOrderAt",
  "expectedNextOrderAt",
] as const;
/** Every profile attribute a condition can test. */
export const attributes = [
  ...textAttributes,
  ...numberAttributes,
  ...dateAttributes,
] as const;
export type Attribute = (typeof attributes)[number];

/** What a message-engagement condition counts. */
export const messageActions = ["received", "opened", "clicked"] as const;
export type MessageAction = (typeof messageActions)[number];

/** The channels a message-engagement condition can name ("any" is all of them). */
export const engagementChannels = ["email", "sms", "push", "any"] as const;
export type EngagementChannel = (typeof engagementChannels)[number];

/**
 * The events behind message-engagement conditions, per channel: the Segment Email spec's
 * for email, Herald's own for SMS (a delivery receipt, a tracked link followed) and web
 * push (the notification opened, which is the only link it has). A channel lacks what it
 * cannot report: SMS has no opens, web push no delivery receipts.
 */
export const messageEvents: Record<
  Exclude<EngagementChannel, "any">,
  Partial<Record<MessageAction, string>>
> = {
  email: {
    received: "Email Delivered",
    opened: "Email Opened",
    clicked: "Email Link Clicked",
  },
  sms: { received: "SMS Delivered", clicked: "SMS Link Clicked" },
  push: { opened: "Push Opened" },
};

/** The event names a message condition counts (email when it names no channel). */
export function messageEventNames(
  action: MessageAction,
  channel: EngagementChannel = "email",
): string[] {
  const names = (
    channel === "any" ? (["email", "sms", "push"] as const) : [channel]
  )
    .map((c) => messageEvents[c][action])
    .filter((name) => name !== undefined);
  return [...new Set(names)];
}

const EventCount = Type.Object({
  op: lit("at_least", "at_most", "exactly"),
  value: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
});
export type EventCount = Type.Static<typeof EventCount>;

const EventName = Type.String({ minLength: 1, maxLength: 200 });
const Where = Type.Optional(Type.Array(PropertyFilter, { maxItems: 20 }));
const Id = Type.String({ minLength: 1, maxLength: 100 });

/** The segment condition tree (see the module comment). */
export const SegmentCondition = Type.Cyclic(
  {
    SegmentCondition: Type.Union([
      Type.Object({
        type: Type.Literal("and"),
        conditions: Type.Array(Type.Ref("SegmentCondition"), {
          minItems: 1,
        }),
      }),
      Type.Object({
        type: Type.Literal("or"),
        conditions: Type.Array(Type.Ref("SegmentCondition"), {
          minItems: 1,
        }),
      }),
      Type.Object({
        type: Type.Literal("not"),
        condition: Type.Ref("SegmentCondition"),
      }),
      Type.Intersect([
        Type.Object({
          type: Type.Literal("trait"),
          trait: Type.String({ minLength: 1, maxLength: 200 }),
        }),
        ValueTest,
      ]),
      Type.Intersect([
        Type.Object({
          type: Type.Literal("attribute"),
          attribute: lit(...attributes),
        }),
        ValueTest,
      ]),
      Type.Object({
        type: Type.Literal("event"),
        event: EventName,
        where: Where,
        count: Type.Optional(EventCount),
        withinDays: Type.Optional(Days),
      }),
      Type.Intersect([
        Type.Object({
          type: Type.Literal("event_time"),
          event: EventName,
          where: Where,
          which: lit("first", "last"),
        }),
        ValueTest,
      ]),
      Type.Object({
        type: Type.Literal("event_without"),
        event: EventName,
        where: Where,
        without: Type.Object({ event: EventName, where: Where }),
        withinDays: Days,
      }),
      Type.Object({
        type: Type.Literal("purchased"),
        productId: Type.Optional(Type.String({ minLength: 1 })),
        category: Type.Optional(Type.String({ minLength: 1 })),
        brand: Type.Optional(Type.String({ minLength: 1 })),
        withinDays: Type.Optional(Days),
      }),
      Type.Object({
        type: Type.Literal("coupon"),
        coupon: Type.Optional(Type.String({ minLength: 1 })),
        /** A coupon pool's id: the order used one of its unique codes. */
        pool: Type.Optional(Type.String({ minLength: 1 })),
        withinDays: Type.Optional(Days),
      }),
      Type.Object({
        type: Type.Literal("rfm"),
        groups: Type.Array(lit(...rfmGroups), { minItems: 1 }),
      }),
      Type.Object({
        type: Type.Literal("message"),
        action: lit(...messageActions),
        /** Which messages: email (the default), sms, push, or any channel. */
        channel: Type.Optional(lit(...engagementChannels)),
        count: Type.Optional(EventCount),
        withinDays: Type.Optional(Days),
      }),
      Type.Object({
        type: Type.Literal("consent"),
        channel: lit(...channels),
        status: lit(...listStatuses),
      }),
      Type.Object({
        type: Type.Literal("reachable"),
        channel: lit(...channels),
      }),
      Type.Object({ type: Type.Literal("segment"), segmentId: Id }),
      Type.Object({
        type: Type.Literal("list"),
        listId: Id,
        status: Type.Optional(lit(...listStatuses)),
      }),
      Type.Object({
        type: Type.Literal("tag"),
        tag: Type.String({ minLength: 1, maxLength: 100 }),
      }),
      Type.Object({
        type: Type.Literal("score"),
        score: Type.String({ minLength: 1, maxLength: 64 }),
        op: lit(...numberOps),
        value: Type.Number({ minimum: -1e15, maximum: 1e15 }),
      }),
    ]),
  },
  "SegmentCondition",
);
export type SegmentCondition = Type.Static<typeof SegmentCondition>;

/** The condition of one `type`. */
export type ConditionOf<T extends SegmentCondition["type"]> = Extract<
  SegmentCondition,
  { type: T }
>;

/** The `type` of every kind of condition. */
export const conditionTypes = [
  "and",
  "or",
  "not",
  "trait",
  "attribute",
  "event",
  "event_time",
  "event_without",
  "purchased",
  "coupon",
  "rfm",
  "message",
  "consent",
  "reachable",
  "segment",
  "list",
  "tag",
  "score",
] as const satisfies readonly SegmentCondition["type"][];

/** How deep a tree may nest and how many conditions it may hold. */
export const conditionLimits = { depth: 10, nodes: 200 } as const;

/** The ops a profile attribute accepts. */
export function attributeOps(attribute: Attribute): readonly ValueOp[] {
  if (attribute === "daysSinceLastOrder") return numberOps;
  if ((textAttributes as readonly string[]).includes(attribute))
    return [...equalityOps, ...textOps, ...setOps, ...presenceOps];
  if ((numberAttributes as readonly string[]).includes(attribute))
    return [...equalityOps, ...setOps, ...presenceOps, ...numberOps];
  return [...presenceOps, ...dateOps, ...relativeOps];
}

/** The keys of a dotted trait or property path. */
export function splitPath(path: string): string[] {
  return path.split(".");
}

/** Collects problems of a tree; see validateCondition. */
class Checker {
  readonly errors: ErrorDetail[] = [];
  nodes = 0;

  fail(path: string, message: string): void {
    this.errors.push({ path: path || "/", message });
  }

  object(value: unknown, path: string): JsonObject | undefined {
    if (isJsonObject(value)) return value;
    this.fail(path, "must be an object");
    return undefined;
  }

  keys(node: JsonObject, path: string, allowed: readonly string[]): void {
    for (const key of Object.keys(node))
      if (!allowed.includes(key))
        this.fail(
          `${path}/${key}`,
          `is not a field of this condition (expected ${allowed.join(", ")})`,
        );
  }

  text(
    node: JsonObject,
    key: string,
    path: string,
    options: { optional?: boolean; max?: number } = {},
  ): void {
    const value = node[key];
    if (value === undefined && options.optional) return;
    const max = options.max ?? 200;
    if (typeof value !== "string" || value.trim() === "" || value.length > max)
      this.fail(
        `${path}/${key}`,
        `must be a non-empty string of at most ${max} characters`,
      );
  }

  oneOf(
    node: JsonObject,
    key: string,
    path: string,
    allowed: readonly string[],
    optional = false,
  ): void {
    const value = node[key];
    if (value === undefined && optional) return;
    if (typeof value !== "string" || !allowed.includes(value))
      this.fail(`${path}/${key}`, `must be one of ${allowed.join(", ")}`);
  }

  integer(
    node: JsonObject,
    key: string,
    path: string,
    min: number,
    max: number,
    optional = false,
  ): void {
    const value = node[key];
    if (value === undefined && optional) return;
    if (
      typeof value !== "number" ||
      !Number.isInteger(value) ||
      value < min ||
      value > max
    )
      this.fail(`${path}/${key}`, `must be an integer from ${min} to ${max}`);
  }

  path(node: JsonObject, key: string, path: string): void {
    this.text(node, key, path);
    const value = node[key];
    if (typeof value !== "string") return;
    const parts = splitPath(value);
    if (parts.some((part) => part === "" || /^-?[0-9]+$/.test(part)))
      this.fail(
        `${path}/${key}`,
        "must be a dotted path of object keys (no empty parts, no array indexes)",
      );
  }

  /** The value test fields of `node`; returns the keys they use. */
  test(
    node: JsonObject,
    path: string,
    allowed: readonly ValueOp[] = valueOps,
    kind?: "text" | "number",
  ): string[] {
    const op = node.op;
    if (
      typeof op !== "string" ||
      !(valueOps as readonly string[]).includes(op)
    ) {
      this.fail(`${path}/op`, `must be one of ${allowed.join(", ")}`);
      return ["op", "value", "values", "days"];
    }
    if (!(allowed as readonly string[]).includes(op)) {
      this.fail(
        `${path}/op`,
        `${op} does not apply here; use one of ${allowed.join(", ")}`,
      );
      return ["op", "value", "values", "days"];
    }
    const scalar = (value: unknown, at: string) => {
      const ok =
        kind === "text"
          ? typeof value === "string"
          : kind === "number"
            ? typeof value === "number" && Number.isFinite(value)
            : (typeof value === "string" && value.length <= 1000) ||
              typeof value === "boolean" ||
              (typeof value === "number" && Number.isFinite(value));
      if (!ok)
        this.fail(
          at,
          kind
            ? `must be a ${kind === "text" ? "string" : "number"}`
            : "must be a string, number or boolean",
        );
    };
    if ((equalityOps as readonly string[]).includes(op)) {
      scalar(node.value, `${path}/value`);
      return ["op", "value"];
    }
    if ((textOps as readonly string[]).includes(op)) {
      this.text(node, "value", path, { max: 1000 });
      return ["op", "value"];
    }
    if ((setOps as readonly string[]).includes(op)) {
      const values = node.values;
      if (!Array.isArray(values) || values.length === 0 || values.length > 1000)
        this.fail(`${path}/values`, "must be a list of 1 to 1000 values");
      else values.forEach((v, i) => scalar(v, `${path}/values/${i}`));
      return ["op", "values"];
    }
    if ((presenceOps as readonly string[]).includes(op)) return ["op"];
    if ((numberOps as readonly string[]).includes(op)) {
      if (typeof node.value !== "number" || !Number.isFinite(node.value))
        this.fail(`${path}/value`, "must be a number");
      return ["op", "value"];
    }
    if ((dateOps as readonly string[]).includes(op)) {
      if (typeof node.value !== "string" || !datePattern.test(node.value))
        this.fail(
          `${path}/value`,
          "must be an ISO 8601 date or date-time, such as 2026-03-01 or 2026-03-01T12:00:00Z",
        );
      return ["op", "value"];
    }
    this.integer(node, "days", path, 0, 36_500);
    return ["op", "days"];
  }

  filters(node: JsonObject, key: string, path: string): void {
    const where = node[key];
    if (where === undefined) return;
    if (!Array.isArray(where) || where.length > 20) {
      this.fail(
        `${path}/${key}`,
        "must be a list of at most 20 property filters",
      );
      return;
    }
    where.forEach((item, i) => {
      const at = `${path}/${key}/${i}`;
      const filter = this.object(item, at);
      if (!filter) return;
      this.path(filter, "property", at);
      const used = this.test(filter, at, [
        ...equalityOps,
        ...textOps,
        ...setOps,
        ...presenceOps,
        ...numberOps,
        ...dateOps,
      ]);
      this.keys(filter, at, ["property", ...used]);
    });
  }

  count(node: JsonObject, path: string): void {
    if (node.count === undefined) return;
    const count = this.object(node.count, `${path}/count`);
    if (!count) return;
    this.oneOf(count, "op", `${path}/count`, [
      "at_least",
      "at_most",
      "exactly",
    ]);
    this.integer(count, "value", `${path}/count`, 0, 1_000_000);
    this.keys(count, `${path}/count`, ["op", "value"]);
  }

  node(value: unknown, path: string, depth: number): void {
    const node = this.object(value, path);
    if (!node) return;
    if (++this.nodes === conditionLimits.nodes + 1)
      this.fail(
        path,
        `a definition may hold at most ${conditionLimits.nodes} conditions`,
      );
    if (depth > conditionLimits.depth) {
      this.fail(
        path,
        `conditions may nest at most ${conditionLimits.depth} deep`,
      );
      return;
    }
    const type = node.type;
    if (
      typeof type !== "string" ||
      !(conditionTypes as readonly string[]).includes(type)
    ) {
      this.fail(`${path}/type`, `must be one of ${conditionTypes.join(", ")}`);
      return;
    }
    const t = type as SegmentCondition["type"];
    switch (t) {
      case "and":
      case "or": {
        this.keys(node, path, ["type", "conditions"]);
        const list = node.conditions;
        if (!Array.isArray(list) || list.length === 0) {
          this.fail(
            `${path}/conditions`,
            "must be a non-empty list of conditions",
          );
          return;
        }
        list.forEach((child, i) =>
          this.node(child, `${path}/conditions/${i}`, depth + 1),
        );
        return;
      }
      case "not":
        this.keys(node, path, ["type", "condition"]);
        this.node(node.condition, `${path}/condition`, depth + 1);
        return;
      case "trait": {
        this.path(node, "trait", path);
        this.keys(node, path, ["type", "trait", ...this.test(node, path)]);
        return;
      }
      case "attribute": {
        this.oneOf(node, "attribute", path, attributes);
        const attribute = node.attribute as Attribute;
        if (!(attributes as readonly string[]).includes(attribute)) return;
        const kind = (textAttributes as readonly string[]).includes(attribute)
          ? "text"
          : (numberAttributes as readonly string[]).includes(attribute)
            ? "number"
            : undefined;
        const used = this.test(node, path, attributeOps(attribute), kind);
        this.keys(node, path, ["type", "attribute", ...used]);
        return;
      }
      case "event":
        this.text(node, "event", path);
        this.filters(node, "where", path);
        this.count(node, path);
        this.integer(node, "withinDays", path, 1, 36_500, true);
        this.keys(node, path, [
          "type",
          "event",
          "where",
          "count",
          "withinDays",
        ]);
        return;
      case "event_time": {
        this.text(node, "event", path);
        this.filters(node, "where", path);
        this.oneOf(node, "which", path, ["first", "last"]);
        const used = this.test(node, path, [
          ...presenceOps,
          ...dateOps,
          ...relativeOps,
        ]);
        this.keys(node, path, ["type", "event", "where", "which", ...used]);
        return;
      }
      case "event_without": {
        this.text(node, "event", path);
        this.filters(node, "where", path);
        this.integer(node, "withinDays", path, 1, 36_500);
        const without = this.object(node.without, `${path}/without`);
        if (without) {
          this.text(without, "event", `${path}/without`);
          this.filters(without, "where", `${path}/without`);
          this.keys(without, `${path}/without`, ["event", "where"]);
        }
        this.keys(node, path, [
          "type",
          "event",
          "where",
          "without",
          "withinDays",
        ]);
        return;
      }
      case "purchased":
        for (const key of ["productId", "category", "brand"])
          this.text(node, key, path, { optional: true });
        this.integer(node, "withinDays", path, 1, 36_500, true);
        this.keys(node, path, [
          "type",
          "productId",
          "category",
          "brand",
          "withinDays",
        ]);
        return;
      case "coupon":
        this.text(node, "coupon", path, { optional: true });
        this.text(node, "pool", path, { optional: true });
        this.integer(node, "withinDays", path, 1, 36_500, true);
        this.keys(node, path, ["type", "coupon", "pool", "withinDays"]);
        return;
      case "rfm": {
        const groups = node.groups;
        if (
          !Array.isArray(groups) ||
          groups.length === 0 ||
          groups.some((g) => !(rfmGroups as readonly unknown[]).includes(g))
        )
          this.fail(
            `${path}/groups`,
            `must be a non-empty list of ${rfmGroups.join(", ")}`,
          );
        this.keys(node, path, ["type", "groups"]);
        return;
      }
      case "message": {
        this.oneOf(node, "action", path, messageActions);
        this.oneOf(node, "channel", path, engagementChannels, true);
        const { action, channel } = node;
        if (
          (messageActions as readonly unknown[]).includes(action) &&
          (channel === "sms" || channel === "push") &&
          messageEventNames(action as MessageAction, channel).length === 0
        )
          this.fail(
            `${path}/action`,
            channel === "sms"
              ? "SMS has no opens: use received or clicked (a tracked link followed)"
              : "web push has no delivery receipts or links of its own: use opened (the notification clicked)",
          );
        this.count(node, path);
        this.integer(node, "withinDays", path, 1, 36_500, true);
        this.keys(node, path, [
          "type",
          "action",
          "channel",
          "count",
          "withinDays",
        ]);
        return;
      }
      case "consent":
        this.oneOf(node, "channel", path, channels);
        this.oneOf(node, "status", path, listStatuses);
        this.keys(node, path, ["type", "channel", "status"]);
        return;
      case "reachable":
        this.oneOf(node, "channel", path, channels);
        this.keys(node, path, ["type", "channel"]);
        return;
      case "segment":
        this.text(node, "segmentId", path, { max: 100 });
        this.keys(node, path, ["type", "segmentId"]);
        return;
      case "list":
        this.text(node, "listId", path, { max: 100 });
        this.oneOf(node, "status", path, listStatuses, true);
        this.keys(node, path, ["type", "listId", "status"]);
        return;
      case "tag":
        this.text(node, "tag", path, { max: 100 });
        this.keys(node, path, ["type", "tag"]);
        return;
      case "score":
        this.text(node, "score", path, { max: 64 });
        this.oneOf(node, "op", path, numberOps);
        if (typeof node.value !== "number" || !Number.isFinite(node.value))
          this.fail(`${path}/value`, "must be a number");
        this.keys(node, path, ["type", "score", "op", "value"]);
        return;
    }
  }
}

/**
 * The schema of a rule's `where` as a body declares it: a list of property filters, each
 * checked by `filterErrors` (which names the exact path of a problem).
 */
export const PropertyFilters = Type.Array(Type.Unknown(), {
  maxItems: 20,
  description:
    "property filters the event must match, each {property, op, value | values | days}",
});

/** The problems of property filters found at `${base}/where` (rules that match events). */
export function filterErrors(where: unknown, base: string): ErrorDetail[] {
  const checker = new Checker();
  checker.filters({ where }, "where", base);
  return checker.errors;
}

/** The problems of a condition tree, each with the path (under `base`) where it is. */
export function conditionErrors(value: unknown, base = ""): ErrorDetail[] {
  const checker = new Checker();
  checker.node(value, base, 1);
  if (checker.errors.length === 0 && !Value.Check(SegmentCondition, value))
    checker.fail(base, "is not a valid condition");
  return checker.errors;
}

/**
 * Checks a condition tree and returns it typed, or throws an `invalid` DomainError listing
 * every problem with its path under `base` (such as `/body/definition`).
 */
export function validateCondition(value: unknown, base = ""): SegmentCondition {
  const errors = conditionErrors(value, base);
  const first = errors[0];
  if (first)
    throw new DomainError(
      "invalid",
      `the condition is invalid: ${first.path} ${first.message}`,
      errors,
    );
  return value as SegmentCondition;
}

/** Every condition in the tree, depth first. */
export function* walkConditions(
  condition: SegmentCondition,
): Generator<SegmentCondition> {
  yield condition;
  if (condition.type === "and" || condition.type === "or")
    for (const child of condition.conditions) yield* walkConditions(child);
  else if (condition.type === "not") yield* walkConditions(condition.condition);
}

/** Every condition in the tree with its path under `base`, depth first. */
export function* walkWithPaths(
  condition: SegmentCondition,
  base = "",
): Generator<[SegmentCondition, string]> {
  yield [condition, base];
  if (condition.type === "and" || condition.type === "or")
    for (const [i, child] of condition.conditions.entries())
      yield* walkWithPaths(child, `${base}/conditions/${i}`);
  else if (condition.type === "not")
    yield* walkWithPaths(condition.condition, `${base}/condition`);
}
