import {
  createHmac,
  createPublicKey,
  verify,
  type KeyObject,
} from "node:crypto";
import { ms } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { constantTimeEqual } from "@herald/core/messages/tracking";

/**
 * How SendGrid, Mailgun and Postmark prove that a webhook came from them, checked with
 * what the workspace configured (`email.sendgridVerificationKey`, `email.mailgunSigningKey`,
 * `email.postmarkWebhookAuth`). Each check throws `unauthorized` with what was wrong, or
 * `forbidden` when the workspace has not configured the provider's credential yet.
 */

/** How far a signed timestamp may be from now before the request counts as a replay. */
const webhookToleranceMs = 5 * ms.minute;

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

function checkTimestamp(provider: string, seconds: string, now: Date): void {
  const at = Number(seconds) * 1000;
  if (!/^\d{1,12}$/.test(seconds) || !Number.isFinite(at))
    throw new DomainError(
      "unauthorized",
      `the ${provider} timestamp ${JSON.stringify(seconds)} is not Unix seconds`,
    );
  if (Math.abs(now.getTime() - at) > webhookToleranceMs)
    throw new DomainError(
      "unauthorized",
      `the ${provider} timestamp is more than 5 minutes from now: an old request replayed, or a clock that is off`,
    );
}

const unconfigured = (provider: string, setting: string) =>
  new DomainError(
    "forbidden",
    `${provider} webhooks are refused until the workspace sets ${setting}: PATCH /api/workspace/settings`,
  );

/** Checks SendGrid's ECDSA signature over timestamp + raw body. */
export function verifySendgrid(input: {
  publicKey: string | undefined;
  signature: string | string[] | undefined;
  timestamp: string | string[] | undefined;
  rawBody: string;
  now: Date;
}): void {
  if (!input.publicKey)
    throw unconfigured(
      "SendGrid",
      "email.sendgridVerificationKey (Mail Settings → Signed Event Webhook → verification key)",
    );
  const { signature, timestamp } = input;
  if (typeof signature !== "string" || typeof timestamp !== "string")
    throw new DomainError(
      "unauthorized",
      "X-Twilio-Email-Event-Webhook-Signature and X-Twilio-Email-Event-Webhook-Timestamp are required: turn on the Signed Event Webhook",
    );
  checkTimestamp("SendGrid", timestamp, input.now);
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

/** Checks Mailgun's HMAC-SHA256 of timestamp + token with the webhook signing key. */
export function verifyMailgun(input: {
  signingKey: string | undefined;
  signature: { timestamp: string; token: string; signature: string };
  now: Date;
}): void {
  if (!input.signingKey)
    throw unconfigured(
      "Mailgun",
      "email.mailgunSigningKey (Sending → Webhooks → HTTP webhook signing key)",
    );
  const { timestamp, token, signature } = input.signature;
  checkTimestamp("Mailgun", timestamp, input.now);
  const expected = createHmac("sha256", input.signingKey)
    .update(`${timestamp}${token}`)
    .digest("hex");
  if (!constantTimeEqual(expected, signature.toLowerCase()))
    throw new DomainError(
      "unauthorized",
      "the Mailgun signature does not match email.mailgunSigningKey",
    );
}

/** Checks the HTTP basic auth Postmark sends from a webhook URL `https://user:password@…`. */
export function verifyPostmark(input: {
  auth: { username: string; password: string } | undefined;
  authorization: string | undefined;
}): void {
  if (!input.auth)
    throw unconfigured(
      "Postmark",
      "email.postmarkWebhookAuth {username, password} (and put them in the webhook URL as https://username:password@…)",
    );
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(input.authorization ?? "");
  const given = match?.[1] ? Buffer.from(match[1], "base64").toString() : "";
  const colon = given.indexOf(":");
  const ok =
    colon >= 0 &&
    constantTimeEqual(given.slice(0, colon), input.auth.username) &&
    constantTimeEqual(given.slice(colon + 1), input.auth.password);
  if (!ok)
    throw new DomainError(
      "unauthorized",
      "the Postmark webhook's basic auth does not match email.postmarkWebhookAuth: the URL must be https://username:password@…",
    );
}
