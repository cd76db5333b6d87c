import type { List, ListStatus } from "@herald/core/lists/lists";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `lists`. */
type ListRow = {
  id: string;
  name: string;
  description: string;
  public: boolean;
  double_opt_in: boolean;
  created_at: Date;
};

const toList = (row: ListRow): List => ({
  id: row.id,
  name: row.name,
  description: row.description,
  public: row.public,
  doubleOptIn: row.double_opt_in,
  createdAt: row.created_at,
});

/** Creates a list. */
export async function insertList(
  q: Queryable,
  workspaceId: string,
  list: List,
): Promise<void> {
  await q.query(
    `insert into lists (workspace_id, id, name, description, public, double_opt_in, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [
      workspaceId,
      list.id,
      list.name,
      list.description,
      list.public,
      list.doubleOptIn,
      list.createdAt,
    ],
  );
}

/** One list. */
export async function getList(
  q: Queryable,
  workspaceId: string,
  listId: string,
): Promise<List | undefined> {
  const [row] = await q.query<ListRow>(
    "select * from lists where workspace_id = $1 and id = $2",
    [workspaceId, listId],
  );
  return row && toList(row);
}

/** The workspace's lists, by name. */
export async function listLists(
  q: Queryable,
  workspaceId: string,
): Promise<List[]> {
  const rows = await q.query<ListRow>(
    "select * from lists where workspace_id = $1 order by lower(name)",
    [workspaceId],
  );
  return rows.map(toList);
}

/** A profile's status on each list it has one on. */
export async function listStatusesOf(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<Map<string, ListStatus>> {
  const rows = await q.query<{ list_id: string; status: ListStatus }>(
    "select list_id, status from list_members where workspace_id = $1 and profile_id = $2",
    [workspaceId, profileId],
  );
  return new Map(rows.map((row) => [row.list_id, row.status]));
}

/** Sets profiles' status on a list (adding them if absent). */
export async function setListStatus(
  tx: Tx,
  workspaceId: string,
  listId: string,
  change: {
    profileIds: string[];
    status: ListStatus;
    source: string;
    at: Date;
  },
): Promise<void> {
  const { profileIds, status, source, at } = change;
  if (profileIds.length === 0) return;
  await tx.query(
    `insert into list_members (workspace_id, list_id, profile_id, status, source, subscribed_at, updated_at)
     select $1, $2, p, $4, $5, case when $4 = 'subscribed' then $6::timestamptz end, $6
       from unnest($3::uuid[]) as p
     on conflict (workspace_id, list_id, profile_id) do update
       set status = excluded.status, source = excluded.source, updated_at = excluded.updated_at,
           subscribed_at = coalesce(list_members.subscribed_at, excluded.subscribed_at)`,
    [workspaceId, listId, profileIds, status, source, at],
  );
}

/** Moves a merged profile's list memberships to the survivor (the survivor's own win). */
export async function mergeListMembers(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    `insert into list_members (workspace_id, list_id, profile_id, status, source, subscribed_at, updated_at)
     select workspace_id, list_id, $3, status, source, subscribed_at, updated_at
       from list_members where workspace_id = $1 and profile_id = $2
     on conflict (workspace_id, list_id, profile_id) do nothing`,
    [workspaceId, from, to],
  );
  await tx.query(
    "delete from list_members where workspace_id = $1 and profile_id = $2",
    [workspaceId, from],
  );
}

/** Deletes profiles' list memberships. */
export async function deleteListMembers(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from list_members where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}

/** Changes a list; false when there is none. */
export async function updateList(
  q: Queryable,
  workspaceId: string,
  listId: string,
  change: Partial<
    Pick<List, "name" | "description" | "public" | "doubleOptIn">
  >,
): Promise<boolean> {
  const n = await q.execute(
    `update lists set name = coalesce($3, name), description = coalesce($4, description),
        public = coalesce($5, public), double_opt_in = coalesce($6, double_opt_in)
      where workspace_id = $1 and id = $2`,
    [
      workspaceId,
      listId,
      change.name ?? null,
      change.description ?? null,
      change.public ?? null,
      change.doubleOptIn ?? null,
    ],
  );
  return n > 0;
}

/** Deletes a list and its memberships; false when there is none. */
export async function deleteList(
  q: Queryable,
  workspaceId: string,
  listId: string,
): Promise<boolean> {
  return (
    (await q.execute("delete from lists where workspace_id = $1 and id = $2", [
      workspaceId,
      listId,
    ])) > 0
  );
}

/** Members per status of each list. */
export async function listMemberCounts(
  q: Queryable,
  workspaceId: string,
): Promise<Map<string, Record<ListStatus, number>>> {
  const rows = await q.query<{
    list_id: string;
    status: ListStatus;
    n: number;
  }>(
    `select list_id, status, count(*) as n from list_members where workspace_id = $1
      group by list_id, status`,
    [workspaceId],
  );
  const counts = new Map<string, Record<ListStatus, number>>();
  for (const row of rows) {
    const entry = counts.get(row.list_id) ?? {
      subscribed: 0,
      unsubscribed: 0,
      pending: 0,
    };
    entry[row.status] = row.n;
    counts.set(row.list_id, entry);
  }
  return counts;
}

/** A row of a list's members as the API shows it. */
export type ListMemberRow = {
  profile_id: string;
  email: string | null;
  phone: string | null;
  status: ListStatus;
  source: string;
  subscribed_at: Date | null;
  updated_at: Date;
};

/** A page of a list's members by profile id after `after`, optionally of one status. */
export async function listListMembers(
  q: Queryable,
  workspaceId: string,
  listId: string,
  page: { after?: string; status?: ListStatus; limit: number },
): Promise<ListMemberRow[]> {
  return q.query<ListMemberRow>(
    `select m.profile_id, p.email, p.phone, m.status, m.source, m.subscribed_at, m.updated_at
       from list_members m
       left join profiles p on p.workspace_id = m.workspace_id and p.id = m.profile_id
      where m.workspace_id = $1 and m.list_id = $2
        and ($3::uuid is null or m.profile_id > $3) and ($4::text is null or m.status = $4)
      order by m.profile_id limit $5`,
    [workspaceId, listId, page.after ?? null, page.status ?? null, page.limit],
  );
}

/** One profile's membership of a list. */
export async function getListMember(
  q: Queryable,
  workspaceId: string,
  listId: string,
  profileId: string,
): Promise<ListMemberRow | undefined> {
  const [row] = await q.query<ListMemberRow>(
    `select m.profile_id, p.email, p.phone, m.status, m.source, m.subscribed_at, m.updated_at
       from list_members m
       left join profiles p on p.workspace_id = m.workspace_id and p.id = m.profile_id
      where m.workspace_id = $1 and m.list_id = $2 and m.profile_id = $3`,
    [workspaceId, listId, profileId],
  );
  return row;
}

/** Takes profiles off a list altogether; returns the ids that were on it. */
export async function deleteFromList(
  tx: Tx,
  workspaceId: string,
  listId: string,
  profileIds: string[],
): Promise<string[]> {
  if (profileIds.length === 0) return [];
  const rows = await tx.query<{ profile_id: string }>(
    `delete from list_members where workspace_id = $1 and list_id = $2 and profile_id = any($3::uuid[])
     returning profile_id`,
    [workspaceId, listId, profileIds],
  );
  return rows.map((row) => row.profile_id);
}

/** Profiles' list memberships, for a privacy export. */
export async function exportListMembers(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<unknown[]> {
  return q.query(
    `select m.list_id, l.name, m.status, m.source, m.subscribed_at, m.updated_at from list_members m
       join lists l on l.workspace_id = m.workspace_id and l.id = m.list_id
      where m.workspace_id = $1 and m.profile_id = any($2::uuid[])`,
    [workspaceId, profileIds],
  );
}

/** The ids among `ids` that are lists of the workspace. */
export async function existingListIds(
  q: Queryable,
  workspaceId: string,
  ids: string[],
): Promise<Set<string>> {
  const rows = await q.query<{ id: string }>(
    "select id from lists where workspace_id = $1 and id = any($2::text[])",
    [workspaceId, ids],
  );
  return new Set(rows.map((row) => row.id));
}
