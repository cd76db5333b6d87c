import { convert, type HtmlToTextOptions } from "html-to-text";
import {
  liquidFingerprint,
  prepareMjmlLiquid,
} from "@herald/core/templates/mjml-liquid";
import {
  expandPartials,
  originOf,
  type LineOrigin,
} from "@herald/core/templates/partials";
import {
  refuseTemplate,
  type CompiledContent,
  type SourceProblem,
  type TemplateContent,
} from "@herald/core/templates/template";
import { engines, renderLimits, type EscapeMode } from "./liquid.ts";

/**
 * Compiling a template version, once, when it is saved: partials expanded, Liquid parsed
 * (and refused with its line if it does not), and for email the MJML checked against the
 * Liquid inside it, compiled to HTML with the Liquid still in place, and the plain-text
 * part derived from that HTML (also with its Liquid), so that sending only renders Liquid.
 * A problem anywhere refuses the version with the field, the line and the reason.
 */

/**
 * MJML (with juice and its HTML parsers) takes about half a second to load; only saving a
 * template needs it, so it loads on first use rather than on every start.
 */
const loadMjml = () => import("mjml");
let mjml: ReturnType<typeof loadMjml> | undefined;

/** How the plain-text part is made from HTML: links kept as `text [url]`, no images, no shouting. */
export const plainTextOptions: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    { selector: "img", format: "skip" },
    // MJML's preheader: a hidden div at the top of the body.
    { selector: 'div[style*="display:none"]', format: "skip" },
    ...["h1", "h2", "h3", "h4", "h5", "h6"].map((selector) => ({
      selector,
      options: { uppercase: false },
    })),
    { selector: "table", format: "block" },
    { selector: "th", format: "block" },
    { selector: "a", options: { hideLinkHrefIfSameAsText: true } },
  ],
};

/** The plain text of an HTML message. */
export function htmlToText(html: string): string {
  return tidyText(convert(html, plainTextOptions));
}

