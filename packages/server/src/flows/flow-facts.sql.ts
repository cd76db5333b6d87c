import type { FlowEvent } from "@herald/core/flows/conditions";
import type { Queryable } from "../db/database.ts";

/** Days of use per unit of products (only those that have one). */
export async function daysOfUseOf(
  q: Queryable,
  workspaceId: string,
  productIds: string[],
): Promise<Map<string, number>> {
  const rows = await q.query<{ product_id: string; days: number }>(
    `select product_id, days_of_use_per_unit as days from products
      where workspace_id = $1 and product_id = any($2::text[]) and days_of_use_per_unit is not null`,
    [workspaceId, productIds],
  );
  return new Map(rows.map((row) => [row.product_id, row.days]));
}

/** A profile's events of the given names since a time, oldest first (at most 200). */
export async function eventsSince(
  q: Queryable,
  workspaceId: string,
  {
    profileId,
    names,
    since,
  }: { profileId: string; names: string[]; since: Date },
): Promise<FlowEvent[]> {
  const rows = await q.query<{
    name: string;
    properties: Record<string, unknown>;
    timestamp: Date;
  }>(
    `select name, properties, timestamp from events
      where workspace_id = $1 and profile_id = $2 and name = any($3::text[]) and timestamp >= $4
      order by timestamp limit 200`,
    [workspaceId, profileId, names, since],
  );
  return rows;
}

/** The newest events of a name since `since`, newest first (for a dry run's candidates). */
export async function recentTriggerEvents(
  q: Queryable,
  workspaceId: string,
  { name, since, limit }: { name: string; since: Date; limit: number },
): Promise<
  { profile_id: string; properties: Record<string, unknown>; timestamp: Date }[]
> {
  return q.query(
    `select profile_id, properties, timestamp from events
      where workspace_id = $1 and name = $2 and timestamp >= $3
      order by timestamp desc limit $4`,
    [workspaceId, name, since, limit],
  );
}
