import Type from "typebox";
import Value from "typebox/value";
import { DomainError } from "@herald/core/domain-error";
import { describeSchemaErrors } from "@herald/core/validation";
import type { MessageNews } from "../messages/message-ledger.ts";

/**
 * What SES, SendGrid, Postmark and Mailgun post, as TypeBox schemas of the fields Herald
 * reads (providers add fields freely, so unknown ones pass), and the news in each. A body
 * that does not match is an `invalid` error naming the path of every problem; a SendGrid
 * batch is checked event by event, so one bad event leaves the others their effect.
 */

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

const Str = Type.String();
const Opt = <T extends Type.TSchema>(schema: T) => Type.Optional(schema);

/** Throws `invalid` unless `value` matches `schema`; paths start at `at`. */
export function checkBody<S extends Type.TSchema>(
  schema: S,
  value: unknown,
  at: string,
  what: string,
): Type.Static<S> {
  if (Value.Check(schema, value)) return value;
  const details = describeSchemaErrors(Value.Errors(schema, value), at);
  throw new DomainError(
    "invalid",
    `${what}: ${details[0]?.path} ${details[0]?.message}`,
    details,
  );
}

// ---- SES (the JSON in an SNS notification's Message) ----

const SesMail = Type.Object({
  messageId: Opt(Str),
  headers: Opt(Type.Array(Type.Object({ name: Str, value: Str }))),
  commonHeaders: Opt(Type.Object({ messageId: Opt(Str) })),
});

const SesNotification = Type.Object({
  notificationType: Opt(Str),
  eventType: Opt(Str),
  mail: SesMail,
});

const SesBounce = Type.Object({
  bounce: Type.Object({
    bounceType: Str,
    bounceSubType: Opt(Str),
    bouncedRecipients: Type.Array(
      Type.Object({ emailAddress: Str, diagnosticCode: Opt(Str) }),
    ),
  }),
});

const SesComplaint = Type.Object({
  complaint: Type.Object({
    complaintFeedbackType: Opt(Str),
    complainedRecipients: Type.Array(Type.Object({ emailAddress: Str })),
  }),
});

const SesDelivery = Type.Object({
  delivery: Type.Object({ recipients: Type.Array(Str) }),
});

/** The news in an SNS notification's `Message` (SES notification or event publishing). */
export function sesNews(messageText: string): EmailNews[] {
  let m: unknown;
  try {
    m = JSON.parse(messageText);
  } catch {
    throw new DomainError(
      "invalid",
      "an SES notification's Message is JSON: this one is not",
      [{ path: "/body/Message", message: "is not JSON" }],
    );
  }
  const what = "not an SES notification";
  const at = "/body/Message";
  const n = checkBody(SesNotification, m, at, what);
  const type = n.notificationType ?? n.eventType;
  const ids = [
    ...(n.mail.headers ?? [])
      .filter((h) => /^(x-herald-message-id|message-id)$/i.test(h.name))
      .map((h) => h.value),
    n.mail.commonHeaders?.messageId,
  ];
  const base = {
    ids,
    ...(n.mail.messageId ? { providerMessageId: n.mail.messageId } : {}),
  };
  if (type === "Bounce") {
    const { bounce: b } = checkBody(SesBounce, m, at, what);
    return b.bouncedRecipients.map((r) => ({
      ...base,
      news: "bounced" as const,
      address: r.emailAddress,
      bounceType: b.bounceType === "Permanent" ? "hard" : "soft",
      reason:
        `${b.bounceType}/${b.bounceSubType ?? ""} ${r.diagnosticCode ?? ""}`.trim(),
    }));
  }
  if (type === "Complaint") {
    const { complaint: c } = checkBody(SesComplaint, m, at, what);
    return c.complainedRecipients.map((r) => ({
      ...base,
      news: "complained" as const,
      address: r.emailAddress,
      ...(c.complaintFeedbackType ? { reason: c.complaintFeedbackType } : {}),
    }));
  }
  if (type === "Delivery") {
    const { delivery } = checkBody(SesDelivery, m, at, what);
    return delivery.recipients.map((address) => ({
      ...base,
      news: "delivered" as const,
      address,
    }));
  }
  return [];
}

// ---- SendGrid (the Event Webhook's JSON array) ----

const SendgridEvent = Type.Object({
  event: Str,
  email: Str,
  type: Opt(Str),
  reason: Opt(Str),
  "smtp-id": Opt(Str),
  sg_message_id: Opt(Str),
  herald_message_id: Opt(Str),
});

/** A SendGrid event Herald could not read: its index in the batch and why. */
export interface RejectedEvent {
  index: number;
  path: string;
  reason: string;
}

