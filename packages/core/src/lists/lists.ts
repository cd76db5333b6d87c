import Type from "typebox";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { prefixedId } from "../ids.ts";

/**
 * Lists: static lists of profiles (filled by the API, CSV imports and sign-up forms), each
 * member with a subscription status. Marketing sent "to a list" goes only to its
 * subscribed members; the preference centre lets a shopper leave one list and stay on
 * another.
 */

/** A member's standing on a list. */
export const listStatuses = ["subscribed", "unsubscribed", "pending"] as const;
export const ListStatus = Type.Enum([...listStatuses]);
export type ListStatus = (typeof listStatuses)[number];

/** A list as the admin API shows it. */
export interface List {
  id: string;
  name: string;
  description: string;
  /** Shown in the preference centre, where shoppers may join or leave it themselves. */
  public: boolean;
  /** New members start `pending` until they confirm by email. */
  doubleOptIn: boolean;
  createdAt: Date;
}

/** A new list's id. */
export const newListId = (): string => prefixedId("list");

/** The body that creates a list. */
export const NewList = Type.Object({
  name: Type.String({ maxLength: 200, description: "1 to 200 characters" }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  public: Type.Optional(
    Type.Boolean({
      description:
        "shown in the preference centre, where shoppers may join or leave it (default true)",
    }),
  ),
  doubleOptIn: Type.Optional(
    Type.Boolean({
      description:
        "new members start pending until they confirm by email (default false)",
    }),
  ),
});
export type NewList = Type.Static<typeof NewList>;

/** The body that changes a list: any of the fields it was created with. */
export const ListChange = Type.Partial(NewList);
export type ListChange = Type.Static<typeof ListChange>;

/** A person to put on a list: a profile id, or identifiers (unknown people get a profile). */
export const NewListMember = Type.Object(
  {
    profileId: Type.Optional(Type.String({ format: "uuid" })),
    email: Type.Optional(Type.String()),
    phone: Type.Optional(Type.String()),
    userId: Type.Optional(Type.String()),
    status: Type.Optional(ListStatus),
    traits: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type NewListMember = Type.Static<typeof NewListMember>;

/** The body that adds people to a list, with the status they get unless they state one. */
export const NewListMembers = Type.Object(
  {
    members: Type.Array(NewListMember, { minItems: 1, maxItems: 1000 }),
    status: Type.Optional(ListStatus),
  },
  { additionalProperties: false },
);
export type NewListMembers = Type.Static<typeof NewListMembers>;

const listFields = ["name", "description", "public", "doubleOptIn"];

/**
 * Checks a create (`partial` false) or change body beyond its schema: a name that is not
 * only spaces (trimmed), and no field a list does not have. Throws `invalid` with each
 * problem's path.
 */
export function parseListInput(
  body: ListChange,
  partial: boolean,
  base = "/body",
): ListChange {
  const errors: ErrorDetail[] = [];
  const input: ListChange = {};
  if (body.name !== undefined || !partial) {
    const name = body.name?.trim() ?? "";
    if (name === "")
      errors.push({
        path: `${base}/name`,
        message: "must be a non-empty string of at most 200 characters",
      });
    else input.name = name;
  }
  if (body.description !== undefined) input.description = body.description;
  if (body.public !== undefined) input.public = body.public;
  if (body.doubleOptIn !== undefined) input.doubleOptIn = body.doubleOptIn;
  for (const key of Object.keys(body))
    if (!listFields.includes(key))
      errors.push({
        path: `${base}/${key}`,
        message:
          "is not a field of a list (name, description, public, doubleOptIn)",
      });
  const first = errors[0];
  if (first)
    throw new DomainError(
      "invalid",
      `the list is invalid: ${first.path} ${first.message}`,
      errors,
    );
  return input;
}

/** The status a new member gets when none is asked for: pending on double opt-in lists. */
export function defaultMemberStatus(
  list: Pick<List, "doubleOptIn">,
): ListStatus {
  return list.doubleOptIn ? "pending" : "subscribed";
}

/** True when `value` is a list status. */
export function isListStatus(value: unknown): value is ListStatus {
  return (listStatuses as readonly unknown[]).includes(value);
}
