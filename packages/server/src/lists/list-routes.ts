import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import {
  normalizeIdentifier,
  type Identifier,
} from "@herald/core/identity/identifiers";
import {
  listStatuses,
  newListId,
  parseListInput,
  type List,
  type ListStatus,
} from "@herald/core/lists/lists";
import { resolveProfile } from "@herald/core/profiles/profiles";
import { referencedLists } from "@herald/core/segments/segments";
import {
  deleteList,
  getList,
  getListMember,
  insertList,
  listListMembers,
  listLists,
  listMemberCounts,
  updateList,
  type ListMemberRow,
} from "./lists.sql.ts";
import { listSegments } from "../segments/segments.sql.ts";
import {
  changeListStatus,
  removeListMembers,
} from "../segments/segment-actions.ts";
import { addPeopleToList, type ListPerson } from "./list-members.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

const Status = Type.Enum([...listStatuses]);
const Counts = Type.Object({
  subscribed: Type.Integer(),
  unsubscribed: Type.Integer(),
  pending: Type.Integer(),
});
const ListView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  public: Type.Boolean(),
  doubleOptIn: Type.Boolean(),
  createdAt: Type.String({ format: "date-time" }),
  members: Counts,
});
const noMembers = { subscribed: 0, unsubscribed: 0, pending: 0 };
const listView = (
  list: List,
  members: Record<ListStatus, number> = noMembers,
) => ({
  id: list.id,
  name: list.name,
  description: list.description,
  public: list.public,
  doubleOptIn: list.doubleOptIn,
  createdAt: list.createdAt.toISOString(),
  members,
});

const MemberView = Type.Object({
  profileId: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  status: Status,
  source: Type.String(),
  subscribedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  updatedAt: Type.String({ format: "date-time" }),
});
const memberView = (row: ListMemberRow) => ({
  profileId: row.profile_id,
  email: row.email,
  phone: row.phone,
  status: row.status,
  source: row.source,
  subscribedAt: row.subscribed_at?.toISOString() ?? null,
  updatedAt: row.updated_at.toISOString(),
});

const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
});
const MemberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  profileId: Type.String({ format: "uuid" }),
});

