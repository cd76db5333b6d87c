import type { Score, ScoreRule } from "@herald/core/scores/scores";
import type { PropertyFilter } from "@herald/core/segments/condition";
import type { Queryable, Tx } from "../db/database.ts";
import { bumpCatalog } from "../segments/segments.sql.ts";

/**
 * Score definitions (`scores`: names, descriptions, thresholds) and the rules that award
 * points for events (`score_rules`); a change bumps the segment catalog so that processors
 * reload them. Points and totals are in score-points.sql.ts.
 */

/** A row of `scores`. */
type ScoreRow = {
  name: string;
  description: string;
  thresholds: number[];
  created_at: Date;
  updated_at: Date;
};

const toScore = (row: ScoreRow): Score => ({
  name: row.name,
  description: row.description,
  thresholds: row.thresholds,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Creates a score; false when the name is taken. */
export async function insertScore(
  tx: Tx,
  workspaceId: string,
  score: Pick<Score, "name" | "description" | "thresholds">,
  at: Date,
): Promise<boolean> {
  const n = await tx.execute(
    `insert into scores (workspace_id, name, description, thresholds, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $5) on conflict do nothing`,
    [
      workspaceId,
      score.name,
      score.description,
      JSON.stringify(score.thresholds),
      at,
    ],
  );
  if (n > 0) await bumpCatalog(tx, workspaceId);
  return n > 0;
}

/** Changes a score's description or thresholds. */
export async function updateScore(
  tx: Tx,
  workspaceId: string,
  change: {
    name: string;
    description?: string;
    thresholds?: number[];
    at: Date;
  },
): Promise<boolean> {
  const { name, at } = change;
  const n = await tx.execute(
    `update scores set description = coalesce($3, description), thresholds = coalesce($4::jsonb, thresholds),
        updated_at = $5 where workspace_id = $1 and name = $2`,
    [
      workspaceId,
      name,
      change.description ?? null,
      change.thresholds ? JSON.stringify(change.thresholds) : null,
      at,
    ],
  );
  if (n > 0) await bumpCatalog(tx, workspaceId);
  return n > 0;
}

/** Deletes a score with its rules and every profile's points. */
export async function deleteScore(
  tx: Tx,
  workspaceId: string,
  name: string,
): Promise<boolean> {
  const n = await tx.execute(
    "delete from scores where workspace_id = $1 and name = $2",
    [workspaceId, name],
  );
  if (n > 0) await bumpCatalog(tx, workspaceId);
  return n > 0;
}

/** One score. */
export async function getScore(
  q: Queryable,
  workspaceId: string,
  name: string,
): Promise<Score | undefined> {
  const [row] = await q.query<ScoreRow>(
    "select * from scores where workspace_id = $1 and name = $2",
    [workspaceId, name],
  );
  return row && toScore(row);
}

/** The workspace's scores. */
export async function listScores(
  q: Queryable,
  workspaceId: string,
): Promise<Score[]> {
  const rows = await q.query<ScoreRow>(
    "select * from scores where workspace_id = $1 order by name",
    [workspaceId],
  );
  return rows.map(toScore);
}

/** Creates a score with no thresholds unless it exists (points given by name from flows). */
export async function ensureScore(
  tx: Tx,
  workspaceId: string,
  name: string,
  at: Date,
): Promise<void> {
  await insertScore(
    tx,
    workspaceId,
    { name, description: "", thresholds: [] },
    at,
  );
}

/** A row of `score_rules`. */
type ScoreRuleRow = {
  id: string;
  score: string;
  event: string;
  filters: PropertyFilter[];
  points: number;
  expires_after_days: number | null;
  created_at: Date;
  updated_at: Date;
};

const toRule = (row: ScoreRuleRow): ScoreRule => ({
  id: row.id,
  score: row.score,
  event: row.event,
  where: row.filters,
  points: row.points,
  expiresAfterDays: row.expires_after_days,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Creates a scoring rule. */
export async function insertScoreRule(
  tx: Tx,
  workspaceId: string,
  rule: Omit<ScoreRule, "createdAt" | "updatedAt">,
  at: Date,
): Promise<void> {
  await tx.query(
    `insert into score_rules (workspace_id, id, score, event, filters, points, expires_after_days, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
    [
      workspaceId,
      rule.id,
      rule.score,
      rule.event,
      JSON.stringify(rule.where),
      rule.points,
      rule.expiresAfterDays,
      at,
    ],
  );
  await bumpCatalog(tx, workspaceId);
}

/** Deletes a scoring rule. */
export async function deleteScoreRule(
  tx: Tx,
  workspaceId: string,
  score: string,
  id: string,
): Promise<boolean> {
  const n = await tx.execute(
    "delete from score_rules where workspace_id = $1 and score = $2 and id = $3",
    [workspaceId, score, id],
  );
  if (n > 0) await bumpCatalog(tx, workspaceId);
  return n > 0;
}

/** The workspace's scoring rules (of one score, if given). */
export async function listScoreRules(
  q: Queryable,
  workspaceId: string,
  score?: string,
): Promise<ScoreRule[]> {
  const rows = await q.query<ScoreRuleRow>(
    `select * from score_rules where workspace_id = $1 and ($2::text is null or score = $2)
      order by created_at, id`,
    [workspaceId, score ?? null],
  );
  return rows.map(toRule);
}
