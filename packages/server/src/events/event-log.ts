import type { IncomingEvent, StoredEvent } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import { eventCursor, parseEventCursor } from "@herald/core/profiles/profiles";
import {
  assignProfiles,
  type AssignmentPlan,
} from "@herald/core/identity/assign-profiles";
import {
  identifierKey,
  type Identifier,
} from "@herald/core/identity/identifiers";
import type { Queryable, Tx } from "../db/database.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import { insertEventsWithProfiles } from "./event-log.sql.ts";
import {
  eventsChannel,
  insertEvents,
  listEvents,
  toStoredEvent,
} from "./events.sql.ts";
import type { IngestItem } from "./intake.sql.ts";

/**
 * The event log's one way in. Every writer appends here, inside its own transaction: the
 * ingest resolver (the intake, a workspace's share of a batch at a time), store webhooks,
 * CSV imports and list sign-ups, the transactional API, and Herald's own events (opens,
 * clicks, Segment Entered/Exited, …). `appendEvents` gives each event its profile, then
 * stores it; `appendProfileEvents` stores events whose profile is already known.
 *
 * Giving profiles is two round trips whatever the batch size: one lookup of the owners of
 * the batch's identifiers, then one statement (`insertEventsWithProfiles`) that inserts
 * the new profiles, their identifiers and the events together. Ingest never merges; the
 * event processor does.
 *
 * The race rule, when two writers give a profile to the same new identifier at once (a
 * webhook and the resolver, two imports): identifiers are unique per workspace, so one
 * writer's identifier wins and the other's insert returns the winner's profile
 * (`on conflict do update … returning`, which sees rows committed after the statement
 * began). A planned profile that won none of its identifiers is never created and all its
 * events go, in the winner's partition, to the owner of its strongest identifier; one that
 * won some is created with those and keeps all its events, and the event processor links
 * the rest as for any event carrying two profiles' identifiers. So: one profile per
 * identifier, no event lost, no profile made and deleted again, and a planned profile's
 * events stay together (one profile, one partition, in order).
 */

/** Each event's profile: the owner of its identifiers known now, or a new one. */
async function planProfiles(
  q: Queryable,
  workspaceId: string,
  items: IngestItem[],
  now: Date,
): Promise<AssignmentPlan> {
  const unique = new Map<string, Identifier>();
  for (const item of items)
    for (const id of item.identifiers) unique.set(identifierKey(id), id);
  const owners = await findOwners(q, workspaceId, [...unique.values()]);
  const plan = assignProfiles(
    items.map((item) => item.identifiers),
    owners,
    () => uuidv7(now),
  );
  // An event naming one identifier twice plans it twice; one insert row per identifier.
  const planned = new Set<string>();
  plan.newIdentities = plan.newIdentities.filter((id) => {
    const key = identifierKey(id);
    if (planned.has(key)) return false;
    planned.add(key);
    return true;
  });
  return plan;
}

/**
 * Stores events in an open transaction, each on its profile: the owner of its strongest
 * known identifier, or a new profile (see the module comment for concurrent writers).
 * Message ids already stored are skipped; returns the message ids inserted.
 */
export async function appendEvents(
  tx: Tx,
  workspaceId: string,
  items: IngestItem[],
  now: Date,
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const plan = await planProfiles(tx, workspaceId, items, now);
  const stored = await insertEventsWithProfiles(tx, {
    workspaceId,
    newIdentities: plan.newIdentities,
    events: items.map((item, i) => ({
      ...item.event,
      profileId: plan.profileIds[i] ?? "",
    })),
    at: now,
  });
  if (stored.size > 0) tx.notify(eventsChannel);
  return stored;
}

/**
 * Stores Herald's own events about known profiles (segment entered, email opened, …) in
 * an open transaction, so they are committed with the change that caused them and then
 * processed like any other event. Returns the message ids inserted.
 */
export async function appendProfileEvents(
  tx: Tx,
  workspaceId: string,
  events: (IncomingEvent & { profileId: string })[],
): Promise<Set<string>> {
  const stored = await insertEvents(tx, workspaceId, events);
  if (stored.size > 0) tx.notify(eventsChannel);
  return stored;
}

/** A page of the workspace's events, newest first, by name and time, after a `next` cursor. */
export async function listEventPage(
  q: Queryable,
  workspaceId: string,
  query: {
    name?: string;
    from?: Date;
    to?: Date;
    limit: number;
    before?: string;
  },
): Promise<{ items: StoredEvent[]; next: string | null }> {
  const { before, limit, ...filter } = query;
  const cursor = parseEventCursor(before);
  const rows = await listEvents(q, workspaceId, {
    ...filter,
    limit: limit + 1,
    ...(cursor ? { before: cursor } : {}),
  });
  const items = rows.slice(0, limit).map(toStoredEvent);
  const last = rows.length > limit ? items.at(-1) : undefined;
  return { items, next: last ? eventCursor(last) : null };
}
