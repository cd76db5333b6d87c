/**
 * The one sanitizer every statement's parameters pass through: PostgreSQL's text and
 * jsonb cannot hold a NUL or a lone UTF-16 surrogate, so a write holding one (a store
 * webhook, a provider's bounce report) would fail with a 500 and be retried forever.
 * They become U+FFFD, as characters and as the `\u0000` / `\udXXX` escapes that
 * JSON.stringify writes for them in JSON parameters. The admin API refuses them before
 * this (a 400 naming the field), so there this changes nothing.
 */

// A surrogate character, or a \u escape after any backslashes (NUL is looked for apart).
const suspect = /[\ud800-\udfff]|\\u[0dD]/;
const loneSurrogate =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const escape = /(\\+)u([0-9a-fA-F]{4})/g;

const isHigh = (hex: string) => /^d[89ab]/i.test(hex);
const isLow = (hex: string) => /^d[c-f]/i.test(hex);

/** JSON text with the escapes of NUL and of lone surrogates replaced by U+FFFD's. */
function storableEscapes(json: string): string {
  let pairedUntil = -1;
  return json.replace(
    escape,
    (match: string, slashes: string, hex: string, offset: number) => {
      // An even run of backslashes is escaped backslashes, not an escape.
      if (slashes.length % 2 === 0) return match;
      const end = offset + match.length;
      if (hex === "0000") return `${slashes}ufffd`;
      if (isHigh(hex)) {
        const next = /^\\u([0-9a-fA-F]{4})/.exec(json.slice(end, end + 6));
        if (next?.[1] && isLow(next[1])) {
          pairedUntil = end + 6;
          return match;
        }
        return `${slashes}ufffd`;
      }
      if (isLow(hex) && end !== pairedUntil) return `${slashes}ufffd`;
      return match;
    },
  );
}

function storableText(value: string): string {
  const nul = value.includes("\u0000");
  if (!nul && !suspect.test(value)) return value;
  const text = (nul ? value.replaceAll("\u0000", "\ufffd") : value).replace(
    loneSurrogate,
    "\ufffd",
  );
  return /^\s*[[{"]/.test(text) ? storableEscapes(text) : text;
}

/** Statement parameters as PostgreSQL can store them (strings and arrays of strings). */
export function storableParams(params: readonly unknown[]): unknown[] {
  return params.map((p) =>
    typeof p === "string"
      ? storableText(p)
      : Array.isArray(p)
        ? p.map((v: unknown) => (typeof v === "string" ? storableText(v) : v))
        : p,
  );
}
