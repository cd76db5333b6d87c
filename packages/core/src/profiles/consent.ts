import {
  isJsonObject,
  type IncomingEvent,
  type JsonObject,
} from "../events/event.ts";

/**
 * Marketing consent per channel. A channel with no record was never asked: marketing may
 * not go there unless the workspace's policy allows it; transactional messages may.
 */

export const channels = ["email", "sms", "push", "telegram"] as const;
export type Channel = (typeof channels)[number];

/** Subscribed; unsubscribed; or pending (double opt-in not yet confirmed). */
export type ConsentStatus = "subscribed" | "unsubscribed" | "pending";

/** The current consent of one channel and what set it. */
export interface ConsentRecord {
  status: ConsentStatus;
  at: string;
  source: string;
}

export type Consent = Partial<Record<Channel, ConsentRecord>>;

function statusOf(value: unknown): ConsentStatus | undefined {
  if (value === true) return "subscribed";
  if (value === false) return "unsubscribed";
  if (typeof value !== "string") return undefined;
  const v = value.trim().toLowerCase();
  if (["subscribed", "yes", "true", "opted_in", "granted"].includes(v))
    return "subscribed";
  if (
    [
      "unsubscribed",
      "no",
      "false",
      "not_subscribed",
      "opted_out",
      "denied",
      "redacted",
    ].includes(v)
  )
    return "unsubscribed";
  if (["pending", "pending_confirmation"].includes(v)) return "pending";
  return undefined;
}

/**
 * The consent changes an event states: identify traits `email_consent`, `sms_consent`,
 * `push_consent`, `telegram_consent` (true / false / "subscribed" / "unsubscribed" /
 * "pending"); an `Unsubscribed` event (the email spec, or `properties.channel`); and
 * `Subscribed` events the same way.
 */
export function consentChanges(
  event: IncomingEvent,
): Partial<Record<Channel, ConsentStatus>> {
  const changes: Partial<Record<Channel, ConsentStatus>> = {};
  const traits: JsonObject = {
    ...(isJsonObject(event.context.traits) ? event.context.traits : {}),
    ...event.traits,
  };
  for (const channel of channels) {
    const status = statusOf(traits[`${channel}_consent`]);
    if (status) changes[channel] = status;
  }
  if (
    event.type === "track" &&
    (event.name === "Unsubscribed" || event.name === "Subscribed")
  ) {
    const channel =
      typeof event.properties.channel === "string"
        ? event.properties.channel
        : "email";
    if (
      (channels as readonly string[]).includes(channel) &&
      event.properties.list_id === undefined
    ) {
      changes[channel as Channel] =
        event.name === "Unsubscribed" ? "unsubscribed" : "subscribed";
    }
  }
  return changes;
}
