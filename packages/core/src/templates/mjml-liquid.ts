import {
  blockTags,
  branchTags,
  lineAt,
  scanLiquid,
  type LiquidToken,
} from "./liquid-scan.ts";

/**
 * Liquid inside MJML, checked before MJML compiles it. MJML is compiled once, when a
 * version is saved, with the Liquid still inside; Liquid runs later, per recipient, on the
 * HTML. Two things can go wrong, and both are refused here with a line:
 *
 * - a Liquid block that opens inside one MJML element and closes inside another (a
 *   `{% for %}` opened in one `mj-section` and closed in the next): the HTML MJML makes
 *   for the two elements is not nested the same way, so the rendered mail breaks;
 * - Liquid where MJML drops text: between elements (`mj-body` > `{% for %}` >
 *   `mj-section`). Those tokens are kept by wrapping each in `<mj-raw>`, which MJML copies
 *   through as is, so loops around sections and columns work.
 *
 * Inside "ending" elements (`mj-text`, `mj-button`, `mj-raw`, …) content is HTML that
 * MJML copies, so Liquid there needs nothing. Inside an element's opening tag, Liquid may
 * only stand in attribute values.
 */

/** Elements whose content MJML copies as HTML. */
const endingElements = new Set([
  "mj-accordion-title",
  "mj-accordion-text",
  "mj-button",
  "mj-carousel-image",
  "mj-breakpoint",
  "mj-preview",
  "mj-style",
  "mj-title",
  "mj-navbar-link",
  "mj-raw",
  "mj-social-element",
  "mj-table",
  "mj-text",
]);

/** A problem found, with its 1-based line. */
export interface StructureProblem {
  line: number;
  message: string;
}

interface OpenElement {
  name: string;
  line: number;
  id: number;
}

interface OpenBlock {
  token: LiquidToken;
  key: string;
  inside: string;
}

const describe = (stack: readonly OpenElement[]) => {
  const top = stack.at(-1);
  return top ? `<${top.name}> (line ${top.line})` : "the top level";
};
const keyOf = (stack: readonly OpenElement[], extra = "") =>
  stack.map((e) => e.id).join("/") + extra;

/** The end of the opening tag that starts at `start`: the offset after its `>`, or -1. */
function openTagEnd(
  text: string,
  start: number,
  liquidAt: (at: number) => LiquidToken | undefined,
  onLiquid: (token: LiquidToken, quoted: boolean) => void,
): number {
  let quote: string | undefined;
  for (let i = start + 1; i < text.length; i++) {
    const token = liquidAt(i);
    if (token) {
      onLiquid(token, quote !== undefined);
      i = token.end - 1;
      continue;
    }
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ">") return i + 1;
  }
  return -1;
}

/**
 * Checks the Liquid in an MJML document against its element structure, and returns the
 * document with structural Liquid wrapped in `<mj-raw>` (same lines, so MJML's line
 * numbers stay true), or the problems.
 */
