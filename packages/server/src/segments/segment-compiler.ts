import {
  atomKey,
  atomsOf,
  atomsOfNode as atomsFor,
  type Atom,
  type CouponAtom,
  type EventAtom,
  type PurchaseAtom,
} from "@herald/core/segments/atoms";
import {
  splitPath,
  type ConditionOf,
  type PropertyFilter,
  type SegmentCondition,
} from "@herald/core/segments/condition";
import {
  dateOps,
  dayMs,
  parseDateValue,
  relativeOps,
  asciiLower,
  type ValueTest,
} from "@herald/core/segments/value-test";
import { rfmGroup, type RfmThresholds } from "@herald/core/profiles/rfm";

/**
 * The SQL compiler of segment conditions: the same tree core evaluates, as parameterised
 * SQL over `profiles` (alias `p`) and the behaviour aggregates of `events`, `order_items`
 * and `orders`. Every user value travels as a parameter; only column names and fixed
 * keywords are written into the text. Each condition compiles to a two-valued boolean and
 * to the next instant its answer may change by time alone (the profile's timer).
 *
 * Both paths use the aggregates built here: bulk computation over a range of profile ids,
 * and the facts query of incremental evaluation over a batch of profile ids.
 */

/** Positional parameters of one statement. */
export class SqlParams {
  readonly values: unknown[];

  constructor(initial: unknown[] = []) {
    this.values = [...initial];
  }

