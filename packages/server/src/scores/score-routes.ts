import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  newScoreRuleId,
  parseScore,
  parseScoreRule,
  validateScoreName,
  type Score,
  type ScoreRule,
} from "@herald/core/scores/scores";
import {
  deleteScore,
  deleteScoreRule,
  getScore,
  insertScore,
  insertScoreRule,
  listScoreRules,
  listScores,
  scoresOf,
  updateScore,
} from "./scores.sql.ts";
import { addScore } from "../segments/segment-actions.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const ScoreView = Type.Object({
  name: Type.String(),
  description: Type.String(),
  thresholds: Type.Array(Type.Integer()),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
const scoreView = (score: Score) => ({
  name: score.name,
  description: score.description,
  thresholds: score.thresholds,
  createdAt: score.createdAt.toISOString(),
  updatedAt: score.updatedAt.toISOString(),
});

const RuleView = Type.Object({
  id: Type.String(),
  score: Type.String(),
  event: Type.String(),
  where: Type.Array(Type.Unknown()),
  points: Type.Integer(),
  expiresAfterDays: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
});
const ruleView = (rule: ScoreRule) => ({
  id: rule.id,
  score: rule.score,
  event: rule.event,
  where: rule.where,
  points: rule.points,
  expiresAfterDays: rule.expiresAfterDays,
  createdAt: rule.createdAt.toISOString(),
});

const NameParams = Type.Object({ name: Type.String() });
const ProfileScores = Type.Object({
  items: Type.Array(
    Type.Object({
      score: Type.String(),
      value: Type.Integer(),
      nextExpiryAt: Type.Union([
        Type.String({ format: "date-time" }),
        Type.Null(),
      ]),
    }),
  ),
});

