import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { prefixedId } from "../ids.ts";
import { filterErrors, type PropertyFilter } from "../segments/condition.ts";

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
  body: Record<string, unknown>,
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

/** Checks a score body (`partial` for updates, where the name is not given). */
export function parseScore(
  body: Record<string, unknown>,
  partial: boolean,
  base = "/body",
): Partial<Pick<Score, "name" | "description" | "thresholds">> {
  const errors: ErrorDetail[] = [];
  const out: Partial<Pick<Score, "name" | "description" | "thresholds">> = {};
  if (!partial) {
    const problem = scoreNameProblem(body.name);
    if (problem) errors.push({ path: `${base}/name`, message: problem });
    else out.name = body.name as string;
  }
  if (body.description !== undefined) {
    if (typeof body.description !== "string" || body.description.length > 2000)
      errors.push({
        path: `${base}/description`,
        message: "must be a string of at most 2000 characters",
      });
    else out.description = body.description;
  }
  if (body.thresholds !== undefined) {
    const t = body.thresholds;
    if (
      !Array.isArray(t) ||
      t.length > 20 ||
      t.some((v) => typeof v !== "number" || !Number.isInteger(v))
    )
      errors.push({
        path: `${base}/thresholds`,
        message: "must be a list of at most 20 integers",
      });
    else out.thresholds = [...new Set(t as number[])].sort((a, b) => a - b);
  }
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

/** Checks a scoring rule body. */
export function parseScoreRule(
  body: Record<string, unknown>,
  base = "/body",
): Pick<ScoreRule, "event" | "where" | "points" | "expiresAfterDays"> {
  const errors: ErrorDetail[] = [];
  if (
    typeof body.event !== "string" ||
    body.event.trim() === "" ||
    body.event.length > 200
  )
    errors.push({
      path: `${base}/event`,
      message: "must be an event name of 1 to 200 characters",
    });
  errors.push(...filterErrors(body.where, base));
  if (
    typeof body.points !== "number" ||
    !Number.isInteger(body.points) ||
    body.points === 0 ||
    Math.abs(body.points) > 100_000
  )
    errors.push({
      path: `${base}/points`,
      message: "must be a non-zero integer from -100000 to 100000",
    });
  const expires = body.expiresAfterDays;
  if (
    expires !== undefined &&
    expires !== null &&
    (typeof expires !== "number" ||
      !Number.isInteger(expires) ||
      expires < 1 ||
      expires > 3650)
  )
    errors.push({
      path: `${base}/expiresAfterDays`,
      message: "must be an integer from 1 to 3650, or null",
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
    event: (body.event as string).trim(),
    where: (body.where as PropertyFilter[] | undefined) ?? [],
    points: body.points as number,
    expiresAfterDays: (expires as number | null | undefined) ?? null,
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