  /** Adds a value; returns its placeholder with `cast` appended. */
  add(value: unknown, cast = ""): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

/** A parameter added the first time its placeholder is asked for. */
export function lazyParam(
  params: SqlParams,
  value: unknown,
  cast: string,
): () => string {
  let placeholder: string | undefined;
  return () => (placeholder ??= params.add(value, cast));
}

/** A compiled condition: a boolean that is never null, and its next change (or null). */
interface Compiled {
  member: string;
  next: string | null;
}

const never = (member: string): Compiled => ({ member, next: null });

function least(parts: (string | null)[]): string | null {
  const present = parts.filter((part) => part !== null);
  if (present.length === 0) return null;
  if (present.length === 1) return present[0] ?? null;
  return `least(${present.join(", ")})`;
}

/** Where the compiler reads from and what it may assume. */
export interface CompileContext {
  params: SqlParams;
  /** Placeholder of the workspace id. */
  workspace: string;
  now: Date;
  /** Placeholder of `now` (added on first use: an unused parameter has no type). */
  nowSql: () => string;
  /** A filter that keeps a `profile_id` column within the statement's profiles. */
  scope: (column: string) => string;
  /** The SQL of an atom's figures for the profile `p`. */
  atom: (atom: Atom) => AtomColumns;
  rfm?: RfmThresholds | undefined;
}

/** SQL expressions of one atom's figures for the current profile. */
export interface AtomColumns {
  count: string;
  oldest: string;
  first: string;
  last: string;
}

const span = (ctx: CompileContext, days: number) =>
  `(${ctx.params.add(days * dayMs, "::float8")} * interval '1 millisecond')`;

const future = (ctx: CompileContext, at: string) =>
  `case when ${at} > ${ctx.nowSql()} then ${at} end`;

/** A time test on an instant expression (null when there is none). */
function instantTest(
  ctx: CompileContext,
  at: string,
  op: (typeof dateOps)[number] | (typeof relativeOps)[number],
  operand: { days?: number; value?: string },
): Compiled {
  const { params, now, nowSql } = ctx;
  const days = operand.days ?? 0;
  switch (op) {
    case "before":
    case "after": {
      const instant = new Date(parseDateValue(operand.value) ?? Number.NaN);
      return never(
        `coalesce(${at} ${op === "before" ? "<" : ">"} ${params.add(instant, "::timestamptz")}, false)`,
      );
    }
    case "within_last_days": {
      const since = params.add(
        new Date(now.getTime() - days * dayMs),
        "::timestamptz",
      );
      return {
        member: `coalesce(${at} <= ${nowSql()} and ${at} > ${since}, false)`,
        next: least([
          future(ctx, at),
          future(ctx, `${at} + ${span(ctx, days)}`),
        ]),
      };
    }
    case "more_than_days_ago": {
      const until = params.add(
        new Date(now.getTime() - days * dayMs),
        "::timestamptz",
      );
      return {
        member: `coalesce(${at} <= ${until}, false)`,
        next: future(ctx, `${at} + ${span(ctx, days)}`),
      };
    }
    case "within_next_days": {
      const until = params.add(
        new Date(now.getTime() + days * dayMs),
        "::timestamptz",
      );
      return {
        member: `coalesce(${at} > ${nowSql()} and ${at} <= ${until}, false)`,
        next: least([
          future(ctx, `${at} - ${span(ctx, days)}`),
          future(ctx, at),
        ]),
      };
    }
    case "anniversary_within_days": {
      const next = `herald_next_anniversary(${at}, ${nowSql()})`;
      const within = `(${next} - (${nowSql()} at time zone 'UTC')::date <= ${params.add(days, "::integer")})`;
      return {
        member: `coalesce(${within}, false)`,
        next: `case when ${at} is null then null when ${within} then (${next} + 1)::timestamp at time zone 'UTC'
                else (${next} - ${params.add(days, "::integer")})::timestamp at time zone 'UTC' end`,
      };
    }
  }
}

/** The operand of a time test. */
const operand = (test: ValueTest): { days?: number; value?: string } => ({
  ...("days" in test ? { days: test.days } : {}),
  ...("value" in test && typeof test.value === "string"
    ? { value: test.value }
    : {}),
});

const isRelativeOrDate = (
  op: string,
): op is (typeof dateOps)[number] | (typeof relativeOps)[number] =>
  (dateOps as readonly string[]).includes(op) ||
  (relativeOps as readonly string[]).includes(op);

/** A value test on a jsonb expression; see value-test.ts in core for the meaning. */
export function jsonTest(
  ctx: CompileContext,
  x: string,
  test: ValueTest,
): Compiled {
  const { params } = ctx;
  switch (test.op) {
    case "equals":
    case "not_equals": {
      const equal = `coalesce(${x} = ${params.add(JSON.stringify(test.value), "::jsonb")}, false)`;
      return never(test.op === "equals" ? equal : `(not ${equal})`);
    }
    case "contains":
    case "not_contains": {
      const found = `coalesce(jsonb_typeof(${x}) = 'string' and strpos(herald_ascii_lower(${x} #>> '{}'), ${params.add(asciiLower(test.value), "::text")}) > 0, false)`;
      return never(test.op === "contains" ? found : `(not ${found})`);
    }
    case "starts_with":
      return never(
        `coalesce(jsonb_typeof(${x}) = 'string' and starts_with(herald_ascii_lower(${x} #>> '{}'), ${params.add(asciiLower(test.value), "::text")}), false)`,
      );
    case "in":
    case "not_in": {
      const found = `coalesce(${x} = any(${params.add(
        test.values.map((v) => JSON.stringify(v)),
        "::jsonb[]",
      )}), false)`;
      return never(test.op === "in" ? found : `(not ${found})`);
    }
    case "exists":
    case "not_exists": {
      const present = `coalesce(jsonb_typeof(${x}) <> 'null', false)`;
      return never(test.op === "exists" ? present : `(not ${present})`);
    }
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const sign = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[test.op];
      return never(
        `coalesce(herald_json_number(${x}) ${sign} ${params.add(test.value, "::numeric")}, false)`,
      );
    }
    default:
      if (!isRelativeOrDate(test.op)) return never("false");
      return instantTest(ctx, `herald_json_time(${x})`, test.op, operand(test));
  }
}

const attributeSql: Record<
  ConditionOf<"attribute">["attribute"],
  { json?: string; time?: string }
