import Type from "typebox";
import {
  NewScore,
  NewScoreRule,
  ScoreUpdate,
  type Score,
  type ScoreRule,
} from "@herald/core/scores/scores";
import {
  awardProfilePoints,
  createScore,
  createScoreRule,
  deleteScore,
  deleteScoreRule,
  listProfileScores,
  listScoreRules,
  listScores,
  requireScore,
  updateScore,
  type ProfileScore,
} from "./score-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const ScoreView = Type.Object({
  name: Type.String(),
  description: Type.String(),
  thresholds: Type.Array(Type.Integer()),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
/** A score as the API shows it. */
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
/** A scoring rule as the API shows it. */
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

/** A profile's totals as the API shows them. */
const profileScoresView = (scores: ProfileScore[]) => ({
  items: scores.map((score) => ({
    score: score.score,
    value: score.value,
    nextExpiryAt: score.nextExpiryAt?.toISOString() ?? null,
  })),
});

/** Named lead scores, their scoring rules, and profiles' totals. */
export function registerScoreRoutes(api: App, deps: HttpDeps): void {
  const tags = ["scores"];
  const { db } = deps;

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
        body: NewScore,
        response: { 201: ScoreView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          scoreView(
            await createScore(deps, request.auth.workspaceId, request.body),
          ),
        ),
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
      scoreView(
        await requireScore(db, request.auth.workspaceId, request.params.name),
      ),
  );

  api.patch(
    "/scores/:name",
    {
      schema: {
        tags,
        summary: "Change a score's description or thresholds",
        params: NameParams,
        body: ScoreUpdate,
        response: { 200: ScoreView },
      },
    },
    async (request) =>
      scoreView(
        await updateScore(
          deps,
          request.auth.workspaceId,
          request.params.name,
          request.body,
        ),
      ),
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
    async (request) => ({
      deleted: await deleteScore(
        db,
        request.auth.workspaceId,
        request.params.name,
      ),
    }),
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
    async (request) => ({
      items: (
        await listScoreRules(db, request.auth.workspaceId, request.params.name)
      ).map(ruleView),
    }),
  );

  api.post(
    "/scores/:name/rules",
    {
      schema: {
        tags,
        summary:
          "Award `points` to a profile's score for each event named `event` matching `where`; points may expire",
        params: NameParams,
        body: NewScoreRule,
        response: { 201: RuleView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          ruleView(
            await createScoreRule(
              deps,
              request.auth.workspaceId,
              request.params.name,
              request.body,
            ),
          ),
        ),
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
      await deleteScoreRule(db, request.auth.workspaceId, {
        score: request.params.name,
        id: request.params.id,
      });
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
    async (request) =>
      profileScoresView(
        await listProfileScores(
          deps,
          request.auth.workspaceId,
          request.params.id,
        ),
      ),
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
    async (request) =>
      profileScoresView(
        await awardProfilePoints(deps, request.auth.workspaceId, {
          profileId: request.params.id,
          ...request.body,
        }),
      ),
  );
}
