import type { Queryable, Tx } from "../db/database.ts";

/**
 * The timer-driven triggers' tables: date timers (birthdays), schedules (seasonal sends)
 * and the catalog-change cursor (back in stock, price drop).
 */

/** Sets when a date trigger fires next for profiles. */
export async function upsertDateTimers(
  tx: Tx,
  workspaceId: string,
  flowId: string,
  rows: { profileId: string; fireAt: Date }[],
): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `insert into flow_date_timers (workspace_id, flow_id, profile_id, fire_at)
     select $1, $2, t."profileId", t."fireAt" from jsonb_to_recordset($3::jsonb) as t("profileId" uuid, "fireAt" timestamptz)
     on conflict (workspace_id, flow_id, profile_id) do update set fire_at = excluded.fire_at`,
    [workspaceId, flowId, JSON.stringify(rows)],
  );
}

/** Removes profiles' date timers of a flow. */
export async function deleteDateTimers(
  tx: Tx,
  workspaceId: string,
  flowId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from flow_date_timers where workspace_id = $1 and flow_id = $2 and profile_id = any($3::uuid[])",
    [workspaceId, flowId, profileIds],
  );
}

/** Due date timers of live flows, locked. */
export async function claimDueDateTimers(
  tx: Tx,
  now: Date,
  limit: number,
): Promise<
  { workspace_id: string; flow_id: string; profile_id: string; fire_at: Date }[]
> {
  return tx.query(
    `select t.workspace_id, t.flow_id, t.profile_id, t.fire_at from flow_date_timers t
       join flows f on f.workspace_id = t.workspace_id and f.id = t.flow_id and f.status = 'live'
      where t.fire_at <= $1 order by t.fire_at limit $2 for update of t skip locked`,
    [now, limit],
  );
}

/** The earliest date timer of a live flow. */
export async function nextDateTimerAt(q: Queryable): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    `select min(t.fire_at) as at from flow_date_timers t
       join flows f on f.workspace_id = t.workspace_id and f.id = t.flow_id and f.status = 'live'`,
  );
  return row?.at ?? undefined;
}

/** Profiles having a trait, by id after a cursor, with their time zone. */
export async function profilesWithTrait(
  q: Queryable,
  workspaceId: string,
  {
    trait,
    after,
    limit,
  }: { trait: string; after: string | null; limit: number },
): Promise<{ id: string; value: unknown; time_zone: string | null }[]> {
  return q.query(
    `select id, traits -> $2 as value, time_zone from profiles
      where workspace_id = $1 and merged_into is null and traits ? $2 and ($3::uuid is null or id > $3)
      order by id limit $4`,
    [workspaceId, trait, after, limit],
  );
}

/** Sets a scheduled flow's next occurrence (null: no more). */
export async function upsertSchedule(
  tx: Tx,
  workspaceId: string,
  flowId: string,
  nextAt: Date | null,
): Promise<void> {
  await tx.query(
    `insert into flow_schedules (workspace_id, flow_id, next_at) values ($1, $2, $3)
     on conflict (workspace_id, flow_id) do update set next_at = excluded.next_at, occurrence_at = null, after_profile = null`,
    [workspaceId, flowId, nextAt],
  );
}

/** Due schedules of live flows, locked. */
export async function claimDueSchedules(
  tx: Tx,
  now: Date,
  limit: number,
): Promise<
  {
    workspace_id: string;
    flow_id: string;
    next_at: Date;
    occurrence_at: Date | null;
    after_profile: string | null;
  }[]
> {
  return tx.query(
    `select s.workspace_id, s.flow_id, s.next_at, s.occurrence_at, s.after_profile from flow_schedules s
       join flows f on f.workspace_id = s.workspace_id and f.id = s.flow_id and f.status = 'live'
      where s.next_at <= $1 order by s.next_at limit $2 for update of s skip locked`,
    [now, limit],
  );
}

/** Records a schedule's progress through an occurrence's audience, or its next occurrence. */
export async function updateSchedule(
  tx: Tx,
  workspaceId: string,
  flowId: string,
  state: {
    nextAt: Date | null;
    occurrenceAt: Date | null;
    afterProfile: string | null;
  },
): Promise<void> {
  await tx.query(
    "update flow_schedules set next_at = $3, occurrence_at = $4, after_profile = $5 where workspace_id = $1 and flow_id = $2",
    [workspaceId, flowId, state.nextAt, state.occurrenceAt, state.afterProfile],
  );
}

/** The earliest schedule occurrence of a live flow. */
export async function nextScheduleAt(q: Queryable): Promise<Date | undefined> {
  const [row] = await q.query<{ at: Date | null }>(
    `select min(s.next_at) as at from flow_schedules s
       join flows f on f.workspace_id = s.workspace_id and f.id = s.flow_id and f.status = 'live'`,
  );
  return row?.at ?? undefined;
}

