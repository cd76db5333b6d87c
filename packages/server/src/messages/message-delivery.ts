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
import type { MessageRow } from "./messages.sql.ts";
import type { MessagingSecrets } from "./message-secrets.ts";
import type { SendingRow } from "./send-queue.sql.ts";

/**
 * From a claimed ledger row to what a provider sends: content (a template rendered by
 * the content feature, or the row's inline content), then for email the tracking (signed
 * click links with UTM parameters, the open pixel) and, on marketing mail, the RFC 8058
 * one-click unsubscribe headers and a visible unsubscribe link. Which provider sends it
 * is `provider-set.ts`'s.
 */

/** What preparing a message needs: where Herald is reached, the signing secrets, templates. */
export interface DeliveryDeps {
  publicUrl: string;
  secrets: MessagingSecrets;
  renderer: ContentRenderer;
}

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
  deps: Pick<DeliveryDeps, "publicUrl" | "secrets">,
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
  deps: DeliveryDeps,
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
    const { source } = row;
    const rewritten = rewriteLinks(html, {
      utm: marketing
        ? {
            source: email.utm?.source ?? "herald",
            medium: email.utm?.medium ?? "email",
            campaign:
              (source.kind === "campaign" ? source.campaignName : undefined) ??
              row.campaign_id ??
              (source.kind === "flow" ? source.flowId : undefined) ??
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
