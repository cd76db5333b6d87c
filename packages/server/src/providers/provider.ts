import type {
  MessageChannel,
  RenderedMessage,
} from "@herald/core/messages/content";

/**
 * The port every delivery provider implements: hand one message over, say what happened.
 * Providers never touch the ledger; the sender records what they answer.
 */

/** A message ready for a provider: rendered, tracked, addressed. */
export interface OutgoingMessage {
  workspaceId: string;
  /** The ledger id. */
  id: string;
  channel: MessageChannel;
  /** Email address, E.164 phone, push endpoint, Telegram chat id, or webhook URL. */
  to: string;
  content: RenderedMessage;
  /** Extra email headers (List-Unsubscribe, …). */
  headers?: Record<string, string>;
  /** Push subscription keys, for web push. */
  push?: { p256dh: string; auth: string };
  /** When the sender set this attempt going (webhook timestamps). */
  at: Date;
}

/** What a provider says about one message. */
export type SendOutcome =
  | { ok: true; providerMessageId?: string; provider: string }
  | {
      ok: false;
      provider: string;
      /** transient: try again later; permanent: this message will never go. */
      kind: "transient" | "permanent";
      error: string;
      /** The provider asked to wait this long before the next try. */
      retryAfterMs?: number;
      /** The address is dead (hard bounce, expired push subscription, blocked bot). */
      gone?: boolean;
      /** A transient error of the recipient, not the provider (does not count toward a pause). */
      recipientOnly?: boolean;
    };

/** A delivery provider. */
export interface Provider {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendOutcome>;
  close?(): Promise<void>;
}

/** Reads an HTTP `Retry-After` header (seconds or a date) as milliseconds. */
export function retryAfterMs(
  header: string | null,
  now = Date.now(),
): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Classifies an HTTP status from a provider's API. */
export function httpOutcome(
  provider: string,
  status: number,
  detail: string,
  retryAfter?: string | null,
): SendOutcome {
  const transient = status === 408 || status === 429 || status >= 500;
  const wait = retryAfterMs(retryAfter ?? null);
  return {
    ok: false,
    provider,
    kind: transient ? "transient" : "permanent",
    error: `${provider} answered HTTP ${status}: ${detail}`.slice(0, 1000),
    ...(wait === undefined ? {} : { retryAfterMs: wait }),
  };
}

/** A provider's failure: what `SendOutcome` says when `ok` is false. */
export type SendFailure = Extract<SendOutcome, { ok: false }>;

/** A network failure (refused, reset, timed out) as a transient outcome. */
export function networkOutcome(provider: string, error: unknown): SendFailure {
  // What fetch and sockets throw (I/O): an Error, perhaps with a code and a cause.
  const e = error as {
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  const what =
    e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(error);
  return {
    ok: false,
    provider,
    kind: "transient",
    error: `${provider} unreachable: ${what}`,
  };
}

/** POSTs with a deadline; resolves to the response or throws a network error. */
export async function postWithTimeout(
  url: string,
  init: RequestInit,
  timeoutMs = 15_000,
): Promise<Response> {
  return fetch(url, {
    ...init,
    method: init.method ?? "POST",
    signal: AbortSignal.timeout(timeoutMs),
  });
}
