import { DomainError } from "@herald/core/domain-error";
import type { ListStatus } from "@herald/core/lists/lists";
import { validateScoreName } from "@herald/core/scores/scores";
import { atomsOf } from "@herald/core/segments/atoms";
import type { SegmentCondition } from "@herald/core/segments/condition";
import {
  evaluateCondition,
  type Evaluation,
  type ProfileFacts,
  type ReachFact,
} from "@herald/core/segments/evaluate";
import { reachKey } from "@herald/core/segments/dependencies";
import { usesRfm } from "@herald/core/segments/segments";
import { normalizeTag } from "@herald/core/tags/tags";
import type { Queryable, Tx } from "../db/database.ts";
import { deleteFromList, getList, setListStatus } from "../lists/lists.sql.ts";
import {
  getProfileRow,
  lockProfiles,
  profilesWithAddress,
  rfmThresholds,
  toProfile,
} from "../profiles/profiles.sql.ts";
import { awardPoints, ensureScore } from "../scores/scores.sql.ts";
import { atomFacts, membershipFacts } from "./segments.sql.ts";
import { deleteTags, insertTags } from "../tags/tags.sql.ts";
import { recordThresholds } from "./segment-handler.ts";
import {
  evaluateProfiles,
  loadCatalog,
  type ProfileChange,
} from "./segment-evaluator.ts";

/**
 * What other features call to change or read what segments see: tags, scores, list
 * membership, segment membership and one-off condition checks. Each takes the caller's
 * transaction, locks the profile, makes the change, and re-evaluates the segments that
 * depend on it in the same transaction, so membership stays true and its events are
 * committed with the change.
 *
 * `isInSegment` lives in db/segments.sql.ts; it is re-exported here so flows find every
 * entry point in one module.
 */
export { isInSegment } from "./segments.sql.ts";

