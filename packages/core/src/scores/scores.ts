import Type from "typebox";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { prefixedId } from "../ids.ts";
import {
  filterErrors,
  PropertyFilters,
  type PropertyFilter,
} from "../segments/condition.ts";

/**
 * Lead scores: named totals of points (engagement, purchase intent) that scoring rules
 * award for events (+5 for viewing the pricing page, +1 per email open, +10 per order) and
 * flows award directly. A rule's points may expire after some days, so a score reflects
 * recent behaviour. When a profile's total rises to one of the score's thresholds Herald
 * records a `Score Threshold Reached` event that flows can start from.
 */

/** The event recorded when a score rises to a threshold. */
export const scoreThresholdEvent = "Score Threshold Reached";

/** A named score. */
export interface Score {
  name: string;
  description: string;
  /** Totals that emit `Score Threshold Reached` when reached from below. */
  thresholds: number[];
  createdAt: Date;
  updatedAt: Date;
}

/** A scoring rule. */
export interface ScoreRule {
  id: string;
  score: string;
  event: string;
  where: PropertyFilter[];
  points: number;
  /** Points awarded by this rule count for this many days; null: forever. */
  expiresAfterDays: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A new scoring rule's id. */
export const newScoreRuleId = (): string => prefixedId("scr");

const namePattern = /^[A-Za-z0-9_][A-Za-z0-9_ -]{0,63}$/;

/** The problem with a score name, if any. */
export function scoreNameProblem(value: unknown): string | undefined {
  return typeof value === "string" && namePattern.test(value)
    ? undefined
    : "must be 1 to 64 letters, digits, spaces, _ or - (starting with a letter, digit or _)";
}

/** A score name; throws `invalid` naming `path` when it is not one. */
export function validateScoreName(value: unknown, path: string): string {
  const problem = scoreNameProblem(value);
  if (problem)
    throw new DomainError("invalid", `the score name ${problem}`, [
      { path, message: problem },
    ]);
  return value as string;
}

function fail(errors: ErrorDetail[], what: string): void {
  const first = errors[0];
  if (first)
    throw new DomainError(
      "invalid",
      `the ${what} is invalid: ${first.path} ${first.message}`,
      errors,
    );
}

function unknownKeys(
  body: object,
  base: string,
  allowed: string[],
): ErrorDetail[] {
  return Object.keys(body)
    .filter((key) => !allowed.includes(key))
    .map((key) => ({
      path: `${base}/${key}`,
      message: `is not a field here (${allowed.join(", ")})`,
    }));
}

const Thresholds = Type.Array(
  Type.Integer({
    minimum: -Number.MAX_SAFE_INTEGER,
    maximum: Number.MAX_SAFE_INTEGER,
  }),
  {
    maxItems: 20,
    description:
      "totals that record `Score Threshold Reached` when reached from below",
  },
);

/** The body that creates a score. */
export const NewScore = Type.Object({
  name: Type.String({
    maxLength: 64,
    description:
      "1 to 64 letters, digits, spaces, _ or - (starting with a letter, digit or _)",
  }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  thresholds: Type.Optional(Thresholds),
});
export type NewScore = Type.Static<typeof NewScore>;

/** The body that changes a score: its description or thresholds (not its name). */
export const ScoreUpdate = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  thresholds: Type.Optional(Thresholds),
});
export type ScoreUpdate = Type.Static<typeof ScoreUpdate>;

/**
 * Checks a score body beyond its schema (`partial` for updates, where the name is not
 * given): a valid name, no unknown fields; thresholds come back distinct and ascending.
 */
export function parseScore(
  body: Partial<NewScore>,
  partial: boolean,
  base = "/body",
): Partial<Pick<Score, "name" | "description" | "thresholds">> {
  const errors: ErrorDetail[] = [];
  const out: Partial<Pick<Score, "name" | "description" | "thresholds">> = {};
  if (!partial) {
    const problem = scoreNameProblem(body.name);
    if (problem) errors.push({ path: `${base}/name`, message: problem });
    else out.name = body.name;
  }
  if (body.description !== undefined) out.description = body.description;
  if (body.thresholds !== undefined)
    out.thresholds = [...new Set(body.thresholds)].sort((a, b) => a - b);
  errors.push(
    ...unknownKeys(body, base, [
      ...(partial ? [] : ["name"]),
      "description",
      "thresholds",
    ]),
  );
  fail(errors, "score");
  return out;
}

/** The body that creates a scoring rule. */
export const NewScoreRule = Type.Object({
  event: Type.String({
    maxLength: 200,
    description: "the name of the events that award the points",
  }),
  where: Type.Optional(PropertyFilters),
  points: Type.Integer({
    minimum: -100_000,
    maximum: 100_000,
    description: "non-zero; negative points subtract",
  }),
  expiresAfterDays: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 3650 }), Type.Null()]),
  ),
});
export type NewScoreRule = Type.Static<typeof NewScoreRule>;

/** Checks a scoring rule body beyond its schema: an event name, valid filters, non-zero points. */
export function parseScoreRule(
  body: NewScoreRule,
  base = "/body",
): Pick<ScoreRule, "event" | "where" | "points" | "expiresAfterDays"> {
  const errors: ErrorDetail[] = [];
  const event = body.event.trim();
  if (event === "")
    errors.push({
      path: `${base}/event`,
      message: "must be an event name of 1 to 200 characters",
    });
  errors.push(...filterErrors(body.where, base));
  if (body.points === 0)
    errors.push({
      path: `${base}/points`,
      message: "must be a non-zero integer from -100000 to 100000",
    });
  errors.push(
    ...unknownKeys(body, base, [
      "event",
      "where",
      "points",
      "expiresAfterDays",
    ]),
  );
  fail(errors, "scoring rule");
  return {
    event,
    // filterErrors found each filter valid.
    where: (body.where as PropertyFilter[] | undefined) ?? [],
    points: body.points,
    expiresAfterDays: body.expiresAfterDays ?? null,
  };
}

/** The thresholds a score passed on its way from `before` up to `after`. */
export function crossedThresholds(
  thresholds: readonly number[],
  before: number,
  after: number,
): number[] {
  return thresholds.filter((t) => before < t && t <= after);
}
