import { decodeHTMLAttribute } from "entities";
import type { MessageChannel } from "./content.ts";

/**
 * Tracking: signed tokens for opens, clicks, unsubscribes and deep links; link rewriting
 * with UTM parameters; and telling people from machines. Pure: signing is a function the
 * server passes in (HMAC-SHA256 with the workspace's key).
 */

/** What a token stands for: open pixel, link click, unsubscribe / preference centre. */
export type TokenKind = "o" | "c" | "u";

/** A decoded token. */
export interface LinkToken {
  kind: TokenKind;
  workspaceId: string;
  messageId: string;
  /** For clicks: the index of the link in the message. */
  link: number;
}

/** Signs a payload: returns a URL-safe signature. */
export type Signer = (workspaceId: string, payload: string) => string;

const tokenPattern =
  /^([ocu])\.([A-Za-z0-9_-]{1,64})\.([0-9a-f-]{36})\.(\d{1,4})\.([A-Za-z0-9_-]{16,64})$/;

/** The token of `t`, signed. */
export function encodeToken(t: LinkToken, sign: Signer): string {
  const payload = `${t.kind}.${t.workspaceId}.${t.messageId}.${t.link}`;
  return `${payload}.${sign(t.workspaceId, payload)}`;
}

/** Splits a token without checking its signature (to find the workspace's key). */
export function parseToken(
  token: string,
): (LinkToken & { payload: string; signature: string }) | undefined {
  const m = tokenPattern.exec(token);
  if (!m) return undefined;
  const [, kind, workspaceId, messageId, link, signature] = m;
  return {
    kind: kind as TokenKind,
    workspaceId: workspaceId ?? "",
    messageId: messageId ?? "",
    link: Number(link),
    payload: `${kind}.${workspaceId}.${messageId}.${link}`,
    signature: signature ?? "",
  };
}

/** The token's content when its signature is right; undefined for anything forged. */
export function verifyToken(
  token: string,
  sign: Signer,
): LinkToken | undefined {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const expected = sign(parsed.workspaceId, parsed.payload);
  if (!constantTimeEqual(expected, parsed.signature)) return undefined;
  const { kind, workspaceId, messageId, link } = parsed;
  return { kind, workspaceId, messageId, link };
}

/** Compares two strings without an early exit. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The deep-link parameter of Telegram's `/start` (≤ 64 of [A-Za-z0-9_-]) for a profile. */
export function telegramStartToken(
  workspaceId: string,
  profileId: string,
  sign: Signer,
): string {
  const compact = profileId.replaceAll("-", "");
  return `${compact}_${sign(workspaceId, `tg.${compact}`).slice(0, 22)}`;
}

