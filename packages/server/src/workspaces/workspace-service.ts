import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import {
  maskSecrets,
  SECRET_MASK,
  unmaskSecrets,
} from "@herald/core/messages/settings";
import { parseWith } from "@herald/core/validation";
import {
  refuseUnknownSettings,
  settingNames,
  WorkspaceSettings,
} from "@herald/core/workspaces/settings";
import * as workspaces from "@herald/core/workspaces/workspaces";
import type {
  IssuedKey,
  KeyKind,
  StoredKey,
  Workspace,
} from "@herald/core/workspaces/workspaces";
import type { Database } from "../db/database.ts";
import { isSendgridPublicKey } from "../providers/sendgrid-webhook.ts";
import type { SettingsCache } from "./settings-cache.ts";
import * as settingsSql from "./settings.sql.ts";
import { workspaceStore } from "./workspaces.sql.ts";

/**
 * The calling key's workspace as the admin API manages it: the workspace itself, its
 * settings (secrets masked on the way out, a masked secret sent back keeps the stored
 * one) and its keys.
 */

/** What the workspace use-cases run with: the database and the clock. */
export interface WorkspaceDeps {
  db: Database;
  clock: Clock;
}

/** A workspace; `not_found` when it no longer exists. */
export async function getWorkspace(
  db: Database,
  workspaceId: string,
): Promise<Workspace> {
  const workspace = await workspaceStore(db).getWorkspace(workspaceId);
  if (!workspace)
    throw new DomainError("not_found", "this key's workspace no longer exists");
  return workspace;
}

/** A workspace's settings with their secrets masked. */
export async function getSettings(
  db: Database,
  workspaceId: string,
): Promise<WorkspaceSettings> {
  return maskSecrets((await settingsSql.getSettings(db, workspaceId)) ?? {});
}

/**
 * Changes settings: given keys are set, keys set to null are removed, masked secrets keep
 * their stored values. The result must be valid settings; keys an older Herald let in are
 * kept as they are, not checked. Resolves to the new settings, secrets masked.
 */
export async function updateSettings(
  { db, settings }: { db: Database; settings: SettingsCache },
  workspaceId: string,
  patch: Record<string, unknown>,
): Promise<WorkspaceSettings> {
  refuseUnknownSettings(patch, "/body");
  const current = (await settingsSql.getSettings(db, workspaceId)) ?? {};
  const change = unmaskSecrets(patch, current);
  if (JSON.stringify(change).includes(SECRET_MASK))
    throw new DomainError(
      "invalid",
      "a masked secret has no stored value to keep: send the secret itself",
    );
  const merged = Object.fromEntries(
    Object.entries({ ...current, ...change }).filter(
      ([key, value]) => value !== null && settingNames.includes(key),
    ),
  );
  const checked = parseWith(WorkspaceSettings, merged, "settings");
  const sendgridKey = checked.email?.sendgridVerificationKey;
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
  const saved = await settingsSql.updateSettings(db, workspaceId, change);
  settings.forget(workspaceId);
  return maskSecrets(saved ?? {});
}

/** A workspace's keys, newest first (their hashes, never their values). */
export async function listKeys(
  db: Database,
  workspaceId: string,
): Promise<StoredKey[]> {
  return workspaceStore(db).listKeys(workspaceId);
}

/** Creates a key; its value is in the answer only. */
export async function createKey(
  { db, clock }: WorkspaceDeps,
  workspaceId: string,
  input: { kind: KeyKind; name?: string | undefined },
): Promise<IssuedKey> {
  return workspaces.createKey(workspaceStore(db), clock, {
    workspaceId,
    kind: input.kind,
    ...(input.name === undefined ? {} : { name: input.name }),
  });
}

/**
 * Revokes a key: requests with it are refused from now on, this process's key cache
 * included; `not_found` when the workspace has no such key.
 */
export async function revokeKey(
  {
    db,
    clock,
    keys,
  }: WorkspaceDeps & { keys: { forget(keyId: string): void } },
  workspaceId: string,
  keyId: string,
): Promise<void> {
  await workspaces.revokeKey(workspaceStore(db), clock, {
    workspaceId,
    keyId,
  });
  keys.forget(keyId);
}
