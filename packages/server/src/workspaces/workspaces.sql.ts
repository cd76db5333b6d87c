import type {
  KeyKind,
  StoredKey,
  Workspace,
  WorkspaceStore,
} from "@herald/core/workspaces/workspaces";
import type { Database, Queryable, Tx } from "../db/database.ts";

/** A row of `workspaces`. */
type WorkspaceRow = { id: string; name: string; created_at: Date };

/** A row of `api_keys`. */
type KeyRow = {
  workspace_id: string;
  id: string;
  kind: KeyKind;
  name: string;
  hash: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
};

const toWorkspace = (row: WorkspaceRow): Workspace => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
});

const toKey = (row: KeyRow): StoredKey => ({
  id: row.id,
  workspaceId: row.workspace_id,
  kind: row.kind,
  name: row.name,
  hash: row.hash,
  prefix: row.prefix,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

/** Inserts a workspace row. */
export async function insertWorkspace(
  q: Queryable,
  workspace: Workspace,
): Promise<void> {
  await q.query(
    "insert into workspaces (id, name, created_at) values ($1, $2, $3)",
    [workspace.id, workspace.name, workspace.createdAt],
  );
}

/** One workspace by id. */
export async function getWorkspace(
  q: Queryable,
  id: string,
): Promise<Workspace | undefined> {
  const [row] = await q.query<WorkspaceRow>(
    "select id, name, created_at from workspaces where id = $1",
    [id],
  );
  return row && toWorkspace(row);
}

/** Every workspace, oldest first. */
export async function listWorkspaces(q: Queryable): Promise<Workspace[]> {
  const rows = await q.query<WorkspaceRow>(
    "select id, name, created_at from workspaces order by created_at, id",
  );
  return rows.map(toWorkspace);
}

/** Inserts a key row. */
export async function insertKey(q: Queryable, key: StoredKey): Promise<void> {
  await q.query(
    `insert into api_keys (workspace_id, id, kind, name, hash, prefix, created_at, revoked_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      key.workspaceId,
      key.id,
      key.kind,
      key.name,
      key.hash,
      key.prefix,
      key.createdAt,
      key.revokedAt,
    ],
  );
}

/** A workspace's keys, newest first. */
export async function listKeys(
  q: Queryable,
  workspaceId: string,
): Promise<StoredKey[]> {
  const rows = await q.query<KeyRow>(
    "select * from api_keys where workspace_id = $1 order by created_at desc, id",
    [workspaceId],
  );
  return rows.map(toKey);
}

/** Marks a key revoked (keeping the first revocation time); false if there is no such key. */
export async function revokeKey(
  q: Queryable,
  workspaceId: string,
  keyId: string,
  at: Date,
): Promise<boolean> {
  const touched = await q.execute(
    "update api_keys set revoked_at = coalesce(revoked_at, $3) where workspace_id = $1 and id = $2",
    [workspaceId, keyId, at],
  );
  return touched > 0;
}

/** The key with this hash, revoked or not. */
export async function findKeyByHash(
  q: Queryable,
  hash: string,
): Promise<StoredKey | undefined> {
  const [row] = await q.query<KeyRow>(
    "select * from api_keys where hash = $1",
    [hash],
  );
  return row && toKey(row);
}

/** The advisory lock that lets one of several processes starting together create the first workspace. */
const firstWorkspaceLock = 5_831_620_113;

/**
 * Inserts a workspace and its keys only while the database has no workspace at all,
 * under a lock, so that processes starting together on an empty database create one
 * between them; resolves whether this one did.
 */
export async function insertFirstWorkspace(
  db: Database,
  workspace: Workspace,
  keys: StoredKey[],
): Promise<boolean> {
  return db.tx(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1)", [firstWorkspaceLock]);
    if ((await listWorkspaces(tx)).length > 0) return false;
    await insertWorkspaceWithKeys(tx, workspace, keys);
    return true;
  });
}

/** A new workspace and its first keys. */
async function insertWorkspaceWithKeys(
  tx: Tx,
  workspace: Workspace,
  keys: StoredKey[],
): Promise<void> {
  await insertWorkspace(tx, workspace);
  for (const key of keys) await insertKey(tx, key);
}

/** The WorkspaceStore port of core, on this database. */
export function workspaceStore(db: Database): WorkspaceStore {
  return {
    insertWorkspace: (workspace, keys) =>
      db.tx((tx) => insertWorkspaceWithKeys(tx, workspace, keys)),
    getWorkspace: (id) => getWorkspace(db, id),
    listWorkspaces: () => listWorkspaces(db),
    insertKey: (key) => insertKey(db, key),
    listKeys: (workspaceId) => listKeys(db, workspaceId),
    revokeKey: (workspaceId, keyId, at) =>
      revokeKey(db, workspaceId, keyId, at),
  };
}
