import { decodeHTMLAttribute } from "entities";

/**
 * Links in messages may only be web, mail and phone links. A template that fills an
 * `href` from a trait or an event (`<a href="{{ profile.website }}">`) would otherwise
 * carry whatever the shopper's data says — `javascript:`, `data:`, `vbscript:` — into
 * mail clients and webmail. Any other scheme is removed (the element keeps its text, not
 * the link) and reported, so a preview says which link went and why.
 */

/** The schemes a link in a message may have; a link without one (`#top`, `/p`) is relative. */
const allowedSchemes = ["http", "https", "mailto", "tel"] as const;

/** The scheme of a URL as a browser reads it (lower case), or undefined when it has none. */
function schemeOf(url: string): string | undefined {
  // Browsers drop tabs and newlines anywhere in a URL, and controls and spaces around it.
  const bare = url.replace(/[\t\n\r]/g, "");
  let start = 0;
  while (start < bare.length && bare.charCodeAt(start) <= 0x20) start++;
  return /^([A-Za-z][A-Za-z0-9+.-]*):/
    .exec(bare.slice(start))?.[1]
    ?.toLowerCase();
}

/** True when `url` (plain text, not HTML) may be sent in a message. */
export function isSafeUrl(url: string): boolean {
  const scheme = schemeOf(url);
  return (
    scheme === undefined ||
    (allowedSchemes as readonly string[]).includes(scheme)
  );
}

/** Why a link was taken out, for preview warnings. */
export function unsafeUrlMessage(url: string): string {
  const shown = url.length > 80 ? `${url.slice(0, 77)}…` : url;
  return `removed the link "${shown}": only http(s), mailto and tel links may be sent (it came from the template or the data it was rendered with)`;
}

const hrefAttribute = /(\s)href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/gi;

/**
 * Removes the `href` attributes of `html` whose URL (entities decoded) has a scheme other
 * than http(s), mailto and tel; returns the HTML and the URLs it removed.
 */
export function removeUnsafeLinks(html: string): {
  html: string;
  removed: string[];
} {
  const removed: string[] = [];
  if (!/href/i.test(html)) return { html, removed };
  const out = html.replace(
    hrefAttribute,
    (
      whole: string,
      space: string,
      double: string | undefined,
      single: string | undefined,
      bare: string | undefined,
    ) => {
      const url = decodeHTMLAttribute(double ?? single ?? bare ?? "");
      if (isSafeUrl(url)) return whole;
      removed.push(url);
      return space;
    },
  );
  return { html: out, removed };
}
