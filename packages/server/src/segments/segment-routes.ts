import Type from "typebox";
import {
  NewSegment,
  SegmentChange,
  SegmentDefinition,
} from "@herald/core/segments/segments";
import {
  createSegment,
  deleteSegment,
  getSegmentWithCount,
  listProfileSegments,
  listSegmentHistory,
  listSegmentMembers,
  listSegmentsWithCounts,
  previewSegment,
  updateSegment,
  type CountedSegment,
  type HistoryEntry,
} from "./segment-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

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
function segmentView({ segment, memberCount }: CountedSegment) {
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

const HistoryItem = Type.Object({
  segmentId: Type.String(),
  profileId: Type.String(),
  change: Type.String({ description: "entered or exited" }),
  cause: Type.String({
    description: "event, time, computation, membership or merge",
  }),
  at: Type.String({ format: "date-time" }),
});

/** An entry or an exit as the API shows it. */
const historyView = (entry: HistoryEntry) => ({
  segmentId: entry.segmentId,
  profileId: entry.profileId,
  change: entry.change,
  cause: entry.cause,
  at: entry.at.toISOString(),
});

const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
});

const SegmentPreview = Type.Object({ definition: SegmentDefinition });

/** Segments: definitions, live members, history, and the preview of a draft. */
export function registerSegmentRoutes(api: App, deps: HttpDeps): void {
  const tags = ["segments"];
  const { db } = deps;

  api.get(
    "/segments",
    {
      schema: {
        tags,
        summary: "The workspace's segments with their member counts",
        response: { 200: Type.Object({ items: Type.Array(SegmentView) }) },
      },
    },
    async (request) => ({
      items: (await listSegmentsWithCounts(db, request.auth.workspaceId)).map(
        segmentView,
      ),
    }),
  );

  api.post(
    "/segments",
    {
      schema: {
        tags,
        summary:
          "Create a segment; its members are computed in the background (see status and progress)",
        body: NewSegment,
        response: { 201: SegmentView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          segmentView(
            await createSegment(deps, request.auth.workspaceId, request.body),
          ),
        ),
  );

  api.post(
    "/segments/preview",
    {
      schema: {
        tags,
        summary:
          "Count the profiles a draft definition selects now, without saving it",
        body: SegmentPreview,
        response: {
          200: Type.Object({ count: Type.Integer(), total: Type.Integer() }),
        },
      },
    },
    async (request) =>
      previewSegment(deps, request.auth.workspaceId, request.body.definition),
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
    async (request) =>
      segmentView(
        await getSegmentWithCount(
          db,
          request.auth.workspaceId,
          request.params.id,
        ),
      ),
  );

  api.patch(
    "/segments/:id",
    {
      schema: {
        tags,
        summary:
          "Change a segment; a new definition recomputes its members (changes are recorded as silent events)",
        params: Params,
        body: SegmentChange,
        response: { 200: SegmentView },
      },
    },
    async (request) =>
      segmentView(
        await updateSegment(
          deps,
          request.auth.workspaceId,
          request.params.id,
          request.body,
        ),
      ),
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
      await deleteSegment(db, request.auth.workspaceId, request.params.id);
      return { deleted: request.params.id };
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
      const page = await listSegmentMembers(
        db,
        request.auth.workspaceId,
        request.params.id,
        request.query,
      );
      return {
        items: page.items.map((member) => ({
          profileId: member.profileId,
          email: member.email,
          enteredAt: member.enteredAt.toISOString(),
        })),
        next: page.next,
      };
    },
  );

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
      const page = await listSegmentHistory(
        db,
        request.auth.workspaceId,
        request.params.id,
        request.query,
      );
      return { items: page.items.map(historyView), next: page.next };
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
      const found = await listProfileSegments(
        deps,
        request.auth.workspaceId,
        request.params.id,
      );
      return {
        items: found.items.map((item) => ({
          segmentId: item.segmentId,
          name: item.name,
          enteredAt: item.enteredAt.toISOString(),
        })),
        history: found.history.map(historyView),
      };
    },
  );
}
