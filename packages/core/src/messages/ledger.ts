import Type from "typebox";
import { DomainError } from "../domain-error.ts";
import { messageChannels, type MessageChannel } from "./content.ts";

/**
 * The message ledger: one row per message, written before any provider is called, keyed
 * by an idempotency key so that asking twice queues once.
 *
 * States of a row:
 *
 *   queued ──policy──► sending ──provider──► sent ─► delivered ─► opened ─► clicked
 *     │  ▲               │  │                  └──► bounced / complained / unsubscribed
 *     │  └─ transient ───┘  └─► failed (why, attempts)
 *     ├──► deferred (until, why) ──due──► (policy again)
 *     └──► skipped (why)
 *
 * `queued` and `deferred` rows are due at `sendAt`; the sender claims them, runs the
 * policy and moves them on. `sending` means a provider may have been called: a row left
 * there by a crash is resolved by `resolveInterrupted`, never resent blindly. After `sent`
 * the status only moves forward (engagement), and bounces, complaints and unsubscribes
 * override engagement.
 */

/** Every status a ledger row can have. */
export const messageStatuses = [
  "queued",
  "deferred",
  "sending",
  "sent",
  "delivered",
  "opened",
  "clicked",
  "bounced",
  "complained",
  "unsubscribed",
  "skipped",
  "failed",
] as const;
export type MessageStatus = (typeof messageStatuses)[number];

