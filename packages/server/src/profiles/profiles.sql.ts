import type { Identifier } from "@herald/core/identity/identifiers";
import type { Consent } from "@herald/core/profiles/consent";
import type { JsonObject } from "@herald/core/events/event";
import type { Profile } from "@herald/core/profiles/profile";
import { rfmThresholdsOf, type RfmThresholds } from "@herald/core/profiles/rfm";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `profiles`. */
export type ProfileRow = {
  workspace_id: string;
  id: string;
  created_at: Date;
  updated_at: Date;
  merged_into: string | null;
  email: string | null;
  phone: string | null;
  traits: JsonObject;
  trait_times: Record<string, string>;
  consent: Consent;
  first_seen_at: Date | null;
  last_seen_at: Date | null;
  order_count: number;
  valued_order_count: number;
  revenue: number;
  first_order_at: Date | null;
  last_order_at: Date | null;
  avg_days_between_orders: number | null;
  expected_next_order_at: Date | null;
  time_zone: string | null;
  locale: string | null;
  country: string | null;
  city: string | null;
  computed: JsonObject;
};

/** The profile of a row. */
export function toProfile(row: ProfileRow): Profile {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    createdAt: row.created_at,
    email: row.email,
    phone: row.phone,
    traits: row.traits,
    traitTimes: row.trait_times,
    consent: row.consent,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
    timeZone: row.time_zone,
    locale: row.locale,
    country: row.country,
    city: row.city,
    computed: row.computed,
    orders: {
      orderCount: row.order_count,
      valuedOrderCount: row.valued_order_count,
      revenue: row.revenue,
      averageOrderValue:
        row.valued_order_count > 0
          ? Math.round((row.revenue / row.valued_order_count) * 100) / 100
          : null,
      firstOrderAt: row.first_order_at,
      lastOrderAt: row.last_order_at,
      avgDaysBetweenOrders: row.avg_days_between_orders,
      expectedNextOrderAt: row.expected_next_order_at,
    },
  };
}

/** Creates empty profiles. */
export async function insertProfiles(
  tx: Tx,
  workspaceId: string,
  ids: string[],
  at: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `insert into profiles (workspace_id, id, created_at, updated_at)
     select $1, id, $3, $3 from unnest($2::uuid[]) as id`,
    [workspaceId, ids, at],
  );
}

/** Deletes profiles (ingest's orphans, and privacy deletion). */
export async function deleteProfiles(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    "delete from profiles where workspace_id = $1 and id = any($2::uuid[])",
    [workspaceId, ids],
  );
}

