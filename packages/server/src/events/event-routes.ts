import Type from "typebox";
import { listEventPage } from "./event-log.ts";
import { listIngestErrorPage } from "./ingest-calls.ts";
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
      const page = await listEventPage(deps.db, request.auth.workspaceId, {
        limit,
        ...(name ? { name } : {}),
        ...(from ? { from: new Date(from) } : {}),
        ...(to ? { to: new Date(to) } : {}),
        ...(before ? { before } : {}),
      });
      return { items: page.items.map(eventView), next: page.next };
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
      return listIngestErrorPage(deps.db, request.auth.workspaceId, {
        limit,
        ...(before === undefined ? {} : { before }),
      });
    },
  );
}
