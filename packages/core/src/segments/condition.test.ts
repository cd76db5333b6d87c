import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Value from "typebox/value";
import { isDomainError } from "../domain-error.ts";
import {
  conditionErrors,
  SegmentCondition,
  validateCondition,
} from "./condition.ts";

describe("segment condition validation", () => {
  it("accepts a nested tree of every kind of condition, and the schema agrees", () => {
    const tree = {
      type: "and",
      conditions: [
        { type: "trait", trait: "plan", op: "in", values: ["pro", "team"] },
        {
          type: "trait",
          trait: "address.city",
          op: "starts_with",
          value: "Ber",
        },
        {
          type: "trait",
          trait: "birthday",
          op: "anniversary_within_days",
          days: 7,
        },
        { type: "attribute", attribute: "country", op: "equals", value: "DE" },
        {
          type: "attribute",
          attribute: "daysSinceLastOrder",
          op: "gte",
          value: 90,
        },
        {
          type: "attribute",
          attribute: "lastOrderAt",
          op: "more_than_days_ago",
          days: 30,
        },
        {
          type: "or",
          conditions: [
            {
              type: "event",
              event: "Product Viewed",
              where: [{ property: "category", op: "equals", value: "shoes" }],
              count: { op: "at_least", value: 2 },
              withinDays: 7,
            },
            {
              type: "event_time",
              event: "Order Completed",
              which: "last",
              op: "within_last_days",
              days: 30,
            },
            {
              type: "event_without",
              event: "Product Added",
              without: { event: "Order Completed" },
              withinDays: 3,
            },
          ],
        },
        { type: "not", condition: { type: "tag", tag: "vip" } },
        { type: "purchased", category: "shoes", withinDays: 90 },
        { type: "coupon" },
        { type: "rfm", groups: ["champions", "at_risk"] },
        { type: "message", action: "opened", withinDays: 30 },
        { type: "consent", channel: "email", status: "subscribed" },
        { type: "reachable", channel: "sms" },
        { type: "segment", segmentId: "seg_x" },
        { type: "list", listId: "list_y", status: "pending" },
        { type: "score", score: "engagement", op: "gte", value: 10 },
      ],
    };
    assert.deepEqual(conditionErrors(tree), []);
    assert.ok(Value.Check(SegmentCondition, tree));
    assert.equal(validateCondition(tree), tree);
  });

  it("refuses engagement a channel cannot report, saying what it can", () => {
    const at = (definition: unknown) =>
      conditionErrors(definition, "/body/definition").map(
        (e) => `${e.path}: ${e.message}`,
      );
    assert.deepEqual(
      at({ type: "message", action: "clicked", channel: "sms" }),
      [],
    );
    assert.deepEqual(
      at({ type: "message", action: "opened", channel: "push" }),
      [],
    );
    assert.match(
      at({ type: "message", action: "opened", channel: "sms" })[0] ?? "",
      /^\/body\/definition\/action: SMS has no opens: use received or clicked/,
    );
    assert.match(
      at({ type: "message", action: "clicked", channel: "push" })[0] ?? "",
      /^\/body\/definition\/action: web push .* use opened/,
    );
    assert.match(
      at({ type: "message", action: "clicked", channel: "fax" })[0] ?? "",
      /^\/body\/definition\/channel: must be one of email, sms, push, any/,
    );
  });

  it("names the path and the problem of every mistake", () => {
    const errors = conditionErrors(
      {
        type: "and",
        conditions: [
          { type: "trait", trait: "age", op: "gt", value: "eighteen" },
          { type: "event", event: "", withinDays: 0 },
          {
            type: "attribute",
            attribute: "country",
            op: "within_last_days",
            days: 3,
          },
          { type: "tag", tag: "vip", colour: "red" },
          { type: "segmnt", segmentId: "s" },
          { type: "not", condition: { type: "or", conditions: [] } },
          {
            type: "event",
            event: "X",
            where: [{ property: "items.0", op: "exists" }],
          },
        ],
      },
      "/body/definition",
    );
    const at = (path: string) =>
      errors.find((e) => e.path === path)?.message ??
      `(nothing at ${path}: ${JSON.stringify(errors)})`;
    assert.match(at("/body/definition/conditions/0/value"), /must be a number/);
    assert.match(at("/body/definition/conditions/1/event"), /non-empty string/);
    assert.match(
      at("/body/definition/conditions/1/withinDays"),
      /integer from 1/,
    );
    assert.match(at("/body/definition/conditions/2/op"), /does not apply here/);
    assert.match(at("/body/definition/conditions/3/colour"), /not a field/);
    assert.match(
      at("/body/definition/conditions/4/type"),
      /must be one of and, or, not/,
    );
    assert.match(
      at("/body/definition/conditions/5/condition/conditions"),
      /non-empty list/,
    );
    assert.match(
      at("/body/definition/conditions/6/where/0/property"),
      /array indexes/,
    );
  });

  it("refuses trees nested too deep, with a message saying the limit", () => {
    let tree: unknown = { type: "tag", tag: "x" };
    for (let i = 0; i < 12; i++) tree = { type: "not", condition: tree };
    assert.throws(
      () => validateCondition(tree),
      (error) =>
        isDomainError(error, "invalid") &&
        /at most 10 deep/.test(error.details.map((d) => d.message).join()),
    );
  });
});
