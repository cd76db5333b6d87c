import type { MessageChannel } from "../messages/content.ts";
import {
  evaluateCondition,
  passesFilters,
  readPath,
  textOf,
  type ConditionFacts,
  type FlowEvent,
} from "./conditions.ts";
import {
  durationMs,
  type FlowDefinition,
  type EventMatch,
} from "./definition.ts";
import { dateValue, nextLocalTime, replenishmentDate } from "./schedule.ts";

/**
 * The flow state machine: `advance(definition, run, input, facts, now)` returns the run's
 * next state, the effects to persist with it, and the steps it took. Pure; the flow
 * worker persists all three in one transaction.
 *
 * Run states:
 *   active    — ready to continue at `nodeId` now (fresh, or after an effect that yields data)
 *   waiting   — at a wait node until `wakeAt`, or until a matching event (`waitingFor`)
 *   completed — reached an exit node
 *   exited    — ended early: goal reached, an exit event, or the flow's end by an operator
 *
 * Each effect carries a key `run:node:visit`, so persisting a step twice (a retry after a
 * crash) never produces an effect twice.
 */

/** What a run carries along. */
export interface RunContext {
  /** The event that started the run (name and properties), if an event did. */
  trigger: {
    name: string;
    properties: Record<string, unknown>;
    timestamp: string;
  } | null;
  /** Coupon codes issued by coupon nodes, by pool. */
  coupons: Record<string, string>;
  /** Extra data given when the run was started (API trigger, catalog change). */
  data: Record<string, unknown>;
}

/** A run's state. */
export interface Run {
  id: string;
  flowId: string;
  version: number;
  profileId: string;
  status: "active" | "waiting" | "completed" | "exited";
  nodeId: string;
  wakeAt: Date | null;
  /** Set while waiting at a wait_for_event node. */
  waitingFor: { event: string } | null;
  /** The trigger event's correlation value (cart id, checkout id, order id). */
  correlation: string | null;
  context: RunContext;
  visits: Record<string, number>;
  enteredAt: Date;
  exitReason: string | null;
}

/** Why the worker advances a run. */
export type RunInput =
  { kind: "start" } | { kind: "wake" } | { kind: "event"; event: FlowEvent };

/** What the state machine may look at besides the run. */
export interface RunFacts extends ConditionFacts {
  /** The time zone for local-time waits: the shopper's, else the store's. */
  timeZone: string;
  /** Days of use per unit of the trigger's products, by product id. */
  daysOfUse: ReadonlyMap<string, number>;
  /** The shopper's own average days between orders, if known. */
  shopperIntervalDays: number | null;
}

/** Something a step does outside the run. */
export type Effect =
  | {
      kind: "send";
      key: string;
      nodeId: string;
      channel: MessageChannel;
      templateId: string;
      transactional: boolean;
      listId: string | null;
      /** Skipped, not held, when over the frequency cap. */
      skipWhenCapped: boolean;
    }
  | {
      kind: "update_profile";
      key: string;
      nodeId: string;
      traits: Record<string, unknown>;
    }
  | {
      kind: "tag";
      key: string;
      nodeId: string;
      action: "add" | "remove";
      tag: string;
    }
  | { kind: "score"; key: string; nodeId: string; name: string; points: number }
  | {
      kind: "list";
      key: string;
      nodeId: string;
      listId: string;
      action: "subscribe" | "unsubscribe";
    }
  | { kind: "webhook"; key: string; nodeId: string; url: string; body: unknown }
  | {
      kind: "notify";
      key: string;
      nodeId: string;
      to: string;
      subject: string;
      text: string;
    }
  | { kind: "coupon"; key: string; nodeId: string; poolId: string };

/** One node passed, for per-node and per-branch counts. */
export interface Step {
  nodeId: string;
  visit: number;
  /** The branch taken at splits, `event` / `timeout` at event waits. */
  branch: string | null;
}

/** The outcome of advancing a run. */
export interface Advance {
  run: Run;
  effects: Effect[];
  steps: Step[];
}

const maxStepsPerAdvance = 200;

/** A number in [0, 1) fixed by the text, for random splits a retry repeats exactly. */
export function stableRandom(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++)
    hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 15), 2246822507) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 13), 3266489909) >>> 0;
  return ((hash ^ (hash >>> 16)) >>> 0) / 4294967296;
}

