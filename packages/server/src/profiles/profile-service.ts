import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import {
  identifierFromQuery,
  viewProfile,
  type ProfileStore,
  type ProfileView,
} from "@herald/core/profiles/profiles";
import type { RfmThresholds } from "@herald/core/profiles/rfm";
import type { SegmentCondition } from "@herald/core/segments/condition";
import { usesRfm } from "@herald/core/segments/segments";
import type { Database, Queryable, Tx } from "../db/database.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import { lockProfiles, rfmThresholds } from "./profiles.sql.ts";

/**
 * What the admin API and other features ask of profiles beyond core's use-cases
 * (`core/profiles/profiles.ts`, over the ProfileStore port): finding profiles by an
 * identifier, the live profile an id names (merged ids follow their survivor) locked in
 * the caller's transaction when it is about to change, and the workspace's RFM cut points,
 * computed in one place (`rfmThresholds` over core's `rfmThresholdsOf`).
 */

/** What use-cases on profiles run on: the database, the clock and the profile store. */
export interface ProfileDeps {
  db: Database;
  clock: Clock;
  profiles: ProfileStore;
}

/**
 * The profiles one identifier of a query names (`email`, `phone`, `userId`,
 * `anonymousId`, or `type` and `value`), normalised like ingest does, as the API shows them.
 */
export async function findProfiles(
  deps: Pick<ProfileDeps, "clock" | "profiles"> & { settings: SettingsCache },
  workspaceId: string,
  query: Parameters<typeof identifierFromQuery>[0],
): Promise<ProfileView[]> {
  const settings = await deps.settings.get(workspaceId);
  const identifier = identifierFromQuery(query, settings.defaultPhoneRegion);
  const ids = await deps.profiles.findProfileIds(workspaceId, identifier);
  const now = deps.clock.now();
  return Promise.all(
    ids.map((id) => viewProfile(deps.profiles, workspaceId, id, now)),
  );
}

/**
 * Locks the live profile an id names, following a merge, and resolves to its id;
 * not_found if there is none.
 */
export async function lockLiveProfile(
  tx: Tx,
  workspaceId: string,
  profileId: string,
): Promise<string> {
  let id = profileId;
  for (let hops = 0; hops < 3; hops++) {
    const row = (await lockProfiles(tx, workspaceId, [id])).get(id);
    if (!row) break;
    if (!row.merged_into) return row.id;
    id = row.merged_into;
  }
  throw new DomainError("not_found", `no profile ${profileId}`);
}

/**
 * Locks the profiles `ids` (in id order) and maps each one found to the live profile it
 * stands for (itself, or the profile it was merged into).
 */
export async function lockLiveProfiles(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<Map<string, string>> {
  const rows = await lockProfiles(tx, workspaceId, ids);
  return new Map(
    [...rows.values()].map((row) => [row.id, row.merged_into ?? row.id]),
  );
}

/** The workspace's RFM cut points now when `condition` tests RFM groups, else undefined. */
export async function rfmThresholdsFor(
  q: Queryable,
  workspaceId: string,
  condition: SegmentCondition,
  now: Date,
): Promise<RfmThresholds | undefined> {
  return usesRfm(condition) ? rfmThresholds(q, workspaceId, now) : undefined;
}
