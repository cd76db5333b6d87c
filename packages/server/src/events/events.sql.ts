import type {
  IncomingEvent,
  JsonObject,
  StoredEvent,
} from "@herald/core/events/event";
import type { Queryable, Tx } from "../db/database.ts";

/** How many partitions the event log is split into (rows of `event_cursors`). */
export const eventPartitions = 16;

/** The channel notified when events are committed. */
export const eventsChannel = "herald_events";

/**
 * The partition of a profile's events: from the random tail of its UUID (with 16
 * partitions, its last hex digit; `insertEventsWithProfiles` computes it so in SQL).
 */
export function partitionOf(profileId: string): number {
  return Number.parseInt(profileId.slice(-8), 16) % eventPartitions;
}

/** A row of `events` as read back. */
export type EventRow = {
  workspace_id: string;
  message_id: string;
  seq: number;
  xid: string;
  profile_id: string;
  type: StoredEvent["type"];
  name: string | null;
  user_id: string | null;
  anonymous_id: string | null;
  properties: JsonObject;
  traits: JsonObject | null;
  context: JsonObject;
  integrations: JsonObject | null;
  timestamp: Date;
  received_at: Date;
  source: StoredEvent["source"];
  silent: boolean;
};

/** The stored event of a row. */
export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    workspaceId: row.workspace_id,
    seq: row.seq,
    profileId: row.profile_id,
    messageId: row.message_id,
    type: row.type,
    name: row.name,
    userId: row.user_id,
    anonymousId: row.anonymous_id,
    properties: row.properties,
    traits: row.traits,
    context: row.context,
    ...(row.integrations ? { integrations: row.integrations } : {}),
    timestamp: row.timestamp,
    receivedAt: row.received_at,
    source: row.source,
    silent: row.silent,
  };
}

const columns =
  "workspace_id, message_id, seq, xid::text as xid, profile_id, type, name, user_id, anonymous_id, properties, traits, context, integrations, timestamp, received_at, source, silent";

/**
 * Inserts events, skipping message ids the workspace already has; returns the message ids
 * actually inserted (the rest were duplicates).
 */
export async function insertEvents(
  tx: Tx,
  workspaceId: string,
  events: (IncomingEvent & { profileId: string })[],
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const inserted = await tx.query<{ message_id: string }>(
    insertEventRows({ workspace: "$1", rows: "$2" }),
    [workspaceId, JSON.stringify(eventRows(events))],
  );
  return new Set(inserted.map((row) => row.message_id));
}

/**
 * The insert of `eventRows` (the JSON in parameter `rows`) into events for `workspace`,
 * skipping message ids already stored and returning those inserted. `profileId` and
 * `partition` (SQL over the rows `r`, and whatever `join` adds) let a caller place events
 * on another profile than the one planned.
 */
export function insertEventRows(p: {
  workspace: string;
  rows: string;
  profileId?: string;
  partition?: string;
  join?: string;
}): string {
  return `insert into events (workspace_id, message_id, partition, profile_id, type, name, user_id, anonymous_id,
                         properties, traits, context, integrations, timestamp, received_at, source, silent)
     select ${p.workspace}, r.message_id, ${p.partition ?? "r.partition"}, ${p.profileId ?? "r.profile_id"},
            r.type, r.name, r.user_id, r.anonymous_id, coalesce(r.properties, '{}'::jsonb), r.traits,
            coalesce(r.context, '{}'::jsonb), r.integrations, r.timestamp, r.received_at, r.source, r.silent
       from jsonb_to_recordset(${p.rows}::jsonb) as r(message_id text, partition smallint, profile_id uuid, type text,
            name text, user_id text, anonymous_id text, properties jsonb, traits jsonb, context jsonb,
            integrations jsonb, timestamp timestamptz, received_at timestamptz, source text, silent boolean)
            ${p.join ?? ""}
     on conflict (workspace_id, message_id) do nothing
     returning message_id`;
}

/** Events as the rows `jsonb_to_recordset` reads in `insertEventRows`. */
export function eventRows(events: (IncomingEvent & { profileId: string })[]) {
  return events.map((e) => ({
    message_id: e.messageId,
    partition: partitionOf(e.profileId),
    profile_id: e.profileId,
    type: e.type,
    name: e.name,
    user_id: e.userId,
    anonymous_id: e.anonymousId,
    properties: e.properties,
    traits: e.traits,
    context: e.context,
    integrations: e.integrations ?? null,
    timestamp: e.timestamp.toISOString(),
    received_at: e.receivedAt.toISOString(),
    source: e.source,
    silent: e.silent,
  }));
}

/** Where a partition's processing stands: the last event processed. */
export interface Cursor {
  partition: number;
  xid: string;
  seq: number;
}

/**
 * The cursors of those of `partitions` this transaction could lease, each by an advisory
 * lock (the others are another worker's now). An advisory lock, unlike `for update`, gives
 * the transaction no id of its own yet, so the events this transaction itself appends
 * later get an id above every row it reads here and cannot fall behind a cursor.
 */
export async function lockCursors(
  tx: Tx,
  partitions: number[],
): Promise<Cursor[]> {
  if (partitions.length === 0) return [];
  // `offset 0` keeps the filter on partitions ahead of the lock: no other lease is taken.
  return tx.query<Cursor>(
    `select c.partition, c.xid::text as xid, c.seq
       from (select * from event_cursors where partition = any($1::int[]) order by partition offset 0) c
      where pg_try_advisory_xact_lock($2, c.partition)`,
    [partitions, cursorLockSpace],
  );
}

