import type { Template as LiquidTemplate } from "liquidjs";
import {
  DomainError,
  isDomainError,
  type ErrorDetail,
} from "@herald/core/domain-error";
import type {
  RenderedMessage,
  RenderRequest,
} from "@herald/core/messages/content";
import type { Profile } from "@herald/core/profiles/profile";
import {
  isSafeUrl,
  removeUnsafeLinks,
  unsafeUrlMessage,
} from "@herald/core/templates/safe-urls";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { CompiledContent } from "@herald/core/templates/template";
import { htmlToText, tidyText } from "./compile.ts";
import {
  engines,
  servicesKey,
  type EscapeMode,
  type RenderServices,
} from "./liquid.ts";

/**
 * Rendering one recipient's message from a compiled version: each field's Liquid, parsed
 * once per version and kept, rendered with the recipient's variables. Only Liquid runs
 * here; MJML ran when the version was saved.
 */

type Parsed = { mode: EscapeMode; templates: LiquidTemplate[] };

/** A compiled version with every field parsed, ready for many renders. */
export interface ParsedContent {
  compiled: CompiledContent;
  fields: Map<string, Parsed>;
}

/** Parses every field of a compiled version. */
export function parseCompiled(compiled: CompiledContent): ParsedContent {
  const fields = new Map<string, Parsed>();
  const add = (
    name: string,
    source: string | null | undefined,
    mode: EscapeMode,
  ) => {
    if (source === null || source === undefined) return;
    fields.set(name, { mode, templates: engines[mode].parse(source) });
  };
  switch (compiled.channel) {
    case "email":
      add("subject", compiled.subject, "text");
      add("preheader", compiled.preheader, "text");
      add("html", compiled.html, "html");
      add("text", compiled.text, "text");
      break;
    case "sms":
      add("text", compiled.text, "text");
      break;
    case "push":
      add("title", compiled.title, "text");
      add("body", compiled.body, "text");
      add("icon", compiled.icon, "text");
      add("url", compiled.url, "text");
      break;
    case "telegram":
      add("text", compiled.text, "html");
      compiled.buttons?.forEach((button, i) => {
        add(`buttons/${i}/text`, button.text, "text");
        add(`buttons/${i}/url`, button.url, "text");
      });
      break;
    case "webhook":
      add("body", compiled.body, "json");
      break;
  }
  return { compiled, fields };
}

/** The first DomainError inside a liquidjs error (a coupon pool that ran dry, a bad block). */
function domainCause(error: unknown): DomainError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (isDomainError(current)) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}

async function renderField(
  content: ParsedContent,
  name: string,
  scope: object,
): Promise<string> {
  const field = content.fields.get(name);
  if (!field) return "";
  try {
    return String(await engines[field.mode].render(field.templates, scope));
  } catch (error) {
    const cause = domainCause(error);
    if (cause) throw cause;
    const message = error instanceof Error ? error.message : String(error);
    throw new DomainError("invalid", `rendering ${name} failed: ${message}`, [
      { path: `/content/${name}`, message },
    ]);
  }
}

/**
 * Renders one recipient's message; throws DomainError when a field cannot render. Links
 * whose scheme is not http(s), mailto or tel are taken out, each noted in `warnings`.
 */
export async function renderContent(
  content: ParsedContent,
  scope: object,
  warnings: ErrorDetail[] = [],
): Promise<RenderedMessage> {
  const compiled = content.compiled;
  const field = (name: string) => renderField(content, name, scope);
  const unsafe = (name: string, url: string) =>
    warnings.push({ path: `/content/${name}`, message: unsafeUrlMessage(url) });
  const removedLinks: string[] = [];
  const htmlField = async (name: string) => {
    const { html, removed } = removeUnsafeLinks(await field(name));
    for (const url of removed) unsafe(name, url);
    removedLinks.push(...removed);
    return html;
  };
  /** The text part without the links taken out of the HTML (shown there as `text [url]`). */
  const withoutRemoved = (text: string) =>
    removedLinks.reduce(
      (out, url) =>
        url.trim() ? out.replaceAll(` [${url}]`, "").replaceAll(url, "") : out,
      text,
    );
  const urlField = async (name: string) => {
    const url = (await field(name)).trim();
    if (isSafeUrl(url)) return url;
    unsafe(name, url);
    return undefined;
  };
  switch (compiled.channel) {
    case "email": {
      const html = await htmlField("html");
      const text =
        compiled.text === null
          ? htmlToText(html)
          : tidyText(withoutRemoved(await field("text")));
      const message: RenderedMessage = {
        channel: "email",
        subject: (await field("subject")).replace(/[ \t\r\n]+/g, " ").trim(),
        html,
        text,
      };
      if (compiled.preheader !== undefined)
        message.preheader = (await field("preheader")).trim();
      if (compiled.fromName) message.fromName = compiled.fromName;
      if (compiled.fromEmail) message.fromEmail = compiled.fromEmail;
      if (compiled.replyTo) message.replyTo = compiled.replyTo;
      return message;
    }
    case "sms":
      return { channel: "sms", text: (await field("text")).trim() };
    case "push": {
      const message: RenderedMessage = {
        channel: "push",
        title: (await field("title")).trim(),
        body: (await field("body")).trim(),
      };
      if (compiled.icon !== undefined)
        message.icon = (await field("icon")).trim();
      if (compiled.url !== undefined) {
        const url = await urlField("url");
        if (url !== undefined) message.url = url;
      }
      return message;
    }
    case "telegram": {
      const buttons: { text: string; url: string }[] = [];
      for (const [i] of (compiled.buttons ?? []).entries()) {
        const url = await urlField(`buttons/${i}/url`);
        const text = (await field(`buttons/${i}/text`)).trim();
        if (url && text) buttons.push({ text, url });
      }
      return {
        channel: "telegram",
        text: (await htmlField("text")).trim(),
        ...(buttons.length > 0 ? { buttons } : {}),
      };
    }
    case "webhook": {
      const body = await field("body");
      try {
        return { channel: "webhook", body: JSON.parse(body) as unknown };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new DomainError(
          "invalid",
          `the webhook body is not JSON once rendered (${reason}); outputs write JSON values, so write {"email": {{ profile.email }}} without quotes around them`,
          [{ path: "/content/body", message: reason }],
        );
      }
    }
  }
}

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;

