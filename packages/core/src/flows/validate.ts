import type Type from "typebox";
import Value from "typebox/value";
import type { ErrorDetail } from "../domain-error.ts";
import { isTimeZone } from "../messages/local-time.ts";
import { conditionNeeds } from "./conditions.ts";
import {
  FlowDefinition,
  FlowNode,
  FlowSettings,
  Trigger,
  edges,
  type FlowDefinition as Definition,
} from "./definition.ts";

/**
 * Validation of a flow before it is saved or published, with errors that point at the
 * node: its shape (checked against the schema of its own type, so the message is about
 * that node, not every kind of node), links to nodes that do not exist, unreachable
 * nodes, loops without a wait, random splits that do not add up to 100 %, references to
 * templates, segments, lists and coupon pools that do not exist, and waits for an event of
 * the same cart when the trigger names no cart.
 */

/** What exists in the workspace, for reference checks (a set left out is not checked). */
export interface KnownReferences {
  templates?: ReadonlySet<string>;
  segments?: ReadonlySet<string>;
  lists?: ReadonlySet<string>;
  couponPools?: ReadonlySet<string>;
}

const schemaOfType = new Map<string, Type.TSchema>();
for (const variant of (
  FlowNode as unknown as {
    anyOf: (Type.TSchema & { properties: { type: { const: string } } })[];
  }
).anyOf) {
  schemaOfType.set(variant.properties.type.const, variant);
}
const triggerOfType = new Map<string, Type.TSchema>();
for (const variant of (
  Trigger as unknown as {
    anyOf: (Type.TSchema & {
      properties: { type: { const?: string; anyOf?: { const: string }[] } };
    })[];
  }
).anyOf) {
  const type = variant.properties.type;
  for (const name of type.const
    ? [type.const]
    : (type.anyOf ?? []).map((t) => t.const))
    triggerOfType.set(name, variant);
}

function schemaErrors(
  schema: Type.TSchema,
  value: unknown,
  prefix: string,
): ErrorDetail[] {
  if (Value.Check(schema, value)) return [];
  return Value.Errors(schema, value)
    .filter((e) => e.keyword !== "anyOf")
    .slice(0, 5)
    .map((e) => ({ path: `${prefix}${e.instancePath}`, message: e.message }));
}