/** Where a message came from. */
export const MessageSource = Type.Union([
  Type.Object(
    {
      kind: Type.Literal("flow"),
      flowId: Type.Optional(Type.String()),
      flowRunId: Type.String({ minLength: 1 }),
      nodeId: Type.String({ minLength: 1 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("campaign"),
      campaignId: Type.String({ minLength: 1 }),
      campaignName: Type.Optional(Type.String()),
      variant: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal("transactional") },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal("test") }, { additionalProperties: false }),
]);
export type MessageSource = Type.Static<typeof MessageSource>;

/** Content given inline instead of a template: a RenderedMessage without its channel. */
export const InlineContent = Type.Object(
  {
    subject: Type.Optional(Type.String({ maxLength: 998 })),
    preheader: Type.Optional(Type.String({ maxLength: 1000 })),
    html: Type.Optional(Type.String({ maxLength: 256 * 1024 })),
    text: Type.Optional(Type.String({ maxLength: 256 * 1024 })),
    fromName: Type.Optional(Type.String({ maxLength: 500 })),
    fromEmail: Type.Optional(Type.String({ maxLength: 500 })),
    replyTo: Type.Optional(Type.String({ maxLength: 500 })),
    title: Type.Optional(Type.String({ maxLength: 500 })),
    body: Type.Optional(Type.Unknown()),
    icon: Type.Optional(Type.String({ maxLength: 2048 })),
    url: Type.Optional(Type.String({ maxLength: 2048 })),
    buttons: Type.Optional(
      Type.Array(
        Type.Object({
          text: Type.String({ maxLength: 500 }),
          url: Type.String({ maxLength: 2048 }),
        }),
      ),
    ),
  },
  { additionalProperties: false },
);
export type InlineContent = Type.Static<typeof InlineContent>;

/** What a caller asks for when it queues a message. */
export interface EnqueueRequest {
  workspaceId: string;
  profileId: string;
  channel: MessageChannel;
  /** A template of the content feature; or `content` inline. */
  templateId?: string;
  templateVersion?: number;
  content?: InlineContent;
  /** Merge data for the template (trigger event properties, order, cart…). */
  data?: Record<string, unknown>;
  source: MessageSource;
  /** Unique per workspace: asking again with the same key returns the first row. */
  idempotencyKey: string;
  /** Order confirmations and the like: no marketing consent, cap or quiet hours. */
  transactional: boolean;
  /** Marketing "to a list": only the list's subscribed members get it. */
  listId?: string;
  /** Default true for marketing. */
  obeyFrequencyCap?: boolean;
  /** Over the frequency cap: skipped instead of waiting until the cap allows it. */
  skipWhenCapped?: boolean;
  /** Default true for marketing. */
  obeyQuietHours?: boolean;
  /** Not before this instant. */
  sendAt?: Date;
  /** Send here instead of the profile's address (an email, E.164 phone, or webhook URL). */
  to?: string;
}

/** A ledger row as features and the admin API see it. */
export interface Message {
  id: string;
  workspaceId: string;
  profileId: string;
  channel: MessageChannel;
  transactional: boolean;
  source: MessageSource;
  idempotencyKey: string;
  templateId: string | null;
  templateVersion: number | null;
  listId: string | null;
  status: MessageStatus;
  /** Why it is in that status: the policy's reason, the provider's error, … */
  reason: string | null;
  sendAt: Date;
  attempts: number;
  to: string | null;
  provider: string | null;
  providerMessageId: string | null;
  createdAt: Date;
  updatedAt: Date;
  sentAt: Date | null;
}

/** Checks a request and fills its defaults; throws an `invalid` DomainError naming the field. */
export function checkEnqueueRequest(request: EnqueueRequest): EnqueueRequest {
  const problems: { path: string; message: string }[] = [];
  if (!(messageChannels as readonly string[]).includes(request.channel))
    problems.push({
      path: "/channel",
      message: `must be one of ${messageChannels.join(", ")}`,
    });
  if (!request.templateId && !request.content)
    problems.push({
      path: "/templateId",
      message: "give a templateId or inline content",
    });
  if (request.templateId && request.content)
    problems.push({
      path: "/content",
      message: "give a templateId or inline content, not both",
    });
  if (request.content) problems.push(...inlineProblems(request));
  if (!request.idempotencyKey || request.idempotencyKey.length > 255)
    problems.push({
      path: "/idempotencyKey",
      message: "must be 1 to 255 characters",
    });
  if (request.channel === "webhook" && !/^https?:\/\//.test(request.to ?? ""))
    problems.push({
      path: "/to",
      message: "a webhook message needs the URL to POST to (http or https)",
    });
  if (request.sendAt && Number.isNaN(request.sendAt.getTime()))
    problems.push({ path: "/sendAt", message: "is not a valid date" });
  const first = problems[0];
  if (first)
    throw new DomainError(
      "invalid",
      `message is invalid: ${first.path} ${first.message}`,
      problems,
    );
  return {
    ...request,
    obeyFrequencyCap: request.obeyFrequencyCap ?? !request.transactional,
    obeyQuietHours: request.obeyQuietHours ?? !request.transactional,
  };
}

function inlineProblems(request: EnqueueRequest) {
  const c = request.content ?? {};
  const need = (field: keyof InlineContent, why: string) =>
    c[field] === undefined || c[field] === ""
      ? [{ path: `/content/${field}`, message: why }]
      : [];
  switch (request.channel) {
    case "email":
      return [
        ...need("subject", "an email needs a subject"),
        ...(c.html || c.text
          ? []
          : [
              { path: "/content/html", message: "an email needs html or text" },
            ]),
      ];
    case "sms":
    case "telegram":
      return need("text", `a ${request.channel} message needs text`);
    case "push":
      return [
        ...need("title", "a push message needs a title"),
        ...need("body", "a push message needs a body"),
      ];
    case "webhook":
      return need("body", "a webhook message needs a body");
  }
}

/** News about a sent message, from a tracking link or a provider's webhook. */
export type MessageNews =
  | "delivered"
  | "opened"
  | "clicked"
  | "bounced"
  | "complained"
  | "unsubscribed";

const engagementRank: Partial<Record<MessageStatus, number>> = {
  sent: 1,
  delivered: 2,
  opened: 3,
  clicked: 4,
  unsubscribed: 5,
  bounced: 6,
  complained: 7,
};

/**
 * The status after news about a sent message (delivery, open, click, bounce, complaint,
 * unsubscribe): the later in `sent → delivered → opened → clicked → unsubscribed →
 * bounced → complained`, so late or repeated news never moves a row back.
 */
export function advanceStatus(
  current: MessageStatus,
  news: MessageStatus,
): MessageStatus {
  const from = engagementRank[current];
  const to = engagementRank[news];
  if (from === undefined || to === undefined) return current;
  return to > from ? news : current;
}

/** Delay before retry number `attempt` (1-based) after a transient provider error. */
export function retryDelayMs(attempt: number): number {
  const schedule = [30, 120, 600, 1800, 3600, 7200, 14_400];
  const seconds =
    schedule[Math.min(attempt, schedule.length) - 1] ?? schedule[0] ?? 30;
  return seconds * 1000;
}

/** Attempts before a message with only transient errors is given up as failed. */
export const maxAttempts = 8;

/**
 * What becomes of a row found `sending` after its sender died: the provider may or may
 * not have taken the message, and nothing on our side can tell. Marketing and
 * transactional messages to people are never resent blindly: they end `failed` with the
 * reason `outcome_unknown`, for an operator to retry on purpose. Webhooks are requeued:
 * they are at-least-once by contract and carry the same delivery id for the receiver to
 * drop the repeat.
 */
export function resolveInterrupted(channel: MessageChannel): {
  status: "failed" | "queued";
  reason: string;
} {
  if (channel === "webhook")
    return {
      status: "queued",
      reason:
        "interrupted while sending; requeued (webhooks are at-least-once, same X-Herald-Delivery id)",
    };
  return {
    status: "failed",
    reason:
      "outcome_unknown: Herald stopped while handing this message to the provider; not resent automatically (POST /api/messages/{id}/retry if it did not arrive)",
  };
}
