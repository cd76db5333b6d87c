import Type from "typebox";
import {
  ListChange,
  ListStatus,
  NewList,
  NewListMembers,
} from "@herald/core/lists/lists";
import {
  createList,
  deleteList,
  getListMember,
  getListWithCounts,
  listListMembers,
  listListsWithCounts,
  removeListMember,
  setListMemberStatus,
  updateList,
  type CountedList,
  type ListMember,
} from "./list-service.ts";
import { addListMembers } from "./list-members.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";

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
/** A list as the API shows it. */
const listView = ({ list, members }: CountedList) => ({
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
  status: ListStatus,
  source: Type.String(),
  subscribedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  updatedAt: Type.String({ format: "date-time" }),
});
/** A membership as the API shows it. */
const memberView = (member: ListMember) => ({
  profileId: member.profileId,
  email: member.email,
  phone: member.phone,
  status: member.status,
  source: member.source,
  subscribedAt: member.subscribedAt?.toISOString() ?? null,
  updatedAt: member.updatedAt.toISOString(),
});

const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
});
const MemberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  profileId: Type.String({ format: "uuid" }),
});

/** Static lists: the lists, their members and each member's subscription status. */
export function registerListRoutes(api: App, deps: HttpDeps): void {
  const tags = ["lists"];
  const { db } = deps;

  api.get(
    "/lists",
    {
      schema: {
        tags,
        summary: "The workspace's lists with their member counts by status",
        response: { 200: Type.Object({ items: Type.Array(ListView) }) },
      },
    },
    async (request) => ({
      items: (await listListsWithCounts(db, request.auth.workspaceId)).map(
        listView,
      ),
    }),
  );

  api.post(
    "/lists",
    {
      schema: {
        tags,
        summary: "Create a list",
        body: NewList,
        response: { 201: ListView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          listView(
            await createList(deps, request.auth.workspaceId, request.body),
          ),
        ),
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
    async (request) =>
      listView(
        await getListWithCounts(
          db,
          request.auth.workspaceId,
          request.params.id,
        ),
      ),
  );

  api.patch(
    "/lists/:id",
    {
      schema: {
        tags,
        summary:
          "Change a list's name, description, visibility or double opt-in",
        params: Params,
        body: ListChange,
        response: { 200: ListView },
      },
    },
    async (request) =>
      listView(
        await updateList(
          db,
          request.auth.workspaceId,
          request.params.id,
          request.body,
        ),
      ),
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
      await deleteList(db, request.auth.workspaceId, request.params.id);
      return { deleted: request.params.id };
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
          status: Type.Optional(ListStatus),
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
      const page = await listListMembers(
        db,
        request.auth.workspaceId,
        request.params.id,
        request.query,
      );
      return { items: page.items.map(memberView), next: page.next };
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
        body: NewListMembers,
        response: {
          200: Type.Object({
            added: Type.Integer(),
            profileIds: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) =>
      addListMembers(
        deps,
        request.auth.workspaceId,
        request.params.id,
        request.body,
      ),
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
    async (request) =>
      memberView(
        await getListMember(db, request.auth.workspaceId, {
          listId: request.params.id,
          profileId: request.params.profileId,
        }),
      ),
  );

  api.put(
    "/lists/:id/members/:profileId",
    {
      schema: {
        tags,
        summary: "Set a profile's status on a list (adding it if absent)",
        params: MemberParams,
        body: Type.Object(
          { status: ListStatus },
          { additionalProperties: false },
        ),
        response: { 200: MemberView },
      },
    },
    async (request) =>
      memberView(
        await setListMemberStatus(deps, request.auth.workspaceId, {
          listId: request.params.id,
          profileId: request.params.profileId,
          status: request.body.status,
        }),
      ),
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
      await removeListMember(deps, request.auth.workspaceId, {
        listId: request.params.id,
        profileId: request.params.profileId,
      });
      return { removed: request.params.profileId };
    },
  );
}
