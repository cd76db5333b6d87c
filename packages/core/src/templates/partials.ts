import { scanLiquid } from "./liquid-scan.ts";

/**
 * Partials (header, footer, product card) are pieces of template stored by name in the
 * workspace. `{% include "name" %}` or `{% include "name", product: item %}` (`render`
 * is read the same way) is expanded into the text when a version is saved: an email's
 * partials must be MJML-compiled with the rest, and a saved version must not change when
 * a partial is edited later. Nothing is ever read from a file system: a name that is not
 * a partial of the workspace is refused.
 */

/** A partial's name: lower-case words joined by dashes or underscores. */
export const partialNamePattern = "^[a-z0-9][a-z0-9_-]{0,63}$";
const partialName = new RegExp(partialNamePattern);

/** Where an expanded line came from: the text itself, or a line of a partial. */
export interface LineOrigin {
  partial?: string;
  line: number;
}

/** A problem with an include, at a line of the text (or of a partial it includes). */
export interface IncludeProblem extends LineOrigin {
  message: string;
}

const maxDepth = 5;

/**
 * Expands the includes of `text` with `partials`; returns the expanded text, the origin
 * of each of its lines (index 0 is line 1), and problems (unknown partial, a cycle).
 */
export function expandPartials(
  text: string,
  partials: ReadonlyMap<string, string>,
): { text: string; origins: LineOrigin[]; problems: IncludeProblem[] } {
  const problems: IncludeProblem[] = [];
  const pieces: { text: string; origin: LineOrigin }[] = [];

  const expand = (
    source: string,
    partial: string | undefined,
    chain: string[],
  ) => {
    let last = 0;
    let line = 1;
    const push = (to: number) => {
      const piece = source.slice(last, to);
      pieces.push({
        text: piece,
        origin: partial === undefined ? { line } : { partial, line },
      });
      line += piece.split("\n").length - 1;
      last = to;
    };
    for (const token of scanLiquid(source).tokens) {
      if (token.kind !== "tag") continue;
      if (token.name !== "include" && token.name !== "render") continue;
      const where = partial === undefined ? {} : { partial };
      const match = /^(["'])([^"']*)\1\s*(?:,\s*([\s\S]*))?$/.exec(token.args);
      const name = match?.[2];
      if (!match || name === undefined) {
        problems.push({
          ...where,
          line: token.line,
          message: `{% ${token.name} %} takes a quoted partial name, like {% include "footer" %}`,
        });
        continue;
      }
      const body = partials.get(name);
      if (!partialName.test(name) || body === undefined) {
        problems.push({
          ...where,
          line: token.line,
          message: `there is no partial named "${name}": partials are saved under /api/template-partials (templates never read files)`,
        });
        continue;
      }
      if (chain.includes(name) || chain.length >= maxDepth) {
        problems.push({
          ...where,
          line: token.line,
          message: `partial "${name}" includes itself (${[...chain, name].join(" → ")}) or nests deeper than ${maxDepth}`,
        });
        continue;
      }
      push(token.start);
      const assigns = (match[3] ?? "")
        .split(",")
        .map((pair) => /^\s*([A-Za-z_][\w-]*)\s*:\s*([\s\S]+?)\s*$/.exec(pair))
        .filter((pair) => pair !== null)
        .map(([, key, value]) => `{% assign ${key} = ${value} %}`)
        .join("");
      if (assigns)
        pieces.push({
          text: assigns,
          origin: partial === undefined ? { line } : { partial, line },
        });
      expand(body, name, [...chain, name]);
      last = token.end;
    }
    push(source.length);
  };
  expand(text, undefined, []);

  let out = "";
  const origins: LineOrigin[] = [];
  for (const piece of pieces) {
    if (piece.text === "") continue;
    const lines = piece.text.split("\n");
    // A line's origin is that of the piece holding its first character.
    if (out === "" || out.endsWith("\n")) origins.push(piece.origin);
    for (let i = 1; i < lines.length; i++)
      if (lines[i] !== "" || i < lines.length - 1)
        origins.push({ ...piece.origin, line: piece.origin.line + i });
    out += piece.text;
  }
  return { text: out, origins, problems };
}

/** The origin of line `line` (1-based) of an expanded text. */
export function originOf(
  origins: readonly LineOrigin[],
  line: number,
): LineOrigin {
  return origins[line - 1] ?? { line };
}