/**
 * A batch of a schedule's audience, by profile id after a cursor: a segment's members, or
 * every profile that can be reached (an email or a phone).
 */
export async function audienceBatch(
  q: Queryable,
  workspaceId: string,
  {
    segmentId,
    after,
    limit,
  }: { segmentId: string | undefined; after: string | null; limit: number },
): Promise<{ id: string; time_zone: string | null }[]> {
  if (segmentId) {
    return q.query(
      `select p.id, p.time_zone from segment_members m join profiles p on p.workspace_id = m.workspace_id and p.id = m.profile_id
        where m.workspace_id = $1 and m.segment_id = $2 and ($3::uuid is null or m.profile_id > $3)
        order by m.profile_id limit $4`,
      [workspaceId, segmentId, after, limit],
    );
  }
  return q.query(
    `select id, time_zone from profiles
      where workspace_id = $1 and merged_into is null and (email is not null or phone is not null) and ($2::uuid is null or id > $2)
      order by id limit $3`,
    [workspaceId, after, limit],
  );
}

/** Where a catalog-triggered flow has read the catalog's changes up to. */
export async function getCatalogCursor(
  q: Queryable,
  workspaceId: string,
  flowId: string,
): Promise<number | undefined> {
  const [row] = await q.query<{ last_change_id: number }>(
    "select last_change_id from flow_catalog_cursors where workspace_id = $1 and flow_id = $2",
    [workspaceId, flowId],
  );
  return row?.last_change_id;
}

/** Moves a catalog-triggered flow's cursor. */
export async function setCatalogCursor(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  lastChangeId: number,
): Promise<void> {
  await q.query(
    `insert into flow_catalog_cursors (workspace_id, flow_id, last_change_id) values ($1, $2, $3)
     on conflict (workspace_id, flow_id) do update set last_change_id = excluded.last_change_id`,
    [workspaceId, flowId, lastChangeId],
  );
}

/** The newest catalog change id of a workspace (0 when none). */
export async function lastCatalogChangeId(
  q: Queryable,
  workspaceId: string,
): Promise<number> {
  const [row] = await q.query<{ id: number | null }>(
    "select max(id) as id from catalog_changes where workspace_id = $1",
    [workspaceId],
  );
  return row?.id ?? 0;
}

/** Catalog changes after an id, oldest first, with the product's current state. */
export async function catalogChangesAfter(
  q: Queryable,
  workspaceId: string,
  afterId: number,
  limit: number,
): Promise<
  {
    id: number;
    product_id: string;
    variant_id: string | null;
    kind: "price" | "stock";
    old_value: number | null;
    new_value: number | null;
    name: string;
    url: string | null;
    image_url: string | null;
    price: number | null;
  }[]
> {
  return q.query(
    `select c.id, c.product_id, c.variant_id, c.kind, c.old_value, c.new_value, p.name, p.url, p.image_url, p.price
       from catalog_changes c join products p on p.workspace_id = c.workspace_id and p.product_id = c.product_id
      where c.workspace_id = $1 and c.id > $2 order by c.id limit $3`,
    [workspaceId, afterId, limit],
  );
}

/** Workspaces with live catalog-triggered flows whose cursors lag the catalog's changes. */
export async function catalogFlowsBehind(
  q: Queryable,
): Promise<
  { workspace_id: string; flow_id: string; last_change_id: number }[]
> {
  return q.query(
    `select k.workspace_id, k.flow_id, k.last_change_id from flow_catalog_cursors k
       join flows f on f.workspace_id = k.workspace_id and f.id = k.flow_id and f.status = 'live'
      where exists (select 1 from catalog_changes c where c.workspace_id = k.workspace_id and c.id > k.last_change_id)`,
  );
}

/** Shoppers who showed interest in a product: sent one of `events` about it since `since`. */
export async function interestedProfiles(
  q: Queryable,
  workspaceId: string,
  {
    productId,
    events,
    since,
  }: { productId: string; events: string[]; since: Date },
): Promise<string[]> {
  const rows = await q.query<{ profile_id: string }>(
    `select distinct coalesce(p.merged_into, p.id) as profile_id
       from events e join profiles p on p.workspace_id = e.workspace_id and p.id = e.profile_id
      where e.workspace_id = $1 and e.name = any($3::text[]) and e.timestamp >= $4
        and (e.properties ->> 'product_id' = $2
             or e.properties -> 'products' @> jsonb_build_array(jsonb_build_object('product_id', $2::text)))`,
    [workspaceId, productId, events, since],
  );
  return rows.map((row) => row.profile_id);
}
