import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDomainError } from "../domain-error.ts";
import { applyEvent, emptyProfile } from "../profiles/profile.ts";
import type { SegmentCondition } from "./condition.ts";
import {
  changedKeys,
  dependenciesOf,
  evaluationOrder,
} from "./dependencies.ts";

describe("the dependency index", () => {
  it("lists what a definition reads", () => {
    const keys = dependenciesOf({
      type: "and",
      conditions: [
        { type: "trait", trait: "address.city", op: "exists" },
        { type: "event", event: "Product Viewed" },
        {
          type: "attribute",
          attribute: "daysSinceLastOrder",
          op: "gte",
          value: 90,
        },
        { type: "reachable", channel: "email" },
        { type: "not", condition: { type: "segment", segmentId: "seg_a" } },
        { type: "message", action: "clicked" },
      ],
    });
    assert.deepEqual([...keys].sort(), [
      "attr:email",
      "consent:email",
      "event:Email Link Clicked",
      "event:Product Viewed",
      "orders",
      "reach:email",
      "segment:seg_a",
      "trait:address",
    ]);
  });

  it("reads the events of every channel a message condition names", () => {
    const keys = (condition: SegmentCondition) =>
      [...dependenciesOf(condition)].sort();
    assert.deepEqual(
      keys({ type: "message", action: "clicked", channel: "any" }),
      ["event:Email Link Clicked", "event:SMS Link Clicked"],
    );
    assert.deepEqual(
      keys({ type: "message", action: "opened", channel: "any" }),
      ["event:Email Opened", "event:Push Opened"],
    );
    assert.deepEqual(
      keys({ type: "message", action: "opened", channel: "push" }),
      ["event:Push Opened"],
    );
  });

  it("names what an event changed on a profile", () => {
    const before = emptyProfile("ws", "p", new Date("2026-01-01"));
    const after = applyEvent(before, {
      messageId: "m",
      type: "identify",
      name: null,
      userId: "u",
      anonymousId: null,
      properties: {},
      traits: { plan: "pro", email: "A@x.test", email_consent: true },
      context: {},
      timestamp: new Date("2026-01-02"),
      receivedAt: new Date("2026-01-02"),
      source: "api",
      silent: false,
    });
    assert.deepEqual(changedKeys(before, after).sort(), [
      "attr:email",
      "attr:firstSeenAt",
      "attr:lastSeenAt",
      "consent:email",
      "trait:email",
      "trait:email_consent",
      "trait:plan",
    ]);
  });

  it("orders segments after those they use, and refuses a circle", () => {
    const ref = (id: string): SegmentCondition => ({
      type: "segment",
      segmentId: id,
    });
    assert.deepEqual(
      evaluationOrder(
        new Map([
          ["c", ref("b")],
          ["b", ref("a")],
          ["a", { type: "tag", tag: "x" }],
        ]),
      ),
      ["a", "b", "c"],
    );
    assert.throws(
      () =>
        evaluationOrder(
          new Map([
            ["a", ref("b")],
            ["b", ref("a")],
          ]),
        ),
      (error) =>
        isDomainError(error, "conflict") && /a → b → a/.test(error.message),
    );
  });
});
