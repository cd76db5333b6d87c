import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import { appendEvents } from "../events/event-log.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { setProfileConsent } from "./consent.sql.ts";
import type { MessagingDeps } from "./messaging-deps.ts";
import {
  deletePushSubscription,
  upsertPushSubscription,
} from "./push-subscriptions.sql.ts";

/**
 * Browsers subscribing to web push with a write key: a subscription is stored for the
 * shopper's profile (made through the event log when the shopper is new, with a
 * `Subscribed` event) and is push consent; turning notifications off forgets it.
 */

/** A browser's push subscription (`PushSubscription.toJSON()`). */
export const PushSubscription = Type.Object({
  endpoint: Type.String({ pattern: "^https?://" }),
  keys: Type.Object({
    p256dh: Type.String({ minLength: 10 }),
    auth: Type.String({ minLength: 4 }),
  }),
});
/** A browser's push subscription, as validated. */
export type PushSubscription = Type.Static<typeof PushSubscription>;

/** A browser's subscription for a shopper known by user id and/or anonymous id. */
export interface PushSubscriber {
  userId?: string | undefined;
  anonymousId?: string | undefined;
  subscription: PushSubscription;
  userAgent: string | undefined;
}

/** The VAPID public key browsers subscribe with (`applicationServerKey`). */
export async function getVapidPublicKey(
  deps: Pick<MessagingDeps, "messaging">,
  workspaceId: string,
): Promise<string> {
  return (await deps.messaging.secrets.load(workspaceId)).vapid_public_key;
}

/**
 * Stores a browser's subscription for the shopper (`invalid` without a user id or
 * anonymous id), records `Subscribed` and sets push consent, in one transaction.
 */
export async function subscribePush(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  s: PushSubscriber,
): Promise<void> {
  if (!s.userId && !s.anonymousId)
    throw new DomainError(
      "invalid",
      "send the shopper's userId or anonymousId with the subscription",
      [
        {
          path: "/body/userId",
          message: "userId or anonymousId is required",
        },
      ],
    );
  const now = deps.clock.now();
  await deps.db.tx(async (tx) => {
    const event = {
      messageId: `herald-push-${uuidv7(now)}`,
      type: "track" as const,
      name: "Subscribed",
      userId: s.userId ?? null,
      anonymousId: s.anonymousId ?? null,
      properties: { channel: "push", source: "browser" },
      traits: null,
      context: s.userAgent ? { userAgent: s.userAgent } : {},
      timestamp: now,
      receivedAt: now,
      source: "herald" as const,
      silent: false,
    };
    const identifiers = [
      ...(s.userId ? [{ type: "user_id" as const, value: s.userId }] : []),
      ...(s.anonymousId
        ? [{ type: "anonymous_id" as const, value: s.anonymousId }]
        : []),
    ];
    await appendEvents(tx, workspaceId, [{ event, identifiers }], now);
    const owners = await findOwners(tx, workspaceId, identifiers);
    const profileId = identifiers
      .map((i) => owners.get(`${i.type}:${i.value}`))
      .find((p) => p !== undefined);
    if (!profileId)
      throw new Error("the subscriber's profile could not be found");
    await upsertPushSubscription(
      tx,
      workspaceId,
      {
        endpoint: s.subscription.endpoint,
        profile_id: profileId,
        p256dh: s.subscription.keys.p256dh,
        auth: s.subscription.keys.auth,
        user_agent: s.userAgent ?? null,
      },
      now,
    );
    await setProfileConsent(tx, workspaceId, {
      profileId,
      channel: "push",
      record: {
        status: "subscribed",
        at: now.toISOString(),
        source: "Subscribed",
      },
    });
    await reachabilityChanged(tx, workspaceId, {
      channel: "push",
      profileId,
      now,
    });
  });
}

/** Forgets a browser's subscription (the shopper turned notifications off). */
export async function unsubscribePush(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  endpoint: string,
): Promise<void> {
  await deps.db.tx(async (tx) => {
    const profileId = await deletePushSubscription(tx, workspaceId, endpoint);
    if (profileId)
      await reachabilityChanged(tx, workspaceId, {
        channel: "push",
        profileId,
        now: deps.clock.now(),
      });
  });
}
