import type { Clock } from "@herald/core/clock";
import type { ProfileStore } from "@herald/core/profiles/profiles";
import type { RfmThresholds } from "@herald/core/profiles/rfm";
import type { Database, Queryable, Tx } from "./database.ts";
import {
  allProfileEvents,
  deleteProfileEvents,
  listProfileEvents,
  toStoredEvent,
} from "./events.sql.ts";
import {
  deleteIdentities,
  findProfileIdsBy,
  identitiesOf,
} from "./identities.sql.ts";
import { deleteProfileOrders, listProfileOrders } from "./orders.sql.ts";
import {
  deleteMerges,
  deleteProfiles,
  getProfileRow,
  listMerges,
  mergedIds,
  rfmPercentiles,
  toProfile,
} from "./profiles.sql.ts";

/**
 * What a feature holds about a person, for privacy export and erasure. Features that keep
 * per-profile rows (messages, segment memberships, flow runs) register one, so that a
 * deletion leaves nothing behind.
 */
export interface PersonalData {
  readonly name: string;
  export(
    q: Queryable,
    workspaceId: string,
    profileIds: string[],
  ): Promise<unknown>;
  erase(tx: Tx, workspaceId: string, profileIds: string[]): Promise<void>;
}

const rfmCacheMs = 10 * 60_000;

/** The ProfileStore port of core, on this database. */
export function profileStore(
  db: Database,
  clock: Clock,
  personalData: readonly PersonalData[] = [],
): ProfileStore {
  const rfmCache = new Map<
    string,
    { thresholds: RfmThresholds | undefined; until: number }
  >();
  return {
    async getProfile(workspaceId, id) {
      const row = await getProfileRow(db, workspaceId, id);
      return row && { profile: toProfile(row), mergedInto: row.merged_into };
    },
    findProfileIds: (workspaceId, identifier) =>
      findProfileIdsBy(db, workspaceId, identifier),
    async identities(workspaceId, profileId) {
      return (await identitiesOf(db, workspaceId, [profileId])).map(
        ({ type, value }) => ({ type, value }),
      );
    },
    mergedIds: (workspaceId, profileId) =>
      mergedIds(db, workspaceId, profileId),
    merges: (workspaceId, profileId) => listMerges(db, workspaceId, profileId),
    async orders(workspaceId, profileId) {
      return listProfileOrders(db, workspaceId, [profileId]);
    },
    async rfmThresholds(workspaceId) {
      const cached = rfmCache.get(workspaceId);
      if (cached && cached.until > Date.now()) return cached.thresholds;
      const p = await rfmPercentiles(db, workspaceId, clock.now());
      const four = (values: number[] | null) =>
        values && values.length === 4
          ? (values.map((v) => Math.round(v * 100) / 100) as [
              number,
              number,
              number,
              number,
            ])
          : undefined;
      const recencyDays = four(p.recency);
      const monetary = four(p.monetary);
      const thresholds =
        recencyDays && monetary && p.buyers > 0
          ? { recencyDays, monetary }
          : undefined;
      rfmCache.set(workspaceId, { thresholds, until: Date.now() + rfmCacheMs });
      return thresholds;
    },
    async events(workspaceId, profileId, page) {
      return (await listProfileEvents(db, workspaceId, profileId, page)).map(
        toStoredEvent,
      );
    },
    async allEvents(workspaceId, profileId) {
      return (await allProfileEvents(db, workspaceId, profileId)).map(
        toStoredEvent,
      );
    },
    async featureData(workspaceId, profileId) {
      const ids = await mergedIds(db, workspaceId, profileId);
      const entries = await Promise.all(
        personalData.map(
          async (data) =>
            [data.name, await data.export(db, workspaceId, ids)] as const,
        ),
      );
      return Object.fromEntries(entries);
    },
    deleteProfiles: (workspaceId, ids) =>
      db.tx(async (tx) => {
        for (const data of personalData) await data.erase(tx, workspaceId, ids);
        await deleteProfileEvents(tx, workspaceId, ids);
        await deleteProfileOrders(tx, workspaceId, ids);
        await deleteIdentities(tx, workspaceId, ids);
        await deleteMerges(tx, workspaceId, ids);
        await deleteProfiles(tx, workspaceId, ids);
      }),
  };
}