> = {
  email: { json: "to_jsonb(p.email)" },
  phone: { json: "to_jsonb(p.phone)" },
  country: { json: "to_jsonb(p.country)" },
  city: { json: "to_jsonb(p.city)" },
  timeZone: { json: "to_jsonb(p.time_zone)" },
  locale: { json: "to_jsonb(p.locale)" },
  orderCount: { json: "to_jsonb(p.order_count)" },
  revenue: { json: "to_jsonb(p.revenue)" },
  averageOrderValue: {
    json: "to_jsonb(case when p.valued_order_count > 0 then p.revenue / p.valued_order_count end)",
  },
  avgDaysBetweenOrders: {
    json: "to_jsonb(p.avg_days_between_orders::numeric)",
  },
  daysSinceLastOrder: {},
  createdAt: { time: "p.created_at" },
  firstSeenAt: { time: "p.first_seen_at" },
  lastSeenAt: { time: "p.last_seen_at" },
  firstOrderAt: { time: "p.first_order_at" },
  lastOrderAt: { time: "p.last_order_at" },
  expectedNextOrderAt: { time: "p.expected_next_order_at" },
};

function attributeTest(
  ctx: CompileContext,
  condition: ConditionOf<"attribute">,
): Compiled {
  const { params, now } = ctx;
  if (condition.attribute === "daysSinceLastOrder") {
    if (
      condition.op !== "gt" &&
      condition.op !== "gte" &&
      condition.op !== "lt" &&
      condition.op !== "lte"
    )
      return never("false");
    const ms = Math.round(condition.value * dayMs);
    const edge = params.add(new Date(now.getTime() - ms), "::timestamptz");
    const reached =
      condition.op === "gte" || condition.op === "lt"
        ? `p.last_order_at <= ${edge}`
        : `p.last_order_at < ${edge}`;
    const flipMs =
      condition.op === "gt" || condition.op === "lte" ? ms + 1 : ms;
    const flip = `p.last_order_at + (${params.add(flipMs, "::float8")} * interval '1 millisecond')`;
    const positive = condition.op === "gt" || condition.op === "gte";
    return {
      member: `coalesce(p.last_order_at is not null and ${positive ? "" : "not "}(${reached}), false)`,
      next: future(ctx, flip),
    };
  }
  const sql = attributeSql[condition.attribute];
  if (sql.time) {
    if (condition.op === "exists") return never(`(${sql.time} is not null)`);
    if (condition.op === "not_exists") return never(`(${sql.time} is null)`);
    if (!isRelativeOrDate(condition.op)) return never("false");
    return instantTest(ctx, sql.time, condition.op, operand(condition));
  }
  return jsonTest(ctx, sql.json ?? "null::jsonb", condition);
}

function countTest(
  count: ConditionOf<"event">["count"],
  n: string,
  params: SqlParams,
): string {
  const { op, value } = count ?? { op: "at_least", value: 1 };
  const sign = op === "at_least" ? ">=" : op === "at_most" ? "<=" : "=";
  return `(${n} ${sign} ${params.add(value, "::bigint")})`;
}

function windowEdge(
  ctx: CompileContext,
  columns: AtomColumns,
  withinDays: number | undefined,
): string | null {
  return withinDays === undefined
    ? null
    : `${columns.oldest} + ${span(ctx, withinDays)}`;
}

function rfmTest(ctx: CompileContext, condition: ConditionOf<"rfm">): Compiled {
  const { params, now, rfm } = ctx;
  if (!rfm) return never("false");
  const cuts = rfm.recencyDays.map((cut) => Math.round(cut * dayMs));
  const passed = cuts
    .map(
      (ms) =>
        `(p.last_order_at < ${params.add(new Date(now.getTime() - ms), "::timestamptz")})::integer`,
    )
    .join(" + ");
  // frequencyScore of core/profiles/rfm.ts, as SQL (a test keeps them in step).
  const frequency =
    "case when p.order_count >= 6 then 5 when p.order_count >= 4 then 4 else greatest(1, least(3, p.order_count)) end";
  const pairs: number[] = [];
  for (let r = 1; r <= 5; r++)
    for (let f = 1; f <= 5; f++)
      if ((condition.groups as readonly string[]).includes(rfmGroup(r, f)))
        pairs.push(r * 10 + f);
  return {
    member: `coalesce(p.order_count > 0 and p.last_order_at is not null and
      ((5 - (${passed})) * 10 + ${frequency}) = any(${params.add(pairs, "::integer[]")}), false)`,
    next: least(
      cuts.map((ms) =>
        future(
          ctx,
          `p.last_order_at + (${params.add(ms + 1, "::float8")} * interval '1 millisecond')`,
        ),
      ),
    ),
  };
}

