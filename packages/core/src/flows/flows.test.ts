import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { advance, type Run, type RunFacts } from "./advance.ts";
import type { FlowDefinition } from "./definition.ts";
import { mayEnter, reactionTo, triggerMatches } from "./entry.ts";
import {
  nextDateTrigger,
  nextLocalTime,
  replenishmentDate,
} from "./schedule.ts";
import { validateFlow } from "./validate.ts";

const hour = 3_600_000;
const day = 24 * hour;

const abandonedCart: FlowDefinition = {
  name: "Abandoned cart",
  trigger: { type: "event", event: "Product Added", correlation: "cart_id" },
  start: "wait1",
  nodes: {
    wait1: {
      type: "wait_for_event",
      event: "Order Completed",
      matchCorrelation: true,
      timeout: { hours: 1 },
      next: "thanks",
      timeoutNext: "email1",
    },
    email1: {
      type: "send",
      channel: "email",
      templateId: "cart-1",
      next: "vip",
    },
    vip: {
      type: "split",
      branches: [
        {
          label: "vip",
          when: { property: "profile.orderCount", op: "gte", value: 3 },
          next: "coupon",
        },
      ],
      otherwise: "done",
    },
    coupon: { type: "coupon", poolId: "VIP10", next: "email2" },
    email2: {
      type: "send",
      channel: "email",
      templateId: "cart-2",
      next: "done",
    },
    thanks: {
      type: "send",
      channel: "email",
      templateId: "thanks",
      transactional: true,
      next: "done",
    },
    done: { type: "exit" },
  },
  settings: {
    goal: { event: "Order Completed", matchCorrelation: true },
    reentry: { policy: "one_active_per_key" },
  },
};

const start = new Date("2026-05-04T10:00:00Z");

function newRun(over: Partial<Run> = {}): Run {
  return {
    id: "run-1",
    flowId: "f",
    version: 1,
    profileId: "p",
    status: "active",
    nodeId: "",
    wakeAt: null,
    waitingFor: null,
    correlation: "cart-9",
    context: {
      trigger: {
        name: "Product Added",
        properties: { cart_id: "cart-9" },
        timestamp: start.toISOString(),
      },
      coupons: {},
      data: {},
    },
    visits: {},
    enteredAt: start,
    exitReason: null,
    ...over,
  };
}

function facts(profile: Record<string, unknown> = {}): RunFacts {
  return {
    roots: { event: { cart_id: "cart-9" }, profile, run: {} },
    segments: new Set(),
    eventsSinceEntry: [],
    timeZone: "Europe/Berlin",
    daysOfUse: new Map(),
    shopperIntervalDays: null,
  };
}

describe("advance", () => {
  it("waits for the order, then times out into the first email", () => {
    const started = advance(
      abandonedCart,
      newRun(),
      { kind: "start" },
      facts(),
      start,
    );
    assert.equal(started.run.status, "waiting");
    assert.equal(started.run.wakeAt?.toISOString(), "2026-05-04T11:00:00.000Z");
    assert.deepEqual(started.effects, []);

    const early = advance(
      abandonedCart,
      started.run,
      { kind: "wake" },
      facts(),
      new Date(start.getTime() + 30 * 60_000),
    );
    assert.equal(early.run, started.run, "not due yet: nothing happens");

    const due = advance(
      abandonedCart,
      started.run,
      { kind: "wake" },
      facts({ orderCount: 1 }),
      new Date(start.getTime() + hour),
    );
    assert.deepEqual(
      due.effects.map((e) => [e.kind, e.key]),
      [["send", "run-1:email1:1"]],
    );
    assert.deepEqual(
      due.steps.map((s) => [s.nodeId, s.branch]),
      [
        ["wait1", "timeout"],
        ["email1", null],
        ["vip", "otherwise"],
        ["done", null],
      ],
    );
    assert.equal(due.run.status, "completed");
  });

  it("takes the event branch for an order of the same cart, and ignores another cart's", () => {
    const waiting = advance(
      abandonedCart,
      newRun(),
      { kind: "start" },
      facts(),
      start,
    ).run;
    const other = advance(
      abandonedCart,
      waiting,
      {
        kind: "event",
        event: {
          name: "Order Completed",
          properties: { cart_id: "cart-1" },
          timestamp: start,
        },
      },
      facts(),
      start,
    );
    assert.equal(other.run.status, "waiting");
    const same = advance(
      abandonedCart,
      waiting,
      {
        kind: "event",
        event: {
          name: "Order Completed",
          properties: { cart_id: "cart-9" },
          timestamp: start,
        },
      },
      facts(),
      start,
    );
    assert.deepEqual(
      same.effects.map((e) => e.kind === "send" && e.templateId),
      ["thanks"],
    );
  });

  it("stops at a coupon node so the worker can issue the code, then continues", () => {
    const waiting = advance(
      abandonedCart,
      newRun(),
      { kind: "start" },
      facts(),
      start,
    ).run;
    const vip = advance(
      abandonedCart,
      waiting,
      { kind: "wake" },
      facts({ orderCount: 5 }),
      new Date(start.getTime() + hour),
    );
    assert.deepEqual(
      vip.effects.map((e) => e.kind),
      ["send", "coupon"],
    );
    assert.deepEqual([vip.run.status, vip.run.nodeId], ["active", "email2"]);
    const issued = {
      ...vip.run,
      context: { ...vip.run.context, coupons: { VIP10: "VIP10-X7Q2" } },
    };
    const resumed = advance(
      abandonedCart,
      issued,
      { kind: "wake" },
      facts({ orderCount: 5 }),
      new Date(start.getTime() + hour),
    );
    assert.deepEqual(
      resumed.effects.map((e) => e.kind === "send" && e.key),
      ["run-1:email2:1"],
    );
    assert.equal(resumed.run.status, "completed");
  });

  it("splits at random the same way every time for the same run", () => {
    const ab: FlowDefinition = {
      name: "A/B",
      trigger: { type: "api" },
      start: "ab",
      nodes: {
        ab: {
          type: "random",
          branches: [
            { label: "A", percent: 50, next: "a" },
            { label: "B", percent: 50, next: "b" },
          ],
        },
        a: { type: "exit" },
        b: { type: "exit" },
      },
    };
    const branches = Array.from(
      { length: 400 },
      (_, i) =>
        advance(ab, newRun({ id: `r${i}` }), { kind: "start" }, facts(), start)
          .steps[0]?.branch,
    );
    const a = branches.filter((b) => b === "A").length;
    assert.ok(a > 160 && a < 240, `${a} of 400 took A`);
    assert.equal(
      advance(ab, newRun({ id: "r7" }), { kind: "start" }, facts(), start)
        .steps[0]?.branch,
      branches[7],
    );
  });
});

