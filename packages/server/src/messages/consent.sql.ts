import type { ConsentRecord } from "@herald/core/profiles/consent";
import type { Tx } from "../db/database.ts";

// What delivery writes of a shopper's wishes: one channel's consent on the profile (the
// one source of truth) and a pause of marketing from the preference centre
// (`preference_pauses`).

/** One channel's consent as `setProfileConsent` writes it. */
export interface ConsentChange {
  profileId: string;
  channel: string;
  record: ConsentRecord;
}

/**
 * Sets one channel's consent on a profile, last-write-wins by `record.at` like the event
 * processor does, so the `Unsubscribed` / `Subscribed` event written beside it changes
 * nothing more when processed.
 */
export async function setProfileConsent(
  tx: Tx,
  workspaceId: string,
  change: ConsentChange,
): Promise<void> {
  await tx.query(
    `update profiles set consent = jsonb_set(consent, array[$3::text], $4::jsonb)
      where workspace_id = $1 and id = $2
        and coalesce(consent -> $3 ->> 'at', '') <= $5`,
    [
      workspaceId,
      change.profileId,
      change.channel,
      JSON.stringify(change.record),
      change.record.at,
    ],
  );
}

/** Pauses a profile's marketing until `until` (the preference centre). */
export async function upsertPreferencePause(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  until: Date,
): Promise<void> {
  await tx.query(
    `insert into preference_pauses (workspace_id, profile_id, until) values ($1, $2, $3)
     on conflict (workspace_id, profile_id) do update set until = excluded.until`,
    [workspaceId, profileId, until],
  );
}

/** Ends profiles' marketing pauses (the preference centre, a merge, privacy erasure). */
export async function deletePreferencePauses(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from preference_pauses where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
