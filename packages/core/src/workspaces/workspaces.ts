import type { Clock } from "../clock.ts";
import { DomainError } from "../domain-error.ts";
import { prefixedId, randomToken, sha256Hex } from "../ids.ts";

/**
 * Workspaces and their keys. A workspace is one store. Its public write key sends events
 * (`/v1/*`, the browser); its secret keys read and manage everything under `/api/*`.
 * Keys are stored as SHA-256 hashes and shown in full only when created.
 */

/** What a key may do: `write` sends events, `secret` uses the admin API. */
export type KeyKind = "write" | "secret";

/** A workspace as the admin API shows it. */
export interface Workspace {
  id: string;
  name: string;
  createdAt: Date;
}

/** A key as stored: never the key itself, only its hash and a recognisable prefix. */
export interface StoredKey {
  id: string;
  workspaceId: string;
  kind: KeyKind;
  name: string;
  hash: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** A key just created: the only time its full value exists outside the caller. */
export interface IssuedKey {
  id: string;
  kind: KeyKind;
  name: string;
  key: string;
}

/** A workspace just created, with its first write key and secret key. */
export interface NewWorkspace extends Workspace {
  writeKey: string;
  secretKey: string;
}

/** The storage workspaces need. */
export interface WorkspaceStore {
  insertWorkspace(workspace: Workspace, keys: StoredKey[]): Promise<void>;
  getWorkspace(id: string): Promise<Workspace | undefined>;
  listWorkspaces(): Promise<Workspace[]>;
  insertKey(key: StoredKey): Promise<void>;
  listKeys(workspaceId: string): Promise<StoredKey[]>;
  /** Marks a key revoked; false when the workspace has no such key. */
  revokeKey(workspaceId: string, keyId: string, at: Date): Promise<boolean>;
}

const keyPrefixes: Record<KeyKind, string> = { write: "hw_", secret: "hs_" };
const keyLengths: Record<KeyKind, number> = { write: 32, secret: 40 };

/** The kind a presented key claims by its prefix, if it looks like a Herald key at all. */
export function keyKindOf(key: string): KeyKind | undefined {
  if (key.startsWith(keyPrefixes.write)) return "write";
  if (key.startsWith(keyPrefixes.secret)) return "secret";
  return undefined;
}

/** Normalises and checks a workspace name. */
export function validateWorkspaceName(name: unknown): string {
  const trimmed = typeof name === "string" ? name.trim() : "";
  if (trimmed.length === 0 || trimmed.length > 200) {
    throw new DomainError(
      "invalid",
      "a workspace needs a name of 1 to 200 characters",
      [{ path: "/name", message: "must be 1 to 200 characters" }],
    );
  }
  return trimmed;
}

async function issueKey(
  workspaceId: string,
  kind: KeyKind,
  name: string,
  now: Date,
): Promise<{ issued: IssuedKey; stored: StoredKey }> {
  const key = keyPrefixes[kind] + randomToken(keyLengths[kind]);
  const id = prefixedId("key");
  return {
    issued: { id, kind, name, key },
    stored: {
      id,
      workspaceId,
      kind,
      name,
      hash: await sha256Hex(key),
      prefix: key.slice(0, 8),
      createdAt: now,
      revokedAt: null,
    },
  };
}

/** Creates a workspace with one write key and one secret key. */
export async function createWorkspace(
  store: WorkspaceStore,
  clock: Clock,
  input: { name: unknown },
): Promise<NewWorkspace> {
  const name = validateWorkspaceName(input.name);
  const now = clock.now();
  const workspace: Workspace = { id: prefixedId("ws"), name, createdAt: now };
  const write = await issueKey(workspace.id, "write", "default write key", now);
  const secret = await issueKey(
    workspace.id,
    "secret",
    "default secret key",
    now,
  );
  await store.insertWorkspace(workspace, [write.stored, secret.stored]);
  return {
    ...workspace,
    writeKey: write.issued.key,
    secretKey: secret.issued.key,
  };
}

/** Adds a key to an existing workspace and returns it in full, once. */
export async function createKey(
  store: WorkspaceStore,
  clock: Clock,
  input: { workspaceId: string; kind: KeyKind; name?: string },
): Promise<IssuedKey> {
  if (!(await store.getWorkspace(input.workspaceId))) {
    throw new DomainError("not_found", `no workspace ${input.workspaceId}`);
  }
  const name = input.name?.trim() || `${input.kind} key`;
  const { issued, stored } = await issueKey(
    input.workspaceId,
    input.kind,
    name,
    clock.now(),
  );
  await store.insertKey(stored);
  return issued;
}

/** Revokes a key; requests that present it are refused from then on. */
export async function revokeKey(
  store: WorkspaceStore,
  clock: Clock,
  input: { workspaceId: string; keyId: string },
): Promise<void> {
  if (!(await store.revokeKey(input.workspaceId, input.keyId, clock.now()))) {
    throw new DomainError(
      "not_found",
      `workspace ${input.workspaceId} has no key ${input.keyId}`,
    );
  }
}