/** The profile id in a `/start` token of this workspace, or undefined if forged. */
export function verifyTelegramStartToken(
  workspaceId: string,
  token: string,
  sign: Signer,
): string | undefined {
  const m = /^([0-9a-f]{32})_([A-Za-z0-9_-]{22})$/.exec(token.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const expected = sign(workspaceId, `tg.${m[1]}`).slice(0, 22);
  if (!constantTimeEqual(expected, m[2])) return undefined;
  const h = m[1];
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UTM parameters added to tracked links (existing ones on a link are kept). */
export interface Utm {
  source: string;
  medium: string;
  campaign: string;
}

/** `url` with the UTM parameters it does not have yet; non-http links unchanged. */
export function withUtm(url: string, utm: Utm): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return url;
  const add: [string, string][] = [
    ["utm_source", utm.source],
    ["utm_medium", utm.medium],
    ["utm_campaign", utm.campaign],
  ];
  for (const [key, value] of add)
    if (value && !parsed.searchParams.has(key))
      parsed.searchParams.set(key, value);
  return parsed.toString();
}

const anchorHref = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2/gis;

/** A value written into a quoted HTML attribute. */
function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/**
 * Rewrites the links of an HTML body to click-tracking URLs. `trackUrl(i)` gives the
 * tracking URL of link `i`. Links that are not http(s), that carry `data-herald-notrack`,
 * or that are in `keep` (the unsubscribe and preference links) stay as they are.
 * Returns the new HTML and the links (UTM applied) in index order.
 */
export function rewriteLinks(
  html: string,
  options: {
    utm: Utm | undefined;
    trackUrl: ((index: number) => string) | undefined;
    keep: string[];
  },
): { html: string; links: string[] } {
  const links: string[] = [];
  const rewritten = html.replace(
    anchorHref,
    (whole: string, start: string, quote: string, raw: string) => {
      if (/data-herald-notrack/i.test(whole)) return whole;
      // The link as the mail client would follow it: every HTML entity decoded.
      const href = decodeHTMLAttribute(raw).trim();
      if (!/^https?:\/\//i.test(href) || options.keep.includes(href))
        return whole;
      const target = options.utm ? withUtm(href, options.utm) : href;
      if (!options.trackUrl)
        return `${start}${quote}${escapeAttribute(target)}${quote}`;
      const index = links.push(target) - 1;
      return `${start}${quote}${escapeAttribute(options.trackUrl(index))}${quote}`;
    },
  );
  return { html: rewritten, links };
}

/** Adds the open pixel before `</body>`, or at the end. */
export function addOpenPixel(html: string, pixelUrl: string): string {
  const img = `<img src="${pixelUrl}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px" />`;
  const at = html.search(/<\/body\s*>/i);
  return at === -1 ? html + img : html.slice(0, at) + img + html.slice(at);
}

/** One open or click, as the tracking endpoint saw it. */
export interface Interaction {
  kind: "open" | "click";
  userAgent?: string | undefined;
  ip?: string | undefined;
  at: Date;
  /** When the message was handed to the provider. */
  sentAt: Date | null;
  /** Clicks on this message in the two seconds before this one (for bursts). */
  recentClicks?: number;
}

/** Seconds after sending within which a click is a link scanner's, not a person's. */
export const scannerClickSeconds = 10;

const scannerAgents =
  /bot\b|crawler|spider|scanner|barracuda|proofpoint|mimecast|symantec|messagelabs|trend ?micro|forcepoint|sophos|fortinet|fortiguard|zscaler|safelinks|urldefense|cisco|ironport|python-requests|python-urllib|curl\/|wget|go-http-client|java\/|okhttp|axios|node-fetch|undici|headlesschrome|phantomjs|slackbot|facebookexternalhit|twitterbot|linkedinbot|whatsapp|skypeuripreview|discordbot|telegrambot|preview/i;

/**
 * Whether an open or click was a person's. Machines are: Apple Mail Privacy Protection
 * (it fetches every image on delivery, from Apple's 17.0.0.0/8 with the bare agent
 * `Mozilla/5.0`), security scanners and link previewers (known agents, none at all), a
 * click within `scannerClickSeconds` of sending, and a burst across several links within
 * two seconds. Gmail's and Yahoo's image proxies fetch when the person opens, so they count.
 */
export function classifyInteraction(i: Interaction): {
  human: boolean;
  reason?: string;
} {
  const agent = (i.userAgent ?? "").trim();
  if (i.kind === "open") {
    if (i.ip && /^(::ffff:)?17\./.test(i.ip))
      return { human: false, reason: "apple_mail_privacy_protection" };
    if (agent === "Mozilla/5.0")
      return { human: false, reason: "apple_mail_privacy_protection" };
  }
  if (agent === "") return { human: false, reason: "no_user_agent" };
  if (/googleimageproxy|yahoomailproxy/i.test(agent)) return { human: true };
  if (scannerAgents.test(agent))
    return { human: false, reason: "scanner_user_agent" };
  if (i.kind === "click") {
    if (
      i.sentAt &&
      i.at.getTime() - i.sentAt.getTime() < scannerClickSeconds * 1000
    )
      return { human: false, reason: "clicked_seconds_after_delivery" };
    if ((i.recentClicks ?? 0) >= 2)
      return { human: false, reason: "click_burst" };
  }
  return { human: true };
}

/** SMS keywords that opt out of and back into SMS (carrier-standard). */
export function smsKeyword(
  body: string,
): "stop" | "start" | "help" | undefined {
  const word = body
    .trim()
    .toUpperCase()
    .replace(/[.!]+$/, "");
  if (
    [
      "STOP",
      "STOPALL",
      "UNSUBSCRIBE",
      "CANCEL",
      "END",
      "QUIT",
      "REVOKE",
      "OPTOUT",
    ].includes(word)
  )
    return "stop";
  if (["START", "YES", "UNSTOP", "SUBSCRIBE"].includes(word)) return "start";
  if (["HELP", "INFO"].includes(word)) return "help";
  return undefined;
}

/** True when a chat message asks where the shopper's order is. */
export function asksForOrderStatus(text: string): boolean {
  return (
    /^\/(order|status|track)\b/i.test(text.trim()) ||
    /\b(where|status|track)\b.*\border\b|\border\b.*\b(status|where|track)/i.test(
      text,
    )
  );
}

/** The Segment Email spec event for news about a message, if that channel has one. */
export function emailEventName(
  news:
    | "delivered"
    | "opened"
    | "clicked"
    | "bounced"
    | "complained"
    | "unsubscribed",
  channel: MessageChannel,
): string | undefined {
  if (news === "unsubscribed") return "Unsubscribed";
  if (channel !== "email") return undefined;
  return {
    delivered: "Email Delivered",
    opened: "Email Opened",
    clicked: "Email Link Clicked",
    bounced: "Email Bounced",
    complained: "Email Marked as Spam",
  }[news];
}