/** Compiles a condition tree for the profile `p` of the statement. */
export function compileCondition(
  ctx: CompileContext,
  condition: SegmentCondition,
): Compiled {
  const { params, workspace, scope } = ctx;
  switch (condition.type) {
    case "and":
    case "or": {
      const parts = condition.conditions.map((c) => compileCondition(ctx, c));
      return {
        member: `(${parts.map((c) => c.member).join(` ${condition.type} `)})`,
        next: least(parts.map((c) => c.next)),
      };
    }
    case "not": {
      const inner = compileCondition(ctx, condition.condition);
      return { member: `(not ${inner.member})`, next: inner.next };
    }
    case "trait":
      return jsonTest(
        ctx,
        `(p.traits #> ${params.add(splitPath(condition.trait), "::text[]")})`,
        condition,
      );
    case "attribute":
      return attributeTest(ctx, condition);
    case "event":
    case "message": {
      const atom = ctx.atom(atomsFor(condition)[0] as Atom);
      return {
        member: countTest(condition.count, atom.count, params),
        next: windowEdge(ctx, atom, condition.withinDays),
      };
    }
    case "event_time": {
      const atom = ctx.atom(atomsFor(condition)[0] as Atom);
      const at = condition.which === "first" ? atom.first : atom.last;
      if (condition.op === "exists") return never(`(${at} is not null)`);
      if (condition.op === "not_exists") return never(`(${at} is null)`);
      if (!isRelativeOrDate(condition.op)) return never("false");
      return instantTest(ctx, at, condition.op, operand(condition));
    }
    case "event_without": {
      const [did, then] = atomsFor(condition).map((a) => ctx.atom(a));
      if (!did || !then) return never("false");
      const edge = `${did.last} + ${span(ctx, condition.withinDays)}`;
      return {
        member: `coalesce(${edge} > ${ctx.nowSql()} and (${then.last} is null or ${then.last} < ${did.last}), false)`,
        next: future(ctx, edge),
      };
    }
    case "purchased":
    case "coupon": {
      const atom = ctx.atom(atomsFor(condition)[0] as Atom);
      return {
        member: `(${atom.count} > 0)`,
        next: windowEdge(ctx, atom, condition.withinDays),
      };
    }
    case "rfm":
      return rfmTest(ctx, condition);
    case "consent":
      return never(
        `coalesce(p.consent -> ${params.add(condition.channel, "::text")} ->> 'status' = ${params.add(condition.status, "::text")}, false)`,
      );
    case "reachable": {
      // An address that is not suppressed, and no opt-out of the channel (as evaluate.ts).
      const channel = params.add(condition.channel, "::text");
      const consented = `coalesce(p.consent -> ${channel} ->> 'status', '') <> 'unsubscribed'`;
      if (condition.channel === "email" || condition.channel === "sms") {
        const address = condition.channel === "email" ? "p.email" : "p.phone";
        return never(
          `(${address} is not null and ${consented} and not exists (select 1 from suppressions x
             where x.workspace_id = ${workspace} and x.channel = ${channel} and x.address = ${address}))`,
        );
      }
      const linked =
        condition.channel === "push"
          ? `exists (select 1 from push_subscriptions s where s.workspace_id = ${workspace} and s.profile_id = p.id)`
          : `exists (select 1 from telegram_chats t where t.workspace_id = ${workspace} and t.profile_id = p.id)`;
      return never(`(${consented} and ${linked})`);
    }
    case "segment":
      return never(
        `(p.id in (select m.profile_id from segment_members m where m.workspace_id = ${workspace}
           and m.segment_id = ${params.add(condition.segmentId, "::text")} and ${scope("m.profile_id")}))`,
      );
    case "list":
      return never(
        `(p.id in (select l.profile_id from list_members l where l.workspace_id = ${workspace}
           and l.list_id = ${params.add(condition.listId, "::text")} and l.status = ${params.add(condition.status ?? "subscribed", "::text")}
           and ${scope("l.profile_id")}))`,
      );
    case "tag":
      return never(
        `(p.id in (select t.profile_id from profile_tags t where t.workspace_id = ${workspace}
           and t.tag = ${params.add(condition.tag, "::text")} and ${scope("t.profile_id")}))`,
      );
    case "score": {
      // A profile without points has 0: when 0 passes, members are those not failing.
      const sign = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[condition.op];
      const zeroPasses = {
        gt: 0 > condition.value,
        gte: 0 >= condition.value,
        lt: 0 < condition.value,
        lte: 0 <= condition.value,
      }[condition.op];
      const passing = `s.value ${sign} ${params.add(condition.value, "::numeric")}`;
      const rows = (where: string) =>
        `(p.id in (select s.profile_id from profile_scores s where s.workspace_id = ${workspace}
           and s.score = ${params.add(condition.score, "::text")} and ${where} and ${scope("s.profile_id")}))`;
      return never(
        zeroPasses ? `(not ${rows(`not (${passing})`)})` : rows(passing),
      );
    }
  }
}