describe("entry", () => {
  it("matches triggers, applies re-entry, and ends runs on their goal", () => {
    assert.ok(
      triggerMatches(
        { type: "segment_entered", segmentId: "s1" },
        {
          name: "Segment Entered",
          properties: { segment_id: "s1" },
          timestamp: start,
        },
      ),
    );
    assert.ok(
      !triggerMatches(
        {
          type: "event",
          event: "Product Added",
          filters: [{ property: "price", op: "gte", value: 100 }],
        },
        {
          name: "Product Added",
          properties: { price: "40" },
          timestamp: start,
        },
      ),
    );
    assert.equal(
      mayEnter(undefined, { lastEnteredAt: start, activeRun: false }, start),
      false,
    );
    assert.equal(
      mayEnter(
        { policy: "once_per", days: 30 },
        {
          lastEnteredAt: new Date(start.getTime() - 31 * day),
          activeRun: false,
        },
        start,
      ),
      true,
    );
    assert.equal(
      mayEnter(
        { policy: "one_active_per_key" },
        { lastEnteredAt: start, activeRun: true },
        start,
      ),
      false,
    );
    const run = newRun({ status: "waiting", nodeId: "wait1" });
    assert.equal(
      reactionTo(abandonedCart, run, {
        name: "Order Completed",
        properties: { cart_id: "cart-9", revenue: 80 },
        timestamp: start,
      }),
      "goal",
    );
    assert.equal(
      reactionTo(abandonedCart, run, {
        name: "Order Completed",
        properties: { order_id: "o1" },
        timestamp: start,
      }),
      "goal",
      "an order naming no cart counts",
    );
  });
});

describe("schedule", () => {
  it("finds the next 10:00 on a weekday in the shopper's zone", () => {
    // Saturday 2026-05-09 12:00 UTC = 14:00 in Berlin; the next weekday 10:00 is Monday 08:00 UTC.
    assert.equal(
      nextLocalTime(
        new Date("2026-05-09T12:00:00Z"),
        "10:00",
        "Europe/Berlin",
        [1, 2, 3, 4, 5],
      ).toISOString(),
      "2026-05-11T08:00:00.000Z",
    );
    // 12:00 UTC is 08:00 in New York (EDT): 10:00 is later the same day.
    assert.equal(
      nextLocalTime(
        new Date("2026-05-09T12:00:00Z"),
        "10:00",
        "America/New_York",
      ).toISOString(),
      "2026-05-09T14:00:00.000Z",
    );
  });

  it("celebrates a birthday seven days ahead every year, and 29 February on 28 February", () => {
    const options = {
      offsetDays: -7,
      yearly: true,
      time: "09:00",
      timeZone: "UTC",
      after: new Date("2026-06-01T00:00:00Z"),
    };
    assert.equal(
      nextDateTrigger("1990-06-20", options)?.toISOString(),
      "2026-06-13T09:00:00.000Z",
    );
    assert.equal(
      nextDateTrigger("1990-05-20", options)?.toISOString(),
      "2027-05-13T09:00:00.000Z",
    );
    assert.equal(
      nextDateTrigger("2000-02-29", {
        ...options,
        offsetDays: 0,
      })?.toISOString(),
      "2027-02-28T09:00:00.000Z",
    );
  });

  it("reminds to reorder 100 capsules at one a day on day 92 (5 days shipping, 3 to decide)", () => {
    const at = replenishmentDate(
      start,
      [{ quantity: 100, daysOfUsePerUnit: 1 }],
      {
        shippingDays: 5,
        leadDays: 3,
        shopperIntervalDays: null,
        fallbackDays: 30,
      },
    );
    assert.equal((at.getTime() - start.getTime()) / day, 92);
    const unknown = replenishmentDate(
      start,
      [{ quantity: 2, daysOfUsePerUnit: null }],
      {
        shippingDays: 5,
        leadDays: 0,
        shopperIntervalDays: 40,
        fallbackDays: 30,
      },
    );
    assert.equal(
      (unknown.getTime() - start.getTime()) / day,
      35,
      "the shopper's own interval when the product's is unknown",
    );
  });
});

