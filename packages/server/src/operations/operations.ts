import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { parseWith } from "@herald/core/validation";
import {
  createKey,
  createWorkspace,
  revokeKey,
} from "@herald/core/workspaces/workspaces";
import { migrate } from "../db/migrate.ts";
import { workspaceStore } from "../workspaces/workspaces.sql.ts";
import { importCsv } from "./import-csv.ts";
import {
  resolveWorkspace,
  type OperationContext,
} from "./operation-context.ts";
import { listFlows } from "../flows/flows.sql.ts";
import { createFlow, publishFlow, updateFlow } from "../flows/flow-service.ts";
import {
  installFlow,
  listLibrary,
  missingStoreSettings,
} from "../flows/library-install.ts";
import { updateSettings } from "../workspaces/settings.sql.ts";
import { WorkspaceSettings } from "@herald/core/workspaces/settings";
import { importListFile } from "../lists/list-members.ts";

/**
 * What an operator scripts, as named operations with validated arguments. The CLI runs
 * them on the database directly, or through the control channel of the server that holds
 * the embedded database; both paths run this same code.
 */

type Operation = (
  ctx: OperationContext,
  args: Record<string, unknown>,
) => Promise<unknown>;

const KeyKind = Type.Union([Type.Literal("write"), Type.Literal("secret")]);

const operations: Record<string, Operation> = {
  async migrate(ctx) {
    return { applied: await migrate(ctx.db) };
  },

  async "workspace.create"(ctx, args) {
    const { name } = parseWith(
      Type.Object({ name: Type.String() }),
      args,
      "workspace create",
    );
    const workspace = await createWorkspace(workspaceStore(ctx.db), ctx.clock, {
      name,
    });
    return { ...workspace, createdAt: workspace.createdAt.toISOString() };
  },

  async "workspace.list"(ctx) {
    const workspaces = await workspaceStore(ctx.db).listWorkspaces();
    return workspaces.map((w) => ({
      ...w,
      createdAt: w.createdAt.toISOString(),
    }));
  },

  async "key.create"(ctx, args) {
    const input = parseWith(
      Type.Object({
        workspaceId: Type.Optional(Type.String()),
        kind: KeyKind,
        name: Type.Optional(Type.String()),
      }),
      args,
      "key create",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    return createKey(workspaceStore(ctx.db), ctx.clock, {
      ...input,
      workspaceId,
    });
  },

  async "key.list"(ctx, args) {
    const input = parseWith(
      Type.Object({ workspaceId: Type.Optional(Type.String()) }),
      args,
      "key list",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    const store = workspaceStore(ctx.db);
    if (!(await store.getWorkspace(workspaceId)))
      throw new DomainError("not_found", `no workspace ${workspaceId}`);
    const keys = await store.listKeys(workspaceId);
    return keys.map(({ hash: _hash, ...key }) => ({
      ...key,
      createdAt: key.createdAt.toISOString(),
      revokedAt: key.revokedAt?.toISOString() ?? null,
    }));
  },

  async "key.revoke"(ctx, args) {
    const input = parseWith(
      Type.Object({
        workspaceId: Type.Optional(Type.String()),
        keyId: Type.String(),
      }),
      args,
      "key revoke",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    await revokeKey(workspaceStore(ctx.db), ctx.clock, {
      workspaceId,
      keyId: input.keyId,
    });
    ctx.forgetKey?.(input.keyId);
    return { revoked: input.keyId };
  },

  async import(ctx, args) {
    const input = parseWith(
      Type.Object({
        kind: Type.Union([
          Type.Literal("customers"),
          Type.Literal("orders"),
          Type.Literal("products"),
        ]),
        file: Type.String({ minLength: 1 }),
        workspaceId: Type.Optional(Type.String()),
        silent: Type.Boolean(),
      }),
      args,
      "import",
    );
    return importCsv(ctx, input);
  },

  async "flows.library"() {
    return listLibrary();
  },

  async "flows.missing-settings"(ctx, args) {
    const input = parseWith(
      Type.Object({
        name: Type.String(),
        workspaceId: Type.Optional(Type.String()),
      }),
      args,
      "flows install",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    return missingStoreSettings(ctx.db, workspaceId, input.name);
  },

  async "flows.install"(ctx, args) {
    const input = parseWith(
      Type.Object({
        name: Type.String(),
        workspaceId: Type.Optional(Type.String()),
        publish: Type.Boolean(),
        settings: Type.Optional(
          Type.Object({
            storeName: Type.Optional(WorkspaceSettings.properties.storeName),
            storeUrl: Type.Optional(WorkspaceSettings.properties.storeUrl),
          }),
        ),
      }),
      args,
      "flows install",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    if (input.settings && Object.keys(input.settings).length > 0)
      await updateSettings(ctx.db, workspaceId, input.settings);
    const installed = await installFlow(ctx, workspaceId, input.name, {
      publish: input.publish,
    });
    return {
      id: installed.flow.id,
      name: installed.flow.name,
      status: installed.version ? "live" : "draft",
      version: installed.version,
      templates: Object.keys(installed.templates).length,
      pools: installed.pools,
      segments: Object.values(installed.segments),
      warnings: installed.warnings,
    };
  },

  async "flows.list"(ctx, args) {
    const input = parseWith(
      Type.Object({ workspaceId: Type.Optional(Type.String()) }),
      args,
      "flows list",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    return (await listFlows(ctx.db, workspaceId)).map((f) => ({
      id: f.id,
      name: f.name,
      status: f.status,
      version: f.currentVersion,
      library: f.libraryName,
    }));
  },

  async "flows.apply"(ctx, args) {
    const input = parseWith(
      Type.Object({
        definition: Type.Unknown(),
        workspaceId: Type.Optional(Type.String()),
        publish: Type.Boolean(),
      }),
      args,
      "flows apply",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    const name = (input.definition as { name?: unknown } | null)?.name;
    const existing = (await listFlows(ctx.db, workspaceId)).find(
      (f) => f.name === name,
    );
    const flow = existing
      ? await updateFlow(ctx, workspaceId, existing.id, input.definition)
      : await createFlow(ctx, workspaceId, input.definition);
    const version = input.publish
      ? (await publishFlow(ctx, workspaceId, flow.id)).version
      : null;
    return { id: flow.id, name: flow.name, created: !existing, version };
  },

  async "list.import"(ctx, args) {
    const input = parseWith(
      Type.Object({
        listId: Type.String({ minLength: 1 }),
        file: Type.String({ minLength: 1 }),
        workspaceId: Type.Optional(Type.String()),
        status: Type.Optional(
          Type.Union([
            Type.Literal("subscribed"),
            Type.Literal("unsubscribed"),
            Type.Literal("pending"),
          ]),
        ),
      }),
      args,
      "list import",
    );
    const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
    return importListFile(
      ctx.db,
      ctx.clock,
      { ...input, workspaceId },
      ctx.progress,
    );
  },
};

/** Runs the operation `name`; unknown names are an `invalid` domain error. */
export function runOperation(
  ctx: OperationContext,
  name: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const operation = operations[name];
  if (!operation) throw new DomainError("invalid", `unknown operation ${name}`);
  return operation(ctx, args);
}
