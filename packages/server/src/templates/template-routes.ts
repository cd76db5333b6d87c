import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import { smsStats } from "@herald/core/templates/sms-segments";
import type { Template } from "@herald/core/templates/template";
import {
  archiveTemplate,
  deletePartial,
  getTemplate,
  getVersion,
  listPartials,
  listTemplates,
  listVersions,
} from "./templates.sql.ts";
import { TemplateRenderer } from "./content-renderer.ts";
import { builtInPartials, starterTemplates } from "./starter-kit.ts";
import {
  contentOf,
  createTemplate,
  savePartial,
  updateTemplate,
  type SavedVersion,
} from "./template-service.ts";
import { enqueueMessage } from "../messages/message-ledger.ts";
import { profileWithAddress, sampleEventData } from "./content-renderer.ts";
import { maxVersion } from "../http/input-limits.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";

const Channel = Type.Union([
  Type.Literal("email"),
  Type.Literal("sms"),
  Type.Literal("push"),
  Type.Literal("telegram"),
  Type.Literal("webhook"),
]);
const Content = Type.Record(Type.String(), Type.Unknown(), {
  description:
    "per channel: email {subject, preheader?, mjml, text?}, sms {text}, push {title, body, icon?, url?}, telegram {text, buttons?}, webhook {body}",
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
  channel: Channel,
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
                channel: Channel,
                description: Type.String(),
                content: Content,
              }),
            ),
          }),
        },
      },
    },
    async () => ({
      items: [...starterTemplates].map(([name, s]) => ({
        name,
        channel: s.template.channel,
        description: s.description,
        content: s.template.content,
      })),
    }),
  );

  api.get(
    "/templates",
    {
      schema: {
        tags,
        summary: "The workspace's templates",
        querystring: Type.Object({ channel: Type.Optional(Channel) }),
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
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 200 }),
          channel: Type.Optional(Channel),
          content: Type.Optional(Content),
          starter: Type.Optional(
            Type.String({ description: "copy a starter template instead" }),
          ),
        }),
        response: { 201: SavedView, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { name, channel, content, starter } = request.body;
      const saved = await createTemplate(
        deps.db,
        deps.clock,
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
          200: Type.Object({ ...TemplateView.properties, content: Content }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const template = await getTemplate(
        deps.db,
        request.auth.workspaceId,
        request.params.id,
      );
      const version =
        template &&
        (await getVersion(
          deps.db,
          request.auth.workspaceId,
          template.id,
          template.currentVersion,
        ));
      if (!template || !version)
        throw new DomainError(
          "not_found",
          `there is no template ${request.params.id}`,
        );
      return { ...templateView(template), content: version.content };
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
        body: Type.Object({
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          content: Content,
        }),
        response: { 200: SavedView, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      savedView(
        await updateTemplate(
          deps.db,
          deps.clock,
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
      const done = await archiveTemplate(
        deps.db,
        request.auth.workspaceId,
        request.params.id,
        deps.clock.now(),
      );
      if (!done)
        throw new DomainError(
          "not_found",
          `there is no template ${request.params.id}`,
        );
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
                content: Content,
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
            channel: Channel,
            content: Content,
            compiled: Content,
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
      if (!row)
        throw new DomainError(
          "not_found",
          `template ${request.params.id} has no version ${request.params.version}`,
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
            content: Content,
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
      const result = await renderer.preview({
        workspaceId: request.auth.workspaceId,
        templateId: request.params.id,
        ...(version === undefined ? {} : { version }),
        ...(profileId === undefined ? {} : { profileId }),
        ...(data === undefined ? {} : { data }),
      });
      return {
        ...result,
        ...(result.content.channel === "sms"
          ? { sms: smsStats(result.content.text) }
          : {}),
      };
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
        body: Type.Object({
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
          version: Type.Optional(
            Type.Integer({ minimum: 1, maximum: maxVersion }),
          ),
          data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        }),
        response: {
          202: Type.Object({ messageId: Type.String(), status: Type.String() }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const { to, version, data } = request.body;
      const template = await getTemplate(
        deps.db,
        workspaceId,
        request.params.id,
      );
      if (!template)
        throw new DomainError(
          "not_found",
          `there is no template ${request.params.id}`,
        );
      const profileId =
        request.body.profileId ??
        (await profileWithAddress(deps.db, workspaceId, template.channel, to));
      const now = deps.clock.now();
      const { message } = await deps.db.tx((tx) =>
        enqueueMessage(
          tx,
          {
            workspaceId,
            profileId,
            channel: template.channel,
            templateId: template.id,
            ...(version === undefined ? {} : { templateVersion: version }),
            data: data ?? sampleEventData,
            source: { kind: "test" },
            idempotencyKey: `test:${uuidv7(now)}`,
            transactional: true,
            to,
          },
          now,
        ),
      );
      return reply
        .status(202)
        .send({ messageId: message.id, status: message.status });
    },
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
    async (request) => {
      const own = await listPartials(deps.db, request.auth.workspaceId);
      const names = new Set(own.map((p) => p.name));
      return {
        items: [
          ...own.map((p) => ({
            name: p.name,
            source: p.source,
            builtIn: false,
          })),
          ...[...builtInPartials]
            .filter(([name]) => !names.has(name))
            .map(([name, source]) => ({ name, source, builtIn: true })),
        ].sort((a, b) => a.name.localeCompare(b.name)),
      };
    },
  );

  api.put(
    "/template-partials/:name",
    {
      schema: {
        tags,
        summary:
          "Save a partial (templates saved afterwards include the new text; saved versions keep theirs)",
        params: Type.Object({ name: Type.String() }),
        body: Type.Object({ source: Type.String({ maxLength: 200_000 }) }),
        response: { 204: Type.Null(), 400: ErrorBody },
      },
    },
    async (request, reply) => {
      await savePartial(
        deps.db,
        deps.clock,
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
        params: Type.Object({ name: Type.String() }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const done = await deletePartial(
        deps.db,
        request.auth.workspaceId,
        request.params.name,
      );
      if (!done)
        throw new DomainError(
          "not_found",
          `the workspace has no partial "${request.params.name}"`,
        );
      return reply.status(204).send(null);
    },
  );
}