/** Named lead scores, their scoring rules, and profiles' totals. */
export function registerScoreRoutes(api: App, deps: HttpDeps): void {
  const tags = ["scores"];
  const { db, clock } = deps;

  const existing = async (workspaceId: string, name: string) => {
    const score = await getScore(
      db,
      workspaceId,
      validateScoreName(name, "/params/name"),
    );
    if (!score) throw new DomainError("not_found", `no score "${name}"`);
    return score;
  };
  const profileScores = async (workspaceId: string, profileId: string) => ({
    items: (await scoresOf(db, workspaceId, profileId)).map((row) => ({
      score: row.score,
      value: row.value,
      nextExpiryAt: row.next_expiry_at?.toISOString() ?? null,
    })),
  });

  api.get(
    "/scores",
    {
      schema: {
        tags,
        summary: "The workspace's scores",
        response: { 200: Type.Object({ items: Type.Array(ScoreView) }) },
      },
    },
    async (request) => ({
      items: (await listScores(db, request.auth.workspaceId)).map(scoreView),
    }),
  );

  api.post(
    "/scores",
    {
      schema: {
        tags,
        summary:
          "Create a named score; reaching one of its thresholds records a `Score Threshold Reached` event",
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 201: ScoreView },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const input = parseScore(request.body, false);
      const name = input.name ?? "";
      const created = await db.tx((tx) =>
        insertScore(
          tx,
          workspaceId,
          {
            name,
            description: input.description ?? "",
            thresholds: input.thresholds ?? [],
          },
          clock.now(),
        ),
      );
      if (!created)
        throw new DomainError(
          "conflict",
          `a score named "${name}" exists already`,
          [{ path: "/body/name", message: "is taken" }],
        );
      return reply
        .status(201)
        .send(scoreView(await existing(workspaceId, name)));
    },
  );

  api.get(
    "/scores/:name",
    {
      schema: {
        tags,
        summary: "A score",
        params: NameParams,
        response: { 200: ScoreView },
      },
    },
    async (request) =>
      scoreView(await existing(request.auth.workspaceId, request.params.name)),
  );

  api.patch(
    "/scores/:name",
    {
      schema: {
        tags,
        summary: "Change a score's description or thresholds",
        params: NameParams,
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: ScoreView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const score = await existing(workspaceId, request.params.name);
      const input = parseScore(request.body, true);
      await db.tx((tx) =>
        updateScore(tx, workspaceId, score.name, input, clock.now()),
      );
      return scoreView(await existing(workspaceId, score.name));
    },
  );

  api.delete(
    "/scores/:name",
    {
      schema: {
        tags,
        summary: "Delete a score with its rules and every profile's points",
        params: NameParams,
        response: { 200: Type.Object({ deleted: Type.String() }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const score = await existing(workspaceId, request.params.name);
      await db.tx((tx) => deleteScore(tx, workspaceId, score.name));
      return { deleted: score.name };
    },
  );

  api.get(
    "/scores/:name/rules",
    {
      schema: {
        tags,
        summary: "A score's rules",
        params: NameParams,
        response: { 200: Type.Object({ items: Type.Array(RuleView) }) },
      },
    },
    async (request) => {
      const score = await existing(
        request.auth.workspaceId,
        request.params.name,
      );
      return {
        items: (
          await listScoreRules(db, request.auth.workspaceId, score.name)
        ).map(ruleView),
      };
    },
  );

  api.post(
    "/scores/:name/rules",
    {
      schema: {
        tags,
        summary:
          "Award `points` to a profile's score for each event named `event` matching `where`; points may expire",
        params: NameParams,
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 201: RuleView },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const score = await existing(workspaceId, request.params.name);
      const input = parseScoreRule(request.body);
      const now = clock.now();
      const rule: ScoreRule = {
        id: newScoreRuleId(),
        score: score.name,
        ...input,
        createdAt: now,
        updatedAt: now,
      };
      await db.tx((tx) => insertScoreRule(tx, workspaceId, rule, now));
      return reply.status(201).send(ruleView(rule));
    },
  );

  api.delete(
    "/scores/:name/rules/:id",
    {
      schema: {
        tags,
        summary:
          "Delete a scoring rule (points it gave stay until they expire)",
        params: Type.Object({ name: Type.String(), id: Type.String() }),
        response: { 200: Type.Object({ deleted: Type.String() }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const score = await existing(workspaceId, request.params.name);
      const deleted = await db.tx((tx) =>
        deleteScoreRule(tx, workspaceId, score.name, request.params.id),
      );
      if (!deleted)
        throw new DomainError(
          "not_found",
          `no rule ${request.params.id} on score "${score.name}"`,
        );
      return { deleted: request.params.id };
    },
  );

  api.get(
    "/profiles/:id/scores",
    {
      schema: {
        tags,
        summary: "A profile's score totals",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        response: { 200: ProfileScores },
      },
    },
    async (request) => {
      const profile = await resolveProfile(
        deps.profiles,
        request.auth.workspaceId,
        request.params.id,
      );
      return profileScores(request.auth.workspaceId, profile.id);
    },
  );

  api.post(
    "/profiles/:id/scores",
    {
      schema: {
        tags,
        summary: "Add (or, negative, subtract) points to a profile's score",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        body: Type.Object(
          {
            score: Type.String(),
            points: Type.Integer({ minimum: -100000, maximum: 100000 }),
            expiresAfterDays: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 3650 }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: ProfileScores },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const { score, points, expiresAfterDays } = request.body;
      const name = validateScoreName(score, "/body/score");
      const profile = await resolveProfile(
        deps.profiles,
        workspaceId,
        request.params.id,
      );
      await existing(workspaceId, name).catch(() => {
        throw new DomainError(
          "not_found",
          `no score "${name}"; create it with POST /api/scores first`,
          [
            {
              path: "/body/score",
              message: "is not a score of this workspace",
            },
          ],
        );
      });
      await db.tx((tx) =>
        addScore(tx, workspaceId, profile.id, name, points, clock.now(), {
          source: "api",
          ...(expiresAfterDays === undefined ? {} : { expiresAfterDays }),
        }),
      );
      return profileScores(workspaceId, profile.id);
    },
  );
}