/** Copies the keys of `from` that `to` does not have (a loop: spreads here are slow). */
function fillFrom(to: Record<string, unknown>, from: Record<string, unknown>) {
  for (const key in from)
    if (!(key in to) && Object.hasOwn(from, key)) to[key] = from[key];
  return to;
}

/** A profile as templates see it: `profile.first_name`, `profile.order_count`, … */
export function profileVariables(profile: Profile): Record<string, unknown> {
  const variables: Record<string, unknown> = {
    id: profile.id,
    email: profile.email,
    phone: profile.phone,
    traits: profile.traits,
    locale: profile.locale,
    time_zone: profile.timeZone,
    country: profile.country,
    city: profile.city,
    first_seen_at: iso(profile.firstSeenAt),
    last_seen_at: iso(profile.lastSeenAt),
    order_count: profile.orders.orderCount,
    revenue: profile.orders.revenue,
    average_order_value: profile.orders.averageOrderValue,
    first_order_at: iso(profile.orders.firstOrderAt),
    last_order_at: iso(profile.orders.lastOrderAt),
    avg_days_between_orders: profile.orders.avgDaysBetweenOrders,
    expected_next_order_at: iso(profile.orders.expectedNextOrderAt),
  };
  fillFrom(variables, profile.computed);
  return fillFrom(variables, profile.traits);
}

// Checking a locale or zone builds Intl objects (tens of µs): remember the answers.
const checkedLocales = new Map<string, string | null>();
const checkedZones = new Map<string, boolean>();

function usableLocale(...candidates: unknown[]): string {
  for (const candidate of candidates) {
    if (typeof candidate !== "string" || candidate === "") continue;
    let locale = checkedLocales.get(candidate);
    if (locale === undefined) {
      try {
        locale =
          Intl.getCanonicalLocales(candidate.replace("_", "-"))[0] ?? null;
      } catch {
        locale = null;
      }
      if (checkedLocales.size > 10_000) checkedLocales.clear();
      checkedLocales.set(candidate, locale);
    }
    if (locale) return locale;
  }
  return "en-US";
}

function usableZone(...candidates: unknown[]): string {
  for (const candidate of candidates) {
    if (typeof candidate !== "string" || candidate === "") continue;
    let valid = checkedZones.get(candidate);
    if (valid === undefined) {
      try {
        new Intl.DateTimeFormat("en", { timeZone: candidate });
        valid = true;
      } catch {
        valid = false;
      }
      if (checkedZones.size > 10_000) checkedZones.clear();
      checkedZones.set(candidate, valid);
    }
    if (valid) return candidate;
  }
  return "UTC";
}

const currencyPattern = /^[A-Za-z]{3}$/;

/** What a render's variables are built from. */
export interface ScopeInput {
  profile: Profile | undefined;
  data: Record<string, unknown>;
  settings: WorkspaceSettings;
  links: RenderRequest["links"];
  messageId: string;
  now: Date;
}

/** The shopper's locale, time zone and currency: profile first, then event, then store. */
export function formatsOf(
  input: Omit<ScopeInput, "links" | "messageId" | "now">,
) {
  const traits = input.profile?.traits ?? {};
  const currency = [
    input.data.currency,
    traits.currency,
    input.settings.currency,
  ].find((c): c is string => typeof c === "string" && currencyPattern.test(c));
  return {
    locale: usableLocale(
      input.profile?.locale,
      traits.locale,
      input.settings.locale,
    ),
    timeZone: usableZone(
      input.profile?.timeZone,
      traits.timezone,
      input.settings.timeZone,
    ),
    currency: (currency ?? "USD").toUpperCase(),
  };
}

/**
 * A render's variables: `profile`, `event` (the triggering event's properties and what the caller adds),
 * `store`, the links delivery made, `message`, and the profile's traits at the top
 * where they do not clash (`{{ first_name }}`); the services ride on a symbol.
 */
export function renderScope(
  input: ScopeInput,
  services: RenderServices,
): Record<string | symbol, unknown> {
  const profile = input.profile ? profileVariables(input.profile) : {};
  const links = {
    unsubscribe_url: input.links.unsubscribeUrl ?? null,
    preferences_url: input.links.preferencesUrl ?? null,
    view_in_browser_url: input.links.viewInBrowserUrl ?? null,
  };
  const scope: Record<string | symbol, unknown> = {
    profile,
    event: input.data,
    store: {
      name: input.settings.storeName ?? null,
      url: input.settings.storeUrl ?? null,
      currency: input.settings.currency ?? null,
      locale: input.settings.locale ?? null,
      time_zone: input.settings.timeZone ?? null,
    },
    links,
    unsubscribe_url: links.unsubscribe_url,
    preferences_url: links.preferences_url,
    view_in_browser_url: links.view_in_browser_url,
    message: { id: input.messageId },
    now: input.now.toISOString(),
  };
  fillFrom(scope, input.profile?.traits ?? {});
  scope[servicesKey] = services;
  return scope;
}
