import type { PropertyFilter } from "@herald/core/segments/condition";
import type { TagRule } from "@herald/core/tags/tags";
import type { Queryable, Tx } from "../db/database.ts";
import { bumpCatalog } from "../segments/segments.sql.ts";

/** A tag to add to or remove from a profile. */
export interface TagChange {
  profileId: string;
  tag: string;
}

/** Adds tags (those already there stay as they were); returns those actually added. */
export async function insertTags(
  tx: Tx,
  workspaceId: string,
  added: { tags: TagChange[]; source: string; at: Date },
): Promise<TagChange[]> {
  const { tags, source, at } = added;
  if (tags.length === 0) return [];
  const rows = await tx.query<{ profile_id: string; tag: string }>(
    `insert into profile_tags (workspace_id, profile_id, tag, source, added_at)
     select $1, p, t, $4, $5 from unnest($2::uuid[], $3::text[]) as x(p, t)
     on conflict do nothing
     returning profile_id, tag`,
    [
      workspaceId,
      tags.map((t) => t.profileId),
      tags.map((t) => t.tag),
      source,
      at,
    ],
  );
  return rows.map((r) => ({ profileId: r.profile_id, tag: r.tag }));
}

/** Removes tags; returns those that were there. */
export async function deleteTags(
  tx: Tx,
  workspaceId: string,
  tags: TagChange[],
): Promise<TagChange[]> {
  if (tags.length === 0) return [];
  const rows = await tx.query<{ profile_id: string; tag: string }>(
    `delete from profile_tags t using unnest($2::uuid[], $3::text[]) as x(p, g)
      where t.workspace_id = $1 and t.profile_id = x.p and t.tag = x.g
      returning t.profile_id, t.tag`,
    [workspaceId, tags.map((t) => t.profileId), tags.map((t) => t.tag)],
  );
  return rows.map((r) => ({ profileId: r.profile_id, tag: r.tag }));
}

/** A profile's tags. */
export async function tagsOf(
  q: Queryable,
  workspaceId: string,
  profileId: string,
): Promise<{ tag: string; source: string; added_at: Date }[]> {
  return q.query(
    "select tag, source, added_at from profile_tags where workspace_id = $1 and profile_id = $2 order by tag",
    [workspaceId, profileId],
  );
}

/** Every tag in use and how many profiles have it. */
export async function listTags(
  q: Queryable,
  workspaceId: string,
): Promise<{ tag: string; profiles: number }[]> {
  return q.query(
    "select tag, count(*) as profiles from profile_tags where workspace_id = $1 group by tag order by tag",
    [workspaceId],
  );
}

/** A row of `tag_rules`. */
type TagRuleRow = {
  id: string;
  event: string;
  filters: PropertyFilter[];
  action: "add" | "remove";
  tag: string;
  created_at: Date;
  updated_at: Date;
};

const toRule = (row: TagRuleRow): TagRule => ({
  id: row.id,
  event: row.event,
  where: row.filters,
  action: row.action,
  tag: row.tag,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Creates a tag rule. */
export async function insertTagRule(
  tx: Tx,
  workspaceId: string,
  rule: Omit<TagRule, "createdAt" | "updatedAt">,
  at: Date,
): Promise<void> {
  await tx.query(
    `insert into tag_rules (workspace_id, id, event, filters, action, tag, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $7)`,
    [
      workspaceId,
      rule.id,
      rule.event,
      JSON.stringify(rule.where),
      rule.action,
      rule.tag,
      at,
    ],
  );
  await bumpCatalog(tx, workspaceId);
}

/** Deletes a tag rule. */
export async function deleteTagRule(
  tx: Tx,
  workspaceId: string,
  id: string,
): Promise<boolean> {
  const n = await tx.execute(
    "delete from tag_rules where workspace_id = $1 and id = $2",
    [workspaceId, id],
  );
  if (n > 0) await bumpCatalog(tx, workspaceId);
  return n > 0;
}

/** The workspace's tag rules, oldest first. */
export async function listTagRules(
  q: Queryable,
  workspaceId: string,
): Promise<TagRule[]> {
  const rows = await q.query<TagRuleRow>(
    "select * from tag_rules where workspace_id = $1 order by created_at, id",
    [workspaceId],
  );
  return rows.map(toRule);
}

/** Moves a merged profile's tags to the survivor. */
export async function mergeTags(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    `insert into profile_tags (workspace_id, profile_id, tag, source, added_at)
     select workspace_id, $3, tag, source, added_at from profile_tags where workspace_id = $1 and profile_id = $2
     on conflict do nothing`,
    [workspaceId, from, to],
  );
  await tx.query(
    "delete from profile_tags where workspace_id = $1 and profile_id = $2",
    [workspaceId, from],
  );
}

/** Profiles' tags, for a privacy export. */
export async function exportTags(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<unknown[]> {
  return q.query(
    "select tag, source, added_at from profile_tags where workspace_id = $1 and profile_id = any($2::uuid[]) order by tag",
    [workspaceId, profileIds],
  );
}

/** Erases profiles' tags. */
export async function eraseTags(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from profile_tags where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
