import Type from "typebox";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { prefixedId } from "../ids.ts";
import {
  filterErrors,
  PropertyFilters,
  type PropertyFilter,
} from "../segments/condition.ts";

/**
 * Tags: free-form labels on profiles ("vip", "wholesale", "newsletter-2026"), added and
 * removed through the API, by flows and by tag rules that react to events. Segments can
 * test them (`{"type": "tag", "tag": "vip"}`).
 */

/** A tag rule: when an event named `event` matching `where` is processed, add or remove `tag`. */
export interface TagRule {
  id: string;
  event: string;
  where: PropertyFilter[];
  action: "add" | "remove";
  tag: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A new tag rule's id. */
export const newTagRuleId = (): string => prefixedId("tagr");

/** The problem with a tag, if any: 1–100 characters, trimmed, no control characters. */
function tagProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  const tag = value.trim();
  if (tag === "" || tag.length > 100)
    return "must be 1 to 100 characters (not only spaces)";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(tag))
    return "must not contain control characters";
  return undefined;
}

/** A tag as stored (trimmed); throws `invalid` naming `path` when it is not one. */
export function normalizeTag(value: unknown, path = "/body/tag"): string {
  const problem = tagProblem(value);
  if (problem)
    throw new DomainError("invalid", `the tag ${problem}`, [
      { path, message: problem },
    ]);
  return (value as string).trim();
}

/** The body that creates a tag rule. */
export const NewTagRule = Type.Object({
  event: Type.String({
    maxLength: 200,
    description: "the name of the events the rule reacts to",
  }),
  where: Type.Optional(PropertyFilters),
  action: Type.Union([Type.Literal("add"), Type.Literal("remove")]),
  tag: Type.String({
    description: "1 to 100 characters (trimmed), no control characters",
  }),
});
export type NewTagRule = Type.Static<typeof NewTagRule>;

/**
 * Checks a tag rule body beyond its schema: an event name and a tag that are not only
 * spaces, valid filters, no unknown field; throws `invalid` with every problem's path.
 */
export function parseTagRule(
  body: NewTagRule,
  base = "/body",
): Pick<TagRule, "event" | "where" | "action" | "tag"> {
  const errors: ErrorDetail[] = [];
  const event = body.event.trim();
  if (event === "")
    errors.push({
      path: `${base}/event`,
      message: "must be an event name of 1 to 200 characters",
    });
  const problem = tagProblem(body.tag);
  if (problem) errors.push({ path: `${base}/tag`, message: problem });
  errors.push(...filterErrors(body.where, base));
  for (const key of Object.keys(body))
    if (!["event", "where", "action", "tag"].includes(key))
      errors.push({
        path: `${base}/${key}`,
        message: "is not a field of a tag rule (event, where, action, tag)",
      });
  const first = errors[0];
  if (first)
    throw new DomainError(
      "invalid",
      `the tag rule is invalid: ${first.path} ${first.message}`,
      errors,
    );
  return {
    event,
    // filterErrors found each filter valid.
    where: (body.where as PropertyFilter[] | undefined) ?? [],
    action: body.action,
    tag: body.tag.trim(),
  };
}
