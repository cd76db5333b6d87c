import type { Tx } from "../db/database.ts";
import type { SendOutcome } from "../providers/provider.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { changeConsent } from "./consent-service.ts";
import { deletePushSubscription } from "./push-subscriptions.sql.ts";
import type { SendingRow } from "./send-queue.sql.ts";
import { upsertSuppression } from "./suppressions.sql.ts";
import { unlinkTelegramChat } from "./telegram-chats.sql.ts";

/** A provider's answer about a message, for `applySendEffect`. */
export type SendEffect = {
  row: SendingRow;
  outcome: SendOutcome;
  /** Push endpoints the push service said are gone. */
  gone: string[];
};

/**
 * What a provider's answer means beyond the ledger row, in the recording transaction:
 * expired push subscriptions are deleted, a blocked bot unlinks its chat, an unknown
 * mailbox or dead number is suppressed, Twilio's 21610 (the number sent STOP) records the
 * opt-out.
 */
export async function applySendEffect(
  tx: Tx,
  effect: SendEffect,
  now: Date,
): Promise<void> {
  const { row, outcome, gone } = effect;
  const forgetPush = async () => {
    for (const endpoint of gone)
      await deletePushSubscription(tx, row.workspace_id, endpoint);
    if (gone.length > 0)
      await reachabilityChanged(tx, row.workspace_id, {
        channel: "push",
        profileId: row.profile_id,
        now,
      });
  };
  const suppress = async (channel: "email" | "sms", address: string) => {
    await upsertSuppression(
      tx,
      row.workspace_id,
      {
        channel,
        address,
        reason: "hard_bounce",
        source: `message ${row.id}`,
        detail: outcome.ok ? undefined : outcome.error,
      },
      now,
    );
    await reachabilityChanged(tx, row.workspace_id, {
      channel: channel,
      address,
      now,
    });
  };
  if (outcome.ok || !outcome.gone) {
    await forgetPush();
    return;
  }
  switch (row.channel) {
    case "push":
      await forgetPush();
      break;
    case "telegram":
      if (row.recipient) {
        await unlinkTelegramChat(tx, row.workspace_id, row.recipient);
        await reachabilityChanged(tx, row.workspace_id, {
          channel: "telegram",
          profileId: row.profile_id,
          now,
        });
      }
      break;
    case "email":
      if (row.recipient) await suppress("email", row.recipient);
      break;
    case "sms":
      if (/21610/.test(outcome.error))
        await changeConsent(tx, row.workspace_id, {
          profileId: row.profile_id,
          channel: "sms",
          status: "unsubscribed",
          source: "carrier STOP",
          at: now,
        });
      else if (row.recipient) await suppress("sms", row.recipient);
      break;
    case "webhook":
      break;
  }
}