describe("validateFlow", () => {
  it("accepts a good flow and points at each problem of a bad one", () => {
    assert.deepEqual(
      validateFlow(abandonedCart, {
        templates: new Set(["cart-1", "cart-2", "thanks"]),
        couponPools: new Set(["VIP10"]),
      }).problems,
      [],
    );
    const bad = {
      ...abandonedCart,
      trigger: { type: "event", event: "Product Added" },
      nodes: {
        ...abandonedCart.nodes,
        email1: {
          type: "send",
          channel: "email",
          templateId: "nope",
          next: "missing",
        },
        orphan: { type: "wait", duration: { days: 1 }, next: "done" },
        ab: {
          type: "random",
          branches: [
            { label: "A", percent: 30, next: "done" },
            { label: "B", percent: 30, next: "done" },
          ],
        },
      },
    };
    const messages = validateFlow(bad, {
      templates: new Set(["cart-2", "thanks"]),
    }).problems.map((p) => p.message);
    assert.ok(
      messages.includes(
        "node email1: its next leads to missing, which is not a node",
      ),
      messages.join("\n"),
    );
    assert.ok(
      messages.includes("node ab: the branches add up to 60 %, not 100 %"),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => /node wait1: waits for the same cart/.test(m)),
      messages.join("\n"),
    );
    assert.ok(
      messages.includes("node email1: no template nope"),
      messages.join("\n"),
    );

    const unreachable = validateFlow({
      ...abandonedCart,
      nodes: { ...abandonedCart.nodes, orphan: { type: "exit" } },
    }).problems;
    assert.deepEqual(
      unreachable.map((p) => p.message),
      ["node orphan cannot be reached from wait1"],
    );
    const loop = validateFlow({
      name: "loop",
      trigger: { type: "api" },
      start: "a",
      nodes: {
        a: { type: "tag", action: "add", tag: "x", next: "b" },
        b: { type: "tag", action: "remove", tag: "x", next: "a" },
      },
    }).problems;
    assert.match(loop[0]?.message ?? "", /loop with no wait/);
    const shape = validateFlow({
      name: "x",
      trigger: { type: "api" },
      start: "a",
      nodes: { a: { type: "wait", duration: { days: -1 }, next: "a" } },
    }).problems;
    assert.deepEqual(shape[0], {
      path: "/nodes/a/duration/days",
      message: "node a: must be >= 0",
    });
  });

  it("takes whenCapped on marketing sends only, and says which value it wants", () => {
    const withSend = (send: Record<string, unknown>) =>
      validateFlow({
        name: "x",
        trigger: { type: "api" },
        start: "s",
        nodes: {
          s: {
            type: "send",
            channel: "email",
            templateId: "t",
            next: "e",
            ...send,
          },
          e: { type: "exit" },
        },
      }).problems;
    assert.deepEqual(withSend({ whenCapped: "skip" }), []);
    assert.deepEqual(withSend({ whenCapped: "wait" }), []);
    assert.deepEqual(withSend({ whenCapped: "skip", transactional: true }), [
      {
        path: "/nodes/s/whenCapped",
        message:
          "node s: transactional messages are not held by the frequency cap; remove whenCapped",
      },
    ]);
    const wrong = withSend({ whenCapped: "drop" });
    assert.ok(
      wrong.some((p) => p.path === "/nodes/s/whenCapped"),
      JSON.stringify(wrong),
    );
  });

  it("refuses a schedule in a time zone it does not know, naming the field", () => {
    const zoned = validateFlow({
      name: "x",
      trigger: {
        type: "schedule",
        every: "month",
        start: "2026-01-31T09:00:00Z",
        timeZone: "Mars/Olympus",
      },
      start: "e",
      nodes: { e: { type: "exit" } },
    }).problems;
    assert.deepEqual(
      zoned.map((p) => p.path),
      ["/trigger/timeZone"],
      JSON.stringify(zoned),
    );
  });
});
