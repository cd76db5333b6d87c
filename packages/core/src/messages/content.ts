/**
 * The boundary between message content (templates, rendering) and message delivery
 * (ledger, policy, providers): delivery asks a ContentRenderer for one recipient's
 * message just before sending it, and sends what comes back.
 */

/** The channels Herald sends on. */
export const messageChannels = [
  "email",
  "sms",
  "push",
  "telegram",
  "webhook",
] as const;
export type MessageChannel = (typeof messageChannels)[number];

/** One recipient's message, ready for a provider. */
export type RenderedMessage =
  | {
      channel: "email";
      subject: string;
      preheader?: string;
      html: string;
      text: string;
      fromName?: string;
      fromEmail?: string;
      replyTo?: string;
    }
  | { channel: "sms"; text: string }
  | {
      channel: "push";
      title: string;
      body: string;
      icon?: string;
      url?: string;
    }
  | {
      channel: "telegram";
      text: string;
      buttons?: { text: string; url: string }[];
    }
  | { channel: "webhook"; body: unknown };

/** What delivery knows when it asks for content. */
export interface RenderRequest {
  workspaceId: string;
  templateId: string;
  /** A pinned version; the template's current version when absent. */
  version?: number;
  profileId: string;
  /** The ledger id of the message: coupons issued while rendering are keyed by it. */
  messageId: string;
  /** The triggering event's properties and anything the caller adds (order, cart, tracking). */
  data: Record<string, unknown>;
  /** Links delivery makes for this message, for templates to place. */
  links: {
    unsubscribeUrl?: string;
    preferencesUrl?: string;
    viewInBrowserUrl?: string;
  };
}

/** Renders content; throws DomainError("invalid" | "not_found" | "conflict") when it cannot. */
export interface ContentRenderer {
  render(
    request: RenderRequest,
  ): Promise<{ templateVersion: number; content: RenderedMessage }>;
}
