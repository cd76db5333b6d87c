import { createHmac } from "node:crypto";
import {
  httpOutcome,
  networkOutcome,
  postWithTimeout,
  type OutgoingMessage,
  type Provider,
  type SendOutcome,
} from "./provider.ts";

/**
 * Webhooks: the message body POSTed as JSON, signed so the receiver can trust it.
 *
 *   X-Herald-Timestamp: <unix seconds>
 *   X-Herald-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *   X-Herald-Delivery:  <ledger id>   (the same on every retry: receivers drop repeats)
 *
 * Receivers should refuse timestamps more than five minutes old. Delivery is
 * at-least-once: 408, 429, 5xx and network errors are retried with backoff.
 */

/** The signature header value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(
  secret: string,
  timestamp: number,
  body: string,
): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** See the module comment. */
export class WebhookProvider implements Provider {
  readonly name = "webhook";
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    if (message.content.channel !== "webhook")
      throw new Error(`webhook cannot send ${message.content.channel}`);
    const body = JSON.stringify(message.content.body);
    const timestamp = Math.floor(message.at.getTime() / 1000);
    let response: Response;
    try {
      response = await postWithTimeout(message.to, {
        headers: {
          "content-type": "application/json",
          "user-agent": "Herald-Webhooks/1",
          "x-herald-timestamp": String(timestamp),
          "x-herald-signature": webhookSignature(this.#secret, timestamp, body),
          "x-herald-delivery": message.id,
        },
        body,
        redirect: "manual",
      });
    } catch (error) {
      return { ...networkOutcome(this.name, error), recipientOnly: true };
    }
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300)
      return { ok: true, provider: this.name };
    const outcome = httpOutcome(
      this.name,
      response.status,
      response.statusText,
      response.headers.get("retry-after"),
    );
    // Each webhook URL is its own receiver: one failing endpoint must not pause the others.
    return outcome.ok ? outcome : { ...outcome, recipientOnly: true };
  }
}
