import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { prefixedId } from "@herald/core/ids";
import type { MessageChannel } from "@herald/core/messages/content";
import { scanLiquid } from "@herald/core/templates/liquid-scan";
import { partialNamePattern } from "@herald/core/templates/partials";
import { smsStats, type SmsStats } from "@herald/core/templates/sms-segments";
import {
  parseTemplateContent,
  refuseTemplate,
  type Template,
  type TemplateContent,
} from "@herald/core/templates/template";
import type { Database, Queryable } from "../db/database.ts";
import {
  bumpVersion,
  getTemplate,
  insertTemplate,
  insertVersion,
  listPartials,
  nameTaken,
  upsertPartial,
} from "./templates.sql.ts";
import type { CompiledContent } from "./compile.ts";
import { engines } from "./liquid.ts";
import { builtInPartials, starterTemplates } from "./starter-kit.ts";
import { templateThreads } from "./template-threads.ts";

/**
 * Saving templates: each save validates and compiles the content (see compile.ts, run in
 * a template thread: template-threads.ts) before anything is written, then stores it as the template's next version in one transaction.
 * Versions are never changed afterwards.
 */

/** The partials a workspace's templates include: its own, over the built-in ones. */
export async function partialsOf(
  q: Queryable,
  workspaceId: string,
): Promise<Map<string, string>> {
  const partials = new Map(builtInPartials);
  for (const row of await listPartials(q, workspaceId))
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
  db: Database,
  clock: Clock,
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
    const created = await insertTemplate(
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
    await insertVersion(tx, workspaceId, id, 1, content.content, compiled, now);
    const template = await getTemplate(tx, workspaceId, id);
    if (!template) throw new Error("the template just created is missing");
    return { template, version: 1, compiled, ...smsOf(content) };
  });
}

/** Saves new content (and optionally a new name) as the template's next version. */
export async function updateTemplate(
  db: Database,
  clock: Clock,
  workspaceId: string,
  id: string,
  change: { name?: string; content: unknown },
): Promise<SavedVersion> {
  const current = await getTemplate(db, workspaceId, id);
  if (!current)
    throw new DomainError("not_found", `there is no template ${id}`);
  const content = parseTemplateContent(current.channel, change.content);
  const compiled = await templateThreads.compile(
    content,
    await partialsOf(db, workspaceId),
  );
  const now = clock.now();
  return db.tx(async (tx) => {
    if (change.name && (await nameTaken(tx, workspaceId, change.name, id)))
      throw new DomainError(
        "conflict",
        `a template named "${change.name}" exists already`,
        [{ path: "/body/name", message: "name taken" }],
      );
    const version = await bumpVersion(tx, workspaceId, id, change.name, now);
    if (version === undefined)
      throw new DomainError("not_found", `there is no template ${id}`);
    await insertVersion(
      tx,
      workspaceId,
      id,
      version,
      content.content,
      compiled,
      now,
    );
    const template = await getTemplate(tx, workspaceId, id);
    if (!template) throw new Error("the template just saved is missing");
    return { template, version, compiled, ...smsOf(content) };
  });
}

const partialName = new RegExp(partialNamePattern);

/**
 * Saves a partial after checking its Liquid (the MJML is checked in each template that
 * includes it). Templates saved earlier keep the partial as it was when they were saved.
 */
export async function savePartial(
  db: Database,
  clock: Clock,
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
  await upsertPartial(db, workspaceId, name, source, clock.now());
}
