import { convert } from "html-to-text";
import { DomainError } from "@herald/core/domain-error";
import type {
  ContentRenderer,
  MessageChannel,
  RenderedMessage,
} from "@herald/core/messages/content";
import type { InlineContent } from "@herald/core/messages/ledger";
import {
  addOpenPixel,
  encodeToken,
  rewriteLinks,
  type TokenKind,
} from "@herald/core/messages/tracking";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { MessageRow, SendingRow } from "./messages.sql.ts";
import type { Logger } from "../logger.ts";
import { HttpSmsProvider } from "../providers/http-sms.ts";
import { OutboxProvider } from "../providers/outbox.ts";
import type { Provider } from "../providers/provider.ts";
import type { SmtpOptions } from "../providers/smtp.ts";
import { ThreadedSmtpProvider } from "../providers/smtp-thread.ts";
import { TelegramProvider } from "../providers/telegram.ts";
import { TwilioProvider } from "../providers/twilio.ts";
import { WebhookProvider } from "../providers/webhook.ts";
import { WebPushProvider } from "../providers/web-push.ts";
import type { SenderDeps } from "../workers/message-sender.ts";

/**
 * From a claimed ledger row to what a provider sends: content (a template rendered by
 * the content feature, or the row's inline content), then for email the tracking (signed
 * click links with UTM parameters, the open pixel) and, on marketing mail, the RFC 8058
 * one-click unsubscribe headers and a visible unsubscribe link. Also the set of providers
 * each workspace's settings call for.
 */

/**
 * The renderer used until templates are wired in: every template send fails with a
 * reason on the ledger, while inline content works.
 */
export const templatesUnavailable: ContentRenderer = {
  render: () =>
    Promise.reject(
      new DomainError("invalid", "templates are not available yet"),
    ),
};

/** A message ready for its provider, and what the ledger keeps of it. */
export interface Prepared {
  content: RenderedMessage;
  headers: Record<string, string>;
  links: string[];
  templateVersion: number | null;
}

/** The public URL of a tracking token. */
export function trackingUrl(
  deps: Pick<SenderDeps, "publicUrl" | "secrets">,
  row: Pick<MessageRow, "workspace_id" | "id">,
  kind: TokenKind,
  link = 0,
): string {
  const token = encodeToken(
    { kind, workspaceId: row.workspace_id, messageId: row.id, link },
    deps.secrets.sign,
  );
  const path = { o: "t/o", c: "t/c", u: "u" }[kind];
  return `${deps.publicUrl}/${path}/${token}`;
}

/** Renders a row's content and adds tracking; throws DomainError when content is impossible. */
export async function prepareMessage(
  row: SendingRow,
  settings: WorkspaceSettings,
  deps: Pick<SenderDeps, "publicUrl" | "secrets" | "renderer">,
): Promise<Prepared> {
  await deps.secrets.load(row.workspace_id);
  const unsubscribeUrl = trackingUrl(deps, row, "u");
  let content: RenderedMessage;
  let templateVersion = row.template_version;
  if (row.inline_content) {
    content = inlineToRendered(row.channel, row.inline_content);
  } else {
    const rendered = await deps.renderer.render({
      workspaceId: row.workspace_id,
      templateId: row.template_id ?? "",
      ...(row.template_version !== null
        ? { version: row.template_version }
        : {}),
      profileId: row.profile_id,
      messageId: row.id,
      data: row.data,
      links: { unsubscribeUrl, preferencesUrl: unsubscribeUrl },
    });
    content = rendered.content;
    templateVersion = rendered.templateVersion;
    if (content.channel !== row.channel)
      throw new Error(
        `template ${row.template_id} renders ${content.channel}, not ${row.channel}`,
      );
  }
  if (content.channel === "sms" && settings.sms?.trackClicks === true) {
    // Links in a text become tracked redirects, so that a click is `SMS Link Clicked`.
    const links: string[] = [];
    const text = content.text.replace(/https?:\/\/[^\s<>"]+/gi, (found) => {
      // Sentence punctuation after a link is not part of it.
      const url = found.replace(/[.,!?;:)\]]+$/, "");
      const index = links.push(url) - 1;
      return trackingUrl(deps, row, "c", index) + found.slice(url.length);
    });
    return {
      content: { ...content, text },
      headers: {},
      links,
      templateVersion,
    };
  }
  if (
    content.channel === "push" &&
    content.url &&
    settings.push?.trackClicks !== false
  )
    // The notification opens through a tracked redirect: a click is `Push Opened`.
    return {
      content: { ...content, url: trackingUrl(deps, row, "c", 0) },
      headers: {},
      links: [content.url],
      templateVersion,
    };
  if (content.channel !== "email")
    return { content, headers: {}, links: [], templateVersion };

  const email = settings.email ?? {};
  const marketing = !row.transactional;
  let html = content.html;
  let text = content.text;
  if (marketing && html && !html.includes(unsubscribeUrl))
    html = addFooter(html, unsubscribeUrl);
  if (marketing && !text.includes(unsubscribeUrl))
    text = `${text}\n\nUnsubscribe: ${unsubscribeUrl}\n`;
  let links: string[] = [];
  if (html) {
    const source = row.source as { campaignName?: string; flowId?: string };
    const rewritten = rewriteLinks(html, {
      utm: marketing
        ? {
            source: email.utm?.source ?? "herald",
            medium: email.utm?.medium ?? "email",
            campaign:
              source.campaignName ??
              row.campaign_id ??
              source.flowId ??
              row.template_id ??
              "herald",
          }
        : undefined,
      trackUrl:
        email.trackClicks === false
          ? undefined
          : (index) => trackingUrl(deps, row, "c", index),
      keep: [unsubscribeUrl],
    });
    html = rewritten.html;
    links = rewritten.links;
    if (email.trackOpens !== false)
      html = addOpenPixel(html, trackingUrl(deps, row, "o"));
  }
  const headers: Record<string, string> = marketing
    ? {
        "List-Unsubscribe": `<${unsubscribeUrl}>`,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
      }
    : {};
  return {
    content: { ...content, html, text },
    headers,
    links,
    templateVersion,
  };
}

