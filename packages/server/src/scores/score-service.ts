import { uuidv7 } from "@herald/core/ids";
import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  crossedThresholds,
  newScoreRuleId,
  parseScore,
  parseScoreRule,
  scoreThresholdEvent,
  validateScoreName,
  type NewScore,
  type NewScoreRule,
  type Score,
  type ScoreRule,
  type ScoreUpdate,
} from "@herald/core/scores/scores";
import type { Database, Queryable, Tx } from "../db/database.ts";
import { appendProfileEvents } from "../events/event-log.ts";
import {
  lockLiveProfile,
  type ProfileDeps,
} from "../profiles/profile-service.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import {
  evaluateProfiles,
  loadCatalog,
} from "../segments/segment-evaluator.ts";
import {
  deleteScore as deleteScoreRow,
  deleteScoreRule as deleteScoreRuleRow,
  ensureScore,
  getScore,
  insertScore,
  insertScoreRule,
  listScoreRules as listScoreRuleRows,
  listScores as listScoreRows,
  updateScore as updateScoreRow,
} from "./scores.sql.ts";
import {
  awardPoints,
  eraseScores,
  exportScores,
  scoresOf,
  type ScoreChange,
} from "./score-points.sql.ts";

/**
 * Scores as flows, the admin API and the event processor use them: named totals with
 * thresholds, the rules that award points for events, points given directly (recording
 * `Score Threshold Reached` for each threshold a total rises to, and re-evaluating the
 * segments on the score in the same transaction), and profiles' totals.
 */

/** A profile's total of one score. */
export interface ProfileScore {
  score: string;
  value: number;
  nextExpiryAt: Date | null;
}

/** Records `Score Threshold Reached` for every threshold a total rose to. */
export async function recordThresholds(
  tx: Tx,
  workspaceId: string,
  record: {
    changes: ScoreChange[];
    scores: ReadonlyMap<string, Score>;
    now: Date;
    silent: (profileId: string) => boolean;
  },
): Promise<void> {
  const { changes, scores, now, silent } = record;
  const events = changes.flatMap((change) =>
    crossedThresholds(
      scores.get(change.score)?.thresholds ?? [],
      change.before,
      change.after,
    ).map((threshold) => ({
      messageId: `herald-score-${uuidv7(now)}`,
      type: "track" as const,
      name: scoreThresholdEvent,
      userId: null,
      anonymousId: null,
      properties: { score: change.score, threshold, value: change.after },
      traits: null,
      context: {},
      timestamp: now,
      receivedAt: now,
      source: "herald" as const,
      silent: silent(change.profileId),
      profileId: change.profileId,
    })),
  );
  if (events.length > 0) await appendProfileEvents(tx, workspaceId, events);
}

/**
 * Adds points (negative to subtract) to a named score of a profile, creating the score if
 * it is new; points expire after `expiresAfterDays` if given. Records `Score Threshold
 * Reached` for each threshold the total rises to, and re-evaluates segments on the score.
 * Resolves to the new total.
 */
export async function addScore(
  tx: Tx,
  workspaceId: string,
  award: {
    profileId: string;
    score: string;
    points: number;
    now: Date;
    expiresAfterDays?: number;
    source?: string;
  },
): Promise<number> {
  const { points, now } = award;
  const score = validateScoreName(award.score, "/score");
  if (!Number.isInteger(points))
    throw new DomainError("invalid", "points must be a whole number", [
      { path: "/points", message: "must be an integer" },
    ]);
  const id = await lockLiveProfile(tx, workspaceId, award.profileId);
  await ensureScore(tx, workspaceId, score, now);
  const changes = await awardPoints(
    tx,
    workspaceId,
    [
      {
        profileId: id,
        score,
        points,
        source: award.source ?? "api",
        expiresAt:
          award.expiresAfterDays === undefined
            ? null
            : new Date(now.getTime() + award.expiresAfterDays * 86_400_000),
      },
    ],
    now,
  );
  const catalog = await loadCatalog(tx, workspaceId);
  await recordThresholds(tx, workspaceId, {
    changes,
    scores: catalog.scores,
    now,
    silent: () => false,
  });
  const change = changes[0];
  if (change && change.before !== change.after)
    await evaluateProfiles(tx, workspaceId, {
      segments: catalog.segments,
      changes: new Map([
        [id, { keys: new Set([`score:${score}`]), silent: false }],
      ]),
      now,
      cause: "membership",
    });
  return change?.after ?? 0;
}

/** A score; not_found if there is none (an invalid name is named at `path`). */
export async function requireScore(
  q: Queryable,
  workspaceId: string,
  name: string,
  path = "/params/name",
): Promise<Score> {
  const score = await getScore(q, workspaceId, validateScoreName(name, path));
  if (!score) throw new DomainError("not_found", `no score "${name}"`);
  return score;
}

/** The workspace's scores. */
export async function listScores(
  db: Database,
  workspaceId: string,
): Promise<Score[]> {
  return listScoreRows(db, workspaceId);
}

