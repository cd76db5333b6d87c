import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import { referencedSegments } from "@herald/core/segments/dependencies";
import {
  checkReferences,
  newSegmentId,
  parseSegmentInput,
  usesRfm,
  type Segment,
} from "@herald/core/segments/segments";
import { validateCondition } from "@herald/core/segments/condition";
import type { Database } from "../db/database.ts";
import { existingListIds } from "../lists/lists.sql.ts";
import {
  countMatching,
  countMembers,
  deleteSegment,
  getSegment,
  insertSegment,
  listHistory,
  listMembers,
  listSegments,
  memberCounts,
  segmentsOfProfile,
  updateSegment,
} from "./segments.sql.ts";
import { rfmThresholds } from "../profiles/profiles.sql.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const Definition = Type.Unknown({
  description:
    "A segment condition tree: {type: and|or|not|trait|attribute|event|event_time|event_without|purchased|coupon|rfm|message|consent|reachable|segment|list|tag|score, ...}. See SegmentCondition in core/segments/condition.ts.",
});

const SegmentView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  definition: Type.Unknown(),
  version: Type.Integer(),
  status: Type.String({ description: "computing, ready or failed" }),
  progress: Type.Object({
    processed: Type.Integer(),
    total: Type.Integer(),
  }),
  error: Type.Union([Type.String(), Type.Null()]),
  memberCount: Type.Integer(),
  computedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});

/** A segment as the API shows it. */
function segmentView(segment: Segment, memberCount: number) {
  return {
    id: segment.id,
    name: segment.name,
    description: segment.description,
    definition: segment.definition,
    version: segment.version,
    status: segment.status,
    progress: {
      processed: segment.processed,
      total: Math.max(segment.total, segment.processed),
    },
    error: segment.error,
    memberCount,
    computedAt: segment.computedAt?.toISOString() ?? null,
    createdAt: segment.createdAt.toISOString(),
    updatedAt: segment.updatedAt.toISOString(),
  };
}

const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
});

/** Unique-name violations as a conflict a person understands. */
function nameTaken(error: unknown, name: string | undefined): never {
  if ((error as { code?: unknown }).code === "23505")
    throw new DomainError(
      "conflict",
      `a segment named "${name ?? ""}" exists already; choose another name`,
      [{ path: "/body/name", message: "is taken" }],
    );
  throw error;
}

async function references(db: Database, workspaceId: string) {
  const segments = await listSegments(db, workspaceId);
  return {
    segments: new Map(segments.map((s) => [s.id, s.definition])),
    lists: (ids: string[]) => existingListIds(db, workspaceId, ids),
  };
}

