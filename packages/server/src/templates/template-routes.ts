import Type from "typebox";
import { MessageChannel, RenderedMessage } from "@herald/core/messages/content";
import {
  ChannelContent,
  CompiledContent,
  type Template,
} from "@herald/core/templates/template";
import { TemplateRenderer } from "./content-renderer.ts";
import {
  archiveTemplate,
  contentOf,
  createTemplate,
  deletePartial,
  getTemplate,
  getVersion,
  listPartials,
  listStarters,
  listTemplates,
  listVersions,
  previewTemplate,
  savePartial,
  sendTestMessage,
  updateTemplate,
  type SavedVersion,
} from "./template-service.ts";
import { maxVersion } from "../http/input-limits.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";

/**
 * What a request may carry as content. The template's channel decides which schema
 * applies (ChannelContent in the API document), and the service checks it against that
 * schema with paths under /body/content, so the route lets any object through.
 */
const ContentInput = Type.Record(Type.String(), Type.Unknown(), {
  description:
    "the content of the template's channel (ChannelContent): email {subject, preheader?, mjml, text?, fromName?, fromEmail?, replyTo?}, sms {text}, push {title, body, icon?, url?}, telegram {text, buttons?}, webhook {body}",
});
const SmsFigures = Type.Object({
  encoding: Type.String(),
  length: Type.Integer(),
  segments: Type.Integer(),
  remaining: Type.Integer(),
  unicodeCharacters: Type.Array(Type.String()),
});
const TemplateView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channel: MessageChannel,
  currentVersion: Type.Integer(),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