/** Creates a named score; conflict when the name is taken. */
export async function createScore(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  body: NewScore,
): Promise<Score> {
  const input = parseScore(body, false);
  const name = input.name ?? "";
  const created = await deps.db.tx((tx) =>
    insertScore(
      tx,
      workspaceId,
      {
        name,
        description: input.description ?? "",
        thresholds: input.thresholds ?? [],
      },
      deps.clock.now(),
    ),
  );
  if (!created)
    throw new DomainError(
      "conflict",
      `a score named "${name}" exists already`,
      [{ path: "/body/name", message: "is taken" }],
    );
  return requireScore(deps.db, workspaceId, name);
}

/** Changes a score's description or thresholds. */
export async function updateScore(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  name: string,
  body: ScoreUpdate,
): Promise<Score> {
  const score = await requireScore(deps.db, workspaceId, name);
  const input = parseScore(body, true);
  await deps.db.tx((tx) =>
    updateScoreRow(tx, workspaceId, {
      name: score.name,
      ...input,
      at: deps.clock.now(),
    }),
  );
  return requireScore(deps.db, workspaceId, score.name);
}

/** Deletes a score with its rules and every profile's points; resolves to its name. */
export async function deleteScore(
  db: Database,
  workspaceId: string,
  name: string,
): Promise<string> {
  const score = await requireScore(db, workspaceId, name);
  await db.tx((tx) => deleteScoreRow(tx, workspaceId, score.name));
  return score.name;
}

/** A score's rules. */
export async function listScoreRules(
  db: Database,
  workspaceId: string,
  name: string,
): Promise<ScoreRule[]> {
  const score = await requireScore(db, workspaceId, name);
  return listScoreRuleRows(db, workspaceId, score.name);
}

/** Creates a rule that awards points to a score for matching events. */
export async function createScoreRule(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  name: string,
  body: NewScoreRule,
): Promise<ScoreRule> {
  const score = await requireScore(deps.db, workspaceId, name);
  const input = parseScoreRule(body);
  const now = deps.clock.now();
  const rule: ScoreRule = {
    id: newScoreRuleId(),
    score: score.name,
    ...input,
    createdAt: now,
    updatedAt: now,
  };
  await deps.db.tx((tx) => insertScoreRule(tx, workspaceId, rule, now));
  return rule;
}

/** Deletes a scoring rule (points it gave stay until they expire); not_found if none. */
export async function deleteScoreRule(
  db: Database,
  workspaceId: string,
  rule: { score: string; id: string },
): Promise<void> {
  const score = await requireScore(db, workspaceId, rule.score);
  const deleted = await db.tx((tx) =>
    deleteScoreRuleRow(tx, workspaceId, score.name, rule.id),
  );
  if (!deleted)
    throw new DomainError(
      "not_found",
      `no rule ${rule.id} on score "${score.name}"`,
    );
}

async function scoresOfProfile(
  db: Database,
  workspaceId: string,
  profileId: string,
): Promise<ProfileScore[]> {
  return (await scoresOf(db, workspaceId, profileId)).map((row) => ({
    score: row.score,
    value: row.value,
    nextExpiryAt: row.next_expiry_at,
  }));
}

/** The score totals of the profile an id names (following merges). */
export async function listProfileScores(
  deps: Pick<ProfileDeps, "db" | "profiles">,
  workspaceId: string,
  profileId: string,
): Promise<ProfileScore[]> {
  const profile = await resolveProfile(deps.profiles, workspaceId, profileId);
  return scoresOfProfile(deps.db, workspaceId, profile.id);
}

/**
 * Gives a profile points on an existing score from the API (not_found naming
 * `/body/score` when the workspace has no such score); resolves to the profile's totals.
 */
export async function awardProfilePoints(
  deps: ProfileDeps,
  workspaceId: string,
  award: {
    profileId: string;
    score: string;
    points: number;
    expiresAfterDays?: number | undefined;
  },
): Promise<ProfileScore[]> {
  const { points, expiresAfterDays } = award;
  const name = validateScoreName(award.score, "/body/score");
  const profile = await resolveProfile(
    deps.profiles,
    workspaceId,
    award.profileId,
  );
  await requireScore(deps.db, workspaceId, name).catch(() => {
    throw new DomainError(
      "not_found",
      `no score "${name}"; create it with POST /api/scores first`,
      [{ path: "/body/score", message: "is not a score of this workspace" }],
    );
  });
  await deps.db.tx((tx) =>
    addScore(tx, workspaceId, {
      profileId: profile.id,
      score: name,
      points,
      now: deps.clock.now(),
      source: "api",
      ...(expiresAfterDays === undefined ? {} : { expiresAfterDays }),
    }),
  );
  return scoresOfProfile(deps.db, workspaceId, profile.id);
}

/** Privacy export and erasure of profiles' scores and points. */
export const scorePersonalData: PersonalData = {
  name: "scores",
  export: (q, workspaceId, ids) => exportScores(q, workspaceId, ids),
  erase: (tx, workspaceId, ids) => eraseScores(tx, workspaceId, ids),
};