/** Every problem of a flow definition; an empty list means it may be saved. */
export function validateFlow(
  raw: unknown,
  known: KnownReferences = {},
): { definition?: Definition; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return { problems: [{ path: "/", message: "a flow is a JSON object" }] };
  const flow = raw as Record<string, unknown>;

  if (typeof flow.name !== "string" || flow.name.trim() === "")
    problems.push({ path: "/name", message: "a flow needs a name" });
  const trigger = flow.trigger as { type?: unknown } | undefined;
  const triggerSchema =
    typeof trigger?.type === "string"
      ? triggerOfType.get(trigger.type)
      : undefined;
  if (!triggerSchema)
    problems.push({
      path: "/trigger/type",
      message: `the trigger type must be one of ${[...triggerOfType.keys()].join(", ")}`,
    });
  else problems.push(...schemaErrors(triggerSchema, trigger, "/trigger"));
  if (flow.settings !== undefined)
    problems.push(...schemaErrors(FlowSettings, flow.settings, "/settings"));

  const nodes = flow.nodes;
  if (
    typeof nodes !== "object" ||
    nodes === null ||
    Array.isArray(nodes) ||
    Object.keys(nodes).length === 0
  ) {
    problems.push({ path: "/nodes", message: "a flow needs nodes" });
    return { problems };
  }
  const entries = Object.entries(nodes as Record<string, unknown>);
  if (entries.length > 200)
    problems.push({
      path: "/nodes",
      message: "a flow may have at most 200 nodes",
    });
  for (const [id, node] of entries) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
      problems.push({
        path: `/nodes/${id}`,
        message: "node ids are 1–64 letters, digits, - or _",
      });
    const type = (node as { type?: unknown } | null)?.type;
    const schema =
      typeof type === "string" ? schemaOfType.get(type) : undefined;
    if (!schema)
      problems.push({
        path: `/nodes/${id}/type`,
        message: `node ${id}: the type must be one of ${[...schemaOfType.keys()].join(", ")}`,
      });
    else
      problems.push(
        ...schemaErrors(schema, node, `/nodes/${id}`).map((p) => ({
          ...p,
          message: `node ${id}: ${p.message}`,
        })),
      );
  }
  if (typeof flow.start !== "string" || !(flow.start in nodes)) {
    problems.push({
      path: "/start",
      message: `start must name a node (got ${JSON.stringify(flow.start)})`,
    });
  }
  if (problems.length > 0 || !Value.Check(FlowDefinition, raw)) {
    if (problems.length === 0)
      problems.push(...schemaErrors(FlowDefinition, raw, ""));
    return { problems };
  }

  const definition = raw;
  const graph = definition.nodes;
  if (
    definition.trigger.type === "schedule" &&
    definition.trigger.timeZone !== undefined &&
    !isTimeZone(definition.trigger.timeZone)
  )
    problems.push({
      path: "/trigger/timeZone",
      message: `${JSON.stringify(definition.trigger.timeZone)} is not an IANA time zone; use one such as Europe/Berlin or America/New_York`,
    });
  for (const [id, node] of Object.entries(graph)) {
    for (const edge of edges(node)) {
      if (!(edge.next in graph))
        problems.push({
          path: `/nodes/${id}`,
          message: `node ${id}: its ${edge.label} leads to ${edge.next}, which is not a node`,
        });
    }
    if (node.type === "random") {
      const total = node.branches.reduce((sum, b) => sum + b.percent, 0);
      if (Math.abs(total - 100) > 0.001)
        problems.push({
          path: `/nodes/${id}/branches`,
          message: `node ${id}: the branches add up to ${total} %, not 100 %`,
        });
    }
    if (
      node.type === "send" &&
      node.whenCapped &&
      (node.transactional || node.channel === "webhook")
    )
      problems.push({
        path: `/nodes/${id}/whenCapped`,
        message: `node ${id}: ${node.transactional ? "transactional messages" : "webhooks"} are not held by the frequency cap; remove whenCapped`,
      });
    if (
      node.type === "wait_for_event" &&
      node.matchCorrelation &&
      !(definition.trigger.type === "event" && definition.trigger.correlation)
    ) {
      problems.push({
        path: `/nodes/${id}/matchCorrelation`,
        message: `node ${id}: waits for the same cart/checkout/order, but the trigger names no correlation property`,
      });
    }
    const missing = (
      kind: string,
      set: ReadonlySet<string> | undefined,
      value: string,
    ) => {
      if (set && !set.has(value))
        problems.push({
          path: `/nodes/${id}`,
          message: `node ${id}: no ${kind} ${value}`,
        });
    };
    if (node.type === "send")
      missing("template", known.templates, node.templateId);
    if (node.type === "list" || (node.type === "send" && node.listId))
      missing(
        "list",
        known.lists,
        node.type === "list" ? node.listId : (node.listId ?? ""),
      );
    if (node.type === "coupon")
      missing("coupon pool", known.couponPools, node.poolId);
    if (node.type === "split") {
      const needs = { segments: new Set<string>(), events: new Set<string>() };
      for (const branch of node.branches) conditionNeeds(branch.when, needs);
      for (const segment of needs.segments)
        missing("segment", known.segments, segment);
    }
  }
  if (problems.length > 0) return { problems };

  // Reachability, and every loop must wait somewhere.
  const reached = new Set<string>();
  const stack = [definition.start];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (reached.has(id)) continue;
    reached.add(id);
    const node = graph[id];
    if (node) stack.push(...edges(node).map((e) => e.next));
  }
  for (const id of Object.keys(graph)) {
    if (!reached.has(id))
      problems.push({
        path: `/nodes/${id}`,
        message: `node ${id} cannot be reached from ${definition.start}`,
      });
  }
  const waits = new Set([
    "wait",
    "wait_until",
    "wait_for_date",
    "wait_replenishment",
    "wait_for_event",
  ]);
  const visiting = new Set<string>();
  const done = new Set<string>();
  const loop = (id: string): string | undefined => {
    const node = graph[id];
    if (!node || done.has(id) || waits.has(node.type)) return undefined;
    if (visiting.has(id)) return id;
    visiting.add(id);
    for (const edge of edges(node)) {
      const found = loop(edge.next);
      if (found) return found;
    }
    visiting.delete(id);
    done.add(id);
    return undefined;
  };
  for (const id of reached) {
    const found = loop(id);
    if (found) {
      problems.push({
        path: `/nodes/${found}`,
        message: `node ${found} is on a loop with no wait: a run would go round it forever`,
      });
      break;
    }
  }
  if (
    definition.trigger.type === "segment_entered" ||
    definition.trigger.type === "segment_exited"
  ) {
    if (known.segments && !known.segments.has(definition.trigger.segmentId)) {
      problems.push({
        path: "/trigger/segmentId",
        message: `no segment ${definition.trigger.segmentId}`,
      });
    }
  }
  if (
    definition.settings?.reentry?.policy === "one_active_per_key" &&
    !(definition.trigger.type === "event" && definition.trigger.correlation)
  ) {
    problems.push({
      path: "/settings/reentry",
      message:
        "one run per key needs an event trigger that names its correlation property",
    });
  }
  return problems.length > 0 ? { problems } : { definition, problems };
}
