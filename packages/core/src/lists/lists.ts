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

/** What creating or changing a list may set. */
export interface ListInput {
  name?: string;
  description?: string;
  public?: boolean;
  doubleOptIn?: boolean;
}

/** Checks a create (`partial` false) or update body; throws `invalid` with each problem's path. */
export function parseListInput(
  body: Record<string, unknown>,
  partial: boolean,
  base = "/body",
): ListInput {
  const errors: ErrorDetail[] = [];
  const input: ListInput = {};
  if (body.name !== undefined || !partial) {
    if (
      typeof body.name !== "string" ||
      body.name.trim() === "" ||
      body.name.length > 200
    )
      errors.push({
        path: `${base}/name`,
        message: "must be a non-empty string of at most 200 characters",
      });
    else input.name = body.name.trim();
  }
  if (body.description !== undefined) {
    if (typeof body.description !== "string" || body.description.length > 2000)
      errors.push({
        path: `${base}/description`,
        message: "must be a string of at most 2000 characters",
      });
    else input.description = body.description;
  }
  for (const key of ["public", "doubleOptIn"] as const) {
    const value = body[key];
    if (value === undefined) continue;
    if (typeof value !== "boolean")
      errors.push({ path: `${base}/${key}`, message: "must be true or false" });
    else input[key] = value;
  }
  for (const key of Object.keys(body))
    if (!["name", "description", "public", "doubleOptIn"].includes(key))
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
