import type {
  Identifier,
  IdentifierType,
} from "@herald/core/identity/identifiers";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `identities`. */
export type IdentityRow = {
  type: IdentifierType;
  value: string;
  profile_id: string;
};

/** The owners of the given identifiers, as a map from `type:value` to profile id. */
export async function findOwners(
  q: Queryable,
  workspaceId: string,
  ids: Identifier[],
): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await q.query<IdentityRow>(
    `select i.type, i.value, i.profile_id from identities i
       join unnest($2::text[], $3::text[]) as wanted(type, value) on i.type = wanted.type and i.value = wanted.value
      where i.workspace_id = $1`,
    [workspaceId, ids.map((id) => id.type), ids.map((id) => id.value)],
  );
  return new Map(
    rows.map((row) => [`${row.type}:${row.value}`, row.profile_id]),
  );
}

/**
 * Points unowned identifiers at profiles; returns those inserted as `type:value` keys (an
 * identifier another transaction took first is left to its owner).
 */
export async function insertIdentities(
  tx: Tx,
  workspaceId: string,
  ids: (Identifier & { profileId: string })[],
  at: Date,
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await tx.query<{ type: string; value: string }>(
    `insert into identities (workspace_id, type, value, profile_id, created_at, last_seen_at)
     select $1, t, v, p, $5, $5 from unnest($2::text[], $3::text[], $4::uuid[]) as x(t, v, p)
      order by t, v -- one lock order for concurrent writers
     on conflict (workspace_id, type, value) do nothing
     returning type, value`,
    [
      workspaceId,
      ids.map((i) => i.type),
      ids.map((i) => i.value),
      ids.map((i) => i.profileId),
      at,
    ],
  );
  return new Set(rows.map((row) => `${row.type}:${row.value}`));
}

/** The identifiers of each of the given profiles. */
export async function identitiesOf(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<IdentityRow[]> {
  if (profileIds.length === 0) return [];
  return q.query<IdentityRow>(
    "select type, value, profile_id from identities where workspace_id = $1 and profile_id = any($2::uuid[]) order by type, value",
    [workspaceId, profileIds],
  );
}

/** Moves every identifier of a merged profile to the survivor. */
export async function moveIdentities(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update identities set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** Finds profiles by one identifier. */
export async function findProfileIdsBy(
  q: Queryable,
  workspaceId: string,
  id: Identifier,
): Promise<string[]> {
  const rows = await q.query<{ profile_id: string }>(
    "select profile_id from identities where workspace_id = $1 and type = $2 and value = $3",
    [workspaceId, id.type, id.value],
  );
  return rows.map((row) => row.profile_id);
}

/** Deletes the identifiers of profiles. */
export async function deleteIdentities(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from identities where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
