import type { IncomingEvent } from "@herald/core/events/event";
import type { Identifier } from "@herald/core/identity/identifiers";
import type { Queryable } from "../db/database.ts";
import { eventRows, insertEventRows } from "./events.sql.ts";

/** What `insertEventsWithProfiles` writes: the new profiles' identifiers and the events. */
export interface EventsWithProfiles {
  workspaceId: string;
  /** The identifiers of profiles to create, strongest first for each profile. */
  newIdentities: (Identifier & { profileId: string })[];
  events: (IncomingEvent & { profileId: string })[];
  at: Date;
}

/**
 * Stores a workspace's events with the profiles planned for them in one statement (one
 * round trip, not three): the new profiles, their identifiers and the events (skipping
 * message ids already stored) go in together; the caller notifies `herald_events` when an
 * event was stored. The race rule it keeps is the event log's (event-log.ts):
 *
 * Another writer may have taken one of the new identifiers since the caller looked them
 * up (a store webhook or an import about the same shopper at the same moment). `on conflict do update` then
 * returns that writer's profile (it sees rows committed after the statement began, where
 * a select would not): a planned profile that won none of its identifiers is not created,
 * and its events go to the owner of its strongest identifier. A profile that won some
 * keeps them and its events; the event processor links the rest as for any event that
 * carries two profiles' identifiers. Returns the message ids inserted.
 */
export async function insertEventsWithProfiles(
  q: Queryable,
  write: EventsWithProfiles,
): Promise<Set<string>> {
  const ids = write.newIdentities;
  const [row] = await q.query<{ stored: string[] | null }>(
    `with planned as (
       select * from unnest($3::text[], $4::text[], $5::uuid[]) with ordinality as x(type, value, profile_id, n)
     ), owners as (
       insert into identities as i (workspace_id, type, value, profile_id, created_at, last_seen_at)
       select $1, type, value, profile_id, $2, $2 from planned
        order by type, value -- one lock order for concurrent writers
       on conflict (workspace_id, type, value) do update set last_seen_at = excluded.last_seen_at
       returning i.type, i.value, i.profile_id
     ), won as (
       select distinct p.profile_id from planned p
         join owners o on o.type = p.type and o.value = p.value and o.profile_id = p.profile_id
     ), moved as (
       select distinct on (p.profile_id) p.profile_id as planned, o.profile_id as owner
         from planned p join owners o on o.type = p.type and o.value = p.value
        where p.profile_id not in (select profile_id from won)
        order by p.profile_id, p.n
     ), new_profiles as (
       insert into profiles (workspace_id, id, created_at, updated_at)
       select $1, profile_id, $2, $2 from won
     ), stored as (
       ${insertEventRows({
         workspace: "$1",
         rows: "$6",
         profileId: "coalesce(m.owner, r.profile_id)",
         // partitionOf() in SQL: a profile's partition is the last hex digit of its id.
         partition: `case when m.owner is null then r.partition
                          else (position(right(m.owner::text, 1) in '0123456789abcdef') - 1)::smallint end`,
         join: "left join moved m on m.planned = r.profile_id",
       })}
     )
     select (select array_agg(message_id) from stored) as stored`,
    [
      write.workspaceId,
      write.at,
      ids.map((id) => id.type),
      ids.map((id) => id.value),
      ids.map((id) => id.profileId),
      JSON.stringify(eventRows(write.events)),
    ],
  );
  return new Set(row?.stored ?? []);
}
