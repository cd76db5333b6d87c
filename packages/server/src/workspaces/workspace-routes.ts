import Type from "typebox";
import { WorkspaceSettings } from "@herald/core/workspaces/settings";
import {
  createKey,
  getSettings,
  getWorkspace,
  listKeys,
  revokeKey,
  updateSettings,
} from "./workspace-service.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { ErrorBody } from "../http/errors.ts";

const KeyKind = Type.Union([Type.Literal("write"), Type.Literal("secret")]);
const Key = Type.Object({
  id: Type.String(),
  kind: KeyKind,
  name: Type.String(),
  prefix: Type.String({
    description: "The first characters of the key, to recognise it",
  }),
  createdAt: Type.String({ format: "date-time" }),
  revokedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});

/**
 * A change of settings: WorkspaceSettings' keys, each a value or null to remove it (the
 * API document shows WorkspaceSettings). The service checks it: unknown keys and masked
 * secrets are named in its errors, so the route lets any object through.
 */
const SettingsChange = Type.Record(Type.String(), Type.Unknown());
const NewKey = Type.Object(
  {
    kind: KeyKind,
    name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

/** The workspace of the calling key, and its keys. */
export function registerWorkspaceRoutes(api: App, deps: HttpDeps): void {
  const tags = ["workspace"];

  api.get(
    "/workspace",
    {
      schema: {
        tags,
        summary: "The workspace this key belongs to",
        response: {
          200: Type.Object({
            id: Type.String(),
            name: Type.String(),
            createdAt: Type.String({ format: "date-time" }),
          }),
        },
      },
    },
    async (request) => {
      const workspace = await getWorkspace(deps.db, request.auth.workspaceId);
      return { ...workspace, createdAt: workspace.createdAt.toISOString() };
    },
  );

  api.get(
    "/workspace/settings",
    {
      schema: {
        tags,
        summary: "The workspace's settings",
        response: { 200: WorkspaceSettings },
      },
    },
    async (request) => getSettings(deps.db, request.auth.workspaceId),
  );

  api.patch(
    "/workspace/settings",
    {
      schema: {
        tags,
        summary:
          "Change settings: given keys are set, keys set to null are removed",
        body: SettingsChange,
        response: { 200: WorkspaceSettings },
      },
    },
    async (request) =>
      updateSettings(deps, request.auth.workspaceId, request.body),
  );

  api.get(
    "/keys",
    {
      schema: {
        tags,
        summary: "The workspace's keys (never their values)",
        response: { 200: Type.Object({ items: Type.Array(Key) }) },
      },
    },
    async (request) => {
      const keys = await listKeys(deps.db, request.auth.workspaceId);
      return {
        items: keys.map((key) => ({
          id: key.id,
          kind: key.kind,
          name: key.name,
          prefix: key.prefix,
          createdAt: key.createdAt.toISOString(),
          revokedAt: key.revokedAt?.toISOString() ?? null,
        })),
      };
    },
  );

  api.post(
    "/keys",
    {
      schema: {
        tags,
        summary: "Create a key; its value is shown in this response only",
        body: NewKey,
        response: {
          201: Type.Object({
            id: Type.String(),
            kind: KeyKind,
            name: Type.String(),
            key: Type.String(),
          }),
        },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createKey(deps, request.auth.workspaceId, request.body)),
  );

  api.delete(
    "/keys/:keyId",
    {
      schema: {
        tags,
        summary: "Revoke a key; requests with it are refused from now on",
        params: Type.Object({ keyId: Type.String() }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await revokeKey(deps, request.auth.workspaceId, request.params.keyId);
      return reply.status(204).send(null);
    },
  );
}
