import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { ManualClock } from "@herald/core/clock";
import { rfmGroups } from "@herald/core/profiles/rfm";
import {
  conditionErrors,
  type SegmentCondition,
} from "@herald/core/segments/condition";
import type { ValueTest } from "@herald/core/segments/value-test";
import { insertList } from "../lists/lists.sql.ts";
import {
  deletePushSubscription,
  upsertPushSubscription,
} from "../messages/push-subscriptions.sql.ts";
import {
  deleteSuppression,
  upsertSuppression,
} from "../messages/suppressions.sql.ts";
import { unlinkTelegramChat } from "../messages/telegram-chats.sql.ts";
import { linkTelegramChat } from "../messages/telegram-service.ts";
import { insertScore } from "../scores/scores.sql.ts";
import { getSegment, insertSegment } from "./segments.sql.ts";
import { matchingProfiles } from "./segment-computation.sql.ts";
import { silentLogger } from "../logger.ts";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";
import { changeListStatus } from "../lists/list-service.ts";
import { addScore } from "../scores/score-service.ts";
import { addTag, removeTag } from "../tags/tag-service.ts";
import { reachabilityChanged } from "./segment-service.ts";
import { SegmentComputer } from "../workers/segment-computer.ts";
import { settleWorkspace } from "../testing/segment-settle.ts";
import { SegmentTimers } from "../workers/segment-timers.ts";

/**
 * The property that makes live segments trustworthy: for random event streams, clock
 * moves, tag / score / list changes, suppressions, push subscriptions, Telegram links and
 * random segment definitions, the membership kept
 * incrementally (event processor + timers + membership changes) always equals a full
 * recomputation with the SQL compiled from the same definitions, at the same instant.
 * HERALD_AGREEMENT_RUNS sets the number of runs (30; use hundreds for a long search).
 */

const day = 86_400_000;
const users = ["u0", "u1"];
const anonymous = ["a0", "a1"];
const categories = ["shoes", "Shoes", "hats"];
const listId = "list_agree";
const phones = ["+4915100000001", "+4915100000002"];

// ---- Conditions -------------------------------------------------------------------------

const scalar = fc.constantFrom<string | number | boolean>(
  "pro",
  "free",
  30,
  "30",
  true,
  "shoes",
);
const days = fc.constantFrom(0, 1, 3, 7, 30, 90, 400);
const isoNearNow = (now: Date) =>
  fc
    .integer({ min: -200, max: 200 })
    .map((d) => new Date(now.getTime() + d * day).toISOString().slice(0, 10));

function valueTest(
  now: Date,
  kind: "any" | "text" | "number" | "date",
): fc.Arbitrary<ValueTest> {
  const equality = fc.record({
    op: fc.constantFrom("equals" as const, "not_equals" as const),
    value: scalar,
  });
  const text = fc.record({
    op: fc.constantFrom(
      "contains" as const,
      "not_contains" as const,
      "starts_with" as const,
    ),
    value: fc.constantFrom("pr", "Sho", "s", "X", "@"),
  });
  const set = fc.record({
    op: fc.constantFrom("in" as const, "not_in" as const),
    values: fc.array(scalar, { minLength: 1, maxLength: 3 }),
  });
  const presence = fc.record({
    op: fc.constantFrom("exists" as const, "not_exists" as const),
  });
  const number = fc.record({
    op: fc.constantFrom(
      "gt" as const,
      "gte" as const,
      "lt" as const,
      "lte" as const,
    ),
    value: fc.constantFrom(-1, 0, 1, 2, 18, 30, 30.5, 100),
  });
  const date = fc.record({
    op: fc.constantFrom("before" as const, "after" as const),
    value: isoNearNow(now),
  });
  const relative = fc.record({
    op: fc.constantFrom(
      "within_last_days" as const,
      "more_than_days_ago" as const,
      "within_next_days" as const,
      "anniversary_within_days" as const,
    ),
    days,
  });
  const stringy = (arb: fc.Arbitrary<ValueTest>) => arb;
  switch (kind) {
    case "text":
      return fc.oneof(
        stringy(
          fc.record({
            op: fc.constantFrom("equals" as const, "not_equals" as const),
            value: fc.constantFrom("DE", "Berlin", "a@x.test"),
          }),
        ),
        text,
        fc.record({
          op: fc.constantFrom("in" as const, "not_in" as const),
          values: fc.constant<(string | number | boolean)[]>(["DE", "FR"]),
        }),
        presence,
      );
    case "number":
      return fc.oneof(
        fc.record({
          op: fc.constantFrom("equals" as const, "not_equals" as const),
          value: fc.constantFrom(0, 1, 2, 50),
        }),
        presence,
        number,
      );
    case "date":
      return fc.oneof(presence, date, relative);
    default:
      return fc.oneof(equality, text, set, presence, number, date, relative);
  }
}

