import type { JsonObject } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import type { Channel, ConsentStatus } from "@herald/core/profiles/consent";
import type { Tx } from "../db/database.ts";
import { appendProfileEvents } from "../events/event-log.ts";
import { setProfileConsent } from "./consent.sql.ts";

/**
 * Consent has one source of truth: the profile's `consent`. A change delivery learns of
 * (one-click unsubscribe, STOP, a complaint, the preference centre, Telegram `/start`)
 * is written to the profile at once, so the very next policy check sees it, and an
 * `Unsubscribed` / `Subscribed` event with the same time is appended beside it; when the
 * event processor applies that event it finds the same value (last-write-wins by time),
 * so the two never disagree. List subscriptions live on the list (`setListStatus`), with
 * an `Unsubscribed` event that carries `list_id` (which leaves channel consent alone).
 */

/** A change of one channel's consent, as delivery learned of it. */
export interface ConsentChangeRequest {
  profileId: string;
  channel: Channel;
  status: ConsentStatus;
  /** What changed it (`one-click`, `SMS STOP`, `complaint`…), on the event. */
  source: string;
  at: Date;
  /** More properties of the event. */
  properties?: JsonObject;
  /** False: the profile only, for callers that emit their own event. */
  viaEvent?: boolean;
}

/**
 * Changes one channel's consent of a profile now (see the module comment) and appends the
 * matching `Unsubscribed` / `Subscribed` event, in the caller's transaction.
 */
export async function changeConsent(
  tx: Tx,
  workspaceId: string,
  change: ConsentChangeRequest,
): Promise<void> {
  const { profileId, channel, status, at } = change;
  const name = status === "unsubscribed" ? "Unsubscribed" : "Subscribed";
  await setProfileConsent(tx, workspaceId, {
    profileId,
    channel,
    record: { status, at: at.toISOString(), source: name },
  });
  if (change.viaEvent === false) return;
  await appendProfileEvents(tx, workspaceId, [
    {
      messageId: `herald-${name.toLowerCase()}-${uuidv7(at)}`,
      type: "track",
      name,
      userId: null,
      anonymousId: null,
      profileId,
      properties: { channel, source: change.source, ...change.properties },
      traits: null,
      context: {},
      timestamp: at,
      receivedAt: at,
      source: "herald",
      silent: false,
    },
  ]);
}
