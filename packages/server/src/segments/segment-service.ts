import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  referencedSegments,
  reachKey,
} from "@herald/core/segments/dependencies";
import { validateCondition } from "@herald/core/segments/condition";
import {
  checkReferences,
  newSegmentId,
  parseSegmentInput,
  referencedLists,
  type NewSegment,
  type Segment,
  type SegmentChange,
} from "@herald/core/segments/segments";
import type { Database, Queryable, Tx } from "../db/database.ts";
import { existingListIds } from "../lists/lists.sql.ts";
import { profilesWithAddress } from "../profiles/profiles.sql.ts";
import {
  rfmThresholdsFor,
  type ProfileDeps,
} from "../profiles/profile-service.ts";
import {
  deleteSegment as deleteSegmentRow,
  getSegment,
  insertSegment,
  listSegments,
  updateSegment as updateSegmentRow,
} from "./segments.sql.ts";
import {
  countMembers,
  listHistory,
  listMembers,
  memberCounts,
  segmentsOfProfile,
} from "./segment-members.sql.ts";
import { countMatching } from "./segment-computation.sql.ts";
import {
  evaluateProfiles,
  loadCatalog,
  type ProfileChange,
} from "./segment-evaluator.ts";

/**
 * Segments as the admin API manages them (definitions checked against the workspace's
 * segments and lists, members, history, the count of a draft), and what other features
 * call in their own transaction when something a segment may test changed about a
 * profile: a tag, a list status, a score (`reevaluateSegments`) or what delivery knows of
 * reaching it (`reachabilityChanged`). Those re-evaluate only the segments on that change,
 * in the caller's transaction, so membership and its events commit with the change.
 */

/** A segment with how many profiles are in it now. */
export interface CountedSegment {
  segment: Segment;
  memberCount: number;
}

/** A member of a segment. */
export interface SegmentMember {
  profileId: string;
  email: string | null;
  enteredAt: Date;
}

/** An entry into or an exit from a segment. */
export interface HistoryEntry {
  id: number;
  segmentId: string;
  profileId: string;
  change: "entered" | "exited";
  cause: string;
  at: Date;
}

/** A page of items and the cursor of the next page (null on the last). */
export interface Page<T, C> {
  items: T[];
  next: C | null;
}

/** Unique-name violations as a conflict a person understands. */
function nameTaken(error: unknown, name: string | undefined): never {
  // A database error carries the SQLSTATE in `code`.
  if ((error as { code?: unknown }).code === "23505")
    throw new DomainError(
      "conflict",
      `a segment named "${name ?? ""}" exists already; choose another name`,
      [{ path: "/body/name", message: "is taken" }],
    );
  throw error;
}

/** What checking a definition's references reads: the workspace's segments and lists. */
async function references(db: Database, workspaceId: string) {
  const segments = await listSegments(db, workspaceId);
  return {
    segments: new Map(segments.map((s) => [s.id, s.definition])),
    lists: (ids: string[]) => existingListIds(db, workspaceId, ids),
  };
}