/** Collapses the blank lines that Liquid tags and layout tables leave in text. */
export function tidyText(text: string): string {
  return text
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

const positionSuffix = /,?\s*line:(\d+),\s*col:(\d+)\s*$/;

/** The line and message of a liquidjs error. */
function liquidError(error: unknown): { line?: number; message: string } {
  const text = error instanceof Error ? error.message : String(error);
  const match = positionSuffix.exec(text);
  const message = text.replace(positionSuffix, "").split("\n")[0] ?? text;
  return match?.[1] ? { line: Number(match[1]), message } : { message };
}

class Problems {
  readonly list: SourceProblem[] = [];

  add(
    field: string,
    origins: LineOrigin[],
    line: number | undefined,
    message: string,
  ) {
    const origin = line === undefined ? undefined : originOf(origins, line);
    const problem: SourceProblem = { field, message };
    if (origin) problem.line = origin.line;
    if (origin?.partial) problem.partial = origin.partial;
    this.list.push(problem);
  }
}

/** One field with its partials expanded and its Liquid parsed. */
function liquidField(
  problems: Problems,
  partials: ReadonlyMap<string, string>,
  { field, source, mode }: { field: string; source: string; mode: EscapeMode },
): { text: string; origins: LineOrigin[] } {
  const expanded = expandPartials(source, partials);
  for (const problem of expanded.problems)
    problems.list.push({ field, ...problem });
  if (expanded.problems.length > 0) return expanded;
  try {
    engines[mode].parse(expanded.text);
  } catch (error) {
    const { line, message } = liquidError(error);
    problems.add(field, expanded.origins, line, `Liquid: ${message}`);
  }
  return expanded;
}

/** Adds `<mj-preview>` for the preheader when the MJML has none (on the `<mjml>` line). */
function withPreview(mjml: string, preheader: string | undefined): string {
  if (!preheader || mjml.includes("<mj-preview")) return mjml;
  const preview = `<mj-preview>${preheader.replace(/\s*\n\s*/g, " ")}</mj-preview>`;
  if (/<mj-head(\s[^>]*)?>/.test(mjml))
    return mjml.replace(/<mj-head(\s[^>]*)?>/, (head) => head + preview);
  return mjml.replace(
    /<mjml(\s[^>]*)?>/,
    (root) => `${root}<mj-head>${preview}</mj-head>`,
  );
}

async function compileEmail(
  problems: Problems,
  content: Extract<TemplateContent, { channel: "email" }>["content"],
  partials: ReadonlyMap<string, string>,
): Promise<CompiledContent> {
  const subject = liquidField(problems, partials, {
    field: "subject",
    source: content.subject,
    mode: "text",
  });
  const preheader =
    content.preheader === undefined
      ? undefined
      : liquidField(problems, partials, {
          field: "preheader",
          source: content.preheader,
          mode: "text",
        });
  const written =
    content.text === undefined
      ? undefined
      : liquidField(problems, partials, {
          field: "text",
          source: content.text,
          mode: "text",
        });

  const expanded = expandPartials(content.mjml, partials);
  for (const problem of expanded.problems)
    problems.list.push({ field: "mjml", ...problem });
  let html = "";
  if (expanded.problems.length === 0) {
    const prepared = prepareMjmlLiquid(
      withPreview(expanded.text, preheader?.text),
    );
    for (const problem of prepared.problems)
      problems.add("mjml", expanded.origins, problem.line, problem.message);
    if (prepared.problems.length === 0) {
      try {
        engines.html.parse(prepared.mjml);
      } catch (error) {
        const { line, message } = liquidError(error);
        problems.add("mjml", expanded.origins, line, `Liquid: ${message}`);
      }
      const mjml2html = (await (mjml ??= loadMjml())).default;
      const result = await mjml2html(prepared.mjml, {
        validationLevel: "soft",
        ignoreIncludes: true,
      });
      for (const error of result.errors)
        problems.add(
          "mjml",
          expanded.origins,
          error.line,
          `MJML: ${error.message}`,
        );
      html = result.html;
      if (html.length > renderLimits.parseChars)
        problems.add(
          "mjml",
          expanded.origins,
          undefined,
          `the body compiles to ${html.length.toLocaleString("en-US")} characters of HTML, more than the ${renderLimits.parseChars.toLocaleString("en-US")} a message may have (inboxes clip messages past about 100 KB); make it shorter`,
        );
      else if (result.errors.length === 0) {
        const before = liquidFingerprint(prepared.mjml).sort();
        const after = liquidFingerprint(html).sort();
        const lost = before.filter((token, i) => after[i] !== token);
        if (before.length !== after.length || lost.length > 0)
          problems.add(
            "mjml",
            expanded.origins,
            undefined,
            `MJML did not keep the Liquid ${lost[0] ?? ""} where it stands; move it inside an element such as <mj-text> or <mj-raw>`,
          );
      }
    }
  }
  if (problems.list.length > 0) refuseTemplate(problems.list);

  let text: string | null = written?.text ?? null;
  let textSource: "written" | "generated" | "per-render" = "written";
  if (text === null) {
    textSource = "generated";
    text = tidyText(convert(html, plainTextOptions));
    try {
      engines.text.parse(text);
    } catch {
      // The HTML's Liquid did not survive as text (a block split by skipped markup).
      text = null;
      textSource = "per-render";
    }
  }
  return {
    channel: "email",
    subject: subject.text,
    ...(preheader ? { preheader: preheader.text } : {}),
    html,
    text,
    textSource,
    ...(content.fromName ? { fromName: content.fromName } : {}),
    ...(content.fromEmail ? { fromEmail: content.fromEmail } : {}),
    ...(content.replyTo ? { replyTo: content.replyTo } : {}),
  };
}

/**
 * Compiles a version's content with the workspace's partials; throws an `invalid`
 * DomainError listing every problem (field, line, partial, reason).
 */
export async function compileContent(
  template: TemplateContent,
  partials: ReadonlyMap<string, string>,
): Promise<CompiledContent> {
  const problems = new Problems();
  const field = (name: string, source: string, mode: EscapeMode) =>
    liquidField(problems, partials, { field: name, source, mode }).text;
  let compiled: CompiledContent;
  switch (template.channel) {
    case "email":
      return compileEmail(problems, template.content, partials);
    case "sms":
      compiled = {
        channel: "sms",
        text: field("text", template.content.text, "text"),
      };
      break;
    case "push": {
      const { title, body, icon, url } = template.content;
      compiled = {
        channel: "push",
        title: field("title", title, "text"),
        body: field("body", body, "text"),
        ...(icon ? { icon: field("icon", icon, "text") } : {}),
        ...(url ? { url: field("url", url, "text") } : {}),
      };
      break;
    }
    case "telegram": {
      const { text, buttons } = template.content;
      compiled = {
        channel: "telegram",
        text: field("text", text, "html"),
        ...(buttons
          ? {
              buttons: buttons.map((button, i) => ({
                text: field(`buttons/${i}/text`, button.text, "text"),
                url: field(`buttons/${i}/url`, button.url, "text"),
              })),
            }
          : {}),
      };
      break;
    }
    case "webhook":
      compiled = {
        channel: "webhook",
        body: field("body", template.content.body, "json"),
      };
      break;
  }
  if (problems.list.length > 0) refuseTemplate(problems.list);
  return compiled;
}
