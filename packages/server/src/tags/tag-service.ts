import { DomainError } from "@herald/core/domain-error";
import { resolveProfile } from "@herald/core/profiles/profiles";
import {
  newTagRuleId,
  normalizeTag,
  parseTagRule,
  type NewTagRule,
  type TagRule,
} from "@herald/core/tags/tags";
import type { Database, Tx } from "../db/database.ts";
import {
  lockLiveProfile,
  type ProfileDeps,
} from "../profiles/profile-service.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import { reevaluateSegments } from "../segments/segment-service.ts";
import {
  deleteTagRule as deleteTagRuleRow,
  deleteTags,
  eraseTags,
  exportTags,
  insertTagRule,
  insertTags,
  listTagRules as listTagRuleRows,
  listTags as listTagCounts,
  tagsOf,
} from "./tags.sql.ts";

/**
 * Tags as flows, the admin API and privacy requests use them: adding and removing a tag
 * (in the caller's transaction, with the profile locked and the segments on the tag
 * re-evaluated there), reading a profile's tags, and the rules that set tags from events
 * (applied by the event processor's segment handler).
 */

/** A tag on a profile. */
export interface ProfileTag {
  tag: string;
  source: string;
  addedAt: Date;
}

/**
 * Adds a tag to a profile (flows, the API); resolves to false when it had it already.
 * Segments on the tag are re-evaluated in `tx`.
 */
export async function addTag(
  tx: Tx,
  workspaceId: string,
  change: { profileId: string; tag: string; now: Date; source?: string },
): Promise<boolean> {
  const { now } = change;
  const value = normalizeTag(change.tag);
  const id = await lockLiveProfile(tx, workspaceId, change.profileId);
  const added = await insertTags(tx, workspaceId, {
    tags: [{ profileId: id, tag: value }],
    source: change.source ?? "api",
    at: now,
  });
  if (added.length > 0)
    await reevaluateSegments(tx, workspaceId, {
      changes: new Map([
        [id, { keys: new Set([`tag:${value}`]), silent: false }],
      ]),
      now,
    });
  return added.length > 0;
}

/** Removes a tag from a profile; resolves to false when it did not have it. */
export async function removeTag(
  tx: Tx,
  workspaceId: string,
  change: { profileId: string; tag: string; now: Date },
): Promise<boolean> {
  const { now } = change;
  const value = normalizeTag(change.tag);
  const id = await lockLiveProfile(tx, workspaceId, change.profileId);
  const removed = await deleteTags(tx, workspaceId, [
    { profileId: id, tag: value },
  ]);
  if (removed.length > 0)
    await reevaluateSegments(tx, workspaceId, {
      changes: new Map([
        [id, { keys: new Set([`tag:${value}`]), silent: false }],
      ]),
      now,
    });
  return removed.length > 0;
}

/** Every tag in use, with how many profiles have it. */
export async function listTags(
  db: Database,
  workspaceId: string,
): Promise<{ tag: string; profiles: number }[]> {
  return listTagCounts(db, workspaceId);
}

/** The tags of the profile an id names (following merges). */
export async function listProfileTags(
  deps: Pick<ProfileDeps, "db" | "profiles">,
  workspaceId: string,
  profileId: string,
): Promise<ProfileTag[]> {
  const profile = await resolveProfile(deps.profiles, workspaceId, profileId);
  return tagsOfProfile(deps.db, workspaceId, profile.id);
}

async function tagsOfProfile(
  db: Database,
  workspaceId: string,
  profileId: string,
): Promise<ProfileTag[]> {
  return (await tagsOf(db, workspaceId, profileId)).map((row) => ({
    tag: row.tag,
    source: row.source,
    addedAt: row.added_at,
  }));
}

/** Tags a profile from the API; resolves to the profile's tags. */
export async function tagProfile(
  deps: ProfileDeps,
  workspaceId: string,
  change: { profileId: string; tag: string },
): Promise<ProfileTag[]> {
  const tag = normalizeTag(change.tag);
  const profile = await resolveProfile(
    deps.profiles,
    workspaceId,
    change.profileId,
  );
  await deps.db.tx((tx) =>
    addTag(tx, workspaceId, {
      profileId: profile.id,
      tag,
      now: deps.clock.now(),
      source: "api",
    }),
  );
  return tagsOfProfile(deps.db, workspaceId, profile.id);
}

/** Takes a tag off a profile from the API; not_found when it had none; resolves to its tags. */
export async function untagProfile(
  deps: ProfileDeps,
  workspaceId: string,
  change: { profileId: string; tag: string },
): Promise<ProfileTag[]> {
  const tag = normalizeTag(change.tag, "/params/tag");
  const profile = await resolveProfile(
    deps.profiles,
    workspaceId,
    change.profileId,
  );
  const removed = await deps.db.tx((tx) =>
    removeTag(tx, workspaceId, {
      profileId: profile.id,
      tag,
      now: deps.clock.now(),
    }),
  );
  if (!removed)
    throw new DomainError(
      "not_found",
      `profile ${profile.id} has no tag "${tag}"`,
    );
  return tagsOfProfile(deps.db, workspaceId, profile.id);
}

/** The workspace's tag rules, oldest first. */
export async function listTagRules(
  db: Database,
  workspaceId: string,
): Promise<TagRule[]> {
  return listTagRuleRows(db, workspaceId);
}

/** Creates a tag rule; the event processor applies it from the next batch on. */
export async function createTagRule(
  deps: Pick<ProfileDeps, "db" | "clock">,
  workspaceId: string,
  body: NewTagRule,
): Promise<TagRule> {
  const input = parseTagRule(body);
  const now = deps.clock.now();
  const rule: TagRule = {
    id: newTagRuleId(),
    ...input,
    createdAt: now,
    updatedAt: now,
  };
  await deps.db.tx((tx) => insertTagRule(tx, workspaceId, rule, now));
  return rule;
}

/** Deletes a tag rule (the tags it set stay); not_found if there is none. */
export async function deleteTagRule(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<void> {
  const deleted = await db.tx((tx) => deleteTagRuleRow(tx, workspaceId, id));
  if (!deleted) throw new DomainError("not_found", `no tag rule ${id}`);
}

/** Privacy export and erasure of profiles' tags. */
export const tagPersonalData: PersonalData = {
  name: "tags",
  export: (q, workspaceId, ids) => exportTags(q, workspaceId, ids),
  erase: (tx, workspaceId, ids) => eraseTags(tx, workspaceId, ids),
};
