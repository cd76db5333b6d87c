import { isJsonObject } from "@herald/core/events/event";
import {
  httpOutcome,
  networkOutcome,
  postWithTimeout,
  type OutgoingMessage,
  type Provider,
  type SendOutcome,
} from "./provider.ts";

/**
 * SMS through any HTTP gateway: POST `{to, from, text, messageId}` as JSON to the
 * configured URL with the configured headers. 2xx is sent (an `id` or `messageId` in the
 * answer is kept), 408/429/5xx are retried, other 4xx fail.
 */
export class HttpSmsProvider implements Provider {
  readonly name = "http-sms";
  readonly #url: string;
  readonly #from: string | undefined;
  readonly #headers: Record<string, string>;

  constructor(options: {
    url: string;
    from?: string;
    headers?: Record<string, string>;
  }) {
    this.#url = options.url;
    this.#from = options.from;
    this.#headers = options.headers ?? {};
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    if (message.content.channel !== "sms")
      throw new Error(`http-sms cannot send ${message.content.channel}`);
    let response: Response;
    try {
      response = await postWithTimeout(this.#url, {
        headers: { ...this.#headers, "content-type": "application/json" },
        body: JSON.stringify({
          to: message.to,
          from: this.#from,
          text: message.content.text,
          messageId: message.id,
        }),
      });
    } catch (error) {
      return networkOutcome(this.name, error);
    }
    const text = await response.text().catch(() => "");
    if (!response.ok)
      return httpOutcome(
        this.name,
        response.status,
        text.slice(0, 300),
        response.headers.get("retry-after"),
      );
    let id: string | undefined;
    try {
      const body: unknown = JSON.parse(text);
      const raw = isJsonObject(body) ? (body.id ?? body.messageId) : undefined;
      if (typeof raw === "string" || typeof raw === "number") id = String(raw);
    } catch {
      // A gateway that answers with no JSON still took the message.
    }
    return {
      ok: true,
      provider: this.name,
      ...(id ? { providerMessageId: id } : {}),
    };
  }
}
