import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { createKey, revokeKey } from "@herald/core/workspaces/workspaces";
import { parseWith } from "@herald/core/validation";
import {
  maskSecrets,
  SECRET_MASK,
  unmaskSecrets,
} from "@herald/core/messages/settings";
import {
  refuseUnknownSettings,
  settingNames,
  WorkspaceSettings,
} from "@herald/core/workspaces/settings";
import { getSettings, updateSettings } from "./settings.sql.ts";
import { isSendgridPublicKey } from "../providers/sendgrid-webhook.ts";
import { workspaceStore } from "./workspaces.sql.ts";
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

/** The workspace of the calling key, and its keys. */
export function registerWorkspaceRoutes(api: App, deps: HttpDeps): void {
  const store = workspaceStore(deps.db);
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
      const workspace = await store.getWorkspace(request.auth.workspaceId);
      if (!workspace)
        throw new DomainError(
          "not_found",
          "this key's workspace no longer exists",
        );
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
    async (request) =>
      maskSecrets((await getSettings(deps.db, request.auth.workspaceId)) ?? {}),
  );

  api.patch(
    "/workspace/settings",
    {
      schema: {
        tags,
        summary:
          "Change settings: given keys are set, keys set to null are removed",
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: WorkspaceSettings },
      },
    },
    async (request) => {
      refuseUnknownSettings(request.body, "/body");
      const current =
        (await getSettings(deps.db, request.auth.workspaceId)) ?? {};
      const change = unmaskSecrets(request.body, current);
      if (JSON.stringify(change).includes(SECRET_MASK))
        throw new DomainError(
          "invalid",
          "a masked secret has no stored value to keep: send the secret itself",
        );
      // Keys an older Herald let in are kept as they are, not checked.
      const merged = Object.fromEntries(
        Object.entries({ ...current, ...change }).filter(
          ([key, value]) => value !== null && settingNames.includes(key),
        ),
      );
      const settings = parseWith(WorkspaceSettings, merged, "settings");
      const sendgridKey = settings.email?.sendgridVerificationKey;
      if (sendgridKey !== undefined && !isSendgridPublicKey(sendgridKey))
        throw new DomainError(
          "invalid",
          "email.sendgridVerificationKey is not an ECDSA P-256 public key: copy the verification key from SendGrid's Mail Settings → Signed Event Webhook",
          [
            {
              path: "/email/sendgridVerificationKey",
              message: "is not an ECDSA P-256 public key",
            },
          ],
        );
      const saved = await updateSettings(
        deps.db,
        request.auth.workspaceId,
        change,
      );
      deps.settings.forget(request.auth.workspaceId);
      return maskSecrets(saved ?? {});
    },
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
      const keys = await store.listKeys(request.auth.workspaceId);
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
        body: Type.Object(
          {
            kind: KeyKind,
            name: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
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
    async (request, reply) => {
      const key = await createKey(store, deps.clock, {
        workspaceId: request.auth.workspaceId,
        ...request.body,
      });
      return reply.status(201).send(key);
    },
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
      await revokeKey(store, deps.clock, {
        workspaceId: request.auth.workspaceId,
        keyId: request.params.keyId,
      });
      deps.keys.forget(request.params.keyId);
      return reply.status(204).send(null);
    },
  );
}
