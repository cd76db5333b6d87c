import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { SnsFetch } from "../providers/sns-verifier.ts";

/**
 * Email providers' webhooks as the providers sign them, with keys made in the test: an
 * SNS signing certificate (a self-signed X.509 built here, since node:crypto signs but
 * does not issue certificates) served by a stand-in for sns.<region>.amazonaws.com,
 * SendGrid's ECDSA P-256 key pair, Mailgun's HMAC and Postmark's basic auth.
 */

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const length: number[] = [];
  for (let n = body.length; n > 0; n >>= 8) length.unshift(n & 0xff);
  const head =
    body.length < 128 ? [body.length] : [0x80 | length.length, ...length];
  return Buffer.concat([Buffer.from([tag, ...head]), body]);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

const sequence = (...parts: Buffer[]) => der(0x30, ...parts);
const utcTime = (at: Date) =>
  der(
    0x17,
    Buffer.from(
      `${at.toISOString().slice(2, 19).replace(/[-T:]/g, "")}Z`,
      "ascii",
    ),
  );

/** A self-signed RSA certificate valid from 2025 to 2030, and its private key. */
export function testCertificate(): { pem: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  });
  const algorithm = sequence(oid("1.2.840.113549.1.1.11"), der(0x05));
  const name = sequence(
    der(
      0x31,
      sequence(oid("2.5.4.3"), der(0x0c, Buffer.from("sns.amazonaws.com"))),
    ),
  );
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.from([0x01, 0x23, 0x45])),
    algorithm,
    name,
    sequence(
      utcTime(new Date("2025-01-01T00:00:00Z")),
      utcTime(new Date("2030-01-01T00:00:00Z")),
    ),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = sign("sha256", tbs, privateKey);
  const certificate = sequence(
    tbs,
    algorithm,
    der(0x03, Buffer.from([0]), signature),
  );
  const lines = certificate.toString("base64").match(/.{1,64}/g) ?? [];
  return {
    pem: `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`,
    privateKey,
  };
}

/** Where the test SNS keeps its certificate. */
export const snsCertUrl =
  "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";

/** A stand-in for SNS's hosts: serves `certificate` and records every URL asked for. */
export function fakeSns(certificate: string): {
  fetch: SnsFetch;
  requested: string[];
} {
  const requested: string[] = [];
  return {
    requested,
    fetch: async (url) => {
      requested.push(url.href);
      return url.pathname.endsWith(".pem")
        ? new Response(certificate)
        : new Response("<ConfirmSubscriptionResponse/>");
    },
  };
}

/** An SNS message signed as SNS signs it (the string to sign as AWS documents it). */
export function signSnsMessage(
  fields: {
    Type: string;
    Message: string;
    Timestamp: string;
    MessageId?: string;
    TopicArn?: string;
    Subject?: string;
    SubscribeURL?: string;
    Token?: string;
  },
  privateKey: KeyObject,
  options: { version?: "1" | "2"; certUrl?: string } = {},
): Record<string, string> {
  const message: Record<string, string> = {
    MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    TopicArn: "arn:aws:sns:us-east-1:123456789012:ses-notifications",
    ...Object.fromEntries(
      Object.entries(fields).filter(([, v]) => v !== undefined),
    ),
  };
  const keys =
    message.Type === "Notification"
      ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
      : [
          "Message",
          "MessageId",
          "SubscribeURL",
          "Timestamp",
          "Token",
          "TopicArn",
          "Type",
        ];
  let text = "";
  for (const key of keys)
    if (message[key] !== undefined) text += `${key}\n${message[key]}\n`;
  const version = options.version ?? "1";
  return {
    ...message,
    SignatureVersion: version,
    Signature: sign(
      version === "1" ? "sha1" : "sha256",
      Buffer.from(text),
      privateKey,
    ).toString("base64"),
    SigningCertURL: options.certUrl ?? snsCertUrl,
  };
}

/** A SendGrid Signed Event Webhook key pair: the verification key as SendGrid shows it. */
export function sendgridKeys(): {
  verificationKey: string;
  privateKey: KeyObject;
} {
  const { publicKey, privateKey } = generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
  });
  return {
    verificationKey: publicKey
      .export({ type: "spki", format: "der" })
      .toString("base64"),
    privateKey,
  };
}

/** SendGrid's headers for `body` sent at `at`. */
export function sendgridHeaders(
  privateKey: KeyObject,
  body: string,
  at: Date,
): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  return {
    "x-twilio-email-event-webhook-timestamp": timestamp,
    "x-twilio-email-event-webhook-signature": sign(
      "sha256",
      Buffer.from(timestamp + body),
      privateKey,
    ).toString("base64"),
  };
}
