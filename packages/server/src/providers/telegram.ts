import Type from "typebox";
import { isJsonObject } from "@herald/core/events/event";
import Value from "typebox/value";
import {
  networkOutcome,
  postWithTimeout,
  type OutgoingMessage,
  type Provider,
  type SendOutcome,
} from "./provider.ts";

/** The fields of a Bot API answer Herald reads (others pass). */
const BotAnswer = Type.Object({
  ok: Type.Optional(Type.Boolean()),
  /** The sent message (`{message_id}`) for sendMessage, `true` for setWebhook. */
  result: Type.Optional(Type.Unknown()),
  error_code: Type.Optional(Type.Number()),
  description: Type.Optional(Type.String()),
  parameters: Type.Optional(
    Type.Object({ retry_after: Type.Optional(Type.Number()) }),
  ),
});

/**
 * A workspace's Telegram bot through the Bot API (`POST {base}/bot<token>/<method>` with
 * JSON, answered `{ok, result}` or `{ok: false, error_code, description, parameters}`).
 * The base URL is configurable so tests run against a local fake. 403 (the shopper
 * blocked the bot) means the chat is gone; 429 carries `retry_after`.
 */
export class TelegramProvider implements Provider {
  readonly name = "telegram";
  readonly #base: string;

  constructor(options: { botToken: string; baseUrl: string }) {
    this.#base = `${options.baseUrl.replace(/\/+$/, "")}/bot${options.botToken}`;
  }

  /** Calls a Bot API method; resolves to its outcome. */
  async call(
    method: string,
    body: Record<string, unknown>,
  ): Promise<SendOutcome> {
    let response: Response;
    try {
      response = await postWithTimeout(`${this.#base}/${method}`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (error) {
      return networkOutcome(this.name, error);
    }
    const json: unknown = await response.json().catch(() => ({}));
    const answer = Value.Check(BotAnswer, json) ? json : {};
    if (response.ok && answer.ok)
      return {
        ok: true,
        provider: this.name,
        ...(isJsonObject(answer.result) &&
        typeof answer.result.message_id === "number"
          ? { providerMessageId: String(answer.result.message_id) }
          : {}),
      };
    const status = answer.error_code ?? response.status;
    const error = `Telegram ${status}: ${answer.description ?? response.statusText}`;
    if (status === 429 || status >= 500)
      return {
        ok: false,
        provider: this.name,
        kind: "transient",
        error,
        ...(answer.parameters?.retry_after !== undefined
          ? { retryAfterMs: answer.parameters.retry_after * 1000 }
          : {}),
      };
    return {
      ok: false,
      provider: this.name,
      kind: "permanent",
      error,
      gone: status === 403,
      recipientOnly: status === 400 || status === 403,
    };
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    const c = message.content;
    if (c.channel !== "telegram")
      throw new Error(`telegram cannot send ${c.channel}`);
    return this.call("sendMessage", {
      chat_id: message.to,
      text: c.text,
      ...(c.buttons?.length
        ? {
            reply_markup: {
              inline_keyboard: c.buttons.map((b) => [
                { text: b.text, url: b.url },
              ]),
            },
          }
        : {}),
    });
  }
}
