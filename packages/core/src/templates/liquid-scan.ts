/**
 * A light scanner for the Liquid in a text: where each `{{ output }}` and `{% tag %}` is,
 * with its tag name and line. It knows just enough Liquid to check structure before the
 * real parser runs: raw and comment blocks are skipped, whitespace-control dashes
 * stripped. Parsing proper is liquidjs's job.
 */

/** One Liquid token found in a text. */
export interface LiquidToken {
  kind: "output" | "tag";
  /** The tag's name (`for`, `endif`, …); empty for outputs. */
  name: string;
  /** The tag's arguments or the output's expression, trimmed. */
  args: string;
  /** Offsets of the whole token, `{%` to `%}` inclusive/exclusive. */
  start: number;
  end: number;
  /** 1-based line of the token's start. */
  line: number;
}

/** Block tags: each opens a block that an `end…` tag closes. */
export const blockTags = new Set([
  "if",
  "unless",
  "for",
  "case",
  "capture",
  "tablerow",
]);
/** Tags that start another branch of the block they are in. */
export const branchTags = new Set(["elsif", "else", "when"]);

/** The line (1-based) of offset `at` in `text`. */
export function lineAt(text: string, at: number): number {
  let line = 1;
  for (
    let i = text.indexOf("\n");
    i !== -1 && i < at;
    i = text.indexOf("\n", i + 1)
  )
    line++;
  return line;
}

/** A scanning problem (an unterminated token). */
export interface ScanProblem {
  line: number;
  message: string;
}

/** The Liquid tokens of `text` in order, and problems that stop the scan. */
export function scanLiquid(text: string): {
  tokens: LiquidToken[];
  problems: ScanProblem[];
} {
  const tokens: LiquidToken[] = [];
  const problems: ScanProblem[] = [];
  let line = 1;
  let lineCounted = 0;
  const lineOf = (at: number) => {
    for (let i = lineCounted; i < at; i++)
      if (text.charCodeAt(i) === 10) line++;
    lineCounted = Math.max(lineCounted, at);
    return line;
  };
  let at = 0;
  let skipUntil: string | undefined;
  while (at < text.length) {
    const open = text.indexOf("{", at);
    if (open === -1 || open + 1 >= text.length) break;
    const next = text[open + 1];
    if (next !== "{" && next !== "%") {
      at = open + 1;
      continue;
    }
    const close = next === "{" ? "}}" : "%}";
    const end = text.indexOf(close, open + 2);
    if (end === -1) {
      problems.push({
        line: lineOf(open),
        message: `"${next === "{" ? "{{" : "{%"}" is never closed with "${close}"`,
      });
      break;
    }
    const inner = text
      .slice(open + 2, end)
      .replace(/^-/, "")
      .replace(/-$/, "")
      .trim();
    const tokenLine = lineOf(open);
    at = end + 2;
    if (next === "{") {
      if (!skipUntil)
        tokens.push({
          kind: "output",
          name: "",
          args: inner,
          start: open,
          end: at,
          line: tokenLine,
        });
      continue;
    }
    const match = /^(#|[A-Za-z_][\w-]*)\s*([\s\S]*)$/.exec(inner);
    const name = match?.[1] ?? "";
    if (skipUntil) {
      if (name === skipUntil) skipUntil = undefined;
      continue;
    }
    if (name === "#") continue;
    if (name === "raw" || name === "comment") {
      skipUntil = `end${name}`;
      continue;
    }
    tokens.push({
      kind: "tag",
      name,
      args: (match?.[2] ?? "").trim(),
      start: open,
      end: at,
      line: tokenLine,
    });
  }
  return { tokens, problems };
}