const SavedView = Type.Object({
  template: TemplateView,
  version: Type.Integer(),
  textPart: Type.Optional(
    Type.String({
      description:
        "email: where the plain-text part comes from (written, generated from the HTML)",
    }),
  ),
  sms: Type.Optional(SmsFigures),
});
const Params = Type.Object({ id: Type.String() });
const PartialParams = Type.Object({ name: Type.String() });
const NewTemplate = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  channel: Type.Optional(MessageChannel),
  content: Type.Optional(ContentInput),
  starter: Type.Optional(
    Type.String({ description: "copy a starter template instead" }),
  ),
});
const TemplateChange = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  content: ContentInput,
});
const PreviewBody = Type.Object({
  version: Type.Optional(Type.Integer({ minimum: 1, maximum: maxVersion })),
  profileId: Type.Optional(
    Type.String({ format: "uuid", description: "render for this shopper" }),
  ),
  data: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description:
        "the triggering event's properties (cart, order, tracking); sample data when absent",
    }),
  ),
});
const TestSend = Type.Object({
  to: Type.String({
    minLength: 1,
    description: "email, E.164 phone or URL, by channel",
  }),
  profileId: Type.Optional(
    Type.String({
      format: "uuid",
      description:
        "whose data to render with; by default the profile with the address `to`",
    }),
  ),
  version: Type.Optional(Type.Integer({ minimum: 1, maximum: maxVersion })),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const PartialSource = Type.Object({
  source: Type.String({ maxLength: 200_000 }),
});

const templateView = (t: Template) => ({
  ...t,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

const savedView = (saved: SavedVersion) => ({
  template: templateView(saved.template),
  version: saved.version,
  ...(saved.compiled.channel === "email"
    ? { textPart: saved.compiled.textSource }
    : {}),
  ...(saved.sms ? { sms: saved.sms } : {}),
});

/** Templates: versions, partials, starters, preview and test sends. */
export function registerTemplateRoutes(api: App, deps: HttpDeps): void {
  const tags = ["templates"];
  const renderer = new TemplateRenderer(deps);

  api.get(
    "/templates/starters",
    {
      schema: {
        tags,
        summary: "Starter templates to copy (POST /api/templates with starter)",
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                name: Type.String(),
                channel: MessageChannel,
                description: Type.String(),
                content: ChannelContent,
              }),
            ),
          }),
        },
      },
    },
    async () => ({ items: listStarters() }),
  );

  api.get(
    "/templates",
    {
      schema: {
        tags,
        summary: "The workspace's templates",
        querystring: Type.Object({ channel: Type.Optional(MessageChannel) }),
        response: { 200: Type.Object({ items: Type.Array(TemplateView) }) },
      },
    },
    async (request) => ({
      items: (
        await listTemplates(
          deps.db,
          request.auth.workspaceId,
          request.query.channel,
        )
      ).map(templateView),
    }),
  );

  api.post(
    "/templates",
    {
      schema: {
        tags,
        summary:
          "Create a template (version 1); refused with line and reason when its MJML or Liquid does not compile",
        body: NewTemplate,
        response: { 201: SavedView, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { name, channel, content, starter } = request.body;
      const saved = await createTemplate(
        deps,
        request.auth.workspaceId,
        name,
        contentOf(channel, content, starter),
      );
      return reply.status(201).send(savedView(saved));
    },
  );

  api.get(
    "/templates/:id",
    {
      schema: {
        tags,
        summary: "A template with its current content",
        params: Params,
        response: {
          200: Type.Object({
            ...TemplateView.properties,
            content: ChannelContent,
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { template, content } = await getTemplate(
        deps.db,
        request.auth.workspaceId,
        request.params.id,
      );
      return { ...templateView(template), content };
    },
  );

  api.put(
    "/templates/:id",
    {
      schema: {
        tags,
        summary:
          "Save new content as the next version (messages already sent keep theirs)",
        params: Params,
        body: TemplateChange,
        response: { 200: SavedView, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      savedView(
        await updateTemplate(
          deps,
          request.auth.workspaceId,
          request.params.id,
          request.body,
        ),
      ),
  );

  api.delete(
    "/templates/:id",
    {
      schema: {
        tags,
        summary:
          "Archive a template: gone from lists, its versions kept for sent messages",
        params: Params,
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await archiveTemplate(deps, request.auth.workspaceId, request.params.id);
      return reply.status(204).send(null);
    },
  );

  api.get(
    "/templates/:id/versions",
    {
      schema: {
        tags,
        summary: "A template's versions, newest first",
        params: Params,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                version: Type.Integer(),
                content: ChannelContent,
                createdAt: Type.String({ format: "date-time" }),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: (
        await listVersions(deps.db, request.auth.workspaceId, request.params.id)
      ).map((v) => ({
        version: v.version,
        content: v.content,
        createdAt: v.created_at.toISOString(),
      })),
    }),
  );

  api.get(
    "/templates/:id/versions/:version",
    {
      schema: {
        tags,
        summary:
          "One version: what was written and what was compiled from it (HTML with Liquid inside)",
        params: Type.Object({
          id: Type.String(),
          version: Type.Integer({ minimum: 1, maximum: maxVersion }),
        }),
        response: {
          200: Type.Object({
            version: Type.Integer(),
            channel: MessageChannel,
            content: ChannelContent,
            compiled: CompiledContent,
            createdAt: Type.String({ format: "date-time" }),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const row = await getVersion(
        deps.db,
        request.auth.workspaceId,
        request.params.id,
        request.params.version,
      );
      return {
        version: row.version,
        channel: row.channel,
        content: row.content,
        compiled: row.compiled,
        createdAt: row.created_at.toISOString(),
      };
    },
  );

  api.post(
    "/templates/:id/preview",
    {
      schema: {
        tags,
        summary:
          "Render a version for a profile or sample data (coupons show a sample code, none is issued)",
        params: Params,
        body: PreviewBody,
        response: {
          200: Type.Object({
            templateVersion: Type.Integer(),
            content: RenderedMessage,
            sms: Type.Optional(SmsFigures),
            warnings: Type.Array(
              Type.Object({ path: Type.String(), message: Type.String() }),
              {
                description:
                  "what rendering took out, such as links whose scheme is not http(s), mailto or tel",
              },
            ),
          }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { version, profileId, data } = request.body;
      return previewTemplate(renderer, {
        workspaceId: request.auth.workspaceId,
        templateId: request.params.id,
        ...(version === undefined ? {} : { version }),
        ...(profileId === undefined ? {} : { profileId }),
        ...(data === undefined ? {} : { data }),
      });
    },
  );

  api.post(
    "/templates/:id/test-send",
    {
      schema: {
        tags,
        summary:
          "Send a version to an address through delivery (a real render: coupons are issued to the profile)",
        params: Params,
        body: TestSend,
        response: {
          202: Type.Object({ messageId: Type.String(), status: Type.String() }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) =>
      reply
        .status(202)
        .send(
          await sendTestMessage(
            deps,
            request.auth.workspaceId,
            request.params.id,
            request.body,
          ),
        ),
  );

  api.get(
    "/template-partials",
    {
      schema: {
        tags,
        summary:
          'Partials templates include with {% include "name" %}: the workspace\'s own and the built-in ones',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                name: Type.String(),
                source: Type.String(),
                builtIn: Type.Boolean(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: await listPartials(deps.db, request.auth.workspaceId),
    }),
  );

  api.put(
    "/template-partials/:name",
    {
      schema: {
        tags,
        summary:
          "Save a partial (templates saved afterwards include the new text; saved versions keep theirs)",
        params: PartialParams,
        body: PartialSource,
        response: { 204: Type.Null(), 400: ErrorBody },
      },
    },
    async (request, reply) => {
      await savePartial(
        deps,
        request.auth.workspaceId,
        request.params.name,
        request.body.source,
      );
      return reply.status(204).send(null);
    },
  );

  api.delete(
    "/template-partials/:name",
    {
      schema: {
        tags,
        summary:
          "Delete a workspace partial (a built-in one of that name shows again)",
        params: PartialParams,
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await deletePartial(
        deps.db,
        request.auth.workspaceId,
        request.params.name,
      );
      return reply.status(204).send(null);
    },
  );
}