/** True when `event` is what a wait, goal or exit is waiting for. */
export function eventMatches(
  match: EventMatch,
  event: FlowEvent,
  run: Pick<Run, "correlation">,
  correlationProperty: string | undefined,
): boolean {
  if (event.name !== match.event) return false;
  if (!passesFilters(event.properties, match.filters)) return false;
  if (match.matchCorrelation && correlationProperty) {
    // An event that names no cart (an order from a source without cart ids) still counts:
    // it is the same shopper's; one that names another cart does not.
    const value = textOf(readPath(event.properties, correlationProperty));
    if (value === undefined) return true;
    return run.correlation === null || value === run.correlation;
  }
  return true;
}

/** Advances `run`; see the module comment. */
export function advance(
  definition: FlowDefinition,
  run: Run,
  input: RunInput,
  facts: RunFacts,
  now: Date,
): Advance {
  const next: Run = {
    ...run,
    visits: { ...run.visits },
    context: { ...run.context, coupons: { ...run.context.coupons } },
  };
  const effects: Effect[] = [];
  const steps: Step[] = [];
  const correlationProperty =
    definition.trigger.type === "event"
      ? definition.trigger.correlation
      : undefined;
  const unchanged = (): Advance => ({ run, effects: [], steps: [] });

  let current: string;
  if (input.kind === "start") {
    current = definition.start;
  } else if (run.status === "waiting") {
    const node = definition.nodes[run.nodeId];
    if (!node) return unchanged();
    if (input.kind === "event") {
      if (
        node.type !== "wait_for_event" ||
        !eventMatches(node, input.event, run, correlationProperty)
      )
        return unchanged();
      steps.push({
        nodeId: run.nodeId,
        visit: run.visits[run.nodeId] ?? 1,
        branch: "event",
      });
      // What the awaited event said, for the next splits (`run.data.last_event.rating`).
      next.context = {
        ...next.context,
        data: { ...next.context.data, last_event: input.event.properties },
      };
      current = node.next;
    } else {
      if (!run.wakeAt || run.wakeAt.getTime() > now.getTime())
        return unchanged();
      if (node.type === "wait_for_event") {
        steps.push({
          nodeId: run.nodeId,
          visit: run.visits[run.nodeId] ?? 1,
          branch: "timeout",
        });
        current = node.timeoutNext;
      } else if ("next" in node) {
        steps.push({
          nodeId: run.nodeId,
          visit: run.visits[run.nodeId] ?? 1,
          branch: null,
        });
        current = node.next;
      } else return unchanged();
    }
  } else if (run.status === "active" && input.kind === "wake") {
    current = run.nodeId;
  } else {
    return unchanged();
  }

  next.status = "active";
  next.wakeAt = null;
  next.waitingFor = null;
  const roots = {
    ...facts.roots,
    run: {
      ...facts.roots.run,
      coupons: next.context.coupons,
      data: next.context.data,
    },
  };

  for (let count = 0; count < maxStepsPerAdvance; count++) {
    const node = definition.nodes[current];
    if (!node) {
      next.status = "exited";
      next.exitReason = `the flow has no node ${current}`;
      return { run: next, effects, steps };
    }
    const visit = (next.visits[current] ?? 0) + 1;
    next.visits[current] = visit;
    next.nodeId = current;
    const key = `${run.id}:${current}:${visit}`;
    const pass = (branch: string | null, to: string) => {
      steps.push({ nodeId: current, visit, branch });
      current = to;
    };
    const waitUntil = (at: Date) => {
      if (at.getTime() <= now.getTime()) return false;
      next.status = "waiting";
      next.wakeAt = at;
      return true;
    };

    switch (node.type) {
      case "wait":
        if (waitUntil(new Date(now.getTime() + durationMs(node.duration))))
          return { run: next, effects, steps };
        pass(null, node.next);
        break;
      case "wait_until":
        if (
          waitUntil(
            nextLocalTime(now, node.time, facts.timeZone, node.weekdays),
          )
        )
          return { run: next, effects, steps };
        pass(null, node.next);
        break;
      case "wait_for_date": {
        const [root, ...path] = node.property.split(".");
        const base =
          root === "event" || root === "profile" || root === "run"
            ? roots[root]
            : undefined;
        const date = dateValue(readPath(base, path.join(".")), facts.timeZone);
        const at = date
          ? new Date(date.getTime() + (node.offsetDays ?? 0) * 86_400_000)
          : now;
        if (waitUntil(at)) return { run: next, effects, steps };
        pass(date ? null : "no date", node.next);
        break;
      }
      case "wait_replenishment": {
        const products = readPath(next.context.trigger?.properties, "products");
        const lines = (
          Array.isArray(products)
            ? products
            : [next.context.trigger?.properties ?? {}]
        ).map((item) => {
          const line = (item ?? {}) as Record<string, unknown>;
          const productId = textOf(line.product_id);
          const quantity = Number(line.quantity ?? 1);
          return {
            quantity: Number.isFinite(quantity) ? quantity : 1,
            daysOfUsePerUnit: productId
              ? (facts.daysOfUse.get(productId) ?? null)
              : null,
          };
        });
        const orderedAt = next.context.trigger
          ? new Date(next.context.trigger.timestamp)
          : run.enteredAt;
        const at = replenishmentDate(orderedAt, lines, {
          shippingDays: node.shippingDays,
          leadDays: node.leadDays ?? 0,
          shopperIntervalDays: facts.shopperIntervalDays,
          fallbackDays: node.fallbackDays,
        });
        if (waitUntil(at)) return { run: next, effects, steps };
        pass(null, node.next);
        break;
      }
      case "wait_for_event":
        next.status = "waiting";
        next.wakeAt = new Date(now.getTime() + durationMs(node.timeout));
        next.waitingFor = { event: node.event };
        return { run: next, effects, steps };
      case "split": {
        const factsNow = { ...facts, roots };
        const index = node.branches.findIndex((branch) =>
          evaluateCondition(branch.when, factsNow),
        );
        const branch = node.branches[index];
        if (branch) pass(branch.label ?? `branch ${index + 1}`, branch.next);
        else pass("otherwise", node.otherwise);
        break;
      }
      case "random": {
        const roll = stableRandom(key) * 100;
        let sum = 0;
        const chosen =
          node.branches.find((b) => (sum += b.percent) > roll) ??
          node.branches.at(-1);
        if (chosen) pass(chosen.label, chosen.next);
        break;
      }
      case "send":
        effects.push({
          kind: "send",
          key,
          nodeId: current,
          channel: node.channel,
          templateId: node.templateId,
          transactional: node.transactional ?? false,
          listId: node.listId ?? null,
          skipWhenCapped: node.whenCapped === "skip",
        });
        pass(null, node.next);
        break;
      case "update_profile":
        effects.push({
          kind: "update_profile",
          key,
          nodeId: current,
          traits: node.traits,
        });
        pass(null, node.next);
        break;
      case "tag":
        effects.push({
          kind: "tag",
          key,
          nodeId: current,
          action: node.action,
          tag: node.tag,
        });
        pass(null, node.next);
        break;
      case "score":
        effects.push({
          kind: "score",
          key,
          nodeId: current,
          name: node.name,
          points: node.points,
        });
        pass(null, node.next);
        break;
      case "list":
        effects.push({
          kind: "list",
          key,
          nodeId: current,
          listId: node.listId,
          action: node.action,
        });
        pass(null, node.next);
        break;
      case "webhook":
        effects.push({
          kind: "webhook",
          key,
          nodeId: current,
          url: node.url,
          body: node.body ?? null,
        });
        pass(null, node.next);
        break;
      case "notify":
        effects.push({
          kind: "notify",
          key,
          nodeId: current,
          to: node.to,
          subject: node.subject,
          text: node.text,
        });
        pass(null, node.next);
        break;
      case "coupon":
        // The code comes from the database: stop here, the worker issues it and continues.
        effects.push({
          kind: "coupon",
          key,
          nodeId: current,
          poolId: node.poolId,
        });
        pass(null, node.next);
        next.nodeId = current;
        return { run: next, effects, steps };
      case "exit":
        steps.push({ nodeId: current, visit, branch: null });
        next.status = "completed";
        return { run: next, effects, steps };
    }
  }
  next.status = "exited";
  next.exitReason = `stopped after ${maxStepsPerAdvance} steps without waiting`;
  return { run: next, effects, steps };
}