/** The news in a SendGrid batch, and the events that are not SendGrid events. */
export function sendgridNews(body: unknown): {
  items: EmailNews[];
  rejected: RejectedEvent[];
} {
  if (!Array.isArray(body))
    throw new DomainError(
      "invalid",
      "SendGrid's Event Webhook posts a JSON array of events: this body is not one",
      [{ path: "/body", message: "must be an array" }],
    );
  const items: EmailNews[] = [];
  const rejected: RejectedEvent[] = [];
  body.forEach((e: unknown, index) => {
    if (!Value.Check(SendgridEvent, e)) {
      const [first] = describeSchemaErrors(
        Value.Errors(SendgridEvent, e),
        `/body/${index}`,
      );
      rejected.push({
        index,
        path: first?.path ?? `/body/${index}`,
        reason: first?.message ?? "is not a SendGrid event",
      });
      return;
    }
    const base = {
      address: e.email,
      ids: [e.herald_message_id, e["smtp-id"], e.sg_message_id],
      ...(e.reason ? { reason: e.reason } : {}),
    };
    if (e.event === "bounce")
      items.push({
        ...base,
        news: "bounced",
        bounceType: e.type === "blocked" ? "soft" : "hard",
      });
    else if (e.event === "spamreport")
      items.push({ ...base, news: "complained" });
    else if (e.event === "delivered")
      items.push({ ...base, news: "delivered" });
    else if (e.event === "unsubscribe" || e.event === "group_unsubscribe")
      items.push({ ...base, news: "unsubscribed" });
  });
  if (items.length === 0 && rejected.length > 0) {
    const first = rejected[0];
    throw new DomainError(
      "invalid",
      `no event of this SendGrid batch can be read: ${first?.path} ${first?.reason}`,
      rejected.map((r) => ({ path: r.path, message: r.reason })),
    );
  }
  return { items, rejected };
}

// ---- Postmark (one record per request) ----

const PostmarkRecord = Type.Object({
  RecordType: Str,
  MessageID: Opt(Str),
  Email: Opt(Str),
  Recipient: Opt(Str),
  Type: Opt(Str),
  Description: Opt(Str),
  Details: Opt(Str),
  SuppressSending: Opt(Type.Boolean()),
  Metadata: Opt(Type.Record(Type.String(), Type.Unknown())),
});

const hardPostmarkBounces = [
  "HardBounce",
  "BadEmailAddress",
  "ManuallyDeactivated",
  "Blocked",
];

/** The news in a Postmark webhook record. */
export function postmarkNews(body: unknown): EmailNews[] {
  const r = checkBody(
    PostmarkRecord,
    body,
    "/body",
    "not a Postmark webhook record",
  );
  const metadata = r.Metadata ?? {};
  const base = {
    ids: [metadata.herald_message_id, ...Object.values(metadata)],
    address: r.Email ?? r.Recipient,
    ...(r.MessageID ? { providerMessageId: r.MessageID } : {}),
  };
  if (r.RecordType === "Bounce")
    return [
      {
        ...base,
        news: "bounced",
        bounceType: hardPostmarkBounces.includes(r.Type ?? "")
          ? "hard"
          : "soft",
        reason: `${r.Type ?? ""}: ${r.Description || r.Details || ""}`,
      },
    ];
  if (r.RecordType === "SpamComplaint")
    return [{ ...base, news: "complained" }];
  if (r.RecordType === "Delivery") return [{ ...base, news: "delivered" }];
  if (r.RecordType === "SubscriptionChange" && r.SuppressSending === true)
    return [{ ...base, news: "unsubscribed" }];
  return [];
}

// ---- Mailgun (webhooks' event-data) ----

const MailgunEventData = Type.Object({
  event: Str,
  severity: Opt(Str),
  recipient: Opt(Str),
  reason: Opt(Str),
  message: Opt(
    Type.Object({
      headers: Opt(Type.Object({ "message-id": Opt(Str) })),
    }),
  ),
  "user-variables": Opt(Type.Record(Type.String(), Type.Unknown())),
  "delivery-status": Opt(
    Type.Object({
      code: Opt(Type.Union([Type.Number(), Str])),
      description: Opt(Str),
      message: Opt(Str),
    }),
  ),
});

/** The news in a Mailgun webhook's `event-data`. */
export function mailgunNews(eventData: unknown): EmailNews[] {
  const e = checkBody(
    MailgunEventData,
    eventData,
    "/body/event-data",
    "not a Mailgun webhook",
  );
  const vars = e["user-variables"] ?? {};
  const status = e["delivery-status"] ?? {};
  const reason = [status.code, status.description ?? status.message, e.reason]
    .filter((x) => x !== undefined && x !== "")
    .join(" ");
  const base = {
    ids: [
      vars.herald_message_id,
      e.message?.headers?.["message-id"],
      ...Object.values(vars),
    ],
    address: e.recipient,
    ...(reason ? { reason } : {}),
  };
  if (e.event === "failed")
    return [
      {
        ...base,
        news: "bounced",
        bounceType: e.severity === "permanent" ? "hard" : "soft",
      },
    ];
  if (e.event === "complained") return [{ ...base, news: "complained" }];
  if (e.event === "delivered") return [{ ...base, news: "delivered" }];
  if (e.event === "unsubscribed") return [{ ...base, news: "unsubscribed" }];
  return [];
}
