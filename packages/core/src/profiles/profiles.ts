import { DomainError } from "../domain-error.ts";
import { isStorableTime } from "../storable.ts";
import type { StoredEvent } from "../events/event.ts";
import {
  identifierTypes,
  normalizeIdentifier,
  type Identifier,
  type IdentifierType,
} from "../identity/identifiers.ts";
import type { Profile } from "./profile.ts";
import { rfmScores, type RfmThresholds } from "./rfm.ts";

/**
 * Reading and erasing profiles for the admin API: lookups by identifier, the whole
 * profile (identities, computed attributes, consent, merges, orders), its events, a
 * privacy export of everything held about a person, and deletion.
 */

/** A page of events, newest first, and the cursor of the next page. */
export interface EventPage {
  items: StoredEvent[];
  next: string | null;
}

/** The storage the admin API's profile operations need. */
export interface ProfileStore {
  /** The profile with this id, and the id it was merged into if it was. */
  getProfile(
    workspaceId: string,
    id: string,
  ): Promise<{ profile: Profile; mergedInto: string | null } | undefined>;
  findProfileIds(
    workspaceId: string,
    identifier: Identifier,
  ): Promise<string[]>;
  identities(workspaceId: string, profileId: string): Promise<Identifier[]>;
  mergedIds(workspaceId: string, profileId: string): Promise<string[]>;
  merges(
    workspaceId: string,
    profileId: string,
  ): Promise<Record<string, unknown>[]>;
  orders(
    workspaceId: string,
    profileId: string,
  ): Promise<Record<string, unknown>[]>;
  rfmThresholds(workspaceId: string): Promise<RfmThresholds | undefined>;
  events(
    workspaceId: string,
    profileId: string,
    page: { limit: number; before?: { timestamp: Date; messageId: string } },
  ): Promise<StoredEvent[]>;
  allEvents(workspaceId: string, profileId: string): Promise<StoredEvent[]>;
  /** Everything other features hold about the profile, by feature name (for the export). */
  featureData(
    workspaceId: string,
    profileId: string,
  ): Promise<Record<string, unknown>>;
  /** Deletes the profiles and everything held about them, in one transaction. */
  deleteProfiles(workspaceId: string, ids: string[]): Promise<void>;
}

