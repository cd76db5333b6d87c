import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dayMs,
  nextAnniversary,
  parseDateValue,
  testInstant,
  testJson,
} from "./value-test.ts";

const at = (iso: string) => new Date(iso).getTime();

describe("value tests", () => {
  it("reads ISO dates and date-times as instants, and nothing else", () => {
    assert.equal(parseDateValue("2026-03-01"), at("2026-03-01T00:00:00Z"));
    assert.equal(
      parseDateValue("2026-03-01T12:30"),
      at("2026-03-01T12:30:00Z"),
    );
    assert.equal(
      parseDateValue("2026-03-01 12:30:05.5+02:00"),
      at("2026-03-01T10:30:05.500Z"),
    );
    assert.equal(parseDateValue("2024-02-29"), at("2024-02-29T00:00:00Z"));
    for (const bad of [
      "2025-02-29",
      "2026-04-31",
      "2026-13-01",
      "26-03-01",
      "2026-03-01T24:00",
      "yesterday",
      20260301,
    ])
      assert.equal(parseDateValue(bad), undefined, String(bad));
  });

  it("finds the next anniversary on the UTC calendar, 29 February falling on 1 March", () => {
    assert.equal(
      nextAnniversary(at("1990-06-03"), at("2026-06-01T15:00:00Z")),
      at("2026-06-03"),
    );
    assert.equal(
      nextAnniversary(at("1990-06-03"), at("2026-06-03T23:59:59Z")),
      at("2026-06-03"),
    );
    assert.equal(
      nextAnniversary(at("1990-06-03"), at("2026-06-04T00:00:00Z")),
      at("2027-06-03"),
    );
    assert.equal(
      nextAnniversary(at("2000-02-29"), at("2026-02-01")),
      at("2026-03-01"),
    );
    assert.equal(
      nextAnniversary(at("2000-02-29"), at("2028-02-01")),
      at("2028-02-29"),
    );
  });

  it("flips relative tests exactly at their edges and says when", () => {
    const event = at("2026-01-01T00:00:00Z");
    const edge = event + 90 * dayMs;
    const within = (now: number) =>
      testInstant("within_last_days", event, { days: 90 }, now);
    const ago = (now: number) =>
      testInstant("more_than_days_ago", event, { days: 90 }, now);
    assert.deepEqual(within(edge - 1), { value: true, next: edge });
    assert.deepEqual(within(edge), { value: false, next: null });
    assert.deepEqual(ago(edge - 1), { value: false, next: edge });
    assert.deepEqual(ago(edge), { value: true, next: null });
    // A future date is not "within the last days" until it arrives.
    assert.deepEqual(within(event - 5), { value: false, next: event });
    const birthday = testInstant(
      "anniversary_within_days",
      at("1990-06-10"),
      { days: 7 },
      at("2026-06-01T08:00:00Z"),
    );
    assert.deepEqual(birthday, { value: false, next: at("2026-06-03") });
  });

  it("compares JSON values strictly by type, text ASCII-case-insensitively", () => {
    const now = 0;
    assert.equal(testJson({ op: "equals", value: 30 }, "30", now).value, false);
    assert.equal(testJson({ op: "gt", value: 18 }, "30", now).value, true);
    assert.equal(testJson({ op: "gt", value: 18 }, "thirty", now).value, false);
    assert.equal(
      testJson({ op: "contains", value: "SHO" }, "Shoes", now).value,
      true,
    );
    assert.equal(
      testJson({ op: "contains", value: "É" }, "é", now).value,
      false,
    );
    assert.equal(
      testJson({ op: "not_equals", value: "pro" }, undefined, now).value,
      true,
    );
    assert.equal(testJson({ op: "exists" }, null, now).value, false);
  });
});
