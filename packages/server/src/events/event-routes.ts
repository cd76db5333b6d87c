import Type from "typebox";
import { eventCursor, parseEventCursor } from "@herald/core/profiles/profiles";
import { listEvents, toStoredEvent } from "./events.sql.ts";
import { listIngestErrors } from "./ingest-errors.sql.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { EventView, eventView } from "../profiles/profile-routes.ts";

/** The workspace's event log and the events ingest refused. */
export function registerEventRoutes(api: App, deps: HttpDeps): void {
  api.get(
    "/events",
    {
      schema: {
        tags: ["events"],
        summary: "Events, newest first, by name and time",
        querystring: Type.Object({
          name: Type.Optional(Type.String()),
          from: Type.Optional(Type.String({ format: "date-time" })),
          to: Type.Optional(Type.String({ format: "date-time" })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          before: Type.Optional(Type.String()),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(EventView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { name, from, to, limit, before } = request.query;
      const cursor = parseEventCursor(before);
      const rows = await listEvents(deps.db, request.auth.workspaceId, {
        limit: limit + 1,
        ...(name ? { name } : {}),
        ...(from ? { from: new Date(from) } : {}),
        ...(to ? { to: new Date(to) } : {}),
        ...(cursor ? { before: cursor } : {}),
      });
      const items = rows.slice(0, limit).map(toStoredEvent);
      const last = rows.length > limit ? items.at(-1) : undefined;
      return {
        items: items.map(eventView),
        next: last ? eventCursor(last) : null,
      };
    },
  );

  api.get(
    "/ingest-errors",
    {
      schema: {
        tags: ["events"],
        summary: "Events the tracking API refused, newest first, with why",
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
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
            items: Type.Array(
              Type.Object({
                id: Type.Integer(),
                receivedAt: Type.String({ format: "date-time" }),
                source: Type.String(),
                endpoint: Type.String(),
                batchIndex: Type.Union([Type.Integer(), Type.Null()]),
                messageId: Type.Union([Type.String(), Type.Null()]),
                reason: Type.String(),
                payload: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const rows = await listIngestErrors(deps.db, request.auth.workspaceId, {
        limit: limit + 1,
        ...(before === undefined ? {} : { beforeId: before }),
      });
      const items = rows.slice(0, limit).map((r) => ({
        id: r.id,
        receivedAt: r.received_at.toISOString(),
        source: r.source,
        endpoint: r.endpoint,
        batchIndex: r.batch_index,
        messageId: r.message_id,
        reason: r.reason,
        payload: r.payload,
      }));
      return {
        items,
        next: rows.length > limit ? (items.at(-1)?.id ?? null) : null,
      };
    },
  );
}
