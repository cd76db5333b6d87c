import Type from "typebox";
import { NewTagRule, type TagRule } from "@herald/core/tags/tags";
import {
  createTagRule,
  deleteTagRule,
  listProfileTags,
  listTagRules,
  listTags,
  tagProfile,
  untagProfile,
  type ProfileTag,
} from "./tag-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const TagRuleView = Type.Object({
  id: Type.String(),
  event: Type.String(),
  where: Type.Array(Type.Unknown()),
  action: Type.String({ description: "add or remove" }),
  tag: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
});

/** A tag rule as the API shows it. */
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

/** A profile's tags as the API shows them. */
const profileTagsView = (tags: ProfileTag[]) => ({
  items: tags.map((tag) => ({
    tag: tag.tag,
    source: tag.source,
    addedAt: tag.addedAt.toISOString(),
  })),
});

/** Tags on profiles and the rules that set them from events. */
export function registerTagRoutes(api: App, deps: HttpDeps): void {
  const tags = ["tags"];
  const { db } = deps;

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
    async (request) =>
      profileTagsView(
        await listProfileTags(
          deps,
          request.auth.workspaceId,
          request.params.id,
        ),
      ),
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
    async (request) =>
      profileTagsView(
        await tagProfile(deps, request.auth.workspaceId, {
          profileId: request.params.id,
          tag: request.body.tag,
        }),
      ),
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
    async (request) =>
      profileTagsView(
        await untagProfile(deps, request.auth.workspaceId, {
          profileId: request.params.id,
          tag: request.params.tag,
        }),
      ),
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
        body: NewTagRule,
        response: { 201: TagRuleView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          ruleView(
            await createTagRule(deps, request.auth.workspaceId, request.body),
          ),
        ),
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
      await deleteTagRule(db, request.auth.workspaceId, request.params.id);
      return { deleted: request.params.id };
    },
  );
}
