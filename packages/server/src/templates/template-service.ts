import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { prefixedId, uuidv7 } from "@herald/core/ids";
import type { MessageChannel } from "@herald/core/messages/content";
import { scanLiquid } from "@herald/core/templates/liquid-scan";
import { partialNamePattern } from "@herald/core/templates/partials";
import { smsStats, type SmsStats } from "@herald/core/templates/sms-segments";
import {
  parseTemplateContent,
  refuseTemplate,
  type CompiledContent,
  type Template,
  type TemplateContent,
} from "@herald/core/templates/template";
import type { Database, Queryable } from "../db/database.ts";
import { enqueueMessage } from "../messages/message-ledger.ts";
import * as templatesSql from "./templates.sql.ts";
import {
  profileWithAddress,
  sampleEventData,
  type PreviewRequest,
  type TemplateRenderer,
} from "./content-renderer.ts";
import { engines } from "./liquid.ts";
import { builtInPartials, starterTemplates } from "./starter-kit.ts";
import { templateThreads, type RenderedContent } from "./template-threads.ts";

/**
 * Templates as the admin API manages them. Each save validates and compiles the content
 * (see compile.ts, run in a template thread: template-threads.ts) before anything is
 * written, then stores it as the template's next version in one transaction. Versions
 * are never changed afterwards.
 */

/** What saving templates runs with: the database and the clock. */
export interface TemplateDeps {
  db: Database;
  clock: Clock;
}

/** The starter templates to copy, by name. */
export function listStarters() {
  return [...starterTemplates].map(([name, starter]) => ({
    name,
    channel: starter.template.channel,
    description: starter.description,
    content: starter.template.content,
  }));
}

/** The workspace's live templates (of one channel), newest change first. */
export async function listTemplates(
  db: Database,
  workspaceId: string,
  channel: MessageChannel | undefined,
): Promise<Template[]> {
  return templatesSql.listTemplates(db, workspaceId, channel);
}