export function prepareMjmlLiquid(mjml: string): {
  mjml: string;
  problems: StructureProblem[];
} {
  const { tokens, problems } = scanLiquid(mjml);
  if (problems.length > 0) return { mjml, problems };
  const byStart = new Map(tokens.map((t) => [t.start, t]));
  const liquidAt = (at: number) => byStart.get(at);
  const stack: OpenElement[] = [];
  const blocks: OpenBlock[] = [];
  const wraps: LiquidToken[] = [];
  let rootSeen = false;
  let nextId = 1;

  const onLiquid = (
    token: LiquidToken,
    context: "structure" | "content" | "attribute" | "outside",
    key: string,
    inside: string,
  ) => {
    if (context === "outside") {
      problems.push({
        line: token.line,
        message: `Liquid outside <mjml>…</mjml> is dropped by MJML; move it inside`,
      });
      return;
    }
    if (context === "structure") wraps.push(token);
    if (token.kind !== "tag") return;
    const what = `{% ${token.name} %}`;
    if (blockTags.has(token.name)) {
      blocks.push({ token, key, inside });
      return;
    }
    const isEnd = token.name.startsWith("end");
    if (!isEnd && !branchTags.has(token.name)) return;
    const open = blocks.at(-1);
    if (!open) {
      problems.push({
        line: token.line,
        message: `${what} has no block to ${isEnd ? "close" : "continue"}`,
      });
      return;
    }
    if (isEnd) {
      blocks.pop();
      if (token.name !== `end${open.token.name}`) {
        problems.push({
          line: token.line,
          message: `${what} closes {% ${open.token.name} %} from line ${open.token.line}; expected {% end${open.token.name} %}`,
        });
        return;
      }
    }
    if (open.key !== key) {
      problems.push({
        line: token.line,
        message:
          `{% ${open.token.name} %} opens at line ${open.token.line} inside ${open.inside} but ${what} ` +
          `at line ${token.line} is inside ${inside}: a Liquid block must open and close inside the same ` +
          `MJML element, or the HTML breaks; put whole elements inside the block (for example the ` +
          `whole <mj-section> inside the {% for %})`,
      });
    }
  };

  const elementPattern = /<(\/?)(mjml|mj-[a-z0-9-]+)(?=[\s/>])/g;
  const comment = /<!--[\s\S]*?-->/g;
  let at = 0;
  let tokenIndex = 0;
  const flushLiquidBefore = (limit: number) => {
    while (tokenIndex < tokens.length) {
      const token = tokens[tokenIndex];
      if (!token || token.start >= limit) break;
      tokenIndex++;
      if (token.start < at) continue;
      const top = stack.at(-1);
      const context = !top
        ? "outside"
        : endingElements.has(top.name)
          ? "content"
          : "structure";
      onLiquid(token, context, keyOf(stack), describe(stack));
    }
  };

  for (;;) {
    elementPattern.lastIndex = at;
    let match = elementPattern.exec(mjml);
    // Skip element-looking text inside HTML comments and Liquid tokens.
    while (match) {
      const index = match.index;
      comment.lastIndex = at;
      let inComment: RegExpExecArray | null = null;
      for (
        let c = comment.exec(mjml);
        c && c.index < index;
        c = comment.exec(mjml)
      )
        if (c.index + c[0].length > index) inComment = c;
      const inToken = tokens.find((t) => t.start < index && t.end > index);
      if (!inComment && !inToken) break;
      elementPattern.lastIndex = inComment
        ? inComment.index + inComment[0].length
        : (inToken?.end ?? index + 1);
      match = elementPattern.exec(mjml);
    }
    flushLiquidBefore(match ? match.index : mjml.length);
    if (!match) break;
    const [, slash, name = ""] = match;
    const line = lineAt(mjml, match.index);
    if (name === "mj-include") {
      problems.push({
        line,
        message:
          'mj-include reads files from the server and is not allowed; use {% include "partial-name" %}',
      });
    }
    const tagKey = keyOf(stack, `@${match.index}`);
    const end = openTagEnd(mjml, match.index, liquidAt, (token, quoted) => {
      if (!quoted)
        problems.push({
          line: token.line,
          message: `Liquid inside <${name}> must stand inside an attribute value (attr="{{ … }}"), not between attributes`,
        });
      onLiquid(token, "attribute", tagKey, `the <${name}> tag at line ${line}`);
    });
    if (end === -1) {
      problems.push({
        line,
        message: `<${slash}${name}> is never closed with ">"`,
      });
      break;
    }
    at = end;
    while (tokens[tokenIndex] && (tokens[tokenIndex]?.start ?? 0) < end)
      tokenIndex++;
    if (slash) {
      const top = stack.pop();
      if (!top || top.name !== name) {
        problems.push({
          line,
          message: top
            ? `</${name}> closes <${top.name}> opened at line ${top.line}`
            : `</${name}> closes nothing`,
        });
        break;
      }
      continue;
    }
    if (!stack.length && rootSeen) {
      problems.push({ line, message: `<${name}> after the closing </mjml>` });
      break;
    }
    if (!stack.length && name !== "mjml") {
      problems.push({
        line,
        message: `the document must start with <mjml>, not <${name}>`,
      });
      break;
    }
    rootSeen = true;
    if (mjml[end - 2] === "/") continue;
    const element = { name, line, id: nextId++ };
    stack.push(element);
    if (endingElements.has(name)) {
      const close = mjml.indexOf(`</${name}`, end);
      if (close === -1) {
        problems.push({ line, message: `<${name}> is never closed` });
        break;
      }
      flushLiquidBefore(close);
      at = close;
    }
  }
  for (const open of stack)
    problems.push({
      line: open.line,
      message: `<${open.name}> is never closed`,
    });
  for (const open of blocks)
    problems.push({
      line: open.token.line,
      message: `{% ${open.token.name} %} is never closed with {% end${open.token.name} %}`,
    });
  if (!rootSeen)
    problems.push({ line: 1, message: "no <mjml> document found" });
  if (problems.length > 0) return { mjml, problems };

  let out = "";
  let last = 0;
  for (const token of wraps) {
    out += `${mjml.slice(last, token.start)}<mj-raw>${mjml.slice(token.start, token.end)}</mj-raw>`;
    last = token.end;
  }
  return { mjml: out + mjml.slice(last), problems: [] };
}

/** The Liquid tokens of a text as comparable strings, in order (to prove MJML kept them all). */
export function liquidFingerprint(text: string): string[] {
  return scanLiquid(text).tokens.map((t) =>
    t.kind === "tag" ? `{%${t.name} ${t.args}%}` : `{{${t.args}}}`,
  );
}
