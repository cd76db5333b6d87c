import { DomainError } from "@herald/core/domain-error";
import type { MessageChannel } from "@herald/core/messages/content";
import {
  deleteDeliveryPause,
  listDeliveryPauses,
  type DeliveryPauseRow,
} from "./delivery-pauses.sql.ts";
import { messagesChannel } from "./messages.sql.ts";
import type { MessagingDeps } from "./messaging-deps.ts";

/**
 * The providers as an operator sees them: which are paused after consecutive errors (and
 * resuming one), the webhook addresses to give each provider, and the keys a workspace
 * shares with the outside (the VAPID public key, the outgoing webhooks' secret).
 */

/** The providers whose webhooks Herald reads, in the order the API lists them. */
const webhookProviders = [
  "ses",
  "sendgrid",
  "postmark",
  "mailgun",
  "twilio",
  "telegram",
];

/** A workspace's delivery alerts and the addresses providers post news to. */
export async function getProviderStatus(
  deps: Pick<MessagingDeps, "db" | "config" | "messaging">,
  workspaceId: string,
): Promise<{
  paused: DeliveryPauseRow[];
  webhookUrls: Record<string, string>;
  vapidPublicKey: string;
}> {
  const { secrets } = deps.messaging;
  const paused = await listDeliveryPauses(deps.db, workspaceId);
  const loaded = await secrets.load(workspaceId);
  const hook = await secrets.hookToken(workspaceId);
  const base = `${deps.config.publicUrl}/webhooks/messages`;
  return {
    paused,
    webhookUrls: Object.fromEntries(
      webhookProviders.map((p) => [p, `${base}/${p}/${hook}`]),
    ),
    vapidPublicKey: loaded.vapid_public_key,
  };
}

/** Resumes a paused provider now and wakes the sender; `not_found` when it was not paused. */
export async function resumeProvider(
  deps: Pick<MessagingDeps, "db">,
  workspaceId: string,
  channel: MessageChannel,
): Promise<void> {
  if (!(await deleteDeliveryPause(deps.db, workspaceId, channel)))
    throw new DomainError("not_found", `${String(channel)} is not paused`);
  await deps.db.notify(messagesChannel, "");
}

/** The secret outgoing webhooks are signed with. */
export async function getWebhookSecret(
  deps: Pick<MessagingDeps, "messaging">,
  workspaceId: string,
): Promise<string> {
  return (await deps.messaging.secrets.load(workspaceId)).webhook_secret;
}
