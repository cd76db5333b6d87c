import type { Clock } from "@herald/core/clock";
import { identifierKey } from "@herald/core/identity/identifiers";
import type { ProfileStore } from "@herald/core/profiles/profiles";
import type { RfmThresholds } from "@herald/core/profiles/rfm";
import type { Database, Queryable, Tx } from "../db/database.ts";
import {
  allProfileEvents,
  deleteProfileEvents,
  listProfileEvents,
  toStoredEvent,
} from "../events/events.sql.ts";
import {
  deleteIdentities,
  findProfileIdsBy,
  identitiesOf,
} from "./identities.sql.ts";
import {
  decodeIntakeItems,
  deleteIntakeRows,
  encodeIntakeItem,
  lockWorkspaceIntake,
  replaceIntakeItems,
} from "../events/intake.sql.ts";
import {
  deleteProfileOrders,
  listProfileOrders,
} from "../orders/orders.sql.ts";
import {
  deleteMerges,
  deleteProfiles,
  getProfileRow,
  listMerges,
  mergedIds,
  rfmThresholds,
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

/**
 * Erases the events of the profiles `ids` that are acknowledged but still in the intake
 * (an event is theirs when one of its identifiers is), so that the resolver cannot bring
 * a deleted shopper back. Run first in the deletion's transaction: it waits for a batch the
 * resolver holds, whose events are then in the log and deleted with the rest.
 */
async function eraseIntakeEvents(
  tx: Tx,
  workspaceId: string,
  ids: string[],
): Promise<void> {
  const rows = await lockWorkspaceIntake(tx, workspaceId);
  if (rows.length === 0) return;
  const theirs = new Set(
    (await identitiesOf(tx, workspaceId, ids)).map((i) =>
      identifierKey({ type: i.type, value: i.value }),
    ),
  );
  const emptied: number[] = [];
  for (const row of rows) {
    let items;
    try {
      items = decodeIntakeItems(row.text);
    } catch {
      continue; // Not Herald's text: the resolver reports it as it does today.
    }
    const kept = items.filter(
      (item) => !item.identifiers.some((i) => theirs.has(identifierKey(i))),
    );
    if (kept.length === items.length) continue;
    if (kept.length === 0) emptied.push(row.id);
    else await replaceIntakeItems(tx, row.id, kept.map(encodeIntakeItem));
  }
  await deleteIntakeRows(tx, emptied);
}

/** The ProfileStore port of core, on this database. */
export function profileStore(
  db: Database,
  clock: Clock,
  personalData: readonly PersonalData[] = [],
): ProfileStore {
  const rfmCache = new Map<
    string,
    { thresholds: RfmThresholds; until: number }
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
      const thresholds = await rfmThresholds(db, workspaceId, clock.now());
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
        await eraseIntakeEvents(tx, workspaceId, ids);
        for (const data of personalData) await data.erase(tx, workspaceId, ids);
        await deleteProfileEvents(tx, workspaceId, ids);
        await deleteProfileOrders(tx, workspaceId, ids);
        await deleteIdentities(tx, workspaceId, ids);
        await deleteMerges(tx, workspaceId, ids);
        await deleteProfiles(tx, workspaceId, ids);
      }),
  };
}
