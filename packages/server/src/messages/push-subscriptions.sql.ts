import type { Queryable, Tx } from "../db/database.ts";

// Browsers' web push subscriptions (`push_subscriptions`), one per endpoint.

/** A browser's push subscription. */
export type PushSubscriptionRow = {
  endpoint: string;
  profile_id: string;
  p256dh: string;
  auth: string;
};

/** Stores (or moves to this profile) a push subscription. */
export async function upsertPushSubscription(
  tx: Tx,
  workspaceId: string,
  s: PushSubscriptionRow & { user_agent: string | null },
  now: Date,
): Promise<void> {
  await tx.query(
    `insert into push_subscriptions (workspace_id, endpoint, profile_id, p256dh, auth, user_agent, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (workspace_id, endpoint) do update
       set profile_id = excluded.profile_id, p256dh = excluded.p256dh, auth = excluded.auth,
           user_agent = excluded.user_agent`,
    [
      workspaceId,
      s.endpoint,
      s.profile_id,
      s.p256dh,
      s.auth,
      s.user_agent,
      now,
    ],
  );
}

/**
 * Removes a push subscription (the browser left, or the push service said 404/410);
 * resolves to the profile it was for, if there was one.
 */
export async function deletePushSubscription(
  q: Queryable,
  workspaceId: string,
  endpoint: string,
): Promise<string | undefined> {
  const [row] = await q.query<{ profile_id: string }>(
    "delete from push_subscriptions where workspace_id = $1 and endpoint = $2 returning profile_id",
    [workspaceId, endpoint],
  );
  return row?.profile_id;
}

/** A profile's push subscriptions. */
export async function listPushSubscriptions(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<PushSubscriptionRow[]> {
  return q.query<PushSubscriptionRow>(
    `select endpoint, profile_id, p256dh, auth from push_subscriptions
      where workspace_id = $1 and profile_id = $2 order by created_at`,
    [workspaceId, profileId],
  );
}

/** Moves a merged profile's push subscriptions to the survivor. */
export async function rekeyPushSubscriptions(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update push_subscriptions set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** Profiles' push subscriptions as the privacy export shows them. */
export async function exportPushSubscriptions(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    "select endpoint, created_at from push_subscriptions where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}

/** Deletes profiles' push subscriptions (privacy erasure). */
export async function deletePushSubscriptionsOf(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from push_subscriptions where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
