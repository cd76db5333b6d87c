import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  newListId,
  parseListInput,
  type List,
  type ListChange,
  type ListStatus,
  type NewList,
} from "@herald/core/lists/lists";
import type { Database, Queryable, Tx } from "../db/database.ts";
import {
  lockLiveProfiles,
  type ProfileDeps,
} from "../profiles/profile-service.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import {
  reevaluateSegments,
  segmentsUsingList,
} from "../segments/segment-service.ts";
import {
  deleteFromList,
  deleteList as deleteListRow,
  deleteListMembers,
  exportListMembers,
  getList,
  getListMember as getListMemberRow,
  insertList,
  listListMembers as listListMemberRows,
  listLists,
  listMemberCounts,
  setListStatus,
  updateList as updateListRow,
  type ListMemberRow,
} from "./lists.sql.ts";

/**
 * Static lists as flows, the admin API and privacy requests use them: the lists, each
 * profile's status on them (set in the caller's transaction, with the profiles locked and
 * the segments on the list re-evaluated there), and their members. Filling lists with
 * people named by email, phone or user id is in list-members.ts.
 */

/** A list with how many members it has of each status. */
export interface CountedList {
  list: List;
  members: Record<ListStatus, number>;
}

/** A profile's membership of a list. */
export interface ListMember {
  profileId: string;
  email: string | null;
  phone: string | null;
  status: ListStatus;
  source: string;
  subscribedAt: Date | null;
  updatedAt: Date;
}

const noMembers = { subscribed: 0, unsubscribed: 0, pending: 0 };

const toListMember = (row: ListMemberRow): ListMember => ({
  profileId: row.profile_id,
  email: row.email,
  phone: row.phone,
  status: row.status,
  source: row.source,
  subscribedAt: row.subscribed_at,
  updatedAt: row.updated_at,
});

/** Unique-name violations as a conflict a person understands. */
function nameTaken(error: unknown, name: string | undefined): never {
  // A database error carries the SQLSTATE in `code`.
  if ((error as { code?: unknown }).code === "23505")
    throw new DomainError(
      "conflict",
      `a list named "${name ?? ""}" exists already`,
      [{ path: "/body/name", message: "is taken" }],
    );
  throw error;
}

/**
 * Sets profiles' status on a list (adding those not on it), and re-evaluates the segments
 * on that list. Use this rather than `setListStatus` when segments should follow at once.
 */
export async function changeListStatus(
  tx: Tx,
  workspaceId: string,
  listId: string,
  change: {
    profileIds: string[];
    status: ListStatus;
    now: Date;
    source?: string;
  },
): Promise<void> {
  const { profileIds, status, now, source = "api" } = change;
  if (profileIds.length === 0) return;
  if (!(await getList(tx, workspaceId, listId)))
    throw new DomainError("not_found", `no list ${listId}`);
  const ids = [...new Set(profileIds)].sort();
  const live = await lockLiveProfiles(tx, workspaceId, ids);
  const missing = ids.filter((id) => !live.has(id));
  if (missing.length > 0)
    throw new DomainError("not_found", `no profile ${missing[0]}`, [
      {
        path: "/profileIds",
        message: `${missing.length} unknown profile(s), such as ${missing[0]}`,
      },
    ]);
  const targets = [...new Set(live.values())];
  await setListStatus(tx, workspaceId, listId, {
    profileIds: targets,
    status,
    source,
    at: now,
  });
  await reevaluateSegments(tx, workspaceId, {
    changes: new Map(
      targets.map((id) => [
        id,
        { keys: new Set([`list:${listId}`]), silent: source === "import" },
      ]),
    ),
    now,
  });
}

/** Removes profiles from a list altogether, and re-evaluates the segments on that list. */
export async function removeListMembers(
  tx: Tx,
  workspaceId: string,
  listId: string,
  change: { profileIds: string[]; now: Date },
): Promise<number> {
  const removed = await deleteFromList(
    tx,
    workspaceId,
    listId,
    change.profileIds,
  );
  await reevaluateSegments(tx, workspaceId, {
    changes: new Map(
      removed.map((id) => [
        id,
        { keys: new Set([`list:${listId}`]), silent: false },
      ]),
    ),
    now: change.now,
  });
  return removed.length;
}

