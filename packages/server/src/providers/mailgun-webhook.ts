import { createHmac } from "node:crypto";
import Type from "typebox";
import Value from "typebox/value";
import { DomainError } from "@herald/core/domain-error";
import { constantTimeEqual } from "@herald/core/messages/tracking";
import type { EmailNews } from "./email-news.ts";
import {
  checkBody,
  checkSignedTimestamp,
  unconfiguredProvider,
} from "./webhook-checks.ts";

/**
 * Mailgun's webhooks: `{signature: {timestamp, token, signature}, "event-data": …}` with
 * the events failed, complained, delivered and unsubscribed; the signature is an
 * HMAC-SHA256 of timestamp + token with `email.mailgunSigningKey`.
 */

const Str = Type.String();
const Opt = <T extends Type.TSchema>(schema: T) => Type.Optional(schema);

/** What a Mailgun webhook must carry before anything else is read: its signature. */
const MailgunWebhook = Type.Object({
  signature: Type.Object({
    timestamp: Type.Union([Type.String(), Type.Integer()]),
    token: Type.String(),
    signature: Type.String(),
  }),
  "event-data": Opt(Type.Unknown()),
});

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

/** The signature of a Mailgun webhook, as `verifyMailgun` checks it. */
export interface MailgunSignature {
  timestamp: string;
  token: string;
  signature: string;
}

/** A Mailgun webhook's signature and its (unchecked) `event-data`; `unauthorized` without one. */
export function readMailgunWebhook(body: unknown): {
  signature: MailgunSignature;
  eventData: unknown;
} {
  if (!Value.Check(MailgunWebhook, body))
    throw new DomainError(
      "unauthorized",
      "a Mailgun webhook carries signature {timestamp, token, signature}: this one has none",
    );
  const { signature } = body;
  return {
    signature: { ...signature, timestamp: String(signature.timestamp) },
    eventData: body["event-data"],
  };
}

/**
 * Checks Mailgun's HMAC-SHA256 of timestamp + token with the webhook signing key:
 * `forbidden` until the workspace sets it, `unauthorized` when it does not match.
 */
export function verifyMailgun(input: {
  signingKey: string | undefined;
  signature: MailgunSignature;
  now: Date;
}): void {
  if (!input.signingKey)
    throw unconfiguredProvider(
      "Mailgun",
      "email.mailgunSigningKey (Sending → Webhooks → HTTP webhook signing key)",
    );
  const { timestamp, token, signature } = input.signature;
  checkSignedTimestamp("Mailgun", timestamp, input.now);
  const expected = createHmac("sha256", input.signingKey)
    .update(`${timestamp}${token}`)
    .digest("hex");
  if (!constantTimeEqual(expected, signature.toLowerCase()))
    throw new DomainError(
      "unauthorized",
      "the Mailgun signature does not match email.mailgunSigningKey",
    );
}

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
