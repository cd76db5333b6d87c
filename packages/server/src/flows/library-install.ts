import { DomainError, isDomainError } from "@herald/core/domain-error";
import { validateCondition } from "@herald/core/segments/condition";
import { newSegmentId } from "@herald/core/segments/segments";
import { addPool } from "../coupons/coupon-service.ts";
import type { Database } from "../db/database.ts";
import type { FlowRecord } from "./flow-record.ts";
import { insertSegment } from "../segments/segments.sql.ts";
import { channelsWithConsent } from "../profiles/profiles.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import type { FlowDefinition } from "@herald/core/flows/definition";
import { createTemplate } from "../templates/template-service.ts";
import {
  createFlow,
  listFlows,
  publishFlow,
  type FlowDeps,
} from "./flow-service.ts";
import { libraryFlows } from "./library.ts";
import { libraryTemplates } from "./library-templates.ts";

/**
 * Installing a library flow in a workspace: its coupon pools (kept if they exist), fresh
 * copies of its starter templates and segments, then the flow itself as a draft, or live
 * with `publish`. A flow already installed is not installed twice.
 */

/** What an install made. */
export interface Installed {
  flow: FlowRecord;
  version: number | null;
  templates: Record<string, string>;
  segments: Record<string, string>;
  pools: string[];
  /** What will stop the flow's messages, said with what to do (no consent on record yet). */
  warnings: string[];
}

/** The library's flows, for listings. */
export function listLibrary(): {
  name: string;
  title: string;
  description: string;
}[] {
  return libraryFlows.map(({ name, title, description }) => ({
    name,
    title,
    description,
  }));
}

/** The store settings library messages use: the header names the store and links to it. */
export type StoreSetting = "storeName" | "storeUrl";

function libraryEntry(name: string) {
  const entry = libraryFlows.find((flow) => flow.name === name);
  if (!entry)
    throw new DomainError(
      "not_found",
      `no library flow ${name}; the library has: ${libraryFlows.map((f) => f.name).join(", ")}`,
    );
  return entry;
}

/**
 * The store settings the library flow `name` needs and the workspace does not have: its
 * messages would otherwise carry links that lead nowhere.
 */
export async function missingStoreSettings(
  db: Database,
  workspaceId: string,
  name: string,
): Promise<StoreSetting[]> {
  const text = JSON.stringify(
    libraryEntry(name).templates.map((key) => libraryTemplates[key]),
  );
  const header = text.includes('include \\"header\\"');
  const needed: StoreSetting[] = [];
  if (header || text.includes("store.name")) needed.push("storeName");
  if (header || text.includes("store.url")) needed.push("storeUrl");
  const settings = (await getSettings(db, workspaceId)) ?? {};
  return needed.filter((key) => !settings[key]);
}

/** Installs the library flow `name`; see the module comment. */
export async function installFlow(
  deps: FlowDeps,
  workspaceId: string,
  name: string,
  options: { publish?: boolean } = {},
): Promise<Installed> {
  const { db, clock } = deps;
  const entry = libraryEntry(name);
  const missing = await missingStoreSettings(db, workspaceId, name);
  if (missing.length > 0) {
    const example = { storeName: "Acme", storeUrl: "https://acme.example" };
    const flags = missing
      .map((key) => (key === "storeName" ? "--store-name" : "--store-url"))
      .join(" … ");
    throw new DomainError(
      "invalid",
      `${entry.title} needs the setting${missing.length > 1 ? "s" : ""} ${missing.join(" and ")}: its messages name your store and link to it. ` +
        `Set ${missing.length > 1 ? "them" : "it"} first with PATCH /api/workspace/settings ${JSON.stringify(Object.fromEntries(missing.map((key) => [key, example[key]])))}, ` +
        `or install with herald flows install ${name} ${flags} …`,
      missing.map((key) => ({
        path: `/settings/${key}`,
        message: "required by library flows",
      })),
    );
  }
  const existing = (await listFlows(db, workspaceId)).find(
    (flow) => flow.libraryName === name,
  );
  if (existing)
    throw new DomainError(
      "conflict",
      `${entry.title} is already installed as flow ${existing.id}`,
    );
  const now = clock.now();

  const pools: string[] = [];
  for (const pool of entry.pools) {
    if (await addPool(deps, workspaceId, pool)) pools.push(pool.id);
  }
  const templates: Record<string, string> = {};
  for (const key of entry.templates) {
    const starter = libraryTemplates[key];
    if (!starter)
      throw new Error(
        `the library flow ${name} names a missing template ${key}`,
      );
    // Flows share some starters (the thank-you that ends cart and checkout reminders);
    // each installed flow gets its own copy, named after the flow when the name is taken.
    const create = (templateName: string) =>
      createTemplate(deps, workspaceId, templateName, starter.template);
    const created = await create(starter.name).catch((error: unknown) => {
      if (isDomainError(error, "conflict"))
        return create(`${starter.name} · ${entry.title}`);
      throw error;
    });
    templates[key] = created.template.id;
  }
  const segments: Record<string, string> = {};
  for (const segment of entry.segments) {
    const id = newSegmentId();
    const definition = validateCondition(
      segment.condition,
      `/segments/${segment.key}`,
    );
    await db.tx((tx) =>
      insertSegment(
        tx,
        workspaceId,
        {
          id,
          name: `${segment.name} (${id.slice(-6)})`,
          description: segment.description,
          definition,
        },
        now,
      ),
    );
    segments[segment.key] = id;
  }
  const definition = entry.define({
    template: (key) => templates[key] ?? key,
    segment: (key) => segments[key] ?? key,
    now,
  });
  const flow = await createFlow(
    deps,
    workspaceId,
    { ...definition, description: entry.description },
    name,
  );
  const version = options.publish
    ? (await publishFlow(deps, workspaceId, flow.id)).version
    : null;
  const warnings = await consentWarnings(db, workspaceId, definition);
  return { flow, version, templates, segments, pools, warnings };
}

/**
 * Under explicit consent (the default) marketing goes only to people who subscribed: a
 * flow installed before any consent has arrived would skip every message, so say so.
 */
async function consentWarnings(
  db: Database,
  workspaceId: string,
  definition: FlowDefinition,
): Promise<string[]> {
  const settings = (await getSettings(db, workspaceId)) ?? {};
  if (settings.marketingConsent === "unless_unsubscribed") return [];
  const channels = [
    ...new Set(
      Object.values(definition.nodes).flatMap((node) =>
        node.type === "send" &&
        !node.transactional &&
        node.channel !== "webhook"
          ? [node.channel]
          : [],
      ),
    ),
  ];
  if (channels.length === 0) return [];
  const consenting = await channelsWithConsent(db, workspaceId, channels);
  return channels
    .filter((channel) => !consenting.includes(channel))
    .map(
      (channel) =>
        `no profile has ${channel} marketing consent yet, so this flow's ${channel} messages will be skipped (GET /api/outbox shows them with the reason). ` +
        `Consent arrives as the ${channel}_consent trait ("subscribed") on identify` +
        (channel === "email"
          ? ", from Shopify's email_marketing_consent, a form or a list sign-up"
          : ", a form or a list sign-up") +
        `; or set marketingConsent to unless_unsubscribed to also send to people never asked`,
    );
}
