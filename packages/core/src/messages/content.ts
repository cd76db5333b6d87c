import Type from "typebox";

/**
 * The boundary between message content (templates, rendering) and message delivery
 * (ledger, policy, providers): delivery asks a ContentRenderer for one recipient's
 * message just before sending it, and sends what comes back.
 */

/** A channel Herald sends on. */
export const MessageChannel = Type.Union([
  Type.Literal("email"),
  Type.Literal("sms"),
  Type.Literal("push"),
  Type.Literal("telegram"),
  Type.Literal("webhook"),
]);
export type MessageChannel = Type.Static<typeof MessageChannel>;

/** The channels Herald sends on. */
export const messageChannels = [
  "email",
  "sms",
  "push",
  "telegram",
  "webhook",
] as const satisfies readonly MessageChannel[];

/**
 * One recipient's message per channel, ready for a provider. These are the fields of
 * message content at every stage: templates/template.ts writes them (email writes MJML for
 * the HTML) and compiles them (each field still Liquid), rendering fills them in.
 */

/** Link buttons under a Telegram message. */
export const MessageButtons = Type.Array(
  Type.Object({ text: Type.String(), url: Type.String() }),
);

/** An email: subject, preheader, the HTML and plain-text parts, the sender's overrides. */
export const RenderedEmail = Type.Object({
  channel: Type.Literal("email"),
  subject: Type.String(),
  preheader: Type.Optional(Type.String()),
  html: Type.String(),
  text: Type.String(),
  fromName: Type.Optional(Type.String()),
  fromEmail: Type.Optional(Type.String()),
  replyTo: Type.Optional(Type.String()),
});

/** A text message. */
export const RenderedSms = Type.Object({
  channel: Type.Literal("sms"),
  text: Type.String(),
});

/** A web push notification. */
export const RenderedPush = Type.Object({
  channel: Type.Literal("push"),
  title: Type.String(),
  body: Type.String(),
  icon: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
});

/** A Telegram message (HTML parse mode) with optional link buttons. */
export const RenderedTelegram = Type.Object({
  channel: Type.Literal("telegram"),
  text: Type.String(),
  buttons: Type.Optional(MessageButtons),
});

/** A webhook call: its JSON body. */
export const RenderedWebhook = Type.Object({
  channel: Type.Literal("webhook"),
  body: Type.Unknown(),
});

/** One recipient's message, ready for a provider. */
export const RenderedMessage = Type.Union([
  RenderedEmail,
  RenderedSms,
  RenderedPush,
  RenderedTelegram,
  RenderedWebhook,
]);
export type RenderedMessage = Type.Static<typeof RenderedMessage>;

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
