import type { ListStatus } from "../lists/lists.ts";
import type { ConsentRecord } from "../profiles/consent.ts";
import type { MessageChannel } from "./content.ts";
import {
  isTimeZone,
  localMinuteOfDay,
  nextLocalTime,
  parseTimeOfDay,
} from "./local-time.ts";

/**
 * The one policy that decides whether and when a message goes out, in this order:
 * address → consent for the channel → list subscription → suppression → frequency cap →
 * quiet hours → send. The cap and quiet hours defer, they do not drop: a message over the
 * cap waits until the cap allows it (unless its sender asked to skip it then), one in
 * quiet hours until they end. Pure: the sender gathers the facts, calls `decide`, and stores the
 * decision and its reason on the ledger row.
 *
 * Transactional messages need no marketing consent (except SMS after STOP, which
 * carriers enforce for every message), ignore lists, the frequency cap and quiet hours,
 * and are stopped by a hard bounce or a manual suppression (mail to an address that
 * does not exist only hurts the sender's reputation), not by a spam complaint about
 * marketing. Webhooks go to systems, not people: no consent, suppression, cap or quiet
 * hours.
 */

/** Why an address is suppressed. */
export type SuppressionReason = "hard_bounce" | "complaint" | "manual";

/** Everything the policy looks at for one message. */
export interface PolicyInput {
  channel: MessageChannel;
  transactional: boolean;
  now: Date;
  /** The address the message would go to; undefined when the profile has none. */
  address: string | undefined;
  consent: ConsentRecord | undefined;
  /** explicit: marketing needs `subscribed`; unless_unsubscribed: a missing record will do. */
  consentMode: "explicit" | "unless_unsubscribed";
  /** Until when the recipient paused marketing from the preference centre. */
  pausedUntil?: Date;
  /** The list the message goes to and the recipient's status on it. */
  list?: { id: string; status: ListStatus | undefined };
  suppression?: SuppressionReason;
  frequency?: {
    cap: { messages: number; hours: number } | undefined;
    obey: boolean;
    /** Marketing messages sent to the profile (any channel) in the last `hours`. */
    sentInWindow: number;
    /** When the cap allows the next message (`capFreesAt`); undefined when unknown. */
    freesAt?: Date | undefined;
    /** Skip instead of waiting while over the cap. */
    skipWhenCapped?: boolean;
  };
  quietHours?: {
    window: { start: string; end: string } | undefined;
    obey: boolean;
    /** The recipient's time zone, else the store's; UTC when neither is known. */
    timeZone: string | undefined;
  };
}

/** Which rule decided. */
export type PolicyStep =
  | "address"
  | "consent"
  | "list"
  | "suppression"
  | "frequency_cap"
  | "quiet_hours"
  | "send";

/** The policy's answer, with a reason a person can read. */
export type Decision =
  | { action: "send"; step: "send"; reason: string }
  | { action: "skip"; step: PolicyStep; reason: string }
  | {
      action: "defer";
      step: "frequency_cap" | "quiet_hours";
      until: Date;
      reason: string;
    };

const skip = (step: PolicyStep, reason: string): Decision => ({
  action: "skip",
  step,
  reason,
});

