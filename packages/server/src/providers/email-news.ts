import type { MessageNews } from "@herald/core/messages/ledger";

// The one shape every email provider's webhook is read into (`ses-webhook.ts`,
// `sendgrid-webhook.ts`, `postmark-webhook.ts`, `mailgun-webhook.ts`), for the messages
// feature to apply to the ledger and the suppressions.

/** One piece of news from an email provider. */
export interface EmailNews {
  news: MessageNews;
  address: string | undefined;
  /** Strings that may contain Herald's ledger id (Message-ID, headers, metadata). */
  ids: unknown[];
  providerMessageId?: string;
  bounceType?: "hard" | "soft";
  reason?: string;
}