/** Profiles by id, locked for update in id order (so concurrent processors cannot deadlock). */
export async function lockProfiles(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<Map<string, ProfileRow>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<ProfileRow>(
    "select * from profiles where workspace_id = $1 and id = any($2::uuid[]) order by id for update",
    [workspaceId, ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * Like `lockProfiles`, with each profile's identifiers (ordered by type and value) in the
 * same round trip.
 */
export async function lockProfilesWithIdentities(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<Map<string, ProfileRow & { identities: Identifier[] }>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<ProfileRow & { identities: Identifier[] }>(
    `select p.*, coalesce((select json_agg(json_build_object('type', i.type, 'value', i.value) order by i.type, i.value)
                             from identities i where i.workspace_id = p.workspace_id and i.profile_id = p.id),
                          '[]') as identities
       from profiles p where p.workspace_id = $1 and p.id = any($2::uuid[]) order by p.id for update of p`,
    [workspaceId, ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** One profile row by id. */
export async function getProfileRow(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<ProfileRow | undefined> {
  const [row] = await q.query<ProfileRow>(
    "select * from profiles where workspace_id = $1 and id = $2",
    [workspaceId, id],
  );
  return row;
}

/** Writes back profiles the processor changed. */
export async function saveProfiles(
  tx: Tx,
  workspaceId: string,
  profiles: Profile[],
  at: Date,
): Promise<void> {
  if (profiles.length === 0) return;
  const rows = profiles.map((p) => ({
    id: p.id,
    email: p.email,
    phone: p.phone,
    traits: p.traits,
    trait_times: p.traitTimes,
    consent: p.consent,
    first_seen_at: p.firstSeenAt?.toISOString() ?? null,
    last_seen_at: p.lastSeenAt?.toISOString() ?? null,
    order_count: p.orders.orderCount,
    valued_order_count: p.orders.valuedOrderCount,
    revenue: p.orders.revenue,
    first_order_at: p.orders.firstOrderAt?.toISOString() ?? null,
    last_order_at: p.orders.lastOrderAt?.toISOString() ?? null,
    avg_days_between_orders: p.orders.avgDaysBetweenOrders,
    expected_next_order_at: p.orders.expectedNextOrderAt?.toISOString() ?? null,
    time_zone: p.timeZone,
    locale: p.locale,
    country: p.country,
    city: p.city,
    computed: p.computed,
  }));
  await tx.query(
    `update profiles p set
        email = r.email, phone = r.phone, traits = r.traits, trait_times = r.trait_times, consent = r.consent,
        first_seen_at = r.first_seen_at, last_seen_at = r.last_seen_at,
        order_count = r.order_count, valued_order_count = r.valued_order_count, revenue = r.revenue, first_order_at = r.first_order_at,
        last_order_at = r.last_order_at, avg_days_between_orders = r.avg_days_between_orders,
        expected_next_order_at = r.expected_next_order_at, time_zone = r.time_zone, locale = r.locale,
        country = r.country, city = r.city, computed = r.computed, updated_at = $3
       from jsonb_to_recordset($2::jsonb) as r(id uuid, email text, phone text, traits jsonb, trait_times jsonb,
            consent jsonb, first_seen_at timestamptz, last_seen_at timestamptz, order_count integer,
            valued_order_count integer, revenue numeric, first_order_at timestamptz, last_order_at timestamptz, avg_days_between_orders real,
            expected_next_order_at timestamptz, time_zone text, locale text, country text, city text, computed jsonb)
      where p.workspace_id = $1 and p.id = r.id`,
    [workspaceId, JSON.stringify(rows), at],
  );
}

/**
 * Marks `mergedId` as merged into `survivorId`, and re-points profiles merged into it
 * earlier, so a merged id always resolves in one step.
 */
export async function markMerged(
  tx: Tx,
  workspaceId: string,
  merge: { mergedId: string; survivorId: string; at: Date },
): Promise<void> {
  await tx.query(
    `update profiles set merged_into = $3, updated_at = $4
      where workspace_id = $1 and (id = $2 or merged_into = $2)`,
    [workspaceId, merge.mergedId, merge.survivorId, merge.at],
  );
}

/** Records a merge and what caused it. */
export async function insertMerge(
  tx: Tx,
  merge: {
    workspaceId: string;
    survivorId: string;
    mergedId: string;
    reason: string;
    messageId: string | null;
    identifiers: unknown[];
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into profile_merges (workspace_id, survivor_id, merged_id, reason, event_message_id, identifiers, merged_at)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [
      merge.workspaceId,
      merge.survivorId,
      merge.mergedId,
      merge.reason,
      merge.messageId,
      JSON.stringify(merge.identifiers),
      merge.at,
    ],
  );
}

/** The merges a profile absorbed, newest first. */
export async function listMerges(
  q: Queryable,
  workspaceId: string,
  survivorId: string,
): Promise<
  {
    merged_id: string;
    reason: string;
    event_message_id: string | null;
    identifiers: unknown[];
    merged_at: Date;
  }[]
> {
  return q.query(
    `select merged_id, reason, event_message_id, identifiers, merged_at from profile_merges
      where workspace_id = $1 and survivor_id = $2 order by merged_at desc, id desc`,
    [workspaceId, survivorId],
  );
}

/** The ids merged into a profile (the profile's own id first). */
export async function mergedIds(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    "select id from profiles where workspace_id = $1 and (id = $2 or merged_into = $2) order by id = $2 desc, id",
    [workspaceId, id],
  );
  return rows.map((row) => row.id);
}

/**
 * The RFM cut points of a workspace now: the 20/40/60/80th percentiles of its buyers' days
 * since their last order and revenue (of the buyers with an order of known amount), or the defaults while it has few buyers
 * (`rfmThresholdsOf`). The one place they are computed: segments freeze them, the profile
 * view shows scores by them.
 */
export async function rfmThresholds(
  q: Queryable,
  workspaceId: string,
  now: Date,
): Promise<RfmThresholds> {
  const [row] = await q.query<{
    recency: number[] | null;
    monetary: number[] | null;
    buyers: number;
  }>(
    `select percentile_cont(array[0.2, 0.4, 0.6, 0.8]) within group
              (order by extract(epoch from ($2::timestamptz - last_order_at)) / 86400) as recency,
            percentile_cont(array[0.2, 0.4, 0.6, 0.8]) within group (order by revenue)
              filter (where valued_order_count > 0) as monetary,
            count(*)::int as buyers
       from profiles where workspace_id = $1 and merged_into is null and order_count > 0`,
    [workspaceId, now],
  );
  return rfmThresholdsOf(row ?? { recency: null, monetary: null, buyers: 0 });
}

/** Deletes the merge records of profiles. */
export async function deleteMerges(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<void> {
  await tx.query(
    "delete from profile_merges where workspace_id = $1 and (survivor_id = any($2::uuid[]) or merged_id = any($2::uuid[]))",
    [workspaceId, ids],
  );
}

/** Profiles by id, without locking them (readers that change nothing). */
export async function profileRows(
  q: Queryable,
  workspaceId: string,
  ids: string[],
): Promise<ProfileRow[]> {
  if (ids.length === 0) return [];
  return q.query<ProfileRow>(
    "select * from profiles where workspace_id = $1 and id = any($2::uuid[])",
    [workspaceId, ids],
  );
}

/** The live profiles whose own email address (channel `email`) or phone number (`sms`) is `address`. */
export async function profilesWithAddress(
  q: Queryable,
  workspaceId: string,
  channel: string,
  address: string,
): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    `select id from profiles where workspace_id = $1 and merged_into is null
        and (($2::text = 'email' and email = $3) or ($2::text = 'sms' and phone = $3))`,
    [workspaceId, channel, address],
  );
  return rows.map((row) => row.id);
}

/** The channels, of `channels`, on which at least one of the workspace's profiles subscribed. */
export async function channelsWithConsent(
  q: Queryable,
  workspaceId: string,
  channels: string[],
): Promise<string[]> {
  const rows = await q.query<{ channel: string }>(
    `select c.channel from unnest($2::text[]) as c(channel)
      where exists (
        select 1 from profiles p
          where p.workspace_id = $1 and p.merged_into is null
            and p.consent -> c.channel ->> 'status' = 'subscribed')`,
    [workspaceId, channels],
  );
  return rows.map((row) => row.channel);
}