/** A live template with the content of its current version; `not_found` otherwise. */
export async function getTemplate(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<{
  template: Template;
  content: templatesSql.VersionRow["content"];
}> {
  const template = await templatesSql.getTemplate(db, workspaceId, id);
  const version =
    template &&
    (await templatesSql.getVersion(
      db,
      workspaceId,
      template.id,
      template.currentVersion,
    ));
  if (!template || !version)
    throw new DomainError("not_found", `there is no template ${id}`);
  return { template, content: version.content };
}

/** The partials a workspace's templates include: its own, over the built-in ones. */
export async function partialsOf(
  q: Queryable,
  workspaceId: string,
): Promise<Map<string, string>> {
  const partials = new Map(builtInPartials);
  for (const row of await templatesSql.listPartials(q, workspaceId))
    partials.set(row.name, row.source);
  return partials;
}

/** A saved version: its number, and the SMS figures when it is a text message. */
export interface SavedVersion {
  template: Template;
  version: number;
  compiled: CompiledContent;
  sms?: SmsStats;
}

const smsOf = (content: TemplateContent) =>
  content.channel === "sms" ? { sms: smsStats(content.content.text) } : {};

/** The content a request describes: its own, or a starter's. */
export function contentOf(
  channel: MessageChannel | undefined,
  content: unknown,
  starter: string | undefined,
): TemplateContent {
  if (starter !== undefined) {
    const found = starterTemplates.get(starter);
    if (!found)
      throw new DomainError(
        "invalid",
        `there is no starter template "${starter}": see GET /api/templates/starters`,
        [{ path: "/body/starter", message: "unknown starter" }],
      );
    return found.template;
  }
  if (!channel || content === undefined)
    throw new DomainError("invalid", "give channel and content, or a starter", [
      { path: "/body/content", message: "required" },
    ]);
  return parseTemplateContent(channel, content);
}

/** Creates a template with its first version; `conflict` when the name is taken. */
export async function createTemplate(
  { db, clock }: TemplateDeps,
  workspaceId: string,
  name: string,
  content: TemplateContent,
): Promise<SavedVersion> {
  const compiled = await templateThreads.compile(
    content,
    await partialsOf(db, workspaceId),
  );
  const now = clock.now();
  const id = prefixedId("tpl");
  return db.tx(async (tx) => {
    const created = await templatesSql.insertTemplate(
      tx,
      workspaceId,
      { id, name, channel: content.channel },
      now,
    );
    if (!created)
      throw new DomainError(
        "conflict",
        `a template named "${name}" exists already; pick another name or edit that one`,
        [{ path: "/body/name", message: "name taken" }],
      );
    await templatesSql.insertVersion(tx, workspaceId, {
      templateId: id,
      version: 1,
      content: content.content,
      compiled,
      at: now,
    });
    const template = await templatesSql.getTemplate(tx, workspaceId, id);
    if (!template) throw new Error("the template just created is missing");
    return { template, version: 1, compiled, ...smsOf(content) };
  });
}

/** Saves new content (and optionally a new name) as the template's next version. */
export async function updateTemplate(
  { db, clock }: TemplateDeps,
  workspaceId: string,
  id: string,
  change: { name?: string | undefined; content: unknown },
): Promise<SavedVersion> {
  const current = await templatesSql.getTemplate(db, workspaceId, id);
  if (!current)
    throw new DomainError("not_found", `there is no template ${id}`);
  const content = parseTemplateContent(current.channel, change.content);
  const compiled = await templateThreads.compile(
    content,
    await partialsOf(db, workspaceId),
  );
  const now = clock.now();
  return db.tx(async (tx) => {
    if (
      change.name &&
      (await templatesSql.nameTaken(tx, workspaceId, change.name, id))
    )
      throw new DomainError(
        "conflict",
        `a template named "${change.name}" exists already`,
        [{ path: "/body/name", message: "name taken" }],
      );
    const version = await templatesSql.bumpVersion(tx, workspaceId, {
      id,
      name: change.name,
      at: now,
    });
    if (version === undefined)
      throw new DomainError("not_found", `there is no template ${id}`);
    await templatesSql.insertVersion(tx, workspaceId, {
      templateId: id,
      version,
      content: content.content,
      compiled,
      at: now,
    });
    const template = await templatesSql.getTemplate(tx, workspaceId, id);
    if (!template) throw new Error("the template just saved is missing");
    return { template, version, compiled, ...smsOf(content) };
  });
}

/** Archives a template: gone from lists and new sends, its versions kept; `not_found` otherwise. */
export async function archiveTemplate(
  { db, clock }: TemplateDeps,
  workspaceId: string,
  id: string,
): Promise<void> {
  if (!(await templatesSql.archiveTemplate(db, workspaceId, id, clock.now())))
    throw new DomainError("not_found", `there is no template ${id}`);
}

/** A template's versions, newest first, without their compiled parts. */
export async function listVersions(
  db: Database,
  workspaceId: string,
  id: string,
): Promise<Omit<templatesSql.VersionRow, "compiled">[]> {
  return templatesSql.listVersions(db, workspaceId, id);
}

/** One version, what was written and what was compiled from it; `not_found` otherwise. */
export async function getVersion(
  db: Database,
  workspaceId: string,
  id: string,
  version: number,
): Promise<templatesSql.VersionRow & { channel: MessageChannel }> {
  const row = await templatesSql.getVersion(db, workspaceId, id, version);
  if (!row)
    throw new DomainError(
      "not_found",
      `template ${id} has no version ${version}`,
    );
  return row;
}

/** A version rendered for a profile or sample data (no coupon is issued), with SMS figures. */
export async function previewTemplate(
  renderer: TemplateRenderer,
  request: PreviewRequest,
): Promise<{ templateVersion: number; sms?: SmsStats } & RenderedContent> {
  const result = await renderer.preview(request);
  return {
    ...result,
    ...(result.content.channel === "sms"
      ? { sms: smsStats(result.content.text) }
      : {}),
  };
}

/**
 * Queues a version to an address through delivery, rendered for real (coupons are issued),
 * for the given profile or the one with that address.
 */
export async function sendTestMessage(
  { db, clock }: TemplateDeps,
  workspaceId: string,
  id: string,
  input: {
    to: string;
    profileId?: string | undefined;
    version?: number | undefined;
    data?: Record<string, unknown> | undefined;
  },
): Promise<{ messageId: string; status: string }> {
  const template = await templatesSql.getTemplate(db, workspaceId, id);
  if (!template)
    throw new DomainError("not_found", `there is no template ${id}`);
  const profileId =
    input.profileId ??
    (await profileWithAddress(db, workspaceId, template.channel, input.to));
  const now = clock.now();
  const { message } = await db.tx((tx) =>
    enqueueMessage(
      tx,
      {
        workspaceId,
        profileId,
        channel: template.channel,
        templateId: template.id,
        ...(input.version === undefined
          ? {}
          : { templateVersion: input.version }),
        data: input.data ?? sampleEventData,
        source: { kind: "test" },
        idempotencyKey: `test:${uuidv7(now)}`,
        transactional: true,
        to: input.to,
      },
      now,
    ),
  );
  return { messageId: message.id, status: message.status };
}

/** The partials templates may include: the workspace's own, then the built-in ones it does not override. */
export async function listPartials(db: Database, workspaceId: string) {
  const own = await templatesSql.listPartials(db, workspaceId);
  const names = new Set(own.map((p) => p.name));
  return [
    ...own.map((p) => ({ name: p.name, source: p.source, builtIn: false })),
    ...[...builtInPartials]
      .filter(([name]) => !names.has(name))
      .map(([name, source]) => ({ name, source, builtIn: true })),
  ].sort((a, b) => a.name.localeCompare(b.name));
}

const partialName = new RegExp(partialNamePattern);

/**
 * Saves a partial after checking its Liquid (the MJML is checked in each template that
 * includes it). Templates saved earlier keep the partial as it was when they were saved.
 */
export async function savePartial(
  { db, clock }: TemplateDeps,
  workspaceId: string,
  name: string,
  source: string,
): Promise<void> {
  if (!partialName.test(name))
    throw new DomainError(
      "invalid",
      "a partial's name is lower-case letters, digits, - and _ (up to 64)",
      [{ path: "/params/name", message: "bad name" }],
    );
  const problems = scanLiquid(source).problems.map((p) => ({
    field: "source",
    ...p,
  }));
  if (problems.length === 0) {
    // Includes inside a partial are checked when a template that uses it is saved.
    let checked = "";
    let last = 0;
    for (const token of scanLiquid(source).tokens)
      if (token.name === "include" || token.name === "render") {
        checked += source.slice(last, token.start);
        last = token.end;
      }
    checked += source.slice(last);
    try {
      engines.html.parse(checked);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const line = /line:(\d+)/.exec(text)?.[1];
      problems.push({
        field: "source",
        line: line ? Number(line) : 1,
        message: `Liquid: ${text.replace(/,?\s*line:\d+, col:\d+$/, "")}`,
      });
    }
  }
  if (problems.length > 0) refuseTemplate(problems);
  await templatesSql.upsertPartial(db, workspaceId, {
    name,
    source,
    at: clock.now(),
  });
}

/** Deletes a workspace's partial (a built-in one of that name shows again); `not_found` otherwise. */
export async function deletePartial(
  db: Database,
  workspaceId: string,
  name: string,
): Promise<void> {
  if (!(await templatesSql.deletePartial(db, workspaceId, name)))
    throw new DomainError(
      "not_found",
      `the workspace has no partial "${name}"`,
    );
}