function addFooter(html: string, url: string): string {
  const footer = `<p style="font-size:12px;color:#666">Don't want these emails? <a href="${url}">Unsubscribe or change your preferences</a>.</p>`;
  const at = html.search(/<\/body\s*>/i);
  return at === -1
    ? html + footer
    : html.slice(0, at) + footer + html.slice(at);
}

/** Inline content as the RenderedMessage of its channel. */
export function inlineToRendered(
  channel: MessageChannel,
  c: InlineContent,
): RenderedMessage {
  switch (channel) {
    case "email":
      return {
        channel,
        subject: c.subject ?? "",
        html: c.html ?? "",
        text: c.text ?? (c.html ? convert(c.html, { wordwrap: 78 }) : ""),
        ...(c.preheader ? { preheader: c.preheader } : {}),
        ...(c.fromName ? { fromName: c.fromName } : {}),
        ...(c.fromEmail ? { fromEmail: c.fromEmail } : {}),
        ...(c.replyTo ? { replyTo: c.replyTo } : {}),
      };
    case "sms":
      return { channel, text: c.text ?? "" };
    case "push":
      return {
        channel,
        title: c.title ?? "",
        body:
          typeof c.body === "string" ? c.body : JSON.stringify(c.body ?? ""),
        ...(c.icon ? { icon: c.icon } : {}),
        ...(c.url ? { url: c.url } : {}),
      };
    case "telegram":
      return {
        channel,
        text: c.text ?? "",
        ...(c.buttons ? { buttons: c.buttons } : {}),
      };
    case "webhook":
      return { channel, body: c.body ?? null };
  }
}

/**
 * The provider of each workspace's channel, built from its settings (and HERALD_SMTP_URL)
 * and rebuilt when they change. No configuration means the outbox.
 */
export class ProviderSet {
  readonly #deps: SenderDeps;
  readonly #logger: Logger;
  readonly #providers = new Map<
    string,
    { config: string; provider: Provider }
  >();
  readonly #outbox = new OutboxProvider();

  constructor(deps: SenderDeps) {
    this.#deps = deps;
    this.#logger = deps.logger;
  }

  /** The provider for a workspace's channel now. */
  async get(
    workspaceId: string,
    channel: MessageChannel,
    settings: WorkspaceSettings,
  ): Promise<Provider> {
    const secrets = await this.#deps.secrets.load(workspaceId);
    const config = configOf(
      workspaceId,
      channel,
      settings,
      this.#deps,
      secrets,
    );
    if (!config) return this.#outbox;
    const key = `${workspaceId}/${channel}`;
    const json = JSON.stringify(config);
    const cached = this.#providers.get(key);
    if (cached?.config === json) return cached.provider;
    if (cached)
      void cached.provider
        .close?.()
        .catch((error: unknown) =>
          this.#logger.warn({ err: error }, "closing a provider failed"),
        );
    const provider = build(config);
    this.#providers.set(key, { config: json, provider });
    return provider;
  }