/** A profile as the admin API shows it. */
export interface ProfileView {
  id: string;
  createdAt: string;
  mergedIds: string[];
  identities: Identifier[];
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  consent: Profile["consent"];
  computed: Record<string, unknown>;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The lookup a query string asks for: one identifier, normalised like ingest does. */
export function identifierFromQuery(
  query: Partial<
    Record<
      "email" | "phone" | "userId" | "anonymousId" | "type" | "value",
      string
    >
  >,
  defaultRegion?: string,
): Identifier {
  const pairs: [IdentifierType, string | undefined][] = [
    ["email", query.email],
    ["phone", query.phone],
    ["user_id", query.userId],
    ["anonymous_id", query.anonymousId],
  ];
  if (query.type && query.value) {
    if (!(identifierTypes as readonly string[]).includes(query.type)) {
      throw new DomainError(
        "invalid",
        `type must be one of ${identifierTypes.join(", ")}`,
        [{ path: "/querystring/type", message: "unknown identifier type" }],
      );
    }
    pairs.push([query.type as IdentifierType, query.value]);
  }
  const given = pairs.filter(
    ([, value]) => value !== undefined && value !== "",
  );
  const [pair] = given;
  if (!pair || given.length > 1) {
    throw new DomainError(
      "invalid",
      "look a profile up by exactly one of email, phone, userId, anonymousId (or type and value)",
    );
  }
  const value = normalizeIdentifier(pair[0], pair[1], defaultRegion);
  if (value === undefined) {
    throw new DomainError("invalid", `${pair[1]} is not a usable ${pair[0]}`, [
      { path: `/querystring/${pair[0]}`, message: "not a usable value" },
    ]);
  }
  return { type: pair[0], value };
}

/** The profile `id` refers to, following merges; not_found if there is none. */
export async function resolveProfile(
  store: ProfileStore,
  workspaceId: string,
  id: string,
): Promise<Profile> {
  let current = id;
  for (let hops = 0; hops < 10; hops++) {
    const found = await store.getProfile(workspaceId, current);
    if (!found) break;
    if (!found.mergedInto) return found.profile;
    current = found.mergedInto;
  }
  throw new DomainError("not_found", `no profile ${id}`);
}

/** The whole profile for the admin API. */
export async function viewProfile(
  store: ProfileStore,
  workspaceId: string,
  id: string,
  now: Date,
): Promise<ProfileView> {
  const profile = await resolveProfile(store, workspaceId, id);
  const [identities, mergedIds, thresholds] = await Promise.all([
    store.identities(workspaceId, profile.id),
    store.mergedIds(workspaceId, profile.id),
    store.rfmThresholds(workspaceId),
  ]);
  const o = profile.orders;
  const rfm = thresholds
    ? rfmScores(
        {
          orderCount: o.orderCount,
          revenue: o.revenue,
          lastOrderAt: o.lastOrderAt,
        },
        thresholds,
        now,
      )
    : undefined;
  return {
    id: profile.id,
    createdAt: profile.createdAt.toISOString(),
    mergedIds: mergedIds.filter((merged) => merged !== profile.id),
    identities,
    email: profile.email,
    phone: profile.phone,
    traits: profile.traits,
    consent: profile.consent,
    computed: {
      orderCount: o.orderCount,
      revenue: o.revenue,
      averageOrderValue: o.averageOrderValue,
      firstOrderAt: iso(o.firstOrderAt),
      lastOrderAt: iso(o.lastOrderAt),
      avgDaysBetweenOrders: o.avgDaysBetweenOrders,
      expectedNextOrderAt: iso(o.expectedNextOrderAt),
      firstSeenAt: iso(profile.firstSeenAt),
      lastSeenAt: iso(profile.lastSeenAt),
      lastProductViewed: profile.computed.last_product_viewed ?? null,
      lastCategoryViewed: profile.computed.last_category_viewed ?? null,
      rfm: rfm ?? null,
      timeZone: profile.timeZone,
      locale: profile.locale,
      country: profile.country,
      city: profile.city,
    },
  };
}

/** Encodes a page cursor. */
export function eventCursor(event: StoredEvent): string {
  return `${event.timestamp.toISOString()}|${event.messageId}`;
}

/** Decodes a page cursor; invalid is a 400. */
export function parseEventCursor(
  cursor: string | undefined,
): { timestamp: Date; messageId: string } | undefined {
  if (!cursor) return undefined;
  const at = cursor.indexOf("|");
  const timestamp = new Date(cursor.slice(0, at));
  if (at < 0 || Number.isNaN(timestamp.getTime()) || !isStorableTime(timestamp))
    throw new DomainError(
      "invalid",
      "before is not a cursor this API gave out",
    );
  return { timestamp, messageId: cursor.slice(at + 1) };
}

/** A page of a profile's events, newest first. */
export async function profileEvents(
  store: ProfileStore,
  workspaceId: string,
  id: string,
  page: { limit: number; before?: string },
): Promise<EventPage> {
  const profile = await resolveProfile(store, workspaceId, id);
  const before = parseEventCursor(page.before);
  const items = await store.events(workspaceId, profile.id, {
    limit: page.limit + 1,
    ...(before ? { before } : {}),
  });
  const last = items.length > page.limit ? items[page.limit - 1] : undefined;
  return {
    items: items.slice(0, page.limit),
    next: last ? eventCursor(last) : null,
  };
}

/** A privacy export: the profile, its orders, merges and events, and each feature's data by name. */
export interface ProfileExport {
  exportedAt: string;
  profile: ProfileView;
  orders: Record<string, unknown>[];
  merges: Record<string, unknown>[];
  events: StoredEvent[];
  [feature: string]: unknown;
}

/** Everything Herald holds about the person, for a data subject's access request. */
export async function exportProfile(
  store: ProfileStore,
  workspaceId: string,
  id: string,
  now: Date,
): Promise<ProfileExport> {
  const view = await viewProfile(store, workspaceId, id, now);
  const [events, orders, merges, features] = await Promise.all([
    store.allEvents(workspaceId, view.id),
    store.orders(workspaceId, view.id),
    store.merges(workspaceId, view.id),
    store.featureData(workspaceId, view.id),
  ]);
  return {
    exportedAt: now.toISOString(),
    profile: view,
    orders,
    merges,
    events,
    ...features,
  };
}

/** Erases a profile and everything held about it; later events with its identifiers start afresh. */
export async function deleteProfile(
  store: ProfileStore,
  workspaceId: string,
  id: string,
): Promise<{ deleted: string[] }> {
  const profile = await resolveProfile(store, workspaceId, id);
  const ids = await store.mergedIds(workspaceId, profile.id);
  await store.deleteProfiles(workspaceId, ids);
  return { deleted: ids };
}
