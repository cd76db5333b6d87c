import { uuidv7 } from "@herald/core/ids";
import type { ListStatus } from "@herald/core/lists/lists";
import type { Profile } from "@herald/core/profiles/profile";
import type { Score, ScoreRule } from "@herald/core/scores/scores";
import {
  atomKey,
  atomsOf,
  type Atom,
  type AtomFacts,
} from "@herald/core/segments/atoms";
import type { SegmentCondition } from "@herald/core/segments/condition";
import {
  dependenciesOf,
  evaluationOrder,
  referencedSegments,
  type ChangeKey,
} from "@herald/core/segments/dependencies";
import {
  evaluateCondition,
  type ProfileFacts,
  type ReachFact,
} from "@herald/core/segments/evaluate";
import type { SegmentParams } from "@herald/core/segments/segments";
import type { TagRule } from "@herald/core/tags/tags";
import type { Queryable, Tx } from "../db/database.ts";
import { lockProfiles, toProfile } from "../profiles/profiles.sql.ts";
import { listScoreRules, listScores } from "../scores/scores.sql.ts";
import {
  catalogVersion,
  liveSegments,
  lockComputingSegments,
} from "./segments.sql.ts";
import {
  applyMembershipChanges,
  type MembershipChange,
} from "./segment-members.sql.ts";
import { atomFacts, membershipFacts } from "./segment-facts.sql.ts";
import { setTimers } from "./segment-timers.sql.ts";
import { listTagRules } from "../tags/tags.sql.ts";
import { appendProfileEvents } from "../events/event-log.ts";

/**
 * Incremental segment evaluation: given profiles and what changed about them, re-evaluate
 * only the segments that depend on those changes (and, in dependency order, the segments
 * that depend on a segment whose membership changed), for those profiles only. Facts are
 * loaded with one query for memberships and one per behaviour source for the whole batch.
 * Entries and exits are written with their history, `Segment Entered` / `Segment Exited`
 * events and the profiles' timers, all in the caller's transaction.
 *
 * States of a (segment, profile) pair: out | in, each with or without a timer (the next
 * instant the answer may flip by time alone). Callers hold the profiles' row locks (the
 * event processor does; the other entry points lock them here), so two evaluations of the
 * same profile never interleave. A segment being computed in bulk is locked for share so
 * that a computation batch and an evaluation of the same segment never interleave either.
 */

/** The event that records an entry (properties `segment_id`, `segment_name`). */
export const segmentEnteredEvent = "Segment Entered";
/** The event that records an exit. */
export const segmentExitedEvent = "Segment Exited";

/** A segment ready for incremental evaluation. */
export interface LiveSegment {
  id: string;
  name: string;
  version: number;
  status: string;
  definition: SegmentCondition;
  params: SegmentParams;
  deps: Set<ChangeKey>;
  atoms: Atom[];
}

/** A workspace's segments with their dependency index. */
export interface SegmentSet {
  byId: Map<string, LiveSegment>;
  /** Dependencies first. */
  order: LiveSegment[];
  /** Change key → the segments that depend on it. */
  index: Map<ChangeKey, LiveSegment[]>;
  /** Segment id → the segments that refer to it. */
  dependents: Map<string, LiveSegment[]>;
}

/** Builds the dependency index of a workspace's segments. */
export function buildSegmentSet(
  rows: {
    id: string;
    name: string;
    version: number;
    status?: string;
    definition: SegmentCondition;
    params: SegmentParams;
  }[],
): SegmentSet {
  const byId = new Map<string, LiveSegment>();
  for (const row of rows)
    byId.set(row.id, {
      id: row.id,
      name: row.name,
      version: row.version,
      status: row.status ?? "ready",
      definition: row.definition,
      params: row.params,
      deps: dependenciesOf(row.definition),
      atoms: [...atomsOf([row.definition]).values()],
    });
  const order = evaluationOrder(
    new Map([...byId].map(([id, s]) => [id, s.definition])),
  ).flatMap((id) => byId.get(id) ?? []);
  const index = new Map<ChangeKey, LiveSegment[]>();
  const dependents = new Map<string, LiveSegment[]>();
  for (const segment of order) {
    for (const key of segment.deps)
      index.set(key, [...(index.get(key) ?? []), segment]);
    for (const ref of referencedSegments(segment.definition))
      dependents.set(ref, [...(dependents.get(ref) ?? []), segment]);
  }
  return { byId, order, index, dependents };
}

/** Everything a workspace's processing reads: segments and rules. */
export interface WorkspaceCatalog {
  version: number;
  segments: SegmentSet;
  tagRules: TagRule[];
  scoreRules: ScoreRule[];
  scores: Map<string, Score>;
}

