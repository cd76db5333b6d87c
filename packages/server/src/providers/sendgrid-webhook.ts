import { createPublicKey, verify, type KeyObject } from "node:crypto";
import Type from "typebox";
import Value from "typebox/value";
import { DomainError } from "@herald/core/domain-error";
import { describeSchemaErrors } from "@herald/core/validation";
import type { EmailNews } from "./email-news.ts";
import {
  checkSignedTimestamp,
  unconfiguredProvider,
} from "./webhook-checks.ts";

/**
 * SendGrid's Event Webhook: a JSON array of events (bounce, spamreport, delivered,
 * unsubscribe), signed with ECDSA P-256 over timestamp + raw body with the key in
 * `email.sendgridVerificationKey`. The batch is read event by event, so one event Herald
 * cannot read leaves the others their effect and comes back as `rejected`.
 */

const Str = Type.String();
const Opt = <T extends Type.TSchema>(schema: T) => Type.Optional(schema);

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

/** The public key of SendGrid's Signed Event Webhook: base64 DER (as SendGrid shows it) or PEM. */
function sendgridPublicKey(value: string): KeyObject {
  const key = value.includes("-----BEGIN")
    ? createPublicKey(value)
    : createPublicKey({
        key: Buffer.from(value.replace(/\s+/g, ""), "base64"),
        format: "der",
        type: "spki",
      });
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== "ec" || details?.namedCurve !== "prime256v1")
    throw new Error("not an ECDSA P-256 public key");
  return key;
}

/** True when a settings value is a usable SendGrid verification key. */
export function isSendgridPublicKey(value: string): boolean {
  try {
    sendgridPublicKey(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks SendGrid's ECDSA signature over timestamp + raw body: `forbidden` until the
 * workspace sets its verification key, `unauthorized` when it does not match.
 */
export function verifySendgrid(input: {
  publicKey: string | undefined;
  signature: string | string[] | undefined;
  timestamp: string | string[] | undefined;
  rawBody: string;
  now: Date;
}): void {
  if (!input.publicKey)
    throw unconfiguredProvider(
      "SendGrid",
      "email.sendgridVerificationKey (Mail Settings → Signed Event Webhook → verification key)",
    );
  const { signature, timestamp } = input;
  if (typeof signature !== "string" || typeof timestamp !== "string")
    throw new DomainError(
      "unauthorized",
      "X-Twilio-Email-Event-Webhook-Signature and X-Twilio-Email-Event-Webhook-Timestamp are required: turn on the Signed Event Webhook",
    );
  checkSignedTimestamp("SendGrid", timestamp, input.now);
  let signed = false;
  try {
    signed = verify(
      "sha256",
      Buffer.from(timestamp + input.rawBody, "utf8"),
      sendgridPublicKey(input.publicKey),
      Buffer.from(signature, "base64"),
    );
  } catch {
    signed = false;
  }
  if (!signed)
    throw new DomainError(
      "unauthorized",
      "X-Twilio-Email-Event-Webhook-Signature does not match email.sendgridVerificationKey",
    );
}
