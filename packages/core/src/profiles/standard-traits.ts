import { isJsonObject, type JsonObject } from "../events/event.ts";

/**
 * Segment's reserved identify traits under Herald's one name for each. analytics.js,
 * `@segment/analytics-node` and RudderStack send `firstName`, `createdAt`, a nested
 * `address` and `company`; store webhooks and CSV files send `first_name`, `zip`, flat
 * columns. Every identify call's traits pass through `standardTraits` before they reach
 * the profile, so templates, segments and flows read one name (`first_name`, `city`, …)
 * whatever the source said, and the traits as sent are kept beside it.
 */

/** Herald's trait names for Segment's reserved identify traits, as templates use them. */
export const standardTraitNames = [
  "first_name",
  "last_name",
  "name",
  "email",
  "phone",
  "birthday",
  "created_at",
  "gender",
  "title",
  "username",
  "website",
  "avatar",
  "company_name",
  "street",
  "city",
  "state",
  "postal_code",
  "country",
] as const;
export type StandardTraitName = (typeof standardTraitNames)[number];

type Source = (traits: JsonObject) => unknown;

const top =
  (key: string): Source =>
  (traits) =>
    traits[key];
const nested =
  (object: string, key: string): Source =>
  (traits) => {
    const value = traits[object];
    return isJsonObject(value) ? value[key] : undefined;
  };

// Where each name is read from, first match wins; Herald's own name always comes first.
const sources: Record<Exclude<StandardTraitName, "name">, Source[]> = {
  first_name: [top("first_name"), top("firstName")],
  last_name: [top("last_name"), top("lastName")],
  email: [top("email")],
  phone: [top("phone")],
  birthday: [top("birthday")],
  created_at: [top("created_at"), top("createdAt")],
  gender: [top("gender")],
  title: [top("title")],
  username: [top("username")],
  website: [top("website")],
  avatar: [top("avatar")],
  company_name: [
    top("company_name"),
    nested("company", "name"),
    (traits) =>
      typeof traits.company === "string" ? traits.company : undefined,
  ],
  street: [top("street"), nested("address", "street")],
  city: [top("city"), nested("address", "city")],
  state: [top("state"), nested("address", "state")],
  postal_code: [
    top("postal_code"),
    nested("address", "postalCode"),
    nested("address", "postal_code"),
    nested("address", "zip"),
  ],
  country: [top("country"), nested("address", "country")],
};

const given = (value: unknown): boolean =>
  value !== undefined &&
  value !== null &&
  !(typeof value === "string" && value.trim() === "");

const words = (value: unknown): string[] =>
  typeof value === "string" ? value.trim().split(/\s+/).filter(Boolean) : [];

/**
 * The traits of one identify call with Herald's name set for every reserved trait it
 * carries under any spelling (an explicit `first_name` beats `firstName`). `name` is
 * split into `first_name` (first word) and `last_name` (the rest) when the call has
 * neither; `first_name` and `last_name` together make `name` when it has none.
 */
export function standardTraits(traits: JsonObject): JsonObject {
  const out: JsonObject = { ...traits };
  for (const [name, from] of Object.entries(sources)) {
    for (const source of from) {
      const value = source(traits);
      if (given(value)) {
        out[name] = value;
        break;
      }
    }
  }
  const full = words(out.name);
  if (!given(out.first_name) && !given(out.last_name) && full.length > 0) {
    out.first_name = full[0];
    if (full.length > 1) out.last_name = full.slice(1).join(" ");
  } else if (
    !given(out.name) &&
    given(out.first_name) &&
    given(out.last_name)
  ) {
    out.name = [...words(out.first_name), ...words(out.last_name)].join(" ");
  }
  return out;
}