/** Loads a workspace's catalog from the database. */
export async function loadCatalog(
  q: Queryable,
  workspaceId: string,
): Promise<WorkspaceCatalog> {
  const version = await catalogVersion(q, workspaceId);
  const rows = await liveSegments(q, workspaceId);
  return {
    version,
    segments: buildSegmentSet(rows),
    tagRules: await listTagRules(q, workspaceId),
    scoreRules: await listScoreRules(q, workspaceId),
    scores: new Map((await listScores(q, workspaceId)).map((s) => [s.name, s])),
  };
}

/**
 * Catalogs by workspace, reloaded when the workspace's catalog version moves: one small
 * read per batch instead of parsing every definition again.
 */
export class CatalogCache {
  readonly #entries = new Map<string, WorkspaceCatalog>();

  /** The workspace's catalog as of `q`. */
  async get(q: Queryable, workspaceId: string): Promise<WorkspaceCatalog> {
    const cached = this.#entries.get(workspaceId);
    const version = await catalogVersion(q, workspaceId);
    if (cached && cached.version === version) return cached;
    const fresh = await loadCatalog(q, workspaceId);
    this.#entries.set(workspaceId, fresh);
    return fresh;
  }
}

/** What changed about one profile. */
export interface ProfileChange {
  /** Change keys, or "all" to evaluate every segment (new profiles, merge survivors). */
  keys: Set<ChangeKey> | "all";
  /** Segments to re-evaluate whatever changed (due timers). */
  segments?: Set<string>;
  /** Record the profile's membership events as silent (history imports). */
  silent: boolean;
}

/** One evaluation: of which segments, for which profiles' changes, when and why. */
export interface EvaluateOptions {
  segments: SegmentSet;
  changes: ReadonlyMap<string, ProfileChange>;
  now: Date;
  /** Why: event, time, membership, merge (recorded in the history). */
  cause: string;
  /** Profiles already loaded and locked by the caller, by id. */
  profiles?: ReadonlyMap<string, Profile>;
}

/** The segments that may change for one profile, with everything that may cascade from them. */
function candidates(set: SegmentSet, change: ProfileChange): Set<string> {
  const found = new Set<string>();
  if (change.keys === "all") for (const id of set.byId.keys()) found.add(id);
  else
    for (const key of change.keys)
      for (const segment of set.index.get(key) ?? []) found.add(segment.id);
  for (const id of change.segments ?? []) if (set.byId.has(id)) found.add(id);
  const queue = [...found];
  for (let id = queue.pop(); id !== undefined; id = queue.pop())
    for (const dependent of set.dependents.get(id) ?? [])
      if (!found.has(dependent.id)) {
        found.add(dependent.id);
        queue.push(dependent.id);
      }
  return found;
}

/** A profile's facts as loaded, with its current timers. */
export interface LoadedFacts extends ProfileFacts {
  segments: Set<string>;
  lists: Map<string, ListStatus>;
  tags: Set<string>;
  scores: Map<string, number>;
  atoms: Map<string, AtomFacts>;
  reach: Set<ReachFact>;
  timers: Map<string, number>;
}

/**
 * The facts of profiles that conditions read: what they belong to (segments, lists, tags,
 * scores, reach) and their timers in one query, and the figures of `atoms` in one query
 * per behaviour source.
 */
export async function loadFacts(
  q: Queryable,
  workspaceId: string,
  of: { profiles: ReadonlyMap<string, Profile>; atoms: Atom[]; now: Date },
): Promise<Map<string, LoadedFacts>> {
  const facts = new Map<string, LoadedFacts>();
  for (const [id, profile] of of.profiles)
    facts.set(id, {
      profile,
      segments: new Set(),
      lists: new Map(),
      tags: new Set(),
      scores: new Map(),
      atoms: new Map(),
      reach: new Set(),
      timers: new Map(),
    });
  const ids = [...facts.keys()];
  for (const row of await membershipFacts(q, workspaceId, ids)) {
    const f = facts.get(row.profile_id);
    if (!f) continue;
    // The statuses and reach keys come from Herald's own columns.
    if (row.kind === "segment") f.segments.add(row.key);
    else if (row.kind === "list" && row.status)
      f.lists.set(row.key, row.status as ListStatus);
    else if (row.kind === "tag") f.tags.add(row.key);
    else if (row.kind === "score") f.scores.set(row.key, row.value ?? 0);
    else if (row.kind === "reach") f.reach.add(row.key as ReachFact);
    else if (row.at) f.timers.set(row.key, row.at.getTime());
  }
  if (of.atoms.length > 0)
    for (const [id, byAtom] of await atomFacts(q, workspaceId, {
      profileIds: ids,
      atoms: of.atoms,
      now: of.now,
    })) {
      const f = facts.get(id);
      if (f) f.atoms = byAtom;
    }
  return facts;
}