/** How far back a source must be read: from an instant, or all of it (null). */
type Reach = { since: Date | null };

/** The SQL of the aggregates of a set of atoms, one query per source table. */
export interface AtomAggregates {
  /** Events: the select list, and per event name how far back to read and whether properties are needed. */
  events?: {
    select: string[];
    names: Map<string, Reach & { properties: boolean }>;
  };
  purchases?: { select: string[] } & Reach;
  coupons?: { select: string[] } & Reach;
  columns: Map<
    string,
    { source: "events" | "purchases" | "coupons"; index: number }
  >;
}

function aggregateColumns(
  match: string,
  at: string,
  since: string | null,
  index: number,
): string[] {
  const inWindow = since ? `${match} and ${at} > ${since}` : match;
  return [
    `count(*) filter (where ${inWindow}) as n${index}`,
    `min(${at}) filter (where ${inWindow}) as f${index}`,
    `max(${at}) filter (where ${inWindow}) as l${index}`,
  ];
}

/** The earlier of two reaches (null, all of it, wins). */
function wider(a: Reach | undefined, since: Date | null): Reach {
  if (!a) return { since };
  if (a.since === null || since === null) return { since: null };
  return { since: a.since < since ? a.since : since };
}

function eventMatch(ctx: CompileContext, atom: EventAtom): string {
  const filters = atom.where.map(
    (filter: PropertyFilter) =>
      jsonTest(
        ctx,
        `(e.properties #> ${ctx.params.add(splitPath(filter.property), "::text[]")})`,
        filter,
      ).member,
  );
  return `(e.name = any(${ctx.params.add(atom.names, "::text[]")})${filters.map((f) => ` and ${f}`).join("")})`;
}

function purchaseMatch(ctx: CompileContext, atom: PurchaseAtom): string {
  const parts = ["true"];
  if (atom.productId !== null)
    parts.push(`oi.product_id = ${ctx.params.add(atom.productId, "::text")}`);
  if (atom.category !== null)
    parts.push(`oi.category = ${ctx.params.add(atom.category, "::text")}`);
  if (atom.brand !== null)
    parts.push(`oi.brand = ${ctx.params.add(atom.brand, "::text")}`);
  return `(${parts.join(" and ")})`;
}

