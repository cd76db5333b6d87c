import { orderChange } from "@herald/core/orders/orders";
import {
  changedKeys,
  eventKey,
  ordersKey,
  type ChangeKey,
} from "@herald/core/segments/dependencies";
import { eventMatches } from "@herald/core/segments/evaluate";
import { dayMs } from "@herald/core/segments/value-test";
import type { Tx } from "../db/database.ts";
import { mergeListMembers } from "../lists/lists.sql.ts";
import { listPersonalData } from "../lists/list-service.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import {
  awardPoints,
  moveScorePoints,
  recomputeScores,
  type Award,
} from "../scores/score-points.sql.ts";
import {
  recordThresholds,
  scorePersonalData,
} from "../scores/score-service.ts";
import {
  dropProfileMemberships,
  eraseSegmentData,
  exportSegmentData,
  type MembershipChange,
} from "./segment-members.sql.ts";
import { membershipFacts } from "./segment-facts.sql.ts";
import {
  deleteTags,
  insertTags,
  mergeTags,
  type TagChange,
} from "../tags/tags.sql.ts";
import { tagPersonalData } from "../tags/tag-service.ts";
import type {
  BatchContext,
  EventHandler,
  MergeInfo,
  ProcessedEvent,
} from "../workers/event-handler.ts";
import {
  CatalogCache,
  evaluateProfiles,
  recordMembershipEvents,
  type ProfileChange,
  type SegmentSet,
} from "./segment-evaluator.ts";

/**
 * The event processor's handler for segments, tags and scores. For each batch, inside the
 * processing transaction: apply tag rules, then scoring rules (recording `Score Threshold
 * Reached` when a total rises to a threshold), then re-evaluate the segments the batch can
 * affect — per profile, from the events' names, what changed on the profile, and the tags
 * and scores just changed. A profile seen for the first time, and the survivor of a merge,
 * are evaluated against every segment.
 *
 * Changes caused only by silent (imported) events are recorded as silent events, so flows
 * do not fire on history.
 */
export class SegmentHandler implements EventHandler {
  readonly name = "segments";
  readonly #catalog = new CatalogCache();
  /** Merge survivors of the transaction in progress, to evaluate in full. */
  readonly #survivors = new WeakMap<Tx, Map<string, Set<string>>>();
  /** Memberships the merged-away profiles of the transaction in progress lost. */
  readonly #absorbed = new WeakMap<Tx, Map<string, Absorbed[]>>();

