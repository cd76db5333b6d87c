import { normalizeEmail } from "../identity/identifiers.ts";
import { findUnstorable, isStorableTime, storableTimes } from "../storable.ts";
import {
  checkEcommerceNumbers,
  normalizeEcommerceProperties,
  normalizeEventName,
} from "./ecommerce.ts";
import {
  eventTypes,
  isJsonObject,
  type EventSource,
  type EventType,
  type IncomingEvent,
  type JsonObject,
} from "./event.ts";

/**
 * Validation and normalisation of Segment HTTP Tracking API calls, one event at a time,
 * so that a malformed event is refused on its own with the reason and where it is.
 */

/** Limits of the tracking API, as Segment documents them. */
export const trackingLimits = {
  eventBytes: 32 * 1024,
  requestBytes: 500 * 1024,
  batchEvents: 2500,
  messageIdLength: 100,
  nameLength: 255,
  idLength: 255,
} as const;

/** What surrounds one call: the batch it came in and when the server received it. */
export interface CallContext {
  /** The endpoint's type for single calls (`/v1/track`); undefined inside a batch. */
  type?: EventType;
  receivedAt: Date;
  /** Batch-level `context`, merged under each item's own. */
  batchContext?: JsonObject;
  /** Batch-level `integrations`, merged under each item's own. */
  batchIntegrations?: JsonObject;
  /** Batch-level `sentAt`, used when an item has none. */
  batchSentAt?: unknown;
  source: EventSource;
  silent?: boolean;
  newMessageId: () => string;
}

/** A problem with a call that does not keep it from being stored. */
export interface CallWarning {
  path: string;
  reason: string;
}

/** The outcome for one call: the event (and what is odd about it), or why it was refused and where. */
export type CallResult =
  | { ok: true; event: IncomingEvent; warnings?: CallWarning[] }
  | { ok: false; reason: string; path: string };

const refuse = (path: string, reason: string): CallResult => ({
  ok: false,
  path,
  reason,
});

