import Type from "typebox";
import type { StoredEvent } from "@herald/core/events/event";
import {
  deleteProfile,
  exportProfile,
  profileEvents,
  viewProfile,
} from "@herald/core/profiles/profiles";
import { findProfiles } from "./profile-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

/** The JSON shape of an event in API answers. */
export const EventView = Type.Object({
  messageId: Type.String(),
  type: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  profileId: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  anonymousId: Type.Union([Type.String(), Type.Null()]),
  properties: Type.Record(Type.String(), Type.Unknown()),
  traits: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  context: Type.Record(Type.String(), Type.Unknown()),
  integrations: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  timestamp: Type.String({ format: "date-time" }),
  receivedAt: Type.String({ format: "date-time" }),
  source: Type.String(),
  silent: Type.Boolean(),
});

/** An event as API answers show it. */
export function eventView(event: StoredEvent) {
  return {
    messageId: event.messageId,
    type: event.type,
    name: event.name,
    profileId: event.profileId,
    userId: event.userId,
    anonymousId: event.anonymousId,
    properties: event.properties,
    traits: event.traits,
    context: event.context,
    ...(event.integrations ? { integrations: event.integrations } : {}),
    timestamp: event.timestamp.toISOString(),
    receivedAt: event.receivedAt.toISOString(),
    source: event.source,
    silent: event.silent,
  };
}

const ProfileView = Type.Object({
  id: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  mergedIds: Type.Array(Type.String()),
  identities: Type.Array(
    Type.Object({ type: Type.String(), value: Type.String() }),
  ),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  traits: Type.Record(Type.String(), Type.Unknown()),
  consent: Type.Record(Type.String(), Type.Unknown()),
  computed: Type.Record(Type.String(), Type.Unknown()),
});

const ProfileParams = Type.Object({ id: Type.String({ format: "uuid" }) });

/** Profiles: lookup, the whole profile, its events, privacy export and deletion. */
export function registerProfileRoutes(api: App, deps: HttpDeps): void {
  const tags = ["profiles"];
  const store = deps.profiles;

  api.get(
    "/profiles",
    {
      schema: {
        tags,
        summary: "Find profiles by one identifier",
        querystring: Type.Object({
          email: Type.Optional(Type.String()),
          phone: Type.Optional(Type.String()),
          userId: Type.Optional(Type.String()),
          anonymousId: Type.Optional(Type.String()),
          type: Type.Optional(
            Type.String({ description: "any identifier type, with value" }),
          ),
          value: Type.Optional(Type.String()),
        }),
        response: { 200: Type.Object({ items: Type.Array(ProfileView) }) },
      },
    },
    async (request) => ({
      items: await findProfiles(deps, request.auth.workspaceId, request.query),
    }),
  );

  api.get(
    "/profiles/:id",
    {
      schema: {
        tags,
        summary:
          "A profile: identities, traits, computed attributes, consent (a merged id answers with the survivor)",
        params: ProfileParams,
        response: { 200: ProfileView },
      },
    },
    async (request) =>
      viewProfile(
        store,
        request.auth.workspaceId,
        request.params.id,
        deps.clock.now(),
      ),
  );

  api.get(
    "/profiles/:id/events",
    {
      schema: {
        tags,
        summary: "A profile's events, newest first",
        params: ProfileParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          before: Type.Optional(
            Type.String({
              description: "the `next` cursor of the previous page",
            }),
          ),
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
      const page = await profileEvents(
        store,
        request.auth.workspaceId,
        request.params.id,
        {
          limit: request.query.limit,
          ...(request.query.before ? { before: request.query.before } : {}),
        },
      );
      return { items: page.items.map(eventView), next: page.next };
    },
  );

  api.get(
    "/profiles/:id/export",
    {
      schema: {
        tags,
        summary: "Everything Herald holds about this person, as JSON",
        params: ProfileParams,
      },
    },
    async (request, reply) => {
      const data = await exportProfile(
        store,
        request.auth.workspaceId,
        request.params.id,
        deps.clock.now(),
      );
      const events = data.events.map(eventView);
      return reply
        .header(
          "content-disposition",
          `attachment; filename="profile-${request.params.id}.json"`,
        )
        .send({ ...data, events });
    },
  );

  api.delete(
    "/profiles/:id",
    {
      schema: {
        tags,
        summary:
          "Erase a profile: identities, events, orders, messages; later events start a new profile",
        params: ProfileParams,
        response: { 200: Type.Object({ deleted: Type.Array(Type.String()) }) },
      },
    },
    async (request) =>
      deleteProfile(store, request.auth.workspaceId, request.params.id),
  );
}
