import Type from "typebox";
import Value from "typebox/value";
import { DomainError } from "@herald/core/domain-error";
import type { EmailNews } from "./email-news.ts";
import { SnsEnvelope } from "./sns-verifier.ts";
import { checkBody } from "./webhook-checks.ts";

/**
 * Amazon SES notifications, which arrive through SNS: the SNS envelope (whose signature
 * `SnsVerifier` checks) carries, in its `Message`, the JSON of an SES notification or an
 * event-publishing record (Bounce, Complaint, Delivery). Schemas cover the fields Herald
 * reads; SES adds fields freely, so unknown ones pass.
 */

const Str = Type.String();
const Opt = <T extends Type.TSchema>(schema: T) => Type.Optional(schema);

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

/** The SNS message a request carries; `unauthorized` when it is not a signed SNS message. */
export function readSnsEnvelope(body: unknown): SnsEnvelope {
  if (!Value.Check(SnsEnvelope, body))
    throw new DomainError(
      "unauthorized",
      "not a signed SNS message: subscribe this URL to the SNS topic SES notifies (Type, MessageId, Message, Timestamp, TopicArn, SignatureVersion, Signature and SigningCertURL are required)",
    );
  return body;
}

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
