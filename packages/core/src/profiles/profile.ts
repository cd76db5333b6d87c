import { productLines } from "../events/ecommerce.ts";
import {
  isJsonObject,
  type IncomingEvent,
  type JsonObject,
} from "../events/event.ts";
import { normalizeEmail, normalizePhone } from "../identity/identifiers.ts";
import { channels, consentChanges, type Consent } from "./consent.ts";
import type { OrderStats } from "./order-stats.ts";
import { standardTraits } from "./standard-traits.ts";

/**
 * A shopper's profile and how each event changes it. Pure: the event processor loads
 * profiles, folds their events in with `applyEvent`, and writes them back.
 *
 * Traits are last-write-wins by event time, per top-level trait, so a late-arriving old
 * event never overwrites a newer value.
 */

/** A profile as the processor and the admin API see it. */
export interface Profile {
  id: string;
  workspaceId: string;
  createdAt: Date;
  email: string | null;
  phone: string | null;
  traits: JsonObject;
  /** Per trait, the ISO time of the event that set its current value. */
  traitTimes: Record<string, string>;
  consent: Consent;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  timeZone: string | null;
  locale: string | null;
  country: string | null;
  city: string | null;
  /** Further computed attributes, such as the last product and category viewed. */
  computed: JsonObject;
  orders: OrderStats;
}