function couponMatch(ctx: CompileContext, atom: CouponAtom): string {
  // An order may carry several coupons, comma-separated ("SUMMER, FREESHIP").
  const codes =
    "(select btrim(c) from unnest(string_to_array(o.coupon, ',')) as c)";
  const parts: string[] = [];
  if (atom.coupon !== null)
    parts.push(
      `${ctx.params.add(asciiLower(atom.coupon), "::text")} in (select herald_ascii_lower(c) from ${codes} as x(c))`,
    );
  // One of the pool's unique codes (generated or uploaded).
  if (atom.pool !== null)
    parts.push(`exists (select 1 from coupon_codes cc
      where cc.workspace_id = o.workspace_id and cc.pool_id = ${ctx.params.add(atom.pool, "::text")}
        and upper(cc.code) in (select upper(c) from ${codes} as x(c)))`);
  return parts.length > 0 ? `(${parts.join(" and ")})` : "true";
}

/** Builds the aggregate select lists of `atoms`, and how much of each source they read. */
export function aggregatesOf(
  ctx: CompileContext,
  atoms: Iterable<Atom>,
): AtomAggregates {
  const result: AtomAggregates = { columns: new Map() };
  let index = 0;
  for (const atom of atoms) {
    const key = atomKey(atom);
    if (result.columns.has(key)) continue;
    const i = index++;
    const sinceDate =
      atom.withinDays === null
        ? null
        : new Date(ctx.now.getTime() - atom.withinDays * dayMs);
    const since =
      sinceDate === null ? null : ctx.params.add(sinceDate, "::timestamptz");
    if (atom.kind === "events") {
      result.events ??= { select: [], names: new Map() };
      for (const name of atom.names) {
        const known = result.events.names.get(name);
        result.events.names.set(name, {
          ...wider(known, sinceDate),
          properties: (known?.properties ?? false) || atom.where.length > 0,
        });
      }
      result.events.select.push(
        ...aggregateColumns(eventMatch(ctx, atom), "e.timestamp", since, i),
      );
    } else if (atom.kind === "purchases") {
      result.purchases = {
        select: [
          ...(result.purchases?.select ?? []),
          ...aggregateColumns(
            purchaseMatch(ctx, atom),
            "oi.placed_at",
            since,
            i,
          ),
        ],
        ...wider(result.purchases, sinceDate),
      };
    } else {
      result.coupons = {
        select: [
          ...(result.coupons?.select ?? []),
          ...aggregateColumns(couponMatch(ctx, atom), "o.placed_at", since, i),
        ],
        ...wider(result.coupons, sinceDate),
      };
    }
    result.columns.set(key, { source: atom.kind, index: i });
  }
  return result;
}

const aliases = { events: "ev", purchases: "pu", coupons: "co" } as const;

/**
 * The CTEs of the aggregates for the profiles selected by `profileFilter` (applied to
 * each source's profile_id column). Events are read one name at a time, each only as far
 * back as its windows need, so that the (workspace, name, profile, time) index bounds the
 * scan and properties are fetched only for names whose filters need them.
 */
export function aggregateSources(
  ctx: CompileContext,
  aggregates: AtomAggregates,
  profileFilter: (column: string) => string,
): { ctes: string[]; joins: string[] } {
  const ctes: string[] = [];
  const joins: string[] = [];
  const after = (column: string, since: Date | null) =>
    since === null
      ? ""
      : ` and ${column} > ${ctx.params.add(since, "::timestamptz")}`;
  if (aggregates.events) {
    const branches = [...aggregates.events.names]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([
          name,
          reach,
        ]) => `select profile_id, name, timestamp, ${reach.properties ? "properties" : "null::jsonb as properties"}
          from events
         where workspace_id = ${ctx.workspace} and name = ${ctx.params.add(name, "::text")}
           and ${profileFilter("profile_id")}${after("timestamp", reach.since)}`,
      );
    ctes.push(`ev as (select e.profile_id, ${aggregates.events.select.join(", ")}
      from (${branches.join("\n union all ")}) as e
      group by e.profile_id)`);
    joins.push("left join ev on ev.profile_id = p.id");
  }
  if (aggregates.purchases) {
    ctes.push(`pu as (select oi.profile_id, ${aggregates.purchases.select.join(", ")}
      from order_items oi
      join orders o on o.workspace_id = oi.workspace_id and o.order_id = oi.order_id
      where oi.workspace_id = ${ctx.workspace} and o.status = 'placed'
        and ${profileFilter("oi.profile_id")}${after("oi.placed_at", aggregates.purchases.since)}
      group by oi.profile_id)`);
    joins.push("left join pu on pu.profile_id = p.id");
  }
  if (aggregates.coupons) {
    ctes.push(`co as (select o.profile_id, ${aggregates.coupons.select.join(", ")}
      from orders o
      where o.workspace_id = ${ctx.workspace} and o.status = 'placed' and o.coupon is not null
        and ${profileFilter("o.profile_id")}${after("o.placed_at", aggregates.coupons.since)}
      group by o.profile_id)`);
    joins.push("left join co on co.profile_id = p.id");
  }
  return { ctes, joins };
}