const filter = fc.record({
  property: fc.constantFrom("category", "price"),
  op: fc.constantFrom("equals" as const),
  value: fc.constantFrom<string | number>("shoes", "Shoes", 10),
});
const where = fc.option(fc.array(filter, { maxLength: 1 }), { nil: undefined });
const eventName = fc.constantFrom(
  "Product Viewed",
  "Product Added",
  "Order Completed",
  "Email Opened",
);
const count = fc.option(
  fc.record({
    op: fc.constantFrom(
      "at_least" as const,
      "at_most" as const,
      "exactly" as const,
    ),
    value: fc.integer({ min: 0, max: 3 }),
  }),
  { nil: undefined },
);
const window = fc.option(fc.constantFrom(1, 3, 7, 30), { nil: undefined });

/** Drops undefined fields, as JSON would. */
const clean = <T extends object>(value: T): T =>
  JSON.parse(JSON.stringify(value)) as T;

function leaf(now: Date, segmentIds: string[]): fc.Arbitrary<SegmentCondition> {
  const arbs: fc.Arbitrary<SegmentCondition>[] = [
    fc
      .tuple(
        fc.constantFrom("plan", "age", "birthday", "signup", "nothing"),
        valueTest(now, "any"),
      )
      .map(([trait, test]) => ({ type: "trait", trait, ...test })),
    fc
      .tuple(
        fc.constantFrom("email", "country", "city"),
        valueTest(now, "text"),
      )
      .map(([attribute, test]) => ({ type: "attribute", attribute, ...test })),
    fc
      .tuple(
        fc.constantFrom(
          "orderCount",
          "revenue",
          "averageOrderValue",
          "avgDaysBetweenOrders",
        ),
        valueTest(now, "number"),
      )
      .map(([attribute, test]) => ({ type: "attribute", attribute, ...test })),
    fc
      .tuple(
        fc.constantFrom(
          "lastOrderAt",
          "firstOrderAt",
          "lastSeenAt",
          "expectedNextOrderAt",
        ),
        valueTest(now, "date"),
      )
      .map(([attribute, test]) => ({ type: "attribute", attribute, ...test })),
    fc
      .record({
        op: fc.constantFrom(
          "gt" as const,
          "gte" as const,
          "lt" as const,
          "lte" as const,
        ),
        value: fc.constantFrom(0, 1, 10, 30, 90),
      })
      .map((test) => ({
        type: "attribute",
        attribute: "daysSinceLastOrder",
        ...test,
      })),
    fc
      .record({ event: eventName, where, count, withinDays: window })
      .map((c) => clean({ type: "event" as const, ...c })),
    fc
      .tuple(
        eventName,
        where,
        fc.constantFrom("first" as const, "last" as const),
        valueTest(now, "date"),
      )
      .map(
        ([event, w, which, test]) =>
          clean({
            type: "event_time",
            event,
            where: w,
            which,
            ...test,
          }) as SegmentCondition,
      ),
    fc
      .record({
        event: eventName,
        where,
        without: fc.record({ event: eventName }),
        withinDays: fc.constantFrom(1, 7, 30),
      })
      .map((c) => clean({ type: "event_without" as const, ...c })),
    fc
      .record({
        category: fc.option(fc.constantFrom("shoes", "hats"), {
          nil: undefined,
        }),
        brand: fc.option(fc.constantFrom("acme"), { nil: undefined }),
        withinDays: window,
      })
      .map((c) => clean({ type: "purchased" as const, ...c })),
    fc
      .record({
        coupon: fc.option(fc.constantFrom("save10", "VIP"), { nil: undefined }),
        withinDays: window,
      })
      .map((c) => clean({ type: "coupon" as const, ...c })),
    fc
      .subarray([...rfmGroups], { minLength: 1, maxLength: 4 })
      .map((groups) => ({ type: "rfm", groups })),
    fc
      .record({
        action: fc.constantFrom("opened" as const, "clicked" as const),
        channel: fc.constantFrom(
          undefined,
          "email" as const,
          "sms" as const,
          "push" as const,
          "any" as const,
        ),
        count,
        withinDays: window,
      })
      .map((c) =>
        clean({
          type: "message" as const,
          ...c,
          // SMS has no opens, push no links besides the notification.
          ...(c.channel === "sms" ? { action: "clicked" as const } : {}),
          ...(c.channel === "push" ? { action: "opened" as const } : {}),
        }),
      ),
    fc
      .record({
        channel: fc.constantFrom("email" as const, "sms" as const),
        status: fc.constantFrom("subscribed" as const, "unsubscribed" as const),
      })
      .map((c) => ({ type: "consent" as const, ...c })),
    fc
      .constantFrom(
        "email" as const,
        "sms" as const,
        "push" as const,
        "telegram" as const,
      )
      .map((channel) => ({ type: "reachable" as const, channel })),
    fc.constantFrom("vip", "new").map((tag) => ({ type: "tag" as const, tag })),
    fc
      .record({
        op: fc.constantFrom(
          "gt" as const,
          "gte" as const,
          "lt" as const,
          "lte" as const,
        ),
        value: fc.constantFrom(0, 3, 5, 10),
      })
      .map((c) => ({ type: "score" as const, score: "engagement", ...c })),
    fc
      .constantFrom<"subscribed" | "unsubscribed" | undefined>(
        "subscribed",
        "unsubscribed",
        undefined,
      )
      .map((status) => clean({ type: "list" as const, listId, status })),
  ];
  if (segmentIds.length > 0)
    arbs.push(
      fc
        .constantFrom(...segmentIds)
        .map((segmentId) => ({ type: "segment", segmentId })),
    );
  return fc.oneof(...arbs);
}