/** The advisory-lock space of partition leases. */
const cursorLockSpace = 0x68657261;

/**
 * The next events of each partition after its cursor (at most `limit` from each), in
 * commit order: a partition's rows read here are always the first ones waiting in it.
 * Only rows whose transaction is older than every transaction of this database still
 * running are read (`herald_event_watermark()`, migration 0008), so a row that commits
 * after a later one cannot be skipped.
 */
export async function readPartitions(
  tx: Tx,
  cursors: Cursor[],
  limit: number,
): Promise<(EventRow & { partition: number })[]> {
  if (cursors.length === 0) return [];
  const rows = await tx.query<EventRow & { partition: number }>(
    `with w as materialized (select herald_event_watermark() as xid)
     select c.partition, e.* from unnest($1::int[], $2::xid8[], $3::int8[]) as c(partition, xid, seq)
       cross join lateral (
         select ${columns} from events
          where events.partition = c.partition and (events.xid, events.seq) > (c.xid, c.seq)
            and events.xid < (select xid from w)
          order by events.xid, events.seq
          limit $4) e`,
    [
      cursors.map((c) => c.partition),
      cursors.map((c) => c.xid),
      cursors.map((c) => c.seq),
      limit,
    ],
  );
  return rows.sort((a, b) => {
    const x = BigInt(a.xid) - BigInt(b.xid);
    return x !== 0n ? (x < 0n ? -1 : 1) : a.seq - b.seq;
  });
}

/** Moves partitions' cursors past the events just processed (`processed` of each). */
export async function advanceCursors(
  tx: Tx,
  to: (Cursor & { processed: number })[],
  at: Date,
): Promise<void> {
  if (to.length === 0) return;
  await tx.query(
    `update event_cursors c set xid = t.xid, seq = t.seq, processed = c.processed + t.processed, updated_at = $5
       from unnest($1::int[], $2::xid8[], $3::int8[], $4::int8[]) as t(partition, xid, seq, processed)
      where c.partition = t.partition`,
    [
      to.map((c) => c.partition),
      to.map((c) => c.xid),
      to.map((c) => c.seq),
      to.map((c) => c.processed),
      at,
    ],
  );
}

/** The partitions with events past their cursor. */
export async function pendingPartitions(q: Queryable): Promise<number[]> {
  const rows = await q.query<{ partition: number }>(
    `select c.partition from event_cursors c
      where exists (select 1 from events e
                     where e.partition = c.partition and (e.xid, e.seq) > (c.xid, c.seq)
                       and e.xid < herald_event_watermark())
      order by c.partition`,
  );
  return rows.map((row) => row.partition);
}

/** How many acknowledged events wait: in the intake, or behind the cursors (for metrics and tests). */
export async function countBacklog(q: Queryable): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    `select (select count(*) from event_cursors c join events e on e.partition = c.partition
              where (e.xid, e.seq) > (c.xid, c.seq))
          + (select coalesce(sum(event_count), 0) from intake) as n`,
  );
  return row?.n ?? 0;
}

/** Moves one event to another profile. */
export async function setEventProfile(
  tx: Tx,
  workspaceId: string,
  messageId: string,
  profileId: string,
): Promise<void> {
  await tx.query(
    "update events set profile_id = $3 where workspace_id = $1 and message_id = $2",
    [workspaceId, messageId, profileId],
  );
}

/** Moves all events of a merged profile to the survivor. */
export async function rekeyEvents(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<number> {
  return tx.execute(
    "update events set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** A page of a profile's events, newest first, before the (timestamp, message id) cursor. */
export async function listProfileEvents(
  q: Queryable,
  workspaceId: string,
  profileId: string,
  page: { limit: number; before?: { timestamp: Date; messageId: string } },
): Promise<EventRow[]> {
  return q.query<EventRow>(
    `select ${columns} from events
      where workspace_id = $1 and profile_id = $2
        and ($3::timestamptz is null or (timestamp, message_id) < ($3::timestamptz, $4::text))
      order by timestamp desc, message_id desc
      limit $5`,
    [
      workspaceId,
      profileId,
      page.before?.timestamp ?? null,
      page.before?.messageId ?? "",
      page.limit,
    ],
  );
}

/** A page of the workspace's events, newest first, filtered by name and time. */
export async function listEvents(
  q: Queryable,
  workspaceId: string,
  filter: {
    name?: string;
    from?: Date;
    to?: Date;
    limit: number;
    before?: { timestamp: Date; messageId: string };
  },
): Promise<EventRow[]> {
  return q.query<EventRow>(
    `select ${columns} from events
      where workspace_id = $1
        and ($2::text is null or name = $2)
        and ($3::timestamptz is null or timestamp >= $3)
        and ($4::timestamptz is null or timestamp < $4)
        and ($5::timestamptz is null or (timestamp, message_id) < ($5::timestamptz, $6::text))
      order by timestamp desc, message_id desc
      limit $7`,
    [
      workspaceId,
      filter.name ?? null,
      filter.from ?? null,
      filter.to ?? null,
      filter.before?.timestamp ?? null,
      filter.before?.messageId ?? "",
      filter.limit,
    ],
  );
}

/** Every event of a profile, oldest first (privacy export). */
export async function allProfileEvents(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<EventRow[]> {
  return q.query<EventRow>(
    `select ${columns} from events where workspace_id = $1 and profile_id = $2 order by timestamp, message_id`,
    [workspaceId, profileId],
  );
}

/** Deletes a profile's events. */
export async function deleteProfileEvents(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<number> {
  return tx.execute(
    "delete from events where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