/** Segments: definitions, live members, history, and the preview of a draft. */
export function registerSegmentRoutes(api: App, deps: HttpDeps): void {
  const tags = ["segments"];
  const { db, clock } = deps;

  api.get(
    "/segments",
    {
      schema: {
        tags,
        summary: "The workspace's segments with their member counts",
        response: { 200: Type.Object({ items: Type.Array(SegmentView) }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const [segments, counts] = await Promise.all([
        listSegments(db, workspaceId),
        memberCounts(db, workspaceId),
      ]);
      return {
        items: segments.map((s) => segmentView(s, counts.get(s.id) ?? 0)),
      };
    },
  );

  api.post(
    "/segments",
    {
      schema: {
        tags,
        summary:
          "Create a segment; its members are computed in the background (see status and progress)",
        body: Type.Object({
          name: Type.String(),
          description: Type.Optional(Type.String({ maxLength: 10_000 })),
          definition: Definition,
        }),
        response: { 201: SegmentView },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const input = parseSegmentInput(request.body, false);
      const { name = "", description = "", definition } = input;
      if (!definition)
        throw new DomainError("invalid", "a segment needs a definition");
      const id = newSegmentId();
      await checkReferences(await references(db, workspaceId), id, definition);
      await db
        .tx((tx) =>
          insertSegment(
            tx,
            workspaceId,
            { id, name, description, definition },
            clock.now(),
          ),
        )
        .catch((error: unknown) => nameTaken(error, input.name));
      const segment = await getSegment(db, workspaceId, id);
      if (!segment) throw new DomainError("not_found", `no segment ${id}`);
      return reply.status(201).send(segmentView(segment, 0));
    },
  );

  api.post(
    "/segments/preview",
    {
      schema: {
        tags,
        summary:
          "Count the profiles a draft definition selects now, without saving it",
        body: Type.Object({ definition: Definition }),
        response: {
          200: Type.Object({ count: Type.Integer(), total: Type.Integer() }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const definition = validateCondition(
        request.body.definition,
        "/body/definition",
      );
      await checkReferences(
        await references(db, workspaceId),
        undefined,
        definition,
      );
      const now = clock.now();
      const rfm = usesRfm(definition)
        ? await rfmThresholds(db, workspaceId, now)
        : undefined;
      return countMatching(db, workspaceId, definition, { now, rfm });
    },
  );

  api.get(
    "/segments/:id",
    {
      schema: {
        tags,
        summary: "A segment with its member count and computation progress",
        params: Params,
        response: { 200: SegmentView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const segment = await getSegment(db, workspaceId, request.params.id);
      if (!segment)
        throw new DomainError("not_found", `no segment ${request.params.id}`);
      return segmentView(
        segment,
        await countMembers(db, workspaceId, segment.id),
      );
    },
  );

  api.patch(
    "/segments/:id",
    {
      schema: {
        tags,
        summary:
          "Change a segment; a new definition recomputes its members (changes are recorded as silent events)",
        params: Params,
        body: Type.Object({
          name: Type.Optional(Type.String()),
          description: Type.Optional(Type.String({ maxLength: 10_000 })),
          definition: Type.Optional(Definition),
        }),
        response: { 200: SegmentView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const { id } = request.params;
      const input = parseSegmentInput(request.body, true);
      if (!(await getSegment(db, workspaceId, id)))
        throw new DomainError("not_found", `no segment ${id}`);
      if (input.definition) {
        const refs = await references(db, workspaceId);
        const others = new Map(refs.segments);
        others.delete(id);
        await checkReferences(
          { ...refs, segments: new Map([...others, [id, input.definition]]) },
          id,
          input.definition,
        );
      }
      await db
        .tx((tx) => updateSegment(tx, workspaceId, id, input, clock.now()))
        .catch((error: unknown) => nameTaken(error, input.name));
      const segment = await getSegment(db, workspaceId, id);
      if (!segment) throw new DomainError("not_found", `no segment ${id}`);
      return segmentView(segment, await countMembers(db, workspaceId, id));
    },
  );

  api.delete(
    "/segments/:id",
    {
      schema: {
        tags,
        summary:
          "Delete a segment with its members and history (refused while other segments use it)",
        params: Params,
        response: { 200: Type.Object({ deleted: Type.String() }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const { id } = request.params;
      const users = (await listSegments(db, workspaceId)).filter((s) =>
        referencedSegments(s.definition).includes(id),
      );
      if (users.length > 0)
        throw new DomainError(
          "conflict",
          `segment ${id} is used by ${users.map((s) => `"${s.name}"`).join(", ")}; change those first`,
        );
      const deleted = await db.tx((tx) => deleteSegment(tx, workspaceId, id));
      if (!deleted) throw new DomainError("not_found", `no segment ${id}`);
      return { deleted: id };
    },
  );

  api.get(
    "/segments/:id/members",
    {
      schema: {
        tags,
        summary: "A page of a segment's members, by profile id",
        params: Params,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          after: Type.Optional(
            Type.String({
              format: "uuid",
              description: "the `next` cursor of the previous page",
            }),
          ),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                profileId: Type.String(),
                email: Type.Union([Type.String(), Type.Null()]),
                enteredAt: Type.String({ format: "date-time" }),
              }),
            ),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const { id } = request.params;
      if (!(await getSegment(db, workspaceId, id)))
        throw new DomainError("not_found", `no segment ${id}`);
      const { limit, after } = request.query;
      const rows = await listMembers(db, workspaceId, id, {
        limit: limit + 1,
        ...(after ? { after } : {}),
      });
      const items = rows.slice(0, limit).map((row) => ({
        profileId: row.profile_id,
        email: row.email,
        enteredAt: row.entered_at.toISOString(),
      }));
      return {
        items,
        next: rows.length > limit ? (items.at(-1)?.profileId ?? null) : null,
      };
    },
  );

  const HistoryItem = Type.Object({
    segmentId: Type.String(),
    profileId: Type.String(),
    change: Type.String({ description: "entered or exited" }),
    cause: Type.String({
      description: "event, time, computation, membership or merge",
    }),
    at: Type.String({ format: "date-time" }),
  });
  const historyView = (row: {
    segment_id: string;
    profile_id: string;
    change: string;
    cause: string;
    at: Date;
  }) => ({
    segmentId: row.segment_id,
    profileId: row.profile_id,
    change: row.change,
    cause: row.cause,
    at: row.at.toISOString(),
  });

  api.get(
    "/segments/:id/history",
    {
      schema: {
        tags,
        summary: "Entries and exits of a segment, newest first",
        params: Params,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          before: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: Number.MAX_SAFE_INTEGER,
              description: "the `next` cursor of the previous page",
            }),
          ),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(HistoryItem),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const { limit, before } = request.query;
      if (!(await getSegment(db, workspaceId, request.params.id)))
        throw new DomainError("not_found", `no segment ${request.params.id}`);
      const rows = await listHistory(db, workspaceId, {
        segmentId: request.params.id,
        limit: limit + 1,
        ...(before === undefined ? {} : { beforeId: before }),
      });
      return {
        items: rows.slice(0, limit).map(historyView),
        next: rows.length > limit ? (rows[limit - 1]?.id ?? null) : null,
      };
    },
  );

  api.get(
    "/profiles/:id/segments",
    {
      schema: {
        tags,
        summary: "The segments a profile is in now, and its entries and exits",
        params: Type.Object({ id: Type.String({ format: "uuid" }) }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                segmentId: Type.String(),
                name: Type.String(),
                enteredAt: Type.String({ format: "date-time" }),
              }),
            ),
            history: Type.Array(HistoryItem),
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const profile = await resolveProfile(
        deps.profiles,
        workspaceId,
        request.params.id,
      );
      const [rows, history] = await Promise.all([
        segmentsOfProfile(db, workspaceId, profile.id),
        listHistory(db, workspaceId, { profileIds: [profile.id], limit: 100 }),
      ]);
      return {
        items: rows.map((row) => ({
          segmentId: row.segment_id,
          name: row.name,
          enteredAt: row.entered_at.toISOString(),
        })),
        history: history.map(historyView),
      };
    },
  );
}
