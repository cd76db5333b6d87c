/**
 * Events as Herald stores them: Segment's spec calls (track, identify, page, screen,
 * group, alias) after validation and normalisation, from any source.
 */

/** The Segment call types. */
export const eventTypes = [
  "track",
  "identify",
  "page",
  "screen",
  "group",
  "alias",
] as const;
export type EventType = (typeof eventTypes)[number];

/** Where an event came from. */
export type EventSource =
  "api" | "shopify" | "woocommerce" | "import" | "herald";

/** A JSON object as found in properties, traits and context. */
export type JsonObject = { [key: string]: unknown };

/** A validated event, ready to be stored. */
export interface IncomingEvent {
  messageId: string;
  type: EventType;
  /** The event name of a track call, the page or screen name, else null. */
  name: string | null;
  userId: string | null;
  anonymousId: string | null;
  properties: JsonObject;
  /** Traits of identify and group calls; null for the others. */
  traits: JsonObject | null;
  context: JsonObject;
  /**
   * Segment's `integrations` (the destinations a call is meant for, e.g. `{"All": false}`),
   * kept as sent; absent when the call had none.
   */
  integrations?: JsonObject;
  /** When it happened, corrected for the client's clock skew. */
  timestamp: Date;
  receivedAt: Date;
  source: EventSource;
  /** Silent events update profiles but start no flows (history imports). */
  silent: boolean;
}

/** An event in the log, with the profile it belongs to. */
export interface StoredEvent extends IncomingEvent {
  workspaceId: string;
  seq: number;
  profileId: string;
}

/** True when `value` is a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
