import type { IncomingEvent, JsonObject } from "@herald/core/events/event";
import type { Identifier } from "@herald/core/identity/identifiers";
import type { Database, Queryable, Tx } from "../db/database.ts";
import {
  ingestErrorRows,
  insertIngestErrorRows,
  type IngestError,
} from "./ingest-errors.sql.ts";

/** The channel notified when the intake has new rows. */
export const intakeChannel = "herald_intake";

/** An event ready to store, with its identifiers. */
export interface IngestItem {
  event: IncomingEvent;
  identifiers: Identifier[];
}

/** One workspace's share of an ingest flush: its encoded items and the events it refused. */
export interface IntakeWrite {
  workspaceId: string;
  /** Items as `encodeIntakeItem` made them. */
  items: string[];
  errors: IngestError[];
}

/** A row taken from the intake. */
export interface IntakeRow {
  id: number;
  workspaceId: string;
  items: IngestItem[];
}

/** A row taken from the intake, its text not decoded yet. */
export interface RawIntakeRow {
  id: number;
  workspaceId: string;
  eventCount: number;
  text: string;
}

type IntakeColumns = {
  id: number;
  workspace_id: string;
  event_count: number;
  items: string;
};

const raw = (row: IntakeColumns): RawIntakeRow => ({
  id: row.id,
  workspaceId: row.workspace_id,
  eventCount: row.event_count,
  text: row.items,
});

/** A taken row with its items decoded (throws SyntaxError on text that is not Herald's). */
export function decodeIntakeRow(row: RawIntakeRow): IntakeRow {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    items: decodeIntakeItems(row.text),
  };
}

// JSON.stringify writes a NUL and a lone surrogate as these escapes; PostgreSQL's text and
// jsonb refuse both, so an event holding one could never be stored.
const unstorable = /\\u0000|\\ud[89a-f]/i;
const loneSurrogate =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function storable(value: unknown): unknown {
  if (typeof value === "string")
    return value
      .replaceAll("\u0000", "\ufffd")
      .replace(loneSurrogate, "\ufffd");
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === "object" && !(value instanceof Date))
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [storable(k), storable(v)]),
    );
  return value;
}

/**
 * An item as the JSON text the intake keeps. Characters PostgreSQL cannot store (NUL, lone
 * UTF-16 surrogates) become U+FFFD, so that no event is refused later, after its
 * acknowledgement; its size in bytes is what the per-event limit is checked against.
 */
export function encodeIntakeItem(item: IngestItem): string {
  const json = JSON.stringify(item);
  return unstorable.test(json) ? JSON.stringify(storable(item)) : json;
}

/** The items of an intake row's text. */
export function decodeIntakeItems(text: string): IngestItem[] {
  const items = JSON.parse(text) as {
    event: Omit<IncomingEvent, "timestamp" | "receivedAt"> & {
      timestamp: string;
      receivedAt: string;
      properties: JsonObject;
    };
    identifiers: Identifier[];
  }[];
  return items.map(({ event, identifiers }) => ({
    event: {
      ...event,
      timestamp: new Date(event.timestamp),
      receivedAt: new Date(event.receivedAt),
    },
    identifiers,
  }));
}

/**
 * Commits a flush to the intake in one statement: a row per workspace with events, the
 * refused events' log rows, and a notification for the resolver.
 */
export async function insertIntake(
  db: Database,
  writes: IntakeWrite[],
  at: Date,
): Promise<void> {
  const withEvents = writes.filter((w) => w.items.length > 0);
  const errors = writes.flatMap((w) =>
    ingestErrorRows(w.errors).map((row) => ({
      ...row,
      workspace_id: w.workspaceId,
    })),
  );
  const refused = insertIngestErrorRows({
    workspace: "r.workspace_id",
    at: "$1",
    rows: "$2",
    withWorkspace: true,
  });
  if (withEvents.length === 0) {
    if (errors.length > 0)
      await db.query(refused, [at, JSON.stringify(errors)]);
    return;
  }
  // A row's text goes as a parameter of its own: inside a text[] the driver would escape
  // it character by character.
  const params: unknown[] = [at, JSON.stringify(errors), intakeChannel];
  const rows = withEvents.map((w) => {
    params.push(w.workspaceId, w.items.length, `[${w.items.join(",")}]`);
    const n = params.length;
    return `($${n - 2}, $1::timestamptz, $${n - 1}::int, $${n})`;
  });
  await db.query(
    `with taken as (
       insert into intake (workspace_id, received_at, event_count, items) values ${rows.join(", ")}
       returning 1
     ), refused as (${refused})
     select (select pg_notify($3, '') from taken limit 1) as notified`,
    params,
  );
  // The embedded database's listeners are in-process: pg_notify reaches none of them.
  if (db.kind === "pglite") await db.notify(intakeChannel);
}

/**
 * Deletes the oldest intake rows, about `maxEvents` events' worth (at least one row), and
 * returns them in the order they arrived. Inside the resolver's transaction, so that a
 * rollback puts them back.
 */
export async function takeIntake(
  tx: Tx,
  maxEvents: number,
  maxRows = 1_000,
): Promise<IntakeRow[]> {
  const rows = await tx.query<IntakeColumns>(
    `delete from intake where id in (
       select id from (
         select id, sum(event_count) over (order by id) - event_count as before
           from (select id, event_count from intake order by id limit $2) oldest
       ) x where before < $1
     ) returning id, workspace_id, event_count, items`,
    [maxEvents, maxRows],
  );
  return rows
    .sort((a, b) => a.id - b.id)
    .map((row) => decodeIntakeRow(raw(row)));
}

/**
 * Locks a workspace's intake rows and returns them undecoded, oldest first. A row the
 * resolver has taken in a transaction still open is waited for, and then gone: its events
 * are in the event log by the time this returns.
 */
export async function lockWorkspaceIntake(
  tx: Tx,
  workspaceId: string,
): Promise<RawIntakeRow[]> {
  const rows = await tx.query<IntakeColumns>(
    "select id, workspace_id, event_count, items from intake where workspace_id = $1 order by id for update",
    [workspaceId],
  );
  return rows.map(raw);
}

/** Replaces the events of an intake row (items as `encodeIntakeItem` made them). */
export async function replaceIntakeItems(
  tx: Tx,
  id: number,
  items: string[],
): Promise<void> {
  await tx.query(
    "update intake set event_count = $2, items = $3 where id = $1",
    [id, items.length, `[${items.join(",")}]`],
  );
}

/** Deletes intake rows. */
export async function deleteIntakeRows(tx: Tx, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.query("delete from intake where id = any($1::bigint[])", [ids]);
}

/** Deletes one intake row and returns it undecoded (the resolver's row-by-row retry). */
export async function takeIntakeRow(
  tx: Tx,
  id: number,
): Promise<RawIntakeRow | undefined> {
  const [row] = await tx.query<IntakeColumns>(
    "delete from intake where id = $1 returning id, workspace_id, event_count, items",
    [id],
  );
  return row ? raw(row) : undefined;
}

/** The ids of the oldest intake rows. */
export async function intakeIds(
  q: Queryable,
  limit: number,
): Promise<number[]> {
  const rows = await q.query<{ id: number }>(
    "select id from intake order by id limit $1",
    [limit],
  );
  return rows.map((row) => row.id);
}

/** Events acknowledged and not yet given profiles. */
export async function countIntake(q: Queryable): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    "select coalesce(sum(event_count), 0)::int as n from intake",
  );
  return row?.n ?? 0;
}
