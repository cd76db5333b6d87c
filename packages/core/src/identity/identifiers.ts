import {
  parsePhoneNumberFromString,
  isSupportedCountry,
} from "libphonenumber-js/min";
import {
  isJsonObject,
  type IncomingEvent,
  type JsonObject,
} from "../events/event.ts";

/**
 * The identifiers that tie events to shoppers, with Segment Unify's rules: a priority (a
 * lower number wins), a limit on how many of each one profile may hold, normalisation, and
 * a blocklist of placeholder values that would otherwise collapse strangers together.
 */

/** The kinds of identifier Herald resolves. */
export const identifierTypes = [
  "user_id",
  "email",
  "phone",
  "shopify_customer_id",
  "woo_customer_id",
  "anonymous_id",
  "cart_token",
  "checkout_token",
] as const;
export type IdentifierType = (typeof identifierTypes)[number];

/** Per type: priority (1 is strongest), how many one profile may hold, and whether it may merge profiles. */
export const identifierRules: Record<
  IdentifierType,
  { priority: number; limit: number; merges: boolean }
> = {
  user_id: { priority: 1, limit: 1, merges: true },
  email: { priority: 2, limit: 5, merges: true },
  phone: { priority: 3, limit: 5, merges: true },
  shopify_customer_id: { priority: 4, limit: 1, merges: true },
  woo_customer_id: { priority: 4, limit: 1, merges: true },
  anonymous_id: { priority: 5, limit: 50, merges: true },
  // Cart and checkout tokens find the shopper of a store webhook; they never merge two.
  cart_token: { priority: 6, limit: 1_000, merges: false },
  checkout_token: { priority: 6, limit: 1_000, merges: false },
};

/** One identifier of one type. */
export interface Identifier {
  type: IdentifierType;
  value: string;
}

/** A stable string key for maps: `type:value`. */
export const identifierKey = (id: Identifier): string =>
  `${id.type}:${id.value}`;

/** Orders identifiers strongest first. */
export const byPriority = (a: Identifier, b: Identifier): number =>
  identifierRules[a.type].priority - identifierRules[b.type].priority ||
  a.type.localeCompare(b.type);

const blocked =
  /^(?:[0-]*|-1|null|nil|none|undefined|anonymous|unknown|n\/a|\[object object\])$/i;

/** True for placeholder values that must never identify anyone. */
export function isBlockedValue(value: string): boolean {
  return blocked.test(value.trim());
}

const emailShape = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A trimmed, lower-cased email address, or undefined if it is not one. */
export function normalizeEmail(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const email = value.trim().toLowerCase();
  return email.length <= 254 && emailShape.test(email) ? email : undefined;
}

/** The E.164 form of a phone number (national numbers read in `defaultRegion`), or undefined. */
export function normalizePhone(
  value: unknown,
  defaultRegion?: string,
): string | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const region =
    defaultRegion && isSupportedCountry(defaultRegion)
      ? defaultRegion
      : undefined;
  const parsed = parsePhoneNumberFromString(String(value), region);
  return parsed?.isValid() ? parsed.number : undefined;
}

/** Normalises a value of a type; undefined when it is blocked or malformed. */
export function normalizeIdentifier(
  type: IdentifierType,
  value: unknown,
  defaultRegion?: string,
): string | undefined {
  if (type === "email") return normalizeEmail(value);
  if (type === "phone") return normalizePhone(value, defaultRegion);
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const text = String(value).trim();
  if (text === "" || text.length > 255 || isBlockedValue(text))
    return undefined;
  return text;
}

function pick(
  objects: (JsonObject | null | undefined)[],
  key: string,
): unknown[] {
  return objects.flatMap((o) =>
    o && o[key] !== undefined && o[key] !== null ? [o[key]] : [],
  );
}

/**
 * The identifiers an event carries: its userId and anonymousId; email and phone from its
 * traits, context traits or properties; `context.externalIds` of known types; the cart and
 * checkout ids of e-commerce events. Normalised, deduplicated, strongest first.
 */
export function extractIdentifiers(
  event: IncomingEvent,
  defaultRegion?: string,
): Identifier[] {
  const found = new Map<string, Identifier>();
  const add = (type: IdentifierType, raw: unknown) => {
    const value = normalizeIdentifier(type, raw, defaultRegion);
    if (value !== undefined) found.set(`${type}:${value}`, { type, value });
  };
  add("user_id", event.userId);
  add("anonymous_id", event.anonymousId);
  const contextTraits = isJsonObject(event.context.traits)
    ? event.context.traits
    : undefined;
  const sources = [event.traits, contextTraits, event.properties];
  for (const email of pick(sources, "email")) add("email", email);
  for (const phone of pick(sources, "phone")) add("phone", phone);
  if (Array.isArray(event.context.externalIds)) {
    for (const external of event.context.externalIds) {
      if (
        isJsonObject(external) &&
        typeof external.type === "string" &&
        (identifierTypes as readonly string[]).includes(external.type)
      ) {
        add(external.type as IdentifierType, external.id);
      }
    }
  }
  // alias: the previous id joins the user id; it counts as an anonymous id, so an alias
  // between two user ids is recorded but cannot merge them.
  if (event.type === "alias") add("anonymous_id", event.properties.previous_id);
  if (event.type === "track") {
    add("cart_token", event.properties.cart_id);
    add("checkout_token", event.properties.checkout_id);
  }
  return [...found.values()].sort(byPriority);
}
