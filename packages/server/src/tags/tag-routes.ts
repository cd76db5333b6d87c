import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  newTagRuleId,
  normalizeTag,
  parseTagRule,
  type TagRule,
} from "@herald/core/tags/tags";
import {
  deleteTagRule,
  insertTagRule,
  listTagRules,
  listTags,
  tagsOf,
} from "./tags.sql.ts";
import { addTag, removeTag } from "../segments/segment-actions.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const TagRuleView = Type.Object({
  id: Type.String(),
  event: Type.String(),
  where: Type.Array(Type.Unknown()),
  action: Type.String({ description: "add or remove" }),
  tag: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
});

const ruleView = (rule: TagRule) => ({
  id: rule.id,
  event: rule.event,
  where: rule.where,
  action: rule.action,
  tag: rule.tag,
  createdAt: rule.createdAt.toISOString(),
});

const ProfileParams = Type.Object({ id: Type.String({ format: "uuid" }) });
const ProfileTags = Type.Object({
  items: Type.Array(
    Type.Object({
      tag: Type.String(),
      source: Type.String(),
      addedAt: Type.String({ format: "date-time" }),
    }),
  ),
});

/** Tags on profiles and the rules that set them from events. */
export function registerTagRoutes(api: App, deps: HttpDeps): void {
  const tags = ["tags"];
  const { db, clock } = deps;

  const profileTags = async (workspaceId: string, profileId: string) => ({
    items: (await tagsOf(db, workspaceId, profileId)).map((row) => ({
      tag: row.tag,
      source: row.source,
      addedAt: row.added_at.toISOString(),
    })),
  });

  api.get(
    "/tags",
    {
      schema: {
        tags,
        summary: "Every tag in use, with how many profiles have it",
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({ tag: Type.String(), profiles: Type.Integer() }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: await listTags(db, request.auth.workspaceId),
    }),
  );

  api.get(
    "/profiles/:id/tags",
    {
      schema: {
        tags,
        summary: "A profile's tags",
        params: ProfileParams,
        response: { 200: ProfileTags },
      },
    },
    async (request) => {
      const profile = await resolveProfile(
        deps.profiles,
        request.auth.workspaceId,
        request.params.id,
      );
      return profileTags(request.auth.workspaceId, profile.id);
    },
  );

  api.post(
    "/profiles/:id/tags",
    {
      schema: {
        tags,
        summary: "Tag a profile (segments on the tag follow at once)",
        params: ProfileParams,
        body: Type.Object(
          { tag: Type.String() },
          { additionalProperties: false },
        ),
        response: { 200: ProfileTags },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const tag = normalizeTag(request.body.tag);
      const profile = await resolveProfile(
        deps.profiles,
        workspaceId,
        request.params.id,
      );
      await db.tx((tx) =>
        addTag(tx, workspaceId, profile.id, tag, clock.now(), "api"),
      );
      return profileTags(workspaceId, profile.id);
    },
  );

  api.delete(
    "/profiles/:id/tags/:tag",
    {
      schema: {
        tags,
        summary: "Remove a tag from a profile",
        params: Type.Object({
          id: Type.String({ format: "uuid" }),
          tag: Type.String(),
        }),
        response: { 200: ProfileTags },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const tag = normalizeTag(request.params.tag, "/params/tag");
      const profile = await resolveProfile(
        deps.profiles,
        workspaceId,
        request.params.id,
      );
      const removed = await db.tx((tx) =>
        removeTag(tx, workspaceId, profile.id, tag, clock.now()),
      );
      if (!removed)
        throw new DomainError(
          "not_found",
          `profile ${profile.id} has no tag "${tag}"`,
        );
      return profileTags(workspaceId, profile.id);
    },
  );

  api.get(
    "/tag-rules",
    {
      schema: {
        tags,
        summary: "Rules that add or remove tags when events arrive",
        response: { 200: Type.Object({ items: Type.Array(TagRuleView) }) },
      },
    },
    async (request) => ({
      items: (await listTagRules(db, request.auth.workspaceId)).map(ruleView),
    }),
  );

  api.post(
    "/tag-rules",
    {
      schema: {
        tags,
        summary:
          "Create a rule: when an event named `event` matching `where` (property filters) is processed, add or remove `tag`",
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 201: TagRuleView },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const input = parseTagRule(request.body);
      const now = clock.now();
      const rule: TagRule = {
        id: newTagRuleId(),
        ...input,
        createdAt: now,
        updatedAt: now,
      };
      await db.tx((tx) => insertTagRule(tx, workspaceId, rule, now));
      return reply.status(201).send(ruleView(rule));
    },
  );

  api.delete(
    "/tag-rules/:id",
    {
      schema: {
        tags,
        summary: "Delete a tag rule (tags it set stay)",
        params: Type.Object({ id: Type.String() }),
        response: { 200: Type.Object({ deleted: Type.String() }) },
      },
    },
    async (request) => {
      const deleted = await db.tx((tx) =>
        deleteTagRule(tx, request.auth.workspaceId, request.params.id),
      );
      if (!deleted)
        throw new DomainError("not_found", `no tag rule ${request.params.id}`);
      return { deleted: request.params.id };
    },
  );
}
