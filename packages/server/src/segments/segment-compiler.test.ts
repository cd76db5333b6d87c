import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import {
  parseDateValue,
  testJson,
  type ValueTest,
} from "@herald/core/segments/value-test";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  jsonTest,
  lazyParam,
  SqlParams,
  type CompileContext,
} from "./segment-compiler.ts";

/**
 * The value tests of segment conditions mean the same in core (incremental evaluation,
 * rules) and in the compiled SQL (bulk computation, previews), for any JSON value: same
 * answer, and the same next instant a time-relative answer changes.
 */

const now = new Date("2026-06-01T10:30:00.000Z");

const dateText = fc
  .record({
    year: fc.integer({ min: 990, max: 2100 }),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.integer({ min: 0, max: 32 }),
    time: fc.option(
      fc.record({
        sep: fc.constantFrom("T", " "),
        hour: fc.integer({ min: 0, max: 24 }),
        minute: fc.integer({ min: 0, max: 60 }),
        second: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
        ms: fc.option(fc.constantFrom("5", "05", "123", "1234"), {
          nil: undefined,
        }),
        zone: fc.constantFrom("", "Z", "+02:00", "-05:30", "+14:00", "+24:00"),
      }),
      { nil: undefined },
    ),
  })
  .map(({ year, month, day, time }) => {
    const two = (n: number) => String(n).padStart(2, "0");
    let text = `${String(year).padStart(4, "0")}-${two(month)}-${two(day)}`;
    if (time) {
      text += `${time.sep}${two(time.hour)}:${two(time.minute)}`;
      if (time.second !== undefined) {
        text += `:${two(time.second)}`;
        if (time.ms) text += `.${time.ms}`;
      }
      text += time.zone;
    }
    return text;
  });

const nearNow = fc
  .integer({ min: -800, max: 800 })
  .map((d) => new Date(now.getTime() + d * 43_200_000).toISOString());

// Instants on and beside the edges of the relative tests' windows.
const edgeDates = fc
  .record({
    days: fc.constantFrom(0, 1, 7, 30, 90, 365),
    sign: fc.constantFrom(-1, 1),
    delta: fc.constantFrom(-1, 0, 1),
  })
  .map(({ days, sign, delta }) =>
    new Date(now.getTime() + sign * days * 86_400_000 + delta).toISOString(),
  );

const words = [
  "pro",
  "Pro",
  "PRO",
  "shoes",
  "Shoes",
  "é",
  "É",
  "İ",
  "i",
  "ß",
  "30",
];

const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...words),
  edgeDates,
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, 1, -1, 18, 30, 30.5, 1e21, 0.1),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    "",
    "pro",
    "Pro",
    "PRO",
    "shoes",
    "Shoes",
    "30",
    "30.5",
    "-1",
    "1e3",
    "é",
    "É",
    "İstanbul",
    "straße",
  ),
  fc.string({ maxLength: 6 }),
  dateText,
  nearNow,
  fc.constant({ nested: "x" }),
  fc.constant([1, 2]),
);

const scalar = fc.oneof(
  fc.constantFrom<string | number | boolean>(
    "pro",
    "Pro",
    "30",
    30,
    30.5,
    true,
    false,
    0,
    "shoes",
    "",
  ),
  fc.string({ maxLength: 4 }),
);

const valueTest: fc.Arbitrary<ValueTest> = fc.oneof(
  fc.record({
    op: fc.constantFrom("equals" as const, "not_equals" as const),
    value: scalar,
  }),
  fc.record({
    op: fc.constantFrom(
      "contains" as const,
      "not_contains" as const,
      "starts_with" as const,
    ),
    value: fc.oneof(
      fc.constantFrom("pr", "PR", "Sho", "é", "É", "0", "1"),
      fc.string({ minLength: 1, maxLength: 3 }),
    ),
  }),
  fc.record({
    op: fc.constantFrom("in" as const, "not_in" as const),
    values: fc.array(scalar, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ op: fc.constantFrom("exists" as const, "not_exists" as const) }),
  fc.record({
    op: fc.constantFrom(
      "gt" as const,
      "gte" as const,
      "lt" as const,
      "lte" as const,
    ),
    value: fc.oneof(
      fc.constantFrom(-1, 0, 18, 30, 30.5),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    ),
  }),
  fc.record({
    op: fc.constantFrom("before" as const, "after" as const),
    value: nearNow.map((t) => t.slice(0, 10)),
  }),
  fc.record({
    op: fc.constantFrom(
      "within_last_days" as const,
      "more_than_days_ago" as const,
      "within_next_days" as const,
      "anniversary_within_days" as const,
    ),
    days: fc.constantFrom(0, 1, 7, 30, 90, 365),
  }),
);

describeOnDatabases("segment SQL compiler", (db) => {
  async function sqlTest(value: unknown, test: ValueTest) {
    const params = new SqlParams();
    const x = params.add(
      value === undefined ? null : JSON.stringify(value),
      "::jsonb",
    );
    const ctx: CompileContext = {
      params,
      workspace: "null",
      now,
      nowSql: lazyParam(params, now, "::timestamptz"),
      scope: () => "true",
      atom: () => ({ count: "0", oldest: "null", first: "null", last: "null" }),
    };
    const compiled = jsonTest(ctx, `(${x})`, test);
    const [row] = await db().query<{ member: boolean; next: Date | null }>(
      `select ${compiled.member} as member, (${compiled.next ?? "null"})::timestamptz as next`,
      params.values,
    );
    return row;
  }

  it("agrees with core on every value test of any JSON value", async () => {
    await fc.assert(
      fc.asyncProperty(jsonValue, valueTest, async (value, test) => {
        const js = testJson(test, value, now.getTime());
        const sql = await sqlTest(value, test);
        assert.equal(
          sql?.member,
          js.value,
          `member of ${JSON.stringify(value)} ${JSON.stringify(test)}`,
        );
        assert.equal(
          sql?.next?.getTime() ?? null,
          js.next,
          `next of ${JSON.stringify(value)} ${JSON.stringify(test)}`,
        );
      }),
      { numRuns: 1500 },
    );
  });

  it("agrees on every relative test at, just before and just after its edges", async () => {
    const ops = [
      "within_last_days",
      "more_than_days_ago",
      "within_next_days",
      "anniversary_within_days",
    ] as const;
    for (const days of [0, 1, 7, 30, 90, 365])
      for (const op of ops)
        for (const offsetDays of [-days, days, -days - 1, days + 1, 0])
          for (const delta of [-1, 0, 1]) {
            const value = new Date(
              now.getTime() + offsetDays * 86_400_000 + delta,
            ).toISOString();
            const test = { op, days };
            const js = testJson(test, value, now.getTime());
            const sql = await sqlTest(value, test);
            const what = `${value} ${op} ${days}`;
            assert.equal(sql?.member, js.value, what);
            assert.equal(sql?.next?.getTime() ?? null, js.next, what);
          }
  });

  it("reads date text exactly as core does", async () => {
    await fc.assert(
      fc.asyncProperty(dateText, async (text) => {
        const [row] = await db().query<{ at: Date | null }>(
          "select herald_json_time($1::jsonb) as at",
          [JSON.stringify(text)],
        );
        assert.equal(
          row?.at?.getTime() ?? undefined,
          parseDateValue(text),
          text,
        );
      }),
      { numRuns: 400 },
    );
  });
});