const NewMember = Type.Object(
  {
    profileId: Type.Optional(Type.String({ format: "uuid" })),
    email: Type.Optional(Type.String()),
    phone: Type.Optional(Type.String()),
    userId: Type.Optional(Type.String()),
    status: Type.Optional(Status),
    traits: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

/** Static lists: the lists, their members and each member's subscription status. */
export function registerListRoutes(api: App, deps: HttpDeps): void {
  const tags = ["lists"];
  const { db, clock } = deps;

  const existing = async (workspaceId: string, id: string) => {
    const list = await getList(db, workspaceId, id);
    if (!list) throw new DomainError("not_found", `no list ${id}`);
    return list;
  };
  const nameTaken = (error: unknown, name: string | undefined): never => {
    if ((error as { code?: unknown }).code === "23505")
      throw new DomainError(
        "conflict",
        `a list named "${name ?? ""}" exists already`,
        [{ path: "/body/name", message: "is taken" }],
      );
    throw error;
  };

  api.get(
    "/lists",
    {
      schema: {
        tags,
        summary: "The workspace's lists with their member counts by status",
        response: { 200: Type.Object({ items: Type.Array(ListView) }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const [lists, counts] = await Promise.all([
        listLists(db, workspaceId),
        listMemberCounts(db, workspaceId),
      ]);
      return {
        items: lists.map((list) => listView(list, counts.get(list.id))),
      };
    },
  );

  api.post(
    "/lists",
    {
      schema: {
        tags,
        summary: "Create a list",
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 201: ListView },
      },
    },
    async (request, reply) => {
      const workspaceId = request.auth.workspaceId;
      const input = parseListInput(request.body, false);
      const list: List = {
        id: newListId(),
        name: input.name ?? "",
        description: input.description ?? "",
        public: input.public ?? true,
        doubleOptIn: input.doubleOptIn ?? false,
        createdAt: clock.now(),
      };
      await insertList(db, workspaceId, list).catch((error: unknown) =>
        nameTaken(error, list.name),
      );
      return reply.status(201).send(listView(list));
    },
  );

  api.get(
    "/lists/:id",
    {
      schema: {
        tags,
        summary: "A list",
        params: Params,
        response: { 200: ListView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      return listView(
        list,
        (await listMemberCounts(db, workspaceId)).get(list.id),
      );
    },
  );

  api.patch(
    "/lists/:id",
    {
      schema: {
        tags,
        summary:
          "Change a list's name, description, visibility or double opt-in",
        params: Params,
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: ListView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const input = parseListInput(request.body, true);
      await updateList(db, workspaceId, list.id, input).catch(
        (error: unknown) => nameTaken(error, input.name),
      );
      return listView(
        await existing(workspaceId, list.id),
        (await listMemberCounts(db, workspaceId)).get(list.id),
      );
    },
  );

  api.delete(
    "/lists/:id",
    {
      schema: {
        tags,
        summary:
          "Delete a list and its memberships (refused while segments use it)",
        params: Params,
        response: { 200: Type.Object({ deleted: Type.String() }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const users = (await listSegments(db, workspaceId)).filter((s) =>
        referencedLists(s.definition).includes(list.id),
      );
      if (users.length > 0)
        throw new DomainError(
          "conflict",
          `list ${list.id} is used by segment ${users.map((s) => `"${s.name}"`).join(", ")}; change those first`,
        );
      await deleteList(db, workspaceId, list.id);
      return { deleted: list.id };
    },
  );

  api.get(
    "/lists/:id/members",
    {
      schema: {
        tags,
        summary:
          "A page of a list's members, by profile id, optionally of one status",
        params: Params,
        querystring: Type.Object({
          status: Type.Optional(Status),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          after: Type.Optional(
            Type.String({
              format: "uuid",
              description: "the `next` cursor of the previous page",
            }),
          ),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(MemberView),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const { limit, after, status } = request.query;
      const rows = await listListMembers(db, workspaceId, list.id, {
        limit: limit + 1,
        ...(after ? { after } : {}),
        ...(status ? { status } : {}),
      });
      const items = rows.slice(0, limit).map(memberView);
      return {
        items,
        next: rows.length > limit ? (items.at(-1)?.profileId ?? null) : null,
      };
    },
  );

  api.post(
    "/lists/:id/members",
    {
      schema: {
        tags,
        summary:
          "Add people to a list by profileId, email, phone or userId (unknown people get a new profile); status defaults to the list's (pending with double opt-in)",
        params: Params,
        body: Type.Object(
          {
            members: Type.Array(NewMember, { minItems: 1, maxItems: 1000 }),
            status: Type.Optional(Status),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            added: Type.Integer(),
            profileIds: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const settings = await deps.settings.get(workspaceId);
      const byProfile: {
        index: number;
        profileId: string;
        status: ListStatus | undefined;
      }[] = [];
      const people: (ListPerson & { index: number })[] = [];
      request.body.members.forEach((member, index) => {
        const path = `/body/members/${index}`;
        if (member.profileId) {
          byProfile.push({
            index,
            profileId: member.profileId,
            status: member.status,
          });
          return;
        }
        const identifiers: Identifier[] = [];
        for (const [key, type] of [
          ["email", "email"],
          ["phone", "phone"],
          ["userId", "user_id"],
        ] as const) {
          const raw = member[key];
          if (raw === undefined) continue;
          const value = normalizeIdentifier(
            type,
            raw,
            settings.defaultPhoneRegion,
          );
          if (value === undefined)
            throw new DomainError(
              "invalid",
              `${path}/${key}: "${raw}" is not a usable ${type}`,
              [{ path: `${path}/${key}`, message: `is not a usable ${type}` }],
            );
          identifiers.push({ type, value });
        }
        if (identifiers.length === 0)
          throw new DomainError(
            "invalid",
            `${path}: give a profileId, email, phone or userId`,
            [
              {
                path,
                message:
                  "names nobody: give a profileId, email, phone or userId",
              },
            ],
          );
        people.push({
          index,
          identifiers,
          traits: member.traits ?? {},
          status: member.status,
          line: index,
        });
      });
      const profileIds: string[] = new Array<string>(
        request.body.members.length,
      ).fill("");
      await db.tx(async (tx) => {
        const now = clock.now();
        const byStatus = new Map<ListStatus | undefined, string[]>();
        for (const member of byProfile) {
          byStatus.set(member.status, [
            ...(byStatus.get(member.status) ?? []),
            member.profileId,
          ]);
          profileIds[member.index] = member.profileId;
        }
        for (const [status, ids] of byStatus)
          await changeListStatus(
            tx,
            workspaceId,
            list.id,
            ids,
            status ??
              request.body.status ??
              (list.doubleOptIn ? "pending" : "subscribed"),
            now,
            "api",
          );
        const ids = await addPeopleToList(tx, workspaceId, list, people, {
          ...(request.body.status ? { status: request.body.status } : {}),
          source: "api",
          now,
        });
        people.forEach(
          (person, i) => (profileIds[person.index] = ids[i] ?? ""),
        );
      });
      return { added: profileIds.length, profileIds };
    },
  );

  api.get(
    "/lists/:id/members/:profileId",
    {
      schema: {
        tags,
        summary: "One profile's membership of a list",
        params: MemberParams,
        response: { 200: MemberView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const row = await getListMember(
        db,
        workspaceId,
        list.id,
        request.params.profileId,
      );
      if (!row)
        throw new DomainError(
          "not_found",
          `profile ${request.params.profileId} is not on list ${list.id}`,
        );
      return memberView(row);
    },
  );

  api.put(
    "/lists/:id/members/:profileId",
    {
      schema: {
        tags,
        summary: "Set a profile's status on a list (adding it if absent)",
        params: MemberParams,
        body: Type.Object({ status: Status }, { additionalProperties: false }),
        response: { 200: MemberView },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const profile = await resolveProfile(
        deps.profiles,
        workspaceId,
        request.params.profileId,
      );
      await db.tx((tx) =>
        changeListStatus(
          tx,
          workspaceId,
          list.id,
          [profile.id],
          request.body.status,
          clock.now(),
          "api",
        ),
      );
      const row = await getListMember(db, workspaceId, list.id, profile.id);
      if (!row)
        throw new DomainError(
          "not_found",
          `profile ${profile.id} is not on list ${list.id}`,
        );
      return memberView(row);
    },
  );

  api.delete(
    "/lists/:id/members/:profileId",
    {
      schema: {
        tags,
        summary:
          "Take a profile off a list altogether (to keep a record of the opt-out, set unsubscribed instead)",
        params: MemberParams,
        response: { 200: Type.Object({ removed: Type.String() }) },
      },
    },
    async (request) => {
      const workspaceId = request.auth.workspaceId;
      const list = await existing(workspaceId, request.params.id);
      const removed = await db.tx((tx) =>
        removeListMembers(
          tx,
          workspaceId,
          list.id,
          [request.params.profileId],
          clock.now(),
        ),
      );
      if (removed === 0)
        throw new DomainError(
          "not_found",
          `profile ${request.params.profileId} is not on list ${list.id}`,
        );
      return { removed: request.params.profileId };
    },
  );
}