  async handle(
    tx: Tx,
    workspaceId: string,
    events: ProcessedEvent[],
    context: BatchContext,
  ): Promise<void> {
    const catalog = await this.#catalog.get(tx, workspaceId);
    const { now } = context;
    const changes = new Map<string, ProfileChange>();
    const touch = (
      profileId: string,
      keys: Iterable<ChangeKey> | "all",
      silent: boolean,
    ) => {
      const current = changes.get(profileId);
      const merged: ProfileChange = {
        keys:
          keys === "all" || current?.keys === "all"
            ? "all"
            : new Set([...(current?.keys ?? []), ...keys]),
        silent: (current?.silent ?? true) && silent,
      };
      changes.set(profileId, merged);
    };

    const tagOps = new Map<string, TagChange & { add: boolean }>();
    const awards: (Award & { silent: boolean })[] = [];
    for (const item of events) {
      const { event } = item;
      const keys: ChangeKey[] = changedKeys(item.previous, item.profile);
      if (event.name) keys.push(eventKey(event.name));
      if (orderChange(event)) keys.push(ordersKey);
      touch(
        event.profileId,
        item.previous.firstSeenAt === null ? "all" : keys,
        event.silent,
      );
      for (const rule of catalog.tagRules)
        if (eventMatches(rule, event, now))
          tagOps.set(`${event.profileId}\u0000${rule.tag}`, {
            profileId: event.profileId,
            tag: rule.tag,
            add: rule.action === "add",
          });
      for (const rule of catalog.scoreRules) {
        if (!eventMatches(rule, event, now)) continue;
        const expiresAt =
          rule.expiresAfterDays === null
            ? null
            : new Date(
                event.timestamp.getTime() + rule.expiresAfterDays * dayMs,
              );
        if (expiresAt && expiresAt <= now) continue;
        awards.push({
          profileId: event.profileId,
          score: rule.score,
          points: rule.points,
          source: `rule:${rule.id}`,
          expiresAt,
          silent: event.silent,
        });
      }
    }
    // Profiles the batch touched without an event of their own (an order cancelled or
    // refunded by an event on another profile) may have new order figures.
    const batchSilent = events.every((item) => item.event.silent);
    for (const profileId of context.profiles.keys())
      if (!changes.has(profileId)) touch(profileId, [ordersKey], batchSilent);
    // …and so may profiles with events of their own, when the change came first.
    for (const profileId of context.ordersChanged)
      touch(
        profileId,
        [ordersKey],
        changes.get(profileId)?.silent ?? batchSilent,
      );
    for (const survivor of this.#survivors.get(tx)?.get(workspaceId) ?? [])
      touch(survivor, "all", false);
    this.#survivors.get(tx)?.delete(workspaceId);

    if (tagOps.size > 0) {
      const ops = [...tagOps.values()];
      const added = await insertTags(tx, workspaceId, {
        tags: ops.filter((op) => op.add),
        source: "rule",
        at: now,
      });
      const removed = await deleteTags(
        tx,
        workspaceId,
        ops.filter((op) => !op.add),
      );
      for (const change of [...added, ...removed])
        touch(
          change.profileId,
          [`tag:${change.tag}`],
          changes.get(change.profileId)?.silent ?? false,
        );
    }

    if (awards.length > 0) {
      const silentOf = new Map<string, boolean>();
      for (const award of awards)
        silentOf.set(
          award.profileId,
          (silentOf.get(award.profileId) ?? true) && award.silent,
        );
      const scoreChanges = await awardPoints(tx, workspaceId, awards, now);
      await recordThresholds(tx, workspaceId, {
        changes: scoreChanges,
        scores: catalog.scores,
        now,
        silent: (id) => silentOf.get(id) ?? false,
      });
      for (const change of scoreChanges)
        if (change.before !== change.after)
          touch(
            change.profileId,
            [`score:${change.score}`],
            silentOf.get(change.profileId) ?? false,
          );
    }

    await evaluateProfiles(tx, workspaceId, {
      segments: catalog.segments,
      changes,
      now,
      cause: "event",
      profiles: context.profiles,
    });
    await this.#recordAbsorbedExits(tx, workspaceId, catalog.segments, now);
  }

  /**
   * Records `Segment Exited` for the memberships merged-away profiles lost, once their
   * survivors are evaluated: silent where the survivor is in the segment (the shopper did
   * not leave it, so no "left" flow fires), like any other exit where it is not.
   */
  async #recordAbsorbedExits(
    tx: Tx,
    workspaceId: string,
    segments: SegmentSet,
    now: Date,
  ): Promise<void> {
    const absorbed = this.#absorbed.get(tx)?.get(workspaceId) ?? [];
    this.#absorbed.get(tx)?.delete(workspaceId);
    if (absorbed.length === 0) return;
    const survivors = [...new Set(absorbed.map((a) => a.survivorId))];
    const stillIn = new Set(
      (await membershipFacts(tx, workspaceId, survivors))
        .filter((row) => row.kind === "segment")
        .map((row) => `${row.profile_id}\u0000${row.key}`),
    );
    const loud: MembershipChange[] = [];
    const quiet: MembershipChange[] = [];
    for (const { mergedId, survivorId, segmentIds } of absorbed)
      for (const segmentId of segmentIds)
        (stillIn.has(`${survivorId}\u0000${segmentId}`) ? quiet : loud).push({
          segmentId,
          profileId: mergedId,
          change: "exited",
        });
    // The silent flag goes per profile: one call for each kind.
    await recordMembershipEvents(tx, workspaceId, {
      made: loud,
      segments,
      now,
      silent: () => false,
    });
    await recordMembershipEvents(tx, workspaceId, {
      made: quiet,
      segments,
      now,
      silent: () => true,
    });
  }

  async merge(tx: Tx, merge: MergeInfo, now: Date): Promise<void> {
    const { workspaceId, survivorId, mergedId } = merge;
    const left = await dropProfileMemberships(tx, workspaceId, mergedId, now);
    let absorbedBy = this.#absorbed.get(tx);
    if (!absorbedBy)
      this.#absorbed.set(tx, (absorbedBy = new Map<string, Absorbed[]>()));
    const absorbed = absorbedBy.get(workspaceId) ?? [];
    // A survivor merged away in turn hands its absorbed profiles to the new survivor.
    for (const entry of absorbed)
      if (entry.survivorId === mergedId) entry.survivorId = survivorId;
    if (left.length > 0)
      absorbed.push({ mergedId, survivorId, segmentIds: left });
    absorbedBy.set(workspaceId, absorbed);
    await mergeTags(tx, workspaceId, mergedId, survivorId);
    await mergeListMembers(tx, workspaceId, mergedId, survivorId);
    await moveScorePoints(tx, workspaceId, mergedId, survivorId);
    await recomputeScores(tx, workspaceId, [survivorId], now);
    let byWorkspace = this.#survivors.get(tx);
    if (!byWorkspace)
      this.#survivors.set(tx, (byWorkspace = new Map<string, Set<string>>()));
    const survivors = byWorkspace.get(workspaceId) ?? new Set<string>();
    survivors.delete(mergedId);
    survivors.add(survivorId);
    byWorkspace.set(workspaceId, survivors);
  }
}

/** The segments a merged-away profile left, and the profile that absorbed it. */
interface Absorbed {
  mergedId: string;
  survivorId: string;
  segmentIds: string[];
}

/**
 * Privacy export and erasure of what segments, tags, scores and lists hold about profiles
 * (the features the event processor's segment handler keeps).
 */
export const segmentPersonalData: PersonalData[] = [
  {
    name: "segments",
    export: (q, workspaceId, ids) => exportSegmentData(q, workspaceId, ids),
    erase: (tx, workspaceId, ids) => eraseSegmentData(tx, workspaceId, ids),
  },
  tagPersonalData,
  scorePersonalData,
  listPersonalData,
];
