import Type from "typebox";
import type { FlowRecord } from "./flow-record.ts";
import { dryRun } from "./flow-dry-run.ts";
import { getFlowStats } from "./flow-stats.ts";
import {
  createFlow,
  listFlows,
  listRuns,
  listVersions,
  moveRuns,
  publishFlow,
  requireFlow,
  setFlowPaused,
  triggerFlow,
  updateFlow,
} from "./flow-service.ts";
import { installFlow, listLibrary } from "./library-install.ts";
import { maxVersion } from "../http/input-limits.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const FlowView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  currentVersion: Type.Union([Type.Integer(), Type.Null()]),
  libraryName: Type.Union([Type.String(), Type.Null()]),
  draft: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});

function view(flow: FlowRecord) {
  return {
    id: flow.id,
    name: flow.name,
    status: flow.status,
    currentVersion: flow.currentVersion,
    libraryName: flow.libraryName,
    draft: flow.draft as unknown as Record<string, unknown>,
    createdAt: flow.createdAt.toISOString(),
    updatedAt: flow.updatedAt.toISOString(),
  };
}

const Params = Type.Object({ id: Type.String() });
const definitionHelp =
  "a flow definition (JSON, or YAML with Content-Type: application/yaml)";

/** Flows: drafts, publishing, pause/resume, run migration, statistics, dry runs, API triggers. */
export function registerFlowRoutes(api: App, deps: HttpDeps): void {
  const tags = ["flows"];
  const { db } = deps;

  api.get(
    "/flows",
    {
      schema: {
        tags,
        summary: "The workspace's flows",
        response: { 200: Type.Object({ items: Type.Array(FlowView) }) },
      },
    },
    async (request) => ({
      items: (await listFlows(db, request.auth.workspaceId)).map(view),
    }),
  );

  api.get(
    "/flows/library",
    {
      schema: {
        tags,
        summary: "The flow library: ready flows to install",
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                name: Type.String(),
                title: Type.String(),
                description: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    async () => ({ items: listLibrary() }),
  );

  api.post(
    "/flows/library/:name",
    {
      schema: {
        tags,
        summary:
          "Install a library flow with its templates, coupon pools and segments (a draft unless publish is true)",
        params: Type.Object({ name: Type.String() }),
        body: Type.Optional(
          Type.Object(
            { publish: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        ),
        response: {
          201: Type.Object({
            flow: FlowView,
            version: Type.Union([Type.Integer(), Type.Null()]),
            templates: Type.Record(Type.String(), Type.String()),
            segments: Type.Record(Type.String(), Type.String()),
            pools: Type.Array(Type.String()),
            warnings: Type.Array(Type.String(), {
              description:
                "What will stop the flow's messages, with what to do (such as no marketing consent on record yet)",
            }),
          }),
        },
      },
    },
    async (request, reply) => {
      const installed = await installFlow(
        deps,
        request.auth.workspaceId,
        request.params.name,
        { publish: request.body?.publish ?? false },
      );
      return reply
        .status(201)
        .send({ ...installed, flow: view(installed.flow) });
    },
  );

  api.post(
    "/flows",
    {
      schema: {
        tags,
        summary: "Create a flow (a draft until published)",
        description: definitionHelp,
        body: Type.Unknown(),
        response: { 201: FlowView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          view(await createFlow(deps, request.auth.workspaceId, request.body)),
        ),
  );

  api.get(
    "/flows/:id",
    {
      schema: {
        tags,
        summary: "A flow with its draft",
        params: Params,
        response: { 200: FlowView },
      },
    },
    async (request) =>
      view(await requireFlow(db, request.auth.workspaceId, request.params.id)),
  );

  api.put(
    "/flows/:id",
    {
      schema: {
        tags,
        summary:
          "Replace a flow's draft (runs in flight are not affected until publishing)",
        description: definitionHelp,
        params: Params,
        body: Type.Unknown(),
        response: { 200: FlowView },
      },
    },
    async (request) =>
      view(
        await updateFlow(
          deps,
          request.auth.workspaceId,
          request.params.id,
          request.body,
        ),
      ),
  );

  api.post(
    "/flows/:id/publish",
    {
      schema: {
        tags,
        summary:
          "Publish the draft as a new version: new entrants use it, runs in flight keep theirs",
        params: Params,
        response: { 200: Type.Object({ version: Type.Integer() }) },
      },
    },
    async (request) =>
      publishFlow(deps, request.auth.workspaceId, request.params.id),
  );

  api.post(
    "/flows/:id/pause",
    {
      schema: {
        tags,
        summary: "Pause: runs wait where they are and nothing is sent",
        params: Params,
        response: { 200: FlowView },
      },
    },
    async (request) =>
      view(
        await setFlowPaused(
          deps,
          request.auth.workspaceId,
          request.params.id,
          true,
        ),
      ),
  );

  api.post(
    "/flows/:id/resume",
    {
      schema: {
        tags,
        summary: "Resume a paused flow",
        params: Params,
        response: { 200: FlowView },
      },
    },
    async (request) =>
      view(
        await setFlowPaused(
          deps,
          request.auth.workspaceId,
          request.params.id,
          false,
        ),
      ),
  );

  api.get(
    "/flows/:id/versions",
    {
      schema: {
        tags,
        summary: "Published versions",
        params: Params,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                version: Type.Integer(),
                publishedAt: Type.String(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => ({
      items: await listVersions(
        db,
        request.auth.workspaceId,
        request.params.id,
      ),
    }),
  );

  api.post(
    "/flows/:id/migrate",
    {
      schema: {
        tags,
        summary:
          "Move runs in flight from one version to another, renaming nodes by nodeMap",
        params: Params,
        body: Type.Object(
          {
            fromVersion: Type.Integer({ minimum: 1, maximum: maxVersion }),
            toVersion: Type.Integer({ minimum: 1, maximum: maxVersion }),
            nodeMap: Type.Optional(Type.Record(Type.String(), Type.String())),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ moved: Type.Integer() }) },
      },
    },
    async (request) =>
      moveRuns(deps, request.auth.workspaceId, request.params.id, {
        ...request.body,
        nodeMap: request.body.nodeMap ?? {},
      }),
  );

  api.get(
    "/flows/:id/stats",
    {
      schema: {
        tags,
        summary:
          "Per node: entered, waiting, each branch; runs: active, completed, exited, converted, revenue",
        params: Params,
        querystring: Type.Object({
          version: Type.Optional(
            Type.Integer({ minimum: 1, maximum: maxVersion }),
          ),
        }),
      },
    },
    async (request) =>
      getFlowStats(
        db,
        request.auth.workspaceId,
        request.params.id,
        request.query.version,
      ),
  );

  api.get(
    "/flows/:id/runs",
    {
      schema: {
        tags,
        summary: "A flow's runs, newest first",
        params: Params,
        querystring: Type.Object({
          status: Type.Optional(
            Type.Union([
              Type.Literal("active"),
              Type.Literal("waiting"),
              Type.Literal("completed"),
              Type.Literal("exited"),
            ]),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
        }),
      },
    },
    async (request) => ({
      items: await listRuns(
        db,
        request.auth.workspaceId,
        request.params.id,
        request.query,
      ),
    }),
  );

  api.post(
    "/flows/:id/dry-run",
    {
      schema: {
        tags,
        summary:
          "Who would enter the draft now and what they would get, without sending",
        params: Params,
        body: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
        }),
      },
    },
    async (request) =>
      dryRun(
        deps,
        request.auth.workspaceId,
        request.params.id,
        request.body.limit,
      ),
  );

  api.post(
    "/flows/:id/trigger",
    {
      schema: {
        tags,
        summary: "Start a run for a shopper (flows with an API trigger)",
        params: Params,
        body: Type.Object(
          {
            profileId: Type.String({ format: "uuid" }),
            data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            runId: Type.Union([Type.String(), Type.Null()]),
            status: Type.String(),
          }),
        },
      },
    },
    async (request) =>
      triggerFlow(
        deps,
        request.auth.workspaceId,
        request.params.id,
        request.body,
      ),
  );
}
