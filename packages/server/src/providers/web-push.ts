import webPush from "web-push";
import {
  networkOutcome,
  postWithTimeout,
  retryAfterMs,
  type OutgoingMessage,
  type Provider,
  type SendOutcome,
} from "./provider.ts";

/**
 * Web push (RFC 8030) with the payload encrypted for the browser (RFC 8291, aes128gcm)
 * and signed with the workspace's VAPID key (RFC 8292), both by `web-push`; the request
 * itself goes out through fetch, so any push service URL works. 201 is accepted; 404 and
 * 410 mean the subscription is gone (the sender deletes it); 429 and 5xx are retried;
 * 413 and other 4xx fail.
 */

/** VAPID identity of a workspace. */
export interface VapidOptions {
  publicKey: string;
  privateKey: string;
  subject: string;
  ttlSeconds: number;
}

/** The JSON the service worker receives. */
export interface PushPayload {
  title: string;
  body: string;
  icon?: string;
  url?: string;
  messageId: string;
}

/** See the module comment. */
export class WebPushProvider implements Provider {
  readonly name = "web-push";
  readonly #vapid: VapidOptions;

  constructor(vapid: VapidOptions) {
    this.#vapid = vapid;
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    const c = message.content;
    if (c.channel !== "push" || !message.push)
      throw new Error(
        "web-push needs a push message and its subscription keys",
      );
    const payload: PushPayload = {
      title: c.title,
      body: c.body,
      ...(c.icon ? { icon: c.icon } : {}),
      ...(c.url ? { url: c.url } : {}),
      messageId: message.id,
    };
    let details;
    try {
      details = webPush.generateRequestDetails(
        { endpoint: message.to, keys: message.push },
        JSON.stringify(payload),
        {
          vapidDetails: {
            subject: this.#vapid.subject,
            publicKey: this.#vapid.publicKey,
            privateKey: this.#vapid.privateKey,
          },
          TTL: this.#vapid.ttlSeconds,
          urgency: "normal",
          contentEncoding: "aes128gcm",
        },
      );
    } catch (error) {
      return {
        ok: false,
        provider: this.name,
        kind: "permanent",
        error: `cannot encrypt for this subscription: ${error instanceof Error ? error.message : String(error)}`,
        gone: true,
        recipientOnly: true,
      };
    }
    let response: Response;
    try {
      response = await postWithTimeout(details.endpoint, {
        headers: Object.fromEntries(
          Object.entries(details.headers).map(([k, v]) => [k, String(v)]),
        ),
        body: details.body,
      });
    } catch (error) {
      return networkOutcome(this.name, error);
    }
    const text = await response.text().catch(() => "");
    if (response.status >= 200 && response.status < 300)
      return {
        ok: true,
        provider: this.name,
        ...(response.headers.get("location")
          ? { providerMessageId: response.headers.get("location") ?? "" }
          : {}),
      };
    const error = `push service answered HTTP ${response.status}: ${text.slice(0, 200)}`;
    if (response.status === 404 || response.status === 410)
      return {
        ok: false,
        provider: this.name,
        kind: "permanent",
        error,
        gone: true,
        recipientOnly: true,
      };
    if (response.status === 429 || response.status >= 500) {
      const wait = retryAfterMs(response.headers.get("retry-after"));
      return {
        ok: false,
        provider: this.name,
        kind: "transient",
        error,
        ...(wait === undefined ? {} : { retryAfterMs: wait }),
      };
    }
    return {
      ok: false,
      provider: this.name,
      kind: "permanent",
      error,
      recipientOnly: true,
    };
  }
}