/** A list; not_found if there is none. */
export async function requireList(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<List> {
  const list = await getList(q, workspaceId, id);
  if (!list) throw new DomainError("not_found", `no list ${id}`);
  return list;
}

/** The workspace's lists with their member counts by status. */
export async function listListsWithCounts(
  db: Database,
  workspaceId: string,
): Promise<CountedList[]> {
  const [lists, counts] = await Promise.all([
    listLists(db, workspaceId),
    listMemberCounts(db, workspaceId),
  ]);
  return lists.map((list) => ({
    list,
    members: counts.get(list.id) ?? noMembers,
  }));
}

/** A list with its member counts; not_found if there is none. */
export async function getListWithCounts(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<CountedList> {
  const list = await requireList(db, workspaceId, id);
  return {
    list,
    members:
      (await listMemberCounts(db, workspaceId)).get(list.id) ?? noMembers,
  };
}

/** Creates a list; conflict when the name is taken. */
export async function createList(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  body: NewList,
): Promise<CountedList> {
  const input = parseListInput(body, false);
  const list: List = {
    id: newListId(),
    name: input.name ?? "",
    description: input.description ?? "",
    public: input.public ?? true,
    doubleOptIn: input.doubleOptIn ?? false,
    createdAt: deps.clock.now(),
  };
  await insertList(deps.db, workspaceId, list).catch((error: unknown) =>
    nameTaken(error, list.name),
  );
  return { list, members: noMembers };
}

/** Changes a list's name, description, visibility or double opt-in. */
export async function updateList(
  db: Database,
  workspaceId: string,
  id: string,
  body: ListChange,
): Promise<CountedList> {
  const list = await requireList(db, workspaceId, id);
  const input = parseListInput(body, true);
  await updateListRow(db, workspaceId, list.id, input).catch((error: unknown) =>
    nameTaken(error, input.name),
  );
  return getListWithCounts(db, workspaceId, list.id);
}

/** Deletes a list and its memberships; refused while segments use it. */
export async function deleteList(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<void> {
  const list = await requireList(db, workspaceId, id);
  const users = await segmentsUsingList(db, workspaceId, list.id);
  if (users.length > 0)
    throw new DomainError(
      "conflict",
      `list ${list.id} is used by segment ${users.map((s) => `"${s.name}"`).join(", ")}; change those first`,
    );
  await deleteListRow(db, workspaceId, list.id);
}

/** A page of a list's members by profile id after the `after` cursor, optionally of one status. */
export async function listListMembers(
  db: Database,
  workspaceId: string,
  id: string,
  page: {
    limit: number;
    after?: string | undefined;
    status?: ListStatus | undefined;
  },
): Promise<{ items: ListMember[]; next: string | null }> {
  const list = await requireList(db, workspaceId, id);
  const { limit, after, status } = page;
  const rows = await listListMemberRows(db, workspaceId, list.id, {
    limit: limit + 1,
    ...(after ? { after } : {}),
    ...(status ? { status } : {}),
  });
  const items = rows.slice(0, limit).map(toListMember);
  return {
    items,
    next: rows.length > limit ? (items.at(-1)?.profileId ?? null) : null,
  };
}

/** A profile's membership of a list; not_found when it is not on it. */
export async function getListMember(
  db: Database,
  workspaceId: string,
  member: { listId: string; profileId: string },
): Promise<ListMember> {
  const list = await requireList(db, workspaceId, member.listId);
  const row = await getListMemberRow(
    db,
    workspaceId,
    list.id,
    member.profileId,
  );
  if (!row)
    throw new DomainError(
      "not_found",
      `profile ${member.profileId} is not on list ${list.id}`,
    );
  return toListMember(row);
}

/** Sets the status on a list of the profile an id names (adding it if absent). */
export async function setListMemberStatus(
  deps: ProfileDeps,
  workspaceId: string,
  member: { listId: string; profileId: string; status: ListStatus },
): Promise<ListMember> {
  const { db } = deps;
  const list = await requireList(db, workspaceId, member.listId);
  const profile = await resolveProfile(
    deps.profiles,
    workspaceId,
    member.profileId,
  );
  await db.tx((tx) =>
    changeListStatus(tx, workspaceId, list.id, {
      profileIds: [profile.id],
      status: member.status,
      now: deps.clock.now(),
      source: "api",
    }),
  );
  return getListMember(db, workspaceId, {
    listId: list.id,
    profileId: profile.id,
  });
}

/** Takes a profile off a list altogether; not_found when it was not on it. */
export async function removeListMember(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  member: { listId: string; profileId: string },
): Promise<void> {
  const list = await requireList(deps.db, workspaceId, member.listId);
  const removed = await deps.db.tx((tx) =>
    removeListMembers(tx, workspaceId, list.id, {
      profileIds: [member.profileId],
      now: deps.clock.now(),
    }),
  );
  if (removed === 0)
    throw new DomainError(
      "not_found",
      `profile ${member.profileId} is not on list ${list.id}`,
    );
}

/** Privacy export and erasure of profiles' list memberships. */
export const listPersonalData: PersonalData = {
  name: "lists",
  export: (q, workspaceId, ids) => exportListMembers(q, workspaceId, ids),
  erase: (tx, workspaceId, ids) => deleteListMembers(tx, workspaceId, ids),
};
