import {
  passesFilters,
  readPath,
  textOf,
  type FlowEvent,
} from "./conditions.ts";
import type { FlowDefinition, Reentry, Trigger } from "./definition.ts";
import { eventMatches, type Run } from "./advance.ts";
import { asNumber } from "../events/ecommerce.ts";

/**
 * Who enters a flow and when a run ends early: trigger matching for event-driven triggers
 * (events, segment changes, forms), the re-entry policy, and a run's reaction to an event
 * (its goal, or an exit condition).
 */

/** Herald's own event names that segment and form triggers listen for. */
export const segmentEnteredEvent = "Segment Entered";
export const segmentExitedEvent = "Segment Exited";
export const formSubmittedEvent = "Form Submitted";

/** True when `event` starts a run of a flow with `trigger`. */
export function triggerMatches(trigger: Trigger, event: FlowEvent): boolean {
  switch (trigger.type) {
    case "event":
      return (
        event.name === trigger.event &&
        passesFilters(event.properties, trigger.filters)
      );
    case "segment_entered":
    case "segment_exited":
      return (
        event.name ===
          (trigger.type === "segment_entered"
            ? segmentEnteredEvent
            : segmentExitedEvent) &&
        String(event.properties.segment_id) === trigger.segmentId
      );
    case "form":
      return (
        event.name === formSubmittedEvent &&
        String(event.properties.form_id) === trigger.formId
      );
    default:
      return false;
  }
}

/** The correlation value a trigger event gives its run (the cart id of a Product Added). */
export function correlationOf(
  trigger: Trigger,
  properties: Record<string, unknown>,
): string | null {
  if (trigger.type !== "event" || !trigger.correlation) return null;
  return textOf(readPath(properties, trigger.correlation)) ?? null;
}

/** What is known of a shopper's earlier runs of a flow. */
export interface EntryHistory {
  lastEnteredAt: Date | null;
  /** A run is active or waiting for this shopper (and, for per-key flows, this key). */
  activeRun: boolean;
}

/** True when the re-entry policy lets the shopper in now (default: once ever). */
export function mayEnter(
  reentry: Reentry | undefined,
  history: EntryHistory,
  now: Date,
): boolean {
  const policy = reentry ?? { policy: "once" };
  switch (policy.policy) {
    case "once":
      return history.lastEnteredAt === null;
    case "every_time":
      return true;
    case "once_per":
      return (
        history.lastEnteredAt === null ||
        now.getTime() - history.lastEnteredAt.getTime() >=
          policy.days * 86_400_000
      );
    case "one_active_per_key":
      return !history.activeRun;
  }
}

/** How a live run reacts to its shopper's event: its goal ends it as a conversion, an exit event ends it. */
export function reactionTo(
  definition: FlowDefinition,
  run: Run,
  event: FlowEvent,
): "goal" | "exit" | null {
  const correlation =
    definition.trigger.type === "event"
      ? definition.trigger.correlation
      : undefined;
  const settings = definition.settings;
  if (settings?.goal && eventMatches(settings.goal, event, run, correlation))
    return "goal";
  if (
    settings?.exitWhen?.some((match) =>
      eventMatches(match, event, run, correlation),
    )
  )
    return "exit";
  return null;
}

/**
 * The revenue an event reports (for conversions): revenue, else total, else value, the
 * first that is a number; null when none is (the conversion adds no revenue).
 */
export function eventRevenue(event: FlowEvent): number | null {
  for (const key of ["revenue", "total", "value"]) {
    const n = asNumber(event.properties[key]);
    if (n !== undefined) return n;
  }
  return null;
}
