import type { Queryable, Tx } from "../db/database.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import type { EventHandler } from "../workers/event-handler.ts";
import { deletePreferencePauses } from "./consent.sql.ts";
import {
  deleteInteractionsOf,
  exportInteractions,
  rekeyInteractions,
} from "./message-interactions.sql.ts";
import {
  deleteMessagesOf,
  exportMessages,
  rekeyMessages,
} from "./messages.sql.ts";
import {
  deletePushSubscriptionsOf,
  exportPushSubscriptions,
  rekeyPushSubscriptions,
} from "./push-subscriptions.sql.ts";
import {
  deleteTelegramChatsOf,
  exportTelegramChats,
  rekeyTelegramChat,
} from "./telegram-chats.sql.ts";

/**
 * Delivery's rows of a profile (the ledger, interactions, push subscriptions, the
 * Telegram chat, a preference pause) in privacy export and erasure, and when profiles
 * merge.
 */

/** Everything delivery holds about profiles, for the privacy export. */
async function exportMessagingRows(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>> {
  return {
    messages: await exportMessages(q, workspaceId, profileIds),
    interactions: await exportInteractions(q, workspaceId, profileIds),
    pushSubscriptions: await exportPushSubscriptions(
      q,
      workspaceId,
      profileIds,
    ),
    telegram: await exportTelegramChats(q, workspaceId, profileIds),
  };
}

/** Deletes everything delivery holds about profiles (the ledger rows included). */
async function eraseMessagingRows(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await deleteInteractionsOf(tx, workspaceId, profileIds);
  await deleteMessagesOf(tx, workspaceId, profileIds);
  await deletePushSubscriptionsOf(tx, workspaceId, profileIds);
  await deleteTelegramChatsOf(tx, workspaceId, profileIds);
  await deletePreferencePauses(tx, workspaceId, profileIds);
}

/**
 * Moves a merged profile's rows to the survivor: its messages, interactions and push
 * subscriptions; its Telegram chat unless the survivor has one (a profile has one chat);
 * a preference pause of the merged profile ends.
 */
async function moveMessagingRows(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await rekeyMessages(tx, workspaceId, from, to);
  await rekeyInteractions(tx, workspaceId, from, to);
  await rekeyPushSubscriptions(tx, workspaceId, from, to);
  await rekeyTelegramChat(tx, workspaceId, from, to);
  await deleteTelegramChatsOf(tx, workspaceId, [from]);
  await deletePreferencePauses(tx, workspaceId, [from]);
}

/** Delivery's rows in privacy export and erasure. */
export const messagingData: PersonalData = {
  name: "messages",
  export: exportMessagingRows,
  erase: eraseMessagingRows,
};

/** Moves delivery's rows of a merged profile to the survivor. */
export const messagingMerges: EventHandler = {
  name: "messages",
  handle: () => Promise.resolve(),
  merge: (tx, merge) =>
    moveMessagingRows(tx, merge.workspaceId, merge.mergedId, merge.survivorId),
};