/** A segment; not_found if there is none. */
export async function requireSegment(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<Segment> {
  const segment = await getSegment(q, workspaceId, id);
  if (!segment) throw new DomainError("not_found", `no segment ${id}`);
  return segment;
}

/** The workspace's segments with their member counts. */
export async function listSegmentsWithCounts(
  db: Database,
  workspaceId: string,
): Promise<CountedSegment[]> {
  const [segments, counts] = await Promise.all([
    listSegments(db, workspaceId),
    memberCounts(db, workspaceId),
  ]);
  return segments.map((segment) => ({
    segment,
    memberCount: counts.get(segment.id) ?? 0,
  }));
}

/** A segment with its member count; not_found if there is none. */
export async function getSegmentWithCount(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<CountedSegment> {
  const segment = await requireSegment(db, workspaceId, id);
  return {
    segment,
    memberCount: await countMembers(db, workspaceId, segment.id),
  };
}

/** Creates a segment; its members are computed in the background. */
export async function createSegment(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  body: NewSegment,
): Promise<CountedSegment> {
  const { db, clock } = deps;
  const input = parseSegmentInput(body, false);
  const { name = "", description = "", definition } = input;
  if (!definition)
    throw new DomainError("invalid", "a segment needs a definition");
  const id = newSegmentId();
  await checkReferences(await references(db, workspaceId), id, definition);
  await db
    .tx((tx) =>
      insertSegment(
        tx,
        workspaceId,
        { id, name, description, definition },
        clock.now(),
      ),
    )
    .catch((error: unknown) => nameTaken(error, input.name));
  return { segment: await requireSegment(db, workspaceId, id), memberCount: 0 };
}

/** Counts the profiles a draft definition selects now, without saving it. */
export async function previewSegment(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  rawDefinition: unknown,
): Promise<{ count: number; total: number }> {
  const { db, clock } = deps;
  const definition = validateCondition(rawDefinition, "/body/definition");
  await checkReferences(
    await references(db, workspaceId),
    undefined,
    definition,
  );
  const now = clock.now();
  return countMatching(db, workspaceId, definition, {
    now,
    rfm: await rfmThresholdsFor(db, workspaceId, definition, now),
  });
}

/** Changes a segment; a new definition recomputes its members (with silent events). */
export async function updateSegment(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  id: string,
  body: SegmentChange,
): Promise<CountedSegment> {
  const { db, clock } = deps;
  const input = parseSegmentInput(body, true);
  await requireSegment(db, workspaceId, id);
  if (input.definition) {
    const refs = await references(db, workspaceId);
    const others = new Map(refs.segments);
    others.delete(id);
    await checkReferences(
      { ...refs, segments: new Map([...others, [id, input.definition]]) },
      id,
      input.definition,
    );
  }
  await db
    .tx((tx) =>
      updateSegmentRow(tx, workspaceId, { id, ...input, at: clock.now() }),
    )
    .catch((error: unknown) => nameTaken(error, input.name));
  return getSegmentWithCount(db, workspaceId, id);
}

/** Deletes a segment with its members and history; refused while other segments use it. */
export async function deleteSegment(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<void> {
  const users = (await listSegments(db, workspaceId)).filter((s) =>
    referencedSegments(s.definition).includes(id),
  );
  if (users.length > 0)
    throw new DomainError(
      "conflict",
      `segment ${id} is used by ${users.map((s) => `"${s.name}"`).join(", ")}; change those first`,
    );
  const deleted = await db.tx((tx) => deleteSegmentRow(tx, workspaceId, id));
  if (!deleted) throw new DomainError("not_found", `no segment ${id}`);
}

/** The segments whose definitions test list `listId`. */
export async function segmentsUsingList(
  q: Queryable,
  workspaceId: string,
  listId: string,
): Promise<Segment[]> {
  return (await listSegments(q, workspaceId)).filter((s) =>
    referencedLists(s.definition).includes(listId),
  );
}

/** A page of a segment's members by profile id, after the `after` cursor. */
export async function listSegmentMembers(
  db: Database,
  workspaceId: string,
  id: string,
  page: { limit: number; after?: string | undefined },
): Promise<Page<SegmentMember, string>> {
  await requireSegment(db, workspaceId, id);
  const { limit, after } = page;
  const rows = await listMembers(db, workspaceId, id, {
    limit: limit + 1,
    ...(after ? { after } : {}),
  });
  const items = rows.slice(0, limit).map((row) => ({
    profileId: row.profile_id,
    email: row.email,
    enteredAt: row.entered_at,
  }));
  return {
    items,
    next: rows.length > limit ? (items.at(-1)?.profileId ?? null) : null,
  };
}

const toHistoryEntry = (row: {
  id: number;
  segment_id: string;
  profile_id: string;
  change: "entered" | "exited";
  cause: string;
  at: Date;
}): HistoryEntry => ({
  id: row.id,
  segmentId: row.segment_id,
  profileId: row.profile_id,
  change: row.change,
  cause: row.cause,
  at: row.at,
});

/** A page of a segment's entries and exits, newest first, before the `before` cursor. */
export async function listSegmentHistory(
  db: Database,
  workspaceId: string,
  id: string,
  page: { limit: number; before?: number | undefined },
): Promise<Page<HistoryEntry, number>> {
  const { limit, before } = page;
  await requireSegment(db, workspaceId, id);
  const rows = await listHistory(db, workspaceId, {
    segmentId: id,
    limit: limit + 1,
    ...(before === undefined ? {} : { beforeId: before }),
  });
  return {
    items: rows.slice(0, limit).map(toHistoryEntry),
    next: rows.length > limit ? (rows[limit - 1]?.id ?? null) : null,
  };
}

/** The segments a profile (or its survivor) is in now, and its last 100 entries and exits. */
export async function listProfileSegments(
  deps: Pick<ProfileDeps, "db" | "profiles">,
  workspaceId: string,
  profileId: string,
): Promise<{
  items: { segmentId: string; name: string; enteredAt: Date }[];
  history: HistoryEntry[];
}> {
  const { db } = deps;
  const profile = await resolveProfile(deps.profiles, workspaceId, profileId);
  const [rows, history] = await Promise.all([
    segmentsOfProfile(db, workspaceId, profile.id),
    listHistory(db, workspaceId, { profileIds: [profile.id], limit: 100 }),
  ]);
  return {
    items: rows.map((row) => ({
      segmentId: row.segment_id,
      name: row.name,
      enteredAt: row.entered_at,
    })),
    history: history.map(toHistoryEntry),
  };
}

/**
 * Re-evaluates, in `tx`, the segments on what changed about each profile (a tag, a list
 * status, a score): the caller has made the change and holds the profiles' locks.
 */
export async function reevaluateSegments(
  tx: Tx,
  workspaceId: string,
  change: { changes: Map<string, ProfileChange>; now: Date },
): Promise<void> {
  if (change.changes.size === 0) return;
  const catalog = await loadCatalog(tx, workspaceId);
  await evaluateProfiles(tx, workspaceId, {
    segments: catalog.segments,
    changes: change.changes,
    now: change.now,
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
  change: { channel: string; now: Date } & (
    { profileId: string } | { address: string }
  ),
): Promise<void> {
  const { channel, now } = change;
  const ids =
    "address" in change
      ? await profilesWithAddress(tx, workspaceId, channel, change.address)
      : [change.profileId];
  await reevaluateSegments(tx, workspaceId, {
    changes: new Map(
      ids.map((id) => [
        id,
        { keys: new Set([reachKey(channel)]), silent: false },
      ]),
    ),
    now,
  });
}