function condition(
  now: Date,
  segmentIds: string[],
): fc.Arbitrary<SegmentCondition> {
  const { tree } = fc.letrec<{ tree: SegmentCondition }>((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { weight: 4, arbitrary: leaf(now, segmentIds) },
      {
        weight: 1,
        arbitrary: fc.record({
          type: fc.constantFrom("and" as const, "or" as const),
          conditions: fc.array(tie("tree"), { minLength: 1, maxLength: 3 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          type: fc.constant("not" as const),
          condition: tie("tree"),
        }),
      },
    ),
  }));
  return tree;
}

// ---- Streams ----------------------------------------------------------------------------

type Step =
  | { kind: "events"; events: Record<string, unknown>[] }
  | { kind: "advance"; ms: number }
  | { kind: "tag"; user: string; tag: string; add: boolean }
  | { kind: "score"; user: string; points: number; expiresAfterDays?: number }
  | {
      kind: "list";
      user: string;
      status: "subscribed" | "unsubscribed" | "pending";
    }
  | {
      kind: "suppress";
      channel: "email" | "sms";
      address: string;
      add: boolean;
    }
  | { kind: "push" | "telegram"; user: string; add: boolean };

const who = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(...users).map((userId) => ({ userId })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...anonymous)
      .map((anonymousId) => ({ anonymousId })),
  },
);
// Ages and clock moves near the windows' lengths, so that their edges are crossed often
// (and sometimes hit to the millisecond).
const hour = 3_600_000;
const ago = fc.oneof(
  fc.constantFrom(
    0,
    hour,
    day - 1,
    day,
    2 * day,
    6 * day,
    7 * day,
    29 * day,
    31 * day,
    95 * day,
  ),
  fc.integer({ min: 0, max: 120 * day }),
);