/**
 * Re-evaluates the segments `changes` can affect and writes what changed; returns the
 * entries and exits made. See the module comment.
 */
export async function evaluateProfiles(
  tx: Tx,
  workspaceId: string,
  options: EvaluateOptions,
): Promise<MembershipChange[]> {
  const { segments: set, changes } = options;
  if (set.byId.size === 0 || changes.size === 0) return [];
  const perProfile = new Map<string, Set<string>>();
  const needed = new Set<string>();
  for (const [profileId, change] of changes) {
    const found = candidates(set, change);
    if (found.size === 0) continue;
    perProfile.set(profileId, found);
    for (const id of found) needed.add(id);
  }
  if (perProfile.size === 0) return [];

  const profiles = new Map<string, Profile>();
  const toLoad: string[] = [];
  for (const id of perProfile.keys()) {
    const known = options.profiles?.get(id);
    if (known) profiles.set(id, known);
    else toLoad.push(id);
  }
  if (toLoad.length > 0)
    for (const row of (await lockProfiles(tx, workspaceId, toLoad)).values())
      if (!row.merged_into) profiles.set(row.id, toProfile(row));
  const ids = [...perProfile.keys()].filter((id) => profiles.has(id));
  if (ids.length === 0) return [];

  await lockComputingSegments(
    tx,
    workspaceId,
    [...needed].filter((id) => set.byId.get(id)?.status === "computing"),
  );

  const atoms = new Map<string, Atom>();
  for (const id of needed)
    for (const atom of set.byId.get(id)?.atoms ?? [])
      atoms.set(atomKey(atom), atom);
  const facts = await loadFacts(tx, workspaceId, {
    profiles,
    atoms: [...atoms.values()],
    now: options.now,
  });

  const wanted: MembershipChange[] = [];
  const timers: {
    segmentId: string;
    profileId: string;
    wakeAt: Date | null;
  }[] = [];
  for (const [id, f] of facts) {
    const change = changes.get(id);
    const mine = perProfile.get(id);
    if (!change || !mine) continue;
    const dirty = new Set(change.keys === "all" ? [] : change.keys);
    for (const segment of set.order) {
      if (!mine.has(segment.id)) continue;
      const affected =
        change.keys === "all" ||
        change.segments?.has(segment.id) === true ||
        [...segment.deps].some((key) => dirty.has(key));
      if (!affected) continue;
      const result = evaluateCondition(segment.definition, f, {
        now: options.now,
        rfm: segment.params.rfm,
      });
      const was = f.segments.has(segment.id);
      if (result.value !== was) {
        wanted.push({
          segmentId: segment.id,
          profileId: id,
          change: result.value ? "entered" : "exited",
        });
        if (result.value) f.segments.add(segment.id);
        else f.segments.delete(segment.id);
        dirty.add(`segment:${segment.id}`);
      }
      const timer = f.timers.get(segment.id) ?? null;
      if (timer !== result.next)
        timers.push({
          segmentId: segment.id,
          profileId: id,
          wakeAt: result.next === null ? null : new Date(result.next),
        });
    }
  }

  const made = await applyMembershipChanges(tx, workspaceId, {
    changes: wanted,
    cause: options.cause,
    at: options.now,
  });
  await setTimers(tx, workspaceId, timers);
  await recordMembershipEvents(tx, workspaceId, {
    made,
    segments: set,
    now: options.now,
    silent: (profileId) => changes.get(profileId)?.silent ?? false,
  });
  return made;
}

/** Records `Segment Entered` / `Segment Exited` events for membership changes. */
export async function recordMembershipEvents(
  tx: Tx,
  workspaceId: string,
  record: {
    made: MembershipChange[];
    /** Where the segments' names are found. */
    segments: SegmentSet | { byId: ReadonlyMap<string, { name: string }> };
    now: Date;
    silent: (profileId: string) => boolean;
  },
): Promise<void> {
  const { made, segments: set, now, silent } = record;
  if (made.length === 0) return;
  await appendProfileEvents(
    tx,
    workspaceId,
    made.map((change) => ({
      messageId: `herald-seg-${uuidv7(now)}`,
      type: "track" as const,
      name:
        change.change === "entered" ? segmentEnteredEvent : segmentExitedEvent,
      userId: null,
      anonymousId: null,
      properties: {
        segment_id: change.segmentId,
        segment_name: set.byId.get(change.segmentId)?.name ?? change.segmentId,
      },
      traits: null,
      context: {},
      timestamp: now,
      receivedAt: now,
      source: "herald" as const,
      silent: silent(change.profileId),
      profileId: change.profileId,
    })),
  );
}