/** Decides one message; see the module comment for the order of the rules. */
export function decide(input: PolicyInput): Decision {
  const { channel, transactional } = input;
  if (!input.address)
    return skip("address", `the profile has no ${addressName(channel)}`);
  if (channel === "webhook")
    return { action: "send", step: "send", reason: "webhook" };

  const consent = input.consent?.status;
  if (transactional) {
    if (channel === "sms" && consent === "unsubscribed")
      return skip(
        "consent",
        "the recipient replied STOP to SMS; carriers block every message until START",
      );
  } else {
    if (consent === "unsubscribed")
      return skip("consent", `unsubscribed from ${channel} marketing`);
    if (consent === "pending")
      return skip(
        "consent",
        `${channel} subscription not confirmed yet (double opt-in pending)`,
      );
    if (consent !== "subscribed" && input.consentMode === "explicit")
      return skip(
        "consent",
        `no ${channel} marketing consent on record: consent arrives as the ${channel}_consent trait ("subscribed") on identify, Shopify's email_marketing_consent, a form or a list sign-up; or set marketingConsent to unless_unsubscribed to also send to people never asked`,
      );
    if (input.pausedUntil && input.pausedUntil > input.now)
      return skip(
        "consent",
        `the recipient paused marketing until ${input.pausedUntil.toISOString()}`,
      );
    if (input.list && input.list.status !== "subscribed")
      return skip(
        "list",
        input.list.status
          ? `${input.list.status} on list ${input.list.id}`
          : `not a member of list ${input.list.id}`,
      );
  }

  if (input.suppression) {
    const stops = !transactional || input.suppression !== "complaint";
    if (stops)
      return skip(
        "suppression",
        `${addressName(channel)} suppressed (${input.suppression.replace("_", " ")})`,
      );
  }

  if (!transactional) {
    const f = input.frequency;
    if (f?.obey && f.cap && f.sentInWindow >= f.cap.messages) {
      const capped = `frequency cap: ${f.sentInWindow} marketing messages in the last ${f.cap.hours} h (at most ${f.cap.messages})`;
      if (f.skipWhenCapped)
        return skip("frequency_cap", `${capped}; its step skips when capped`);
      if (f.freesAt && f.freesAt.getTime() > input.now.getTime())
        return {
          action: "defer",
          step: "frequency_cap",
          until: f.freesAt,
          reason: `${capped}: waits until ${f.freesAt.toISOString()}, when the cap allows it`,
        };
      return skip("frequency_cap", capped);
    }
    const q = input.quietHours;
    if (q?.obey && q.window) {
      const until = quietHoursEnd(input.now, q.window, q.timeZone);
      if (until)
        return {
          action: "defer",
          step: "quiet_hours",
          until,
          reason: `quiet hours ${q.window.start}–${q.window.end} in ${zoneOrUtc(q.timeZone)}`,
        };
    }
  }
  return {
    action: "send",
    step: "send",
    reason: transactional ? "transactional" : "allowed",
  };
}

/**
 * When a cap of `cap.messages` per `cap.hours` allows the next message, given when the
 * messages in its window went out (any order): just after the one that keeps the window
 * full leaves it; undefined when the cap is not reached.
 */
export function capFreesAt(
  sent: readonly Date[],
  cap: { messages: number; hours: number },
): Date | undefined {
  const times = sent.map((at) => at.getTime()).sort((a, b) => a - b);
  const keeping = times[times.length - cap.messages];
  if (times.length < cap.messages || keeping === undefined) return undefined;
  return new Date(keeping + cap.hours * 3_600_000 + 1);
}

function zoneOrUtc(zone: string | undefined): string {
  return zone && isTimeZone(zone) ? zone : "UTC";
}

/** When the quiet hours around `now` end, or undefined when `now` is outside them. */
export function quietHoursEnd(
  now: Date,
  window: { start: string; end: string },
  timeZone: string | undefined,
): Date | undefined {
  const start = parseTimeOfDay(window.start);
  const end = parseTimeOfDay(window.end);
  if (start === undefined || end === undefined || start === end)
    return undefined;
  const zone = zoneOrUtc(timeZone);
  const minute = localMinuteOfDay(now, zone);
  const inside =
    start < end
      ? minute >= start && minute < end
      : minute >= start || minute < end;
  return inside ? nextLocalTime(now, zone, end) : undefined;
}

function addressName(channel: MessageChannel): string {
  switch (channel) {
    case "email":
      return "email address";
    case "sms":
      return "phone number";
    case "push":
      return "push subscription";
    case "telegram":
      return "linked Telegram chat";
    case "webhook":
      return "webhook URL";
  }
}
