import type { OutgoingMessage, Provider, SendOutcome } from "./provider.ts";

/**
 * The built-in outbox: with no provider configured for a channel, a message is kept on
 * the ledger (rendered content, headers) instead of being sent, and `GET /api/outbox`
 * shows it, so a newcomer sees what would have gone out.
 */
export class OutboxProvider implements Provider {
  readonly name = "outbox";

  send(message: OutgoingMessage): Promise<SendOutcome> {
    return Promise.resolve({
      ok: true,
      provider: this.name,
      providerMessageId: `outbox-${message.id}`,
    });
  }
}