  /** Closes every provider (their connection pools). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#providers.values()].map(async (p) => p.provider.close?.()),
    );
    this.#providers.clear();
  }
}

type ProviderConfig =
  | { kind: "smtp"; options: SmtpOptions }
  | { kind: "twilio"; options: ConstructorParameters<typeof TwilioProvider>[0] }
  | {
      kind: "http-sms";
      options: ConstructorParameters<typeof HttpSmsProvider>[0];
    }
  | {
      kind: "web-push";
      options: ConstructorParameters<typeof WebPushProvider>[0];
    }
  | {
      kind: "telegram";
      options: ConstructorParameters<typeof TelegramProvider>[0];
    }
  | { kind: "webhook"; secret: string };

function build(config: ProviderConfig): Provider {
  switch (config.kind) {
    case "smtp":
      return new ThreadedSmtpProvider(config.options);
    case "twilio":
      return new TwilioProvider(config.options);
    case "http-sms":
      return new HttpSmsProvider(config.options);
    case "web-push":
      return new WebPushProvider(config.options);
    case "telegram":
      return new TelegramProvider(config.options);
    case "webhook":
      return new WebhookProvider(config.secret);
  }
}

function configOf(
  workspaceId: string,
  channel: MessageChannel,
  settings: WorkspaceSettings,
  deps: SenderDeps,
  secrets: {
    webhook_secret: string;
    vapid_public_key: string;
    vapid_private_key: string;
  },
): ProviderConfig | undefined {
  const host = new URL(deps.publicUrl).hostname;
  const fromEmail =
    settings.email?.fromEmail ??
    `herald@${host.includes(".") ? host : "localhost.localdomain"}`;
  switch (channel) {
    case "email": {
      const url = settings.email?.smtpUrl ?? deps.smtpUrl;
      if (!url) return undefined;
      return {
        kind: "smtp",
        options: {
          url,
          dkim: settings.email?.dkim ?? [],
          connections: settings.email?.limits?.concurrency ?? 5,
          from: {
            address: fromEmail,
            ...((settings.email?.fromName ?? settings.storeName)
              ? { name: settings.email?.fromName ?? settings.storeName }
              : {}),
          },
          ...(settings.email?.replyTo
            ? { replyTo: settings.email.replyTo }
            : {}),
        },
      };
    }
    case "sms": {
      const sms = settings.sms;
      if (sms?.provider === "twilio" && sms.accountSid && sms.authToken)
        return {
          kind: "twilio",
          options: {
            accountSid: sms.accountSid,
            authToken: sms.authToken,
            baseUrl: sms.baseUrl ?? "https://api.twilio.com",
            ...(sms.from ? { from: sms.from } : {}),
            ...(sms.messagingServiceSid
              ? { messagingServiceSid: sms.messagingServiceSid }
              : {}),
            // Delivery reports come back to the Twilio webhook (signed by this token).
            statusCallback: `${deps.publicUrl}/webhooks/messages/twilio/${workspaceId}.${deps.secrets.sign(workspaceId, `hook.${workspaceId}`)}`,
          },
        };
      if (sms?.provider === "http" && sms.url)
        return {
          kind: "http-sms",
          options: {
            url: sms.url,
            ...(sms.from ? { from: sms.from } : {}),
            ...(sms.headers ? { headers: sms.headers } : {}),
          },
        };
      return undefined;
    }
    case "push":
      return {
        kind: "web-push",
        options: {
          publicKey: secrets.vapid_public_key,
          privateKey: secrets.vapid_private_key,
          subject: settings.push?.subject ?? `mailto:${fromEmail}`,
          ttlSeconds: settings.push?.ttlSeconds ?? 86_400,
        },
      };
    case "telegram":
      return settings.telegram?.botToken
        ? {
            kind: "telegram",
            options: {
              botToken: settings.telegram.botToken,
              baseUrl: settings.telegram.baseUrl ?? "https://api.telegram.org",
            },
          }
        : undefined;
    case "webhook":
      return { kind: "webhook", secret: secrets.webhook_secret };
  }
}