const event = fc.oneof(
  fc
    .record({
      who,
      ago,
      traits: fc.record(
        {
          plan: fc.constantFrom("pro", "free", "Pro", 30),
          age: fc.constantFrom(17, 30, "30", "x", 30.5),
          birthday: fc.constantFrom(
            "1990-06-03",
            "1985-02-29",
            "2000-12-31",
            "1999-02-31",
            "nope",
          ),
          signup: fc
            .integer({ min: -100, max: 100 })
            .map((d) => new Date(Date.UTC(2026, 5, 1) + d * day).toISOString()),
          country: fc.constantFrom("DE", "fr"),
          email: fc.constantFrom("a@x.test", "b@x.test"),
          email_consent: fc.boolean(),
          phone: fc.constantFrom(...phones),
          sms_consent: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    })
    .map(({ who: id, ago: a, traits }) => ({
      type: "identify",
      ...id,
      traits,
      ago: a,
    })),
  fc
    .record({
      who,
      ago,
      category: fc.constantFrom(...categories),
      price: fc.constantFrom(10, 20),
    })
    .map((e) => ({
      type: "track",
      event: "Product Viewed",
      ...e.who,
      ago: e.ago,
      properties: { category: e.category, price: e.price },
    })),
  fc
    .record({ who, ago, category: fc.constantFrom(...categories) })
    .map((e) => ({
      type: "track",
      event: "Product Added",
      ...e.who,
      ago: e.ago,
      properties: { category: e.category },
    })),
  fc
    .record({
      userId: fc.constantFrom(...users),
      ago,
      order: fc.constantFrom("o1", "o2", "o3", "o4", "o5"),
      revenue: fc.constantFrom(10, 25.5, 99.99),
      coupon: fc.option(fc.constantFrom("SAVE10", "vip"), { nil: undefined }),
      category: fc.constantFrom("shoes", "hats"),
    })
    .map((e) =>
      clean({
        type: "track",
        event: "Order Completed",
        userId: e.userId,
        ago: e.ago,
        properties: {
          order_id: e.order,
          revenue: e.revenue,
          coupon: e.coupon,
          products: [
            {
              product_id: `p-${e.category}`,
              category: e.category,
              brand: "acme",
              price: e.revenue,
            },
          ],
        },
      }),
    ),
  fc
    .record({
      userId: fc.constantFrom(...users),
      order: fc.constantFrom("o1", "o2", "o3"),
    })
    .map((e) => ({
      type: "track",
      event: "Order Cancelled",
      userId: e.userId,
      ago: 0,
      properties: { order_id: e.order },
    })),
  fc
    .record({
      who,
      ago,
      event: fc.constantFrom(
        "Email Opened",
        "Email Link Clicked",
        "SMS Link Clicked",
        "Push Opened",
      ),
    })
    .map((e) => ({
      type: "track",
      event: e.event,
      ...e.who,
      ago: e.ago,
      properties: {},
    })),
  fc
    .record({
      userId: fc.constantFrom(...users),
      anonymousId: fc.constantFrom(...anonymous),
    })
    .map((ids) => ({ type: "identify", ...ids, ago: 0, traits: {} })),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(event, { minLength: 1, maxLength: 5 })
      .map((events) => ({ kind: "events" as const, events })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            1,
            hour,
            day - 1,
            day,
            2 * day,
            3 * day,
            7 * day,
            30 * day,
            90 * day,
          ),
        },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 * day }) },
      )
      .map((ms) => ({ kind: "advance" as const, ms })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        user: fc.constantFrom(...users),
        tag: fc.constantFrom("vip", "new"),
        add: fc.boolean(),
      })
      .map((s) => ({ kind: "tag" as const, ...s })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        user: fc.constantFrom(...users),
        points: fc.constantFrom(-2, 1, 3, 5),
        expiresAfterDays: fc.option(fc.constantFrom(1, 10), { nil: undefined }),
      })
      .map((s) => clean({ kind: "score" as const, ...s })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        user: fc.constantFrom(...users),
        status: fc.constantFrom(
          "subscribed" as const,
          "unsubscribed" as const,
          "pending" as const,
        ),
      })
      .map((s) => ({ kind: "list" as const, ...s })),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc
        .record({
          address: fc.constantFrom("a@x.test", "b@x.test"),
          add: fc.boolean(),
        })
        .map((s) => ({
          kind: "suppress" as const,
          channel: "email" as const,
          ...s,
        })),
      fc
        .record({ address: fc.constantFrom(...phones), add: fc.boolean() })
        .map((s) => ({
          kind: "suppress" as const,
          channel: "sms" as const,
          ...s,
        })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom("push" as const, "telegram" as const),
      user: fc.constantFrom(...users),
      add: fc.boolean(),
    }),
  },
);

