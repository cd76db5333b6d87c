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
 * The most characters a field may reach with its partials expanded (liquidjs's parse
 * limit): past it the field is refused before anything is expanded.
 */
const maxExpandedChars = 1_000_000;

/** One `{% include %}` of a text: where it stands and what it puts there. */
interface Include {
  start: number;
  end: number;
  line: number;
  /** The partial's name, or the problem that stops it from being included. */
  name?: string;
  problem?: string;
  /** `{% assign %}` tags for the include's parameters. */
  assigns: string;
}

/** The includes of `source`, each read once. */
function includesOf(
  source: string,
  partials: ReadonlyMap<string, string>,
): Include[] {
  const includes: Include[] = [];
  for (const token of scanLiquid(source).tokens) {
    if (token.kind !== "tag") continue;
    if (token.name !== "include" && token.name !== "render") continue;
    const at = { start: token.start, end: token.end, line: token.line };
    const match = /^(["'])([^"']*)\1\s*(?:,\s*([\s\S]*))?$/.exec(token.args);
    const name = match?.[2];
    if (!match || name === undefined) {
      includes.push({
        ...at,
        assigns: "",
        problem: `{% ${token.name} %} takes a quoted partial name, like {% include "footer" %}`,
      });
      continue;
    }
    if (!partialName.test(name) || partials.get(name) === undefined) {
      includes.push({
        ...at,
        assigns: "",
        problem: `there is no partial named "${name}": partials are saved under /api/template-partials (templates never read files)`,
      });
      continue;
    }
    const assigns = (match[3] ?? "")
      .split(",")
      .map((pair) => /^\s*([A-Za-z_][\w-]*)\s*:\s*([\s\S]+?)\s*$/.exec(pair))
      .filter((pair) => pair !== null)
      .map(([, key, value]) => `{% assign ${key} = ${value} %}`)
      .join("");
    includes.push({ ...at, name, assigns });
  }
  return includes;
}

/**
 * How large a text grows with its partials expanded, worked out from the include graph
 * (each partial read once, sizes remembered per partial and depth) without expanding
 * anything. The count is the text's own characters plus, at every depth a partial may
 * still be included at, those of what it includes, so it is never below the expansion.
 */
class ExpansionSize {
  readonly #includes = new Map<string | undefined, Include[]>();
  readonly #sizes = new Map<string, number>();

  constructor(
    readonly root: string,
    readonly partials: ReadonlyMap<string, string>,
  ) {}

  /** The includes of a partial (`undefined`: of the root text). */
  includes(name: string | undefined): Include[] {
    let found = this.#includes.get(name);
    if (!found) {
      found = includesOf(this.source(name), this.partials);
      this.#includes.set(name, found);
    }
    return found;
  }

  /** The text of a partial (`undefined`: the root text). */
  source(name: string | undefined): string {
    return name === undefined ? this.root : (this.partials.get(name) ?? "");
  }

  /** The expanded size of a partial included at `depth` (the root text is depth 0). */
  size(name: string | undefined, depth: number): number {
    const key = `${name ?? ""}@${depth}`;
    const known = this.#sizes.get(key);
    if (known !== undefined) return known;
    let size = this.source(name).length;
    if (depth < maxDepth)
      for (const include of this.includes(name))
        if (include.name !== undefined)
          size += include.assigns.length + this.size(include.name, depth + 1);
    this.#sizes.set(key, size);
    return size;
  }

  /**
   * The partials most of the size comes from, from the root down, with how often each
   * is included in the one above: `"row" ×10 → "cell" ×10`.
   */
  heaviestChain(): { chain: string; line: number } {
    const steps: string[] = [];
    let line = 1;
    let name: string | undefined;
    for (let depth = 0; depth < maxDepth; depth++) {
      const counts = new Map<string, { count: number; line: number }>();
      for (const include of this.includes(name)) {
        if (include.name === undefined) continue;
        const seen = counts.get(include.name);
        if (seen) seen.count++;
        else counts.set(include.name, { count: 1, line: include.line });
      }
      let best:
        { name: string; count: number; line: number; size: number } | undefined;
      for (const [child, { count, line }] of counts) {
        const size = count * this.size(child, depth + 1);
        if (!best || size > best.size)
          best = { name: child, count, line, size };
      }
      if (!best) break;
      if (depth === 0) line = best.line;
      steps.push(`"${best.name}" ×${best.count}`);
      name = best.name;
    }
    return { chain: steps.join(" → "), line };
  }
}

/**
 * Expands the includes of `text` with `partials`; returns the expanded text, the origin
 * of each of its lines (index 0 is line 1), and problems (unknown partial, a cycle, a
 * field that would grow past `limit` characters, which is then not expanded at all).
 */
export function expandPartials(
  text: string,
  partials: ReadonlyMap<string, string>,
  limit = maxExpandedChars,
): { text: string; origins: LineOrigin[]; problems: IncludeProblem[] } {
  const problems: IncludeProblem[] = [];
  const pieces: { text: string; origin: LineOrigin }[] = [];
  const graph = new ExpansionSize(text, partials);

  const size = graph.size(undefined, 0);
  if (size > limit) {
    const { chain, line } = graph.heaviestChain();
    problems.push({
      line,
      message: `with its partials expanded this would be ${size.toLocaleString("en-US")} characters, more than the ${limit.toLocaleString("en-US")} allowed (${chain}); include fewer copies or make those partials smaller`,
    });
    return {
      text,
      origins: text.split("\n").map((_, i) => ({ line: i + 1 })),
      problems,
    };
  }

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
    for (const include of graph.includes(partial)) {
      const where = partial === undefined ? {} : { partial };
      const name = include.name;
      if (name === undefined) {
        problems.push({
          ...where,
          line: include.line,
          message: include.problem ?? "",
        });
        continue;
      }
      if (chain.includes(name) || chain.length >= maxDepth) {
        problems.push({
          ...where,
          line: include.line,
          message: `partial "${name}" includes itself (${[...chain, name].join(" → ")}) or nests deeper than ${maxDepth}`,
        });
        continue;
      }
      push(include.start);
      if (include.assigns)
        pieces.push({
          text: include.assigns,
          origin: partial === undefined ? { line } : { partial, line },
        });
      expand(graph.source(name), name, [...chain, name]);
      last = include.end;
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