/** A new, empty profile. */
export function emptyProfile(
  workspaceId: string,
  id: string,
  createdAt: Date,
): Profile {
  return {
    id,
    workspaceId,
    createdAt,
    email: null,
    phone: null,
    traits: {},
    traitTimes: {},
    consent: {},
    firstSeenAt: null,
    lastSeenAt: null,
    timeZone: null,
    locale: null,
    country: null,
    city: null,
    computed: {},
    orders: {
      orderCount: 0,
      valuedOrderCount: 0,
      revenue: 0,
      averageOrderValue: null,
      firstOrderAt: null,
      lastOrderAt: null,
      avgDaysBetweenOrders: null,
      expectedNextOrderAt: null,
    },
  };
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;

function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Settings of the workspace that shape how events read. */
export interface ProfileSettings {
  /** Region used to read national phone numbers (ISO 3166 alpha-2). */
  defaultPhoneRegion?: string;
}

/**
 * The traits an event sets: identify traits, and the traits in an identify call's context,
 * with Herald's name for each of Segment's reserved traits (`firstName` → `first_name`).
 */
function traitsOf(event: IncomingEvent): JsonObject | undefined {
  if (event.type !== "identify") return undefined;
  return standardTraits({
    ...(isJsonObject(event.context.traits) ? event.context.traits : {}),
    ...event.traits,
  });
}

/** The profile after `event`. */
export function applyEvent(
  profile: Profile,
  event: IncomingEvent,
  settings: ProfileSettings = {},
): Profile {
  const at = event.timestamp;
  const iso = at.toISOString();
  const next: Profile = {
    ...profile,
    traits: { ...profile.traits },
    traitTimes: { ...profile.traitTimes },
  };

  // What Herald itself records (a segment entered, a message delivered or opened) is not
  // the shopper being seen.
  if (event.source !== "herald") {
    next.firstSeenAt =
      !profile.firstSeenAt || at < profile.firstSeenAt
        ? at
        : profile.firstSeenAt;
    next.lastSeenAt =
      !profile.lastSeenAt || at > profile.lastSeenAt ? at : profile.lastSeenAt;
  }

  const traits = traitsOf(event);
  if (traits) {
    for (const [key, value] of Object.entries(traits)) {
      const setAt = profile.traitTimes[key];
      if (setAt !== undefined && setAt > iso) continue;
      next.traits[key] = value;
      next.traitTimes[key] = iso;
    }
  }

  // Contact addresses: the newest valid one wins.
  const contactSources = [
    traits,
    isJsonObject(event.context.traits) ? event.context.traits : undefined,
    event.properties,
  ];
  const newer = (key: string) => (profile.traitTimes[`$${key}`] ?? "") <= iso;
  for (const source of contactSources) {
    const email = normalizeEmail(source?.email);
    if (email && newer("email")) {
      next.email = email;
      next.traitTimes.$email = iso;
    }
    const phone = normalizePhone(source?.phone, settings.defaultPhoneRegion);
    if (phone && newer("phone")) {
      next.phone = phone;
      next.traitTimes.$phone = iso;
    }
  }

  // Where and who: context first, then traits that say it outright.
  const context = event.context;
  const location = isJsonObject(context.location) ? context.location : {};
  const address = isJsonObject(next.traits.address) ? next.traits.address : {};
  const zone = text(context.timezone) ?? text(next.traits.timezone);
  if (zone && isValidTimeZone(zone)) next.timeZone = zone;
  next.locale = text(context.locale) ?? text(next.traits.locale) ?? next.locale;
  const country =
    text(address.country) ??
    text(next.traits.country) ??
    text(location.country);
  if (country)
    next.country = country.length === 2 ? country.toUpperCase() : country;
  next.city =
    text(address.city) ??
    text(next.traits.city) ??
    text(location.city) ??
    next.city;

  // Consent, last-write-wins per channel.
  const consent = consentChanges(event);
  for (const channel of channels) {
    const status = consent[channel];
    const current = profile.consent[channel];
    if (status && (!current || current.at <= iso)) {
      next.consent = {
        ...next.consent,
        [channel]: { status, at: iso, source: event.name ?? event.type },
      };
    }
  }

  // What they looked at last.
  if (event.type === "track" && event.name === "Product Viewed") {
    const [product] = productLines(event.properties);
    if (product) {
      next.computed = {
        ...next.computed,
        last_product_viewed: { ...product, at: iso },
      };
      if (product.category)
        next.computed.last_category_viewed = {
          category: product.category,
          at: iso,
        };
    }
  }
  if (
    event.type === "track" &&
    event.name === "Product List Viewed" &&
    text(event.properties.category)
  ) {
    next.computed = {
      ...next.computed,
      last_category_viewed: {
        category: text(event.properties.category),
        at: iso,
      },
    };
  }
  return next;
}

function later(
  a: Date | null,
  b: Date | null,
  pick: "min" | "max",
): Date | null {
  if (!a) return b;
  if (!b) return a;
  return (pick === "max" ? a > b : a < b) ? a : b;
}

/**
 * The survivor after a merge: traits and consent last-write-wins by event time across
 * both, seen times widened, contacts kept unless only the merged profile has them. Order
 * figures are recomputed from the orders afterwards.
 */
export function mergeProfiles(survivor: Profile, merged: Profile): Profile {
  const next: Profile = {
    ...survivor,
    traits: { ...survivor.traits },
    traitTimes: { ...survivor.traitTimes },
  };
  for (const [key, value] of Object.entries(merged.traits)) {
    const theirs = merged.traitTimes[key] ?? "";
    const ours = survivor.traitTimes[key];
    if (ours === undefined || theirs > ours) {
      next.traits[key] = value;
      next.traitTimes[key] = theirs;
    }
  }
  for (const key of ["email", "phone"] as const) {
    const theirs = merged.traitTimes[`$${key}`] ?? "";
    if (
      merged[key] &&
      (!survivor[key] || theirs > (survivor.traitTimes[`$${key}`] ?? ""))
    ) {
      next[key] = merged[key];
      next.traitTimes[`$${key}`] = theirs;
    }
  }
  for (const channel of channels) {
    const theirs = merged.consent[channel];
    const ours = survivor.consent[channel];
    if (theirs && (!ours || theirs.at > ours.at))
      next.consent = { ...next.consent, [channel]: theirs };
  }
  next.firstSeenAt = later(survivor.firstSeenAt, merged.firstSeenAt, "min");
  next.lastSeenAt = later(survivor.lastSeenAt, merged.lastSeenAt, "max");
  const recent =
    merged.lastSeenAt && survivor.lastSeenAt
      ? merged.lastSeenAt > survivor.lastSeenAt
      : Boolean(merged.lastSeenAt);
  for (const key of ["timeZone", "locale", "country", "city"] as const) {
    next[key] =
      (recent
        ? (merged[key] ?? survivor[key])
        : (survivor[key] ?? merged[key])) ?? null;
  }
  next.computed = { ...merged.computed, ...survivor.computed };
  for (const key of ["last_product_viewed", "last_category_viewed"]) {
    const a = survivor.computed[key];
    const b = merged.computed[key];
    if (isJsonObject(a) && isJsonObject(b) && String(b.at) > String(a.at))
      next.computed[key] = b;
  }
  return next;
}