const start = new Date("2026-06-01T00:00:00Z");

describeOnDatabases(
  "segments: incremental membership equals full recomputation",
  (db) => {
    // Each run has its own Herald and clock, so that time starts over and this file's
    // workers never carry other files' workspaces far into the future.
    let herald: Herald;
    let clock: ManualClock;

    it("holds for random event streams, clock moves and definitions", async () => {
      const runs = Number(process.env.HERALD_AGREEMENT_RUNS ?? 30);

      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 2, maxLength: 8 }),
          fc.array(step, { minLength: 4, maxLength: 14 }),
          fc.integer({ min: 2, max: 4 }).chain((n) =>
            fc.tuple(
              ...Array.from({ length: n }, (_, i) =>
                condition(
                  start,
                  Array.from({ length: i }, (_, j) => `seg_${j}`),
                ),
              ),
            ),
          ),
          async (early, late, definitions) => {
            for (const definition of definitions)
              assert.deepEqual(
                conditionErrors(definition),
                [],
                JSON.stringify(definition),
              );
            clock = new ManualClock(start);
            herald = await startTestHerald(db(), { clock });
            const ws = await createTestWorkspace(db(), clock);
            const computer = new SegmentComputer({
              db: db(),
              clock,
              logger: silentLogger,
              batchSize: 3,
              workspaceId: ws.id,
            });
            const timers = new SegmentTimers({
              db: db(),
              clock,
              logger: silentLogger,
              workspaceId: ws.id,
            });
            await insertList(db(), ws.id, {
              id: listId,
              name: "Newsletter",
              description: "",
              public: true,
              doubleOptIn: false,
              createdAt: clock.now(),
            });
            await db().tx((tx) =>
              insertScore(
                tx,
                ws.id,
                { name: "engagement", description: "", thresholds: [5] },
                clock.now(),
              ),
            );
            const profileOf = async (userId: string) => {
              const [row] = await db().query<{ profile_id: string }>(
                "select profile_id from identities where workspace_id = $1 and type = 'user_id' and value = $2",
                [ws.id, userId],
              );
              return row?.profile_id;
            };
            const run = async (s: Step) => {
              if (s.kind === "events") {
                const now = clock.now().getTime();
                const batch = s.events.map(({ ago: a, ...e }) => ({
                  ...e,
                  timestamp: new Date(now - Number(a)).toISOString(),
                }));
                const response = await fetch(`${herald.url}/v1/batch`, {
                  method: "POST",
                  headers: { "content-type": "application/json" },
                  body: JSON.stringify({ writeKey: ws.writeKey, batch }),
                });
                assert.equal(response.status, 200, await response.text());
              } else if (s.kind === "advance") {
                clock.advance(s.ms);
              } else if (s.kind === "suppress") {
                await db().tx(async (tx) => {
                  const now = clock.now();
                  if (s.add)
                    await upsertSuppression(
                      tx,
                      ws.id,
                      {
                        channel: s.channel,
                        address: s.address,
                        reason: "manual",
                        source: "test",
                      },
                      now,
                    );
                  else await deleteSuppression(tx, ws.id, s.channel, s.address);
                  await reachabilityChanged(tx, ws.id, {
                    channel: s.channel,
                    address: s.address,
                    now,
                  });
                });
              } else if (s.kind === "push" || s.kind === "telegram") {
                const profileId = await profileOf(s.user);
                if (!profileId) return;
                await db().tx(async (tx) => {
                  const now = clock.now();
                  const endpoint = `https://push.test/${s.user}`;
                  const chat = `chat-${s.user}`;
                  if (s.kind === "push" && s.add)
                    await upsertPushSubscription(
                      tx,
                      ws.id,
                      {
                        endpoint,
                        profile_id: profileId,
                        p256dh: "key",
                        auth: "auth",
                        user_agent: null,
                      },
                      now,
                    );
                  else if (s.kind === "push")
                    await deletePushSubscription(tx, ws.id, endpoint);
                  else if (s.add)
                    await linkTelegramChat(tx, ws.id, {
                      profileId,
                      chatId: chat,
                      username: null,
                      now,
                    });
                  else await unlinkTelegramChat(tx, ws.id, chat);
                  await reachabilityChanged(tx, ws.id, {
                    channel: s.kind,
                    profileId,
                    now,
                  });
                });
              } else {
                const profileId = await profileOf(s.user);
                if (!profileId) return;
                await db().tx(async (tx) => {
                  const now = clock.now();
                  if (s.kind === "tag") {
                    if (s.add)
                      await addTag(tx, ws.id, { profileId, tag: s.tag, now });
                    else
                      await removeTag(tx, ws.id, {
                        profileId,
                        tag: s.tag,
                        now,
                      });
                  } else if (s.kind === "score") {
                    await addScore(tx, ws.id, {
                      profileId,
                      score: "engagement",
                      points: s.points,
                      now,
                      ...(s.expiresAfterDays
                        ? { expiresAfterDays: s.expiresAfterDays }
                        : {}),
                    });
                  } else if (s.kind === "list") {
                    await changeListStatus(tx, ws.id, listId, {
                      profileIds: [profileId],
                      status: s.status,
                      now,
                    });
                  }
                });
              }
              await settleWorkspace(herald, ws.id, [computer, timers]);
            };
            const check = async (when: string) => {
              for (const [i] of definitions.entries()) {
                const id = `seg_${i}`;
                const segment = await getSegment(db(), ws.id, id);
                if (!segment) continue;
                const rows = await db().query<{ profile_id: string }>(
                  "select profile_id from segment_members where workspace_id = $1 and segment_id = $2",
                  [ws.id, id],
                );
                const incremental = rows.map((r) => r.profile_id).sort();
                const full = [
                  ...(await matchingProfiles(db(), ws.id, segment.definition, {
                    now: clock.now(),
                    rfm: segment.params.rfm,
                  })),
                ]
                  .filter(([, r]) => r.member)
                  .map(([profileId]) => profileId)
                  .sort();
                assert.deepEqual(
                  incremental,
                  full,
                  `${when}, at ${clock.now().toISOString()}: ${id} = ${JSON.stringify(segment.definition)}`,
                );
              }
            };

            try {
              for (const s of early) await run(s);
              // Segments are created midway, so that bulk computation, its timers and its
              // frozen RFM cut points are exercised too.
              for (const [i, definition] of definitions.entries())
                await db().tx((tx) =>
                  insertSegment(
                    tx,
                    ws.id,
                    {
                      id: `seg_${i}`,
                      name: `s${i}`,
                      description: "",
                      definition,
                    },
                    clock.now(),
                  ),
                );
              await settleWorkspace(herald, ws.id, [computer, timers]);
              await check("after creation");
              for (const [i, s] of late.entries()) {
                await run(s);
                await check(`after step ${i} (${s.kind})`);
              }
            } finally {
              await herald.close();
            }
          },
        ),
        { numRuns: runs, endOnFailure: false },
      );
    });
  },
);