/** The column references of an atom's figures once its source is joined. */
export function atomColumns(
  aggregates: AtomAggregates,
  atom: Atom,
): AtomColumns {
  const found = aggregates.columns.get(atomKey(atom));
  if (!found)
    return {
      count: "0",
      oldest: "null::timestamptz",
      first: "null::timestamptz",
      last: "null::timestamptz",
    };
  const alias = aliases[found.source];
  const i = found.index;
  return {
    count: `coalesce(${alias}.n${i}, 0)`,
    oldest: `${alias}.f${i}`,
    first: `${alias}.f${i}`,
    last: `${alias}.l${i}`,
  };
}

/** Which profiles a statement covers: a range of ids (after, upTo], or a list of ids. */
export type ProfileScope =
  { after: string | null; upTo: string | null } | { ids: string[] };

/** A select of (id, member, next_at) for the profiles of a scope, and its CTEs. */
export interface MembershipSelect {
  params: SqlParams;
  ctes: string[];
  select: string;
}

/**
 * Compiles `condition` to a select of every live profile in `scope` with whether it is a
 * member and the next instant that may change (null if none). `$1` is the workspace id.
 */
export function membershipSelect(
  condition: SegmentCondition,
  options: {
    workspaceId: string;
    now: Date;
    rfm?: RfmThresholds | undefined;
    scope: ProfileScope;
  },
): MembershipSelect {
  const params = new SqlParams([options.workspaceId]);
  const nowSql = lazyParam(params, options.now, "::timestamptz");
  let scope: (column: string) => string;
  if ("ids" in options.scope) {
    const ids = params.add(options.scope.ids, "::uuid[]");
    scope = (column) => `${column} = any(${ids})`;
  } else {
    const { after, upTo } = options.scope;
    const lower = after === null ? null : params.add(after, "::uuid");
    const upper = upTo === null ? null : params.add(upTo, "::uuid");
    scope = (column) =>
      [
        lower ? `${column} > ${lower}` : "true",
        upper ? `${column} <= ${upper}` : "true",
      ].join(" and ");
  }
  const ctx: CompileContext = {
    params,
    workspace: "$1",
    now: options.now,
    nowSql,
    scope,
    rfm: options.rfm,
    atom: () => ({ count: "0", oldest: "null", first: "null", last: "null" }),
  };
  const aggregates = aggregatesOf(ctx, atomsOfTree(condition));
  ctx.atom = (atom) => atomColumns(aggregates, atom);
  const { ctes, joins } = aggregateSources(ctx, aggregates, scope);
  const compiled = compileCondition(ctx, condition);
  const select = `select p.id, ${compiled.member} as member, (${compiled.next ?? "null"})::timestamptz as next_at
    from profiles p ${joins.join(" ")}
    where p.workspace_id = $1 and p.merged_into is null and ${scope("p.id")}`;
  return { params, ctes, select };
}

function atomsOfTree(condition: SegmentCondition): Atom[] {
  return [...atomsOf([condition]).values()];
}
