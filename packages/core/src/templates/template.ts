import Type from "typebox";
import { DomainError } from "../domain-error.ts";
import {
  RenderedEmail,
  RenderedPush,
  RenderedSms,
  RenderedTelegram,
  type MessageChannel,
} from "../messages/content.ts";
import { parseWith } from "../validation.ts";

/**
 * Message templates: what an author writes per channel, versioned. Saving a template
 * makes a new immutable version; messages keep the number of the version they used.
 * Every text field may hold Liquid; an email's body is MJML. A channel's fields are those
 * of its rendered message (messages/content.ts), with the author's limits.
 */

const liquidText = (maxLength: number, description: string) =>
  Type.String({ maxLength, description });

/** An email: subject, preheader, an MJML body and, optionally, a hand-written text part. */
export const EmailContent = Type.Object(
  {
    subject: Type.String({ minLength: 1, maxLength: 500 }),
    preheader: Type.Optional(
      liquidText(500, "preview text shown after the subject in inboxes"),
    ),
    mjml: Type.String({
      minLength: 1,
      maxLength: 500_000,
      description: "the body in MJML, with Liquid",
    }),
    text: Type.Optional(
      liquidText(
        200_000,
        "the plain-text part; generated from the HTML when absent",
      ),
    ),
    fromName: Type.Optional(Type.String({ maxLength: 200 })),
    fromEmail: Type.Optional(Type.String({ maxLength: 320 })),
    replyTo: Type.Optional(Type.String({ maxLength: 320 })),
  },
  { additionalProperties: false },
);
export type EmailContent = Type.Static<typeof EmailContent>;

/** An SMS: one text; its length and segment count are shown on save and preview. */
export const SmsContent = Type.Object(
  { text: Type.String({ minLength: 1, maxLength: 5_000 }) },
  { additionalProperties: false },
);
export type SmsContent = Type.Static<typeof SmsContent>;

/** A web push notification. */
export const PushContent = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 500 }),
    body: Type.String({ maxLength: 2_000 }),
    icon: Type.Optional(Type.String({ maxLength: 2_000 })),
    url: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false },
);
export type PushContent = Type.Static<typeof PushContent>;

/** A Telegram message (HTML parse mode: output is escaped) with optional link buttons. */
export const TelegramContent = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 4_096 }),
    buttons: Type.Optional(
      Type.Array(
        Type.Object(
          {
            text: Type.String({ minLength: 1, maxLength: 200 }),
            url: Type.String({ minLength: 1, maxLength: 2_000 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 20 },
      ),
    ),
  },
  { additionalProperties: false },
);
export type TelegramContent = Type.Static<typeof TelegramContent>;

/** A webhook: a JSON body with Liquid, whose outputs are written as JSON values. */
export const WebhookContent = Type.Object(
  {
    body: Type.String({
      minLength: 1,
      maxLength: 200_000,
      description:
        'JSON with Liquid; `{{ profile.email }}` writes a JSON value (quoted), so write {"email": {{ profile.email }}}',
    }),
  },
  { additionalProperties: false },
);
export type WebhookContent = Type.Static<typeof WebhookContent>;

const schemas = {
  email: EmailContent,
  sms: SmsContent,
  push: PushContent,
  telegram: TelegramContent,
  webhook: WebhookContent,
} as const;

/** What an author writes, per channel. */
export type TemplateContent = {
  [C in MessageChannel]: {
    channel: C;
    content: Type.Static<(typeof schemas)[C]>;
  };
}[MessageChannel];

/** What an author writes for a template of some channel (that channel's schema applies). */
export const ChannelContent = Type.Union([
  EmailContent,
  SmsContent,
  PushContent,
  TelegramContent,
  WebhookContent,
]);
export type ChannelContent = Type.Static<typeof ChannelContent>;

/**
 * What a saved version keeps for rendering: partials expanded, every field still Liquid,
 * an email's MJML compiled to HTML and its plain-text part made once where it can be.
 */
export const CompiledContent = Type.Union([
  Type.Object({
    ...RenderedEmail.properties,
    text: Type.Union([Type.String(), Type.Null()], {
      description:
        "the text part with Liquid; null when it is made from each rendered HTML",
    }),
    textSource: Type.Union([
      Type.Literal("written"),
      Type.Literal("generated"),
      Type.Literal("per-render"),
    ]),
  }),
  RenderedSms,
  RenderedPush,
  RenderedTelegram,
  Type.Object({
    channel: Type.Literal("webhook"),
    body: Type.String({ description: "JSON with Liquid" }),
  }),
]);
export type CompiledContent = Type.Static<typeof CompiledContent>;

/** The content schema of a channel (for API documents and the UI). */
export function contentSchema(channel: MessageChannel): Type.TSchema {
  return schemas[channel];
}

/** Checks `content` against its channel's schema; invalid DomainError with paths under /content. */
export function parseTemplateContent(
  channel: MessageChannel,
  content: unknown,
): TemplateContent {
  try {
    switch (channel) {
      case "email":
        return {
          channel,
          content: parseWith(EmailContent, content, "content"),
        };
      case "sms":
        return { channel, content: parseWith(SmsContent, content, "content") };
      case "push":
        return { channel, content: parseWith(PushContent, content, "content") };
      case "telegram":
        return {
          channel,
          content: parseWith(TelegramContent, content, "content"),
        };
      case "webhook":
        return {
          channel,
          content: parseWith(WebhookContent, content, "content"),
        };
    }
  } catch (error) {
    if (error instanceof DomainError)
      throw new DomainError(
        error.code,
        `${channel} ${error.message}`,
        error.details.map((d) => ({
          path: `/body/content${d.path === "/" ? "" : d.path}`,
          message: d.message,
        })),
      );
    throw error;
  }
}

/** A template as the admin API shows it. */
export interface Template {
  id: string;
  name: string;
  channel: MessageChannel;
  currentVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

/** One saved version of a template. */
export interface TemplateVersion {
  templateId: string;
  version: number;
  content: TemplateContent["content"];
  createdAt: Date;
}

/** Where in a template a problem is: the field and, inside it, the line (1-based). */
export interface SourceProblem {
  field: string;
  line?: number;
  /** Set when the problem is inside a partial the field includes. */
  partial?: string;
  message: string;
}

/** Refuses a version: `invalid`, one detail per problem, the first in the message. */
export function refuseTemplate(problems: SourceProblem[]): never {
  const where = (p: SourceProblem) =>
    `${p.field}${p.partial ? ` (partial "${p.partial}")` : ""}${p.line ? ` line ${p.line}` : ""}`;
  const first = problems[0];
  throw new DomainError(
    "invalid",
    first
      ? `the template cannot be saved: ${where(first)}: ${first.message}`
      : "the template cannot be saved",
    problems.map((p) => ({
      path: `/body/content/${p.field}${p.line ? `#L${p.line}` : ""}`,
      message: `${where(p)}: ${p.message}`,
    })),
  );
}