function idValue(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

function parseTime(value: unknown): Date | null | undefined {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * When the event happened: `receivedAt − (sentAt − originalTimestamp)` when the client
 * says when it sent it (correcting its clock), else the time it gave, else the receive
 * time; never later than the receive time.
 */
export function correctTimestamp(
  receivedAt: Date,
  original: Date | null,
  sentAt: Date | null,
): Date {
  const at =
    original && sentAt
      ? new Date(receivedAt.getTime() - (sentAt.getTime() - original.getTime()))
      : (original ?? receivedAt);
  return at.getTime() > receivedAt.getTime() ? receivedAt : at;
}

/** Validates and normalises one call; `raw` is the item as parsed from JSON. */
export function normalizeCall(raw: unknown, ctx: CallContext): CallResult {
  if (!isJsonObject(raw)) return refuse("", "an event must be a JSON object");

  let type: EventType;
  if (ctx.type) type = ctx.type;
  else if (
    typeof raw.type === "string" &&
    (eventTypes as readonly string[]).includes(raw.type)
  )
    type = raw.type as EventType;
  else return refuse("/type", `type must be one of ${eventTypes.join(", ")}`);

  const userId = idValue(raw.userId ?? raw.user_id);
  if (userId === undefined)
    return refuse("/userId", "userId must be a string or a number");
  const anonymousId = idValue(raw.anonymousId ?? raw.anonymous_id);
  if (anonymousId === undefined)
    return refuse("/anonymousId", "anonymousId must be a string or a number");
  if ((userId?.length ?? 0) > trackingLimits.idLength)
    return refuse(
      "/userId",
      `userId is longer than ${trackingLimits.idLength} characters`,
    );
  if ((anonymousId?.length ?? 0) > trackingLimits.idLength)
    return refuse(
      "/anonymousId",
      `anonymousId is longer than ${trackingLimits.idLength} characters`,
    );

  for (const field of [
    "properties",
    "traits",
    "context",
    "integrations",
  ] as const) {
    if (
      raw[field] !== undefined &&
      raw[field] !== null &&
      !isJsonObject(raw[field])
    ) {
      return refuse(`/${field}`, `${field} must be a JSON object`);
    }
  }
  let properties: JsonObject = isJsonObject(raw.properties)
    ? raw.properties
    : {};
  let traits: JsonObject | null = null;
  const context: JsonObject = {
    ...ctx.batchContext,
    ...(isJsonObject(raw.context) ? raw.context : {}),
  };
  const integrations: JsonObject | undefined =
    ctx.batchIntegrations || isJsonObject(raw.integrations)
      ? {
          ...ctx.batchIntegrations,
          ...(isJsonObject(raw.integrations) ? raw.integrations : {}),
        }
      : undefined;

  let name: string | null = null;
  switch (type) {
    case "track": {
      if (typeof raw.event !== "string" || raw.event.trim() === "")
        return refuse("/event", "a track call needs an event name");
      if (raw.event.length > trackingLimits.nameLength)
        return refuse(
          "/event",
          `the event name is longer than ${trackingLimits.nameLength} characters`,
        );
      name = normalizeEventName(raw.event);
      properties = normalizeEcommerceProperties(properties);
      break;
    }
    case "identify":
      traits = isJsonObject(raw.traits)
        ? raw.traits
        : isJsonObject(context.traits)
          ? context.traits
          : {};
      break;
    case "page":
    case "screen": {
      const pageName = raw.name ?? properties.name;
      if (
        pageName !== undefined &&
        pageName !== null &&
        typeof pageName !== "string"
      )
        return refuse("/name", "name must be a string");
      name =
        typeof pageName === "string" && pageName !== ""
          ? pageName.slice(0, trackingLimits.nameLength)
          : null;
      if (typeof raw.category === "string" && properties.category === undefined)
        properties = { ...properties, category: raw.category };
      break;
    }
    case "group": {
      const groupId = idValue(raw.groupId ?? raw.group_id);
      if (!groupId) return refuse("/groupId", "a group call needs a groupId");
      if (groupId.length > trackingLimits.idLength)
        return refuse(
          "/groupId",
          `groupId is longer than ${trackingLimits.idLength} characters`,
        );
      traits = isJsonObject(raw.traits) ? raw.traits : {};
      properties = { ...properties, group_id: groupId };
      break;
    }
    case "alias": {
      const previousId = idValue(raw.previousId ?? raw.previous_id);
      if (!previousId)
        return refuse("/previousId", "an alias call needs a previousId");
      if (previousId.length > trackingLimits.idLength)
        return refuse(
          "/previousId",
          `previousId is longer than ${trackingLimits.idLength} characters`,
        );
      if (!userId) return refuse("/userId", "an alias call needs a userId");
      properties = { ...properties, previous_id: previousId };
      break;
    }
  }
  if (!userId && !anonymousId)
    return refuse("/userId", "an event needs a userId or an anonymousId");

  const original = parseTime(raw.originalTimestamp ?? raw.timestamp);
  if (original === undefined)
    return refuse(
      raw.originalTimestamp !== undefined ? "/originalTimestamp" : "/timestamp",
      "not a valid ISO-8601 time",
    );
  const sentAt = parseTime(raw.sentAt ?? ctx.batchSentAt);
  if (sentAt === undefined)
    return refuse("/sentAt", "not a valid ISO-8601 time");

  const rawMessageId = raw.messageId ?? raw.message_id;
  let messageId: string;
  if (
    rawMessageId === undefined ||
    rawMessageId === null ||
    rawMessageId === ""
  )
    messageId = ctx.newMessageId();
  else if (typeof rawMessageId === "string" || typeof rawMessageId === "number")
    messageId = String(rawMessageId);
  else return refuse("/messageId", "messageId must be a string");
  if (messageId.length > trackingLimits.messageIdLength)
    return refuse(
      "/messageId",
      `messageId is longer than ${trackingLimits.messageIdLength} characters`,
    );

  const timestamp = correctTimestamp(ctx.receivedAt, original, sentAt);
  if (!isStorableTime(timestamp))
    return refuse(
      original && !isStorableTime(original)
        ? raw.originalTimestamp !== undefined
          ? "/originalTimestamp"
          : "/timestamp"
        : "/sentAt",
      `the time is out of range: send a time from ${storableTimes.earliest.toISOString()} to ${storableTimes.latest.toISOString()}`,
    );

  // Text PostgreSQL cannot hold is replaced when the event is encoded; everything else
  // it cannot hold refuses the event here, before it is acknowledged.
  const unstorable = findUnstorable(
    { properties, traits, context, integrations },
    { refuseText: false },
  );
  if (unstorable) return refuse(unstorable.path, unstorable.message);

  const warnings: CallWarning[] = [];
  if (type === "track") {
    const numbers = checkEcommerceNumbers(properties);
    if (numbers.refused)
      return refuse(numbers.refused.path, numbers.refused.message);
    for (const w of numbers.warnings)
      warnings.push({ path: w.path, reason: w.message });
  }
  const traitsAt = traits ? "/traits" : "/context/traits";
  const email = (traits ?? (isJsonObject(context.traits) ? context.traits : {}))
    .email;
  if (
    email !== undefined &&
    email !== null &&
    email !== "" &&
    normalizeEmail(email) === undefined
  )
    warnings.push({
      path: `${traitsAt}/email`,
      reason: `${JSON.stringify(email).slice(0, 80)} is not an email address: it is kept as a trait, but not used to find the shopper or to send email — send a valid address`,
    });

  return {
    ok: true,
    ...(warnings.length > 0 ? { warnings } : {}),
    event: {
      messageId,
      type,
      name,
      userId,
      anonymousId,
      properties,
      traits,
      context,
      ...(integrations ? { integrations } : {}),
      timestamp,
      receivedAt: ctx.receivedAt,
      source: ctx.source,
      silent: ctx.silent ?? false,
    },
  };
}
