import type { MessageChannel } from "@herald/core/messages/content";
import type {
  ChannelContent,
  CompiledContent,
  Template,
} from "@herald/core/templates/template";
import type { Queryable, Tx } from "../db/database.ts";

/** A row of `templates`. */
type TemplateRow = {
  id: string;
  name: string;
  channel: MessageChannel;
  current_version: number;
  created_at: Date;
  updated_at: Date;
};

const toTemplate = (row: TemplateRow): Template => ({
  id: row.id,
  name: row.name,
  channel: row.channel,
  currentVersion: row.current_version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * A row of `template_versions`: what was written and what was compiled from it (stored
 * JSON read back as the save wrote it, checked and compiled then).
 */
export type VersionRow = {
  template_id: string;
  version: number;
  content: ChannelContent;
  compiled: CompiledContent;
  created_at: Date;
};

/** Creates a template whose current version is 1; false when the name is taken. */
export async function insertTemplate(
  tx: Tx,
  workspaceId: string,
  template: { id: string; name: string; channel: MessageChannel },
  at: Date,
): Promise<boolean> {
  const [row] = await tx.query(
    `insert into templates (workspace_id, id, name, channel, current_version, created_at, updated_at)
     values ($1, $2, $3, $4, 1, $5, $5)
     on conflict do nothing returning id`,
    [workspaceId, template.id, template.name, template.channel, at],
  );
  return row !== undefined;
}

/** Stores a version. */
export async function insertVersion(
  tx: Tx,
  workspaceId: string,
  row: {
    templateId: string;
    version: number;
    content: ChannelContent;
    compiled: CompiledContent;
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into template_versions (workspace_id, template_id, version, content, compiled, created_at)
     values ($1, $2, $3, $4, $5, $6)`,
    [
      workspaceId,
      row.templateId,
      row.version,
      JSON.stringify(row.content),
      JSON.stringify(row.compiled),
      row.at,
    ],
  );
}

/**
 * Moves a template to its next version (and a new name, if given), locking the row so
 * that concurrent saves number their versions one after the other; the new number, or
 * undefined when there is no such template.
 */
export async function bumpVersion(
  tx: Tx,
  workspaceId: string,
  { id, name, at }: { id: string; name: string | undefined; at: Date },
): Promise<number | undefined> {
  const [row] = await tx.query<{ current_version: number }>(
    `update templates set current_version = current_version + 1, name = coalesce($3, name), updated_at = $4
      where workspace_id = $1 and id = $2 and archived_at is null
      returning current_version`,
    [workspaceId, id, name ?? null, at],
  );
  return row?.current_version;
}

/** True when another live template of the workspace has this name. */
export async function nameTaken(
  q: Queryable,
  workspaceId: string,
  name: string,
  exceptId: string,
): Promise<boolean> {
  const rows = await q.query(
    `select 1 from templates where workspace_id = $1 and lower(name) = lower($2) and id <> $3
        and archived_at is null`,
    [workspaceId, name, exceptId],
  );
  return rows.length > 0;
}

/** A live template by id. */
export async function getTemplate(
  q: Queryable,
  workspaceId: string,
  id: string,
): Promise<Template | undefined> {
  const [row] = await q.query<TemplateRow>(
    `select id, name, channel, current_version, created_at, updated_at from templates
      where workspace_id = $1 and id = $2 and archived_at is null`,
    [workspaceId, id],
  );
  return row && toTemplate(row);
}

/** The workspace's live templates, newest change first. */
export async function listTemplates(
  q: Queryable,
  workspaceId: string,
  channel: MessageChannel | undefined,
): Promise<Template[]> {
  const rows = await q.query<TemplateRow>(
    `select id, name, channel, current_version, created_at, updated_at from templates
      where workspace_id = $1 and archived_at is null and ($2::text is null or channel = $2)
      order by updated_at desc, id`,
    [workspaceId, channel ?? null],
  );
  return rows.map(toTemplate);
}

/** Archives a template: gone from lists and new sends; its versions stay for sent messages. */
export async function archiveTemplate(
  q: Queryable,
  workspaceId: string,
  id: string,
  at: Date,
): Promise<boolean> {
  const count = await q.execute(
    `update templates set archived_at = $3, updated_at = $3
      where workspace_id = $1 and id = $2 and archived_at is null`,
    [workspaceId, id, at],
  );
  return count > 0;
}

/**
 * One version of a template (its current one when `version` is undefined), archived
 * templates included, with the template's channel.
 */
export async function getVersion(
  q: Queryable,
  workspaceId: string,
  templateId: string,
  version: number | undefined,
): Promise<(VersionRow & { channel: MessageChannel }) | undefined> {
  const [row] = await q.query<VersionRow & { channel: MessageChannel }>(
    `select v.template_id, v.version, v.content, v.compiled, v.created_at, t.channel
       from templates t
       join template_versions v on v.workspace_id = t.workspace_id and v.template_id = t.id
        and v.version = coalesce($3::int, t.current_version)
      where t.workspace_id = $1 and t.id = $2`,
    [workspaceId, templateId, version ?? null],
  );
  return row;
}

/** The current version number of a template (archived ones included), if it exists. */
export async function currentVersion(
  q: Queryable,
  workspaceId: string,
  templateId: string,
): Promise<number | undefined> {
  const [row] = await q.query<{ current_version: number }>(
    "select current_version from templates where workspace_id = $1 and id = $2",
    [workspaceId, templateId],
  );
  return row?.current_version;
}

/** The versions of a template, newest first, without their compiled parts. */
export async function listVersions(
  q: Queryable,
  workspaceId: string,
  templateId: string,
): Promise<Omit<VersionRow, "compiled">[]> {
  return q.query(
    `select template_id, version, content, created_at from template_versions
      where workspace_id = $1 and template_id = $2 order by version desc`,
    [workspaceId, templateId],
  );
}

/** The workspace's partials, by name. */
export async function listPartials(
  q: Queryable,
  workspaceId: string,
): Promise<{ name: string; source: string; updated_at: Date }[]> {
  return q.query(
    "select name, source, updated_at from template_partials where workspace_id = $1 order by name",
    [workspaceId],
  );
}

/** Creates or replaces a partial. */
export async function upsertPartial(
  q: Queryable,
  workspaceId: string,
  { name, source, at }: { name: string; source: string; at: Date },
): Promise<void> {
  await q.query(
    `insert into template_partials (workspace_id, name, source, updated_at) values ($1, $2, $3, $4)
     on conflict (workspace_id, name) do update set source = excluded.source, updated_at = excluded.updated_at`,
    [workspaceId, name, source, at],
  );
}

/** Deletes a partial; false when there was none. */
export async function deletePartial(
  q: Queryable,
  workspaceId: string,
  name: string,
): Promise<boolean> {
  return (
    (await q.execute(
      "delete from template_partials where workspace_id = $1 and name = $2",
      [workspaceId, name],
    )) > 0
  );
}