/** The live profile an id names, following a merge; not_found if there is none. */
async function lockProfile(
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

async function reevaluate(
  tx: Tx,
  workspaceId: string,
  changes: Map<string, ProfileChange>,
  now: Date,
): Promise<void> {
  if (changes.size === 0) return;
  const catalog = await loadCatalog(tx, workspaceId);
  await evaluateProfiles(tx, workspaceId, catalog.segments, changes, {
    now,
    cause: "membership",
  });
}

/**
 * Re-evaluates the segments on reaching profiles by `channel` after delivery changed what
 * it knows (call it in the transaction of the change): a suppression of an address added or
 * lifted (every live profile with that address), a push subscription or a Telegram link
 * added or removed (the profile).
 */
export async function reachabilityChanged(
  tx: Tx,
  workspaceId: string,
  channel: string,
  who: { profileId: string } | { address: string },
  now: Date,
): Promise<void> {
  const ids =
    "address" in who
      ? await profilesWithAddress(tx, workspaceId, channel, who.address)
      : [who.profileId];
  await reevaluate(
    tx,
    workspaceId,
    new Map(
      ids.map((id) => [
        id,
        { keys: new Set([reachKey(channel)]), silent: false },
      ]),
    ),
    now,
  );
}

/**
 * Adds a tag to a profile (flows, the API); resolves to false when it had it already.
 * Segments on the tag are re-evaluated in `tx`.
 */
export async function addTag(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  tag: string,
  now: Date,
  source = "api",
): Promise<boolean> {
  const value = normalizeTag(tag);
  const id = await lockProfile(tx, workspaceId, profileId);
  const added = await insertTags(
    tx,
    workspaceId,
    [{ profileId: id, tag: value }],
    source,
    now,
  );
  if (added.length > 0)
    await reevaluate(
      tx,
      workspaceId,
      new Map([[id, { keys: new Set([`tag:${value}`]), silent: false }]]),
      now,
    );
  return added.length > 0;
}

/** Removes a tag from a profile; resolves to false when it did not have it. */
export async function removeTag(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  tag: string,
  now: Date,
): Promise<boolean> {
  const value = normalizeTag(tag);
  const id = await lockProfile(tx, workspaceId, profileId);
  const removed = await deleteTags(tx, workspaceId, [
    { profileId: id, tag: value },
  ]);
  if (removed.length > 0)
    await reevaluate(
      tx,
      workspaceId,
      new Map([[id, { keys: new Set([`tag:${value}`]), silent: false }]]),
      now,
    );
  return removed.length > 0;
}

/**
 * Adds points (negative to subtract) to a named score of a profile, creating the score if
 * it is new; points expire after `expiresAfterDays` if given. Records `Score Threshold
 * Reached` for each threshold the total rises to, and re-evaluates segments on the score.
 * Resolves to the new total.
 */
export async function addScore(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  scoreName: string,
  points: number,
  now: Date,
  options: { expiresAfterDays?: number; source?: string } = {},
): Promise<number> {
  const score = validateScoreName(scoreName, "/score");
  if (!Number.isInteger(points))
    throw new DomainError("invalid", "points must be a whole number", [
      { path: "/points", message: "must be an integer" },
    ]);
  const id = await lockProfile(tx, workspaceId, profileId);
  await ensureScore(tx, workspaceId, score, now);
  const changes = await awardPoints(
    tx,
    workspaceId,
    [
      {
        profileId: id,
        score,
        points,
        source: options.source ?? "api",
        expiresAt:
          options.expiresAfterDays === undefined
            ? null
            : new Date(now.getTime() + options.expiresAfterDays * 86_400_000),
      },
    ],
    now,
  );
  const catalog = await loadCatalog(tx, workspaceId);
  await recordThresholds(
    tx,
    workspaceId,
    changes,
    catalog.scores,
    now,
    () => false,
  );
  const change = changes[0];
  if (change && change.before !== change.after)
    await evaluateProfiles(
      tx,
      workspaceId,
      catalog.segments,
      new Map([[id, { keys: new Set([`score:${score}`]), silent: false }]]),
      { now, cause: "membership" },
    );
  return change?.after ?? 0;
}

/**
 * Sets profiles' status on a list (adding those not on it), and re-evaluates the segments
 * on that list. Use this rather than `setListStatus` when segments should follow at once.
 */
export async function changeListStatus(
  tx: Tx,
  workspaceId: string,
  listId: string,
  profileIds: string[],
  status: ListStatus,
  now: Date,
  source = "api",
): Promise<void> {
  if (profileIds.length === 0) return;
  if (!(await getList(tx, workspaceId, listId)))
    throw new DomainError("not_found", `no list ${listId}`);
  const ids = [...new Set(profileIds)].sort();
  const live = await lockProfiles(tx, workspaceId, ids);
  const missing = ids.filter((id) => !live.has(id));
  if (missing.length > 0)
    throw new DomainError("not_found", `no profile ${missing[0]}`, [
      {
        path: "/profileIds",
        message: `${missing.length} unknown profile(s), such as ${missing[0]}`,
      },
    ]);
  const targets = [
    ...new Set([...live.values()].map((row) => row.merged_into ?? row.id)),
  ];
  await setListStatus(tx, workspaceId, listId, targets, status, source, now);
  await reevaluate(
    tx,
    workspaceId,
    new Map(
      targets.map((id) => [
        id,
        { keys: new Set([`list:${listId}`]), silent: source === "import" },
      ]),
    ),
    now,
  );
}

/** Removes profiles from a list altogether, and re-evaluates the segments on that list. */
export async function removeListMembers(
  tx: Tx,
  workspaceId: string,
  listId: string,
  profileIds: string[],
  now: Date,
): Promise<number> {
  const removed = await deleteFromList(tx, workspaceId, listId, profileIds);
  await reevaluate(
    tx,
    workspaceId,
    new Map(
      removed.map((id) => [
        id,
        { keys: new Set([`list:${listId}`]), silent: false },
      ]),
    ),
    now,
  );
  return removed.length;
}

/**
 * Evaluates a condition (a flow's condition node) for one profile now, from the same facts
 * incremental evaluation uses; `segment` conditions read current memberships.
 */
export async function checkCondition(
  q: Queryable,
  workspaceId: string,
  profileId: string,
  condition: SegmentCondition,
  now: Date,
): Promise<Evaluation> {
  let row = await getProfileRow(q, workspaceId, profileId);
  if (row?.merged_into)
    row = await getProfileRow(q, workspaceId, row.merged_into);
  if (!row) throw new DomainError("not_found", `no profile ${profileId}`);
  const facts: ProfileFacts & {
    segments: Set<string>;
    lists: Map<string, ListStatus>;
    tags: Set<string>;
    scores: Map<string, number>;
    reach: Set<ReachFact>;
  } = {
    profile: toProfile(row),
    segments: new Set(),
    lists: new Map(),
    tags: new Set(),
    scores: new Map(),
    atoms: new Map(),
    reach: new Set(),
  };
  for (const fact of await membershipFacts(q, workspaceId, [row.id])) {
    if (fact.kind === "segment") facts.segments.add(fact.key);
    else if (fact.kind === "list" && fact.status)
      facts.lists.set(fact.key, fact.status as ListStatus);
    else if (fact.kind === "tag") facts.tags.add(fact.key);
    else if (fact.kind === "score") facts.scores.set(fact.key, fact.value ?? 0);
    else if (fact.kind === "reach") facts.reach.add(fact.key as ReachFact);
  }
  const atoms = [...atomsOf([condition]).values()];
  facts.atoms =
    (await atomFacts(q, workspaceId, [row.id], atoms, now)).get(row.id) ??
    new Map();
  const rfm = usesRfm(condition)
    ? await rfmThresholds(q, workspaceId, now)
    : undefined;
  return evaluateCondition(condition, facts, { now, rfm });
}
