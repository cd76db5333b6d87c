import Type from "typebox";
import { DomainError, type ErrorDetail } from "../domain-error.ts";
import { prefixedId } from "../ids.ts";
import type { RfmThresholds } from "../profiles/rfm.ts";
import {
  conditionErrors,
  walkConditions,
  walkWithPaths,
  type SegmentCondition,
} from "./condition.ts";
import { evaluationOrder } from "./dependencies.ts";

/**
 * Segments: a named condition tree and its live members. A new or edited segment is
 * `computing` while its members are computed over all profiles in batches, then `ready`;
 * from its creation on, every processed event, timer and membership change keeps it true
 * for the profiles it touches.
 */

/** computing → ready | failed. */
export const segmentStatuses = ["computing", "ready", "failed"] as const;
export type SegmentStatus = (typeof segmentStatuses)[number];

/** Values frozen when a segment is computed, shared by bulk and incremental evaluation. */
export interface SegmentParams {
  rfm?: RfmThresholds;
}

/** A segment as stored. */
export interface Segment {
  id: string;
  name: string;
  description: string;
  definition: SegmentCondition;
  version: number;
  status: SegmentStatus;
  processed: number;
  total: number;
  error: string | null;
  params: SegmentParams;
  computedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A new segment's id. */
export const newSegmentId = (): string => prefixedId("seg");

/**
 * A definition as a body carries it: any JSON, checked by `conditionErrors` against
 * `SegmentCondition` (so that every problem is named with its exact path).
 */
export const SegmentDefinition = Type.Unknown({
  description:
    "A segment condition tree: {type: and|or|not|trait|attribute|event|event_time|event_without|purchased|coupon|rfm|message|consent|reachable|segment|list|tag|score, ...}. See SegmentCondition in core/segments/condition.ts.",
});

/** The body that creates a segment. */
export const NewSegment = Type.Object({
  // Its length is checked by parseSegmentInput, under the field limit of input-limits.ts.
  name: Type.String({ description: "1 to 200 characters" }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  definition: SegmentDefinition,
});
export type NewSegment = Type.Static<typeof NewSegment>;

/** The body that changes a segment: any of its fields. */
export const SegmentChange = Type.Partial(NewSegment);
export type SegmentChange = Type.Static<typeof SegmentChange>;

/** What a create or update sets, once checked. */
export interface SegmentInput {
  name?: string;
  description?: string;
  definition?: SegmentCondition;
}

/**
 * Checks a create (`partial` false) or update body beyond its schema: a name of 1–200
 * characters that is not only spaces (trimmed), a valid definition. Throws `invalid` with
 * every problem's path.
 */
export function parseSegmentInput(
  body: SegmentChange,
  partial: boolean,
  base = "/body",
): SegmentInput {
  const errors: ErrorDetail[] = [];
  const input: SegmentInput = {};
  if (body.name !== undefined || !partial) {
    const name = body.name?.trim() ?? "";
    if (name === "" || (body.name?.length ?? 0) > 200)
      errors.push({
        path: `${base}/name`,
        message: "must be a non-empty string of at most 200 characters",
      });
    else input.name = name;
  }
  if (body.description !== undefined) input.description = body.description;
  if (body.definition !== undefined || !partial) {
    const problems = conditionErrors(body.definition, `${base}/definition`);
    if (problems.length > 0) errors.push(...problems);
    // conditionErrors found it a valid SegmentCondition.
    else input.definition = body.definition as SegmentCondition;
  }
  const first = errors[0];
  if (first)
    throw new DomainError(
      "invalid",
      `the segment is invalid: ${first.path} ${first.message}`,
      errors,
    );
  return input;
}

/** True when the tree has conditions on RFM groups (which need frozen cut points). */
export function usesRfm(definition: SegmentCondition): boolean {
  for (const node of walkConditions(definition))
    if (node.type === "rfm") return true;
  return false;
}

/** The lists a tree refers to. */
export function referencedLists(definition: SegmentCondition): string[] {
  const ids = new Set<string>();
  for (const node of walkConditions(definition))
    if (node.type === "list") ids.add(node.listId);
  return [...ids];
}

/** What checking a definition's references needs to know. */
export interface SegmentReferences {
  /** Every segment of the workspace: id → definition. */
  segments: ReadonlyMap<string, SegmentCondition>;
  /** The ids among `ids` that are lists of the workspace. */
  lists: (ids: string[]) => Promise<Set<string>>;
}

/**
 * Checks that a definition refers only to existing segments and lists, and that saving
 * it as segment `id` (undefined for a new one) makes no circle of segments. Throws
 * `invalid` naming the path of an unknown reference, or `conflict` naming the circle.
 */
export async function checkReferences(
  refs: SegmentReferences,
  id: string | undefined,
  definition: SegmentCondition,
  base = "/body/definition",
): Promise<void> {
  const errors: ErrorDetail[] = [];
  const listIds = referencedLists(definition);
  const lists = listIds.length > 0 ? await refs.lists(listIds) : new Set();
  for (const [node, path] of walkWithPaths(definition, base)) {
    if (node.type === "segment" && !refs.segments.has(node.segmentId))
      errors.push({
        path: `${path}/segmentId`,
        message: `there is no segment ${node.segmentId}`,
      });
    if (node.type === "list" && !lists.has(node.listId))
      errors.push({
        path: `${path}/listId`,
        message: `there is no list ${node.listId}`,
      });
  }
  const first = errors[0];
  if (first)
    throw new DomainError("invalid", `${first.path}: ${first.message}`, errors);
  const all = new Map(refs.segments);
  all.set(id ?? "(this segment)", definition);
  evaluationOrder(all);
}
