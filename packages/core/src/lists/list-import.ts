import type { JsonObject } from "../events/event.ts";
import {
  normalizeEmail,
  normalizeIdentifier,
  normalizePhone,
  type Identifier,
} from "../identity/identifiers.ts";
import { isListStatus, type ListStatus } from "./lists.ts";

/**
 * Reading a CSV of list members: one person per row, found by `email`, `phone` or
 * `user_id` (at least one must be usable), with an optional `status` column
 * (subscribed / unsubscribed / pending) and any other columns kept as traits
 * (`first_name`, `last_name`, ...). Column names are matched without regard to case,
 * spaces or dashes, and common spellings ("E-mail", "Phone number", "userId") are known.
 */

/** A row ready to import. */
export interface ImportRow {
  identifiers: Identifier[];
  traits: JsonObject;
  status: ListStatus | undefined;
}

/** A row that cannot be imported, with why (1-based line numbers, the header is line 1). */
export interface RejectedRow {
  line: number;
  reason: string;
}

const aliases: Record<string, "email" | "phone" | "user_id" | "status"> = {
  email: "email",
  emailaddress: "email",
  mail: "email",
  phone: "phone",
  phonenumber: "phone",
  mobile: "phone",
  sms: "phone",
  userid: "user_id",
  customerid: "user_id",
  externalid: "user_id",
  status: "status",
  subscriptionstatus: "status",
};

/** The canonical key of a column name: lower-case, no spaces, dashes or underscores. */
function columnKey(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, "");
}

/** Trait name for an unknown column: lower_snake_case. */
function traitName(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[\s-]+/g, "_");
}

/** Reads one row (as column → cell); a string result is the reason it is rejected. */
export function readImportRow(
  row: Record<string, string | undefined>,
  defaultRegion?: string,
): ImportRow | string {
  const identifiers: Identifier[] = [];
  const traits: JsonObject = {};
  let status: ListStatus | undefined;
  const problems: string[] = [];
  for (const [column, raw] of Object.entries(row)) {
    const cell = raw?.trim() ?? "";
    if (cell === "") continue;
    const known = aliases[columnKey(column)];
    if (known === "email") {
      const email = normalizeEmail(cell);
      if (email) identifiers.push({ type: "email", value: email });
      else problems.push(`"${cell}" is not an email address`);
    } else if (known === "phone") {
      const phone = normalizePhone(cell, defaultRegion);
      if (phone) identifiers.push({ type: "phone", value: phone });
      else problems.push(`"${cell}" is not a phone number`);
    } else if (known === "user_id") {
      const id = normalizeIdentifier("user_id", cell);
      if (id) identifiers.push({ type: "user_id", value: id });
      else problems.push(`"${cell}" is not a usable user id`);
    } else if (known === "status") {
      const value = cell.toLowerCase();
      if (isListStatus(value)) status = value;
      else
        problems.push(
          `status "${cell}" is not subscribed, unsubscribed or pending`,
        );
    } else {
      traits[traitName(column)] = cell;
    }
  }
  const badStatus = problems.find((p) => p.startsWith("status"));
  if (badStatus) return badStatus;
  // A usable identifier is enough; a malformed second one is left out.
  if (identifiers.length === 0)
    return problems[0] ?? "no email, phone or user_id to find the person by";
  return { identifiers, traits, status };
}
