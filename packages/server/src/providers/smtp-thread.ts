import { Worker } from "node:worker_threads";
import type { OutgoingMessage, Provider, SendOutcome } from "./provider.ts";
import type { SmtpOptions } from "./smtp.ts";

/**
 * SMTP off the main thread. Building and encoding MIME is most of what sending an email
 * costs (nodemailer: about a millisecond of CPU per message), and on the main thread it
 * competes with the claim loop, the HTTP API and, on the embedded database, PGlite
 * itself. So every SMTP transport of the process lives in one worker thread
 * (`smtp-thread-main.ts`); `ThreadedSmtpProvider` is its stand-in here, speaking in
 * messages: `open` a transport by key and options, `send` on it, `close` it.
 *
 * The thread starts with the first send and then stays, ready for the next transport (a
 * sender restarted, settings changed); it holds the process open only while a send or a
 * close waits on it. If it dies, the sends it held fail as `outcome_unknown`, like sends
 * interrupted by a crash (perhaps they went out, so they are never resent by
 * themselves), and the next send starts a new thread with the transports reopened.
 */

/** What the main thread asks of the SMTP thread. */
export type SmtpThreadRequest =
  | { op: "open"; key: string; options: SmtpOptions }
  | { op: "send"; key: string; id: number; message: OutgoingMessage }
  | { op: "close"; key: string; id: number };

/** What the thread answers to a `send` (its outcome) or a `close`. */
export type SmtpThreadReply = { id: number; outcome?: SendOutcome };

const entry = new URL("../../bin/smtp-thread.js", import.meta.url);

class SmtpThread {
  #worker: Worker | undefined;
  #next = 1;
  readonly #waiting = new Map<number, (reply: SmtpThreadReply) => void>();
  readonly #open = new Map<string, SmtpOptions>();

  open(key: string, options: SmtpOptions): void {
    this.#open.set(key, options);
    this.#worker?.postMessage({ op: "open", key, options });
  }

  async send(key: string, message: OutgoingMessage): Promise<SendOutcome> {
    const reply = await this.#ask((id) => ({ op: "send", key, id, message }));
    return (
      reply.outcome ?? {
        ok: false,
        provider: "smtp",
        kind: "transient",
        error: "the SMTP thread gave no answer",
      }
    );
  }

  async close(key: string): Promise<void> {
    if (!this.#open.delete(key) || !this.#worker) return;
    await this.#ask((id) => ({ op: "close", key, id }));
  }

  async crash(): Promise<void> {
    await this.#worker?.terminate();
  }

  #ask(request: (id: number) => SmtpThreadRequest): Promise<SmtpThreadReply> {
    const id = this.#next++;
    const worker = this.#start();
    return new Promise<SmtpThreadReply>((resolve) => {
      if (this.#waiting.size === 0) worker.ref();
      this.#waiting.set(id, resolve);
      worker.postMessage(request(id));
    });
  }

  #answer(reply: SmtpThreadReply): void {
    const resolve = this.#waiting.get(reply.id);
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#worker?.unref();
    resolve?.(reply);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(entry);
    worker.unref();
    this.#worker = worker;
    for (const [key, options] of this.#open)
      worker.postMessage({ op: "open", key, options });
    worker.on("message", (reply: SmtpThreadReply) => this.#answer(reply));
    const died = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      // As after a crash (DESIGN.md: interrupted sends): perhaps sent, so never resent.
      const outcome: SendOutcome = {
        ok: false,
        provider: "smtp",
        kind: "permanent",
        error: `outcome_unknown: the SMTP thread stopped (${why}) while the message was with it`,
      };
      for (const resolve of this.#waiting.values()) resolve({ id: 0, outcome });
      this.#waiting.clear();
    };
    worker.on("error", (error) => died(String(error)));
    worker.on("exit", (code) => died(`exit code ${code}`));
    return worker;
  }
}

const thread = new SmtpThread();

/** Ends the SMTP thread at once, as a crash would (tests of what a crash leaves). */
export function crashSmtpThread(): Promise<void> {
  return thread.crash();
}
let nextKey = 1;

/** An SMTP transport in the SMTP thread (see the module comment). */
export class ThreadedSmtpProvider implements Provider {
  readonly name = "smtp";
  readonly #key = `smtp-${nextKey++}`;

  constructor(options: SmtpOptions) {
    thread.open(this.#key, options);
  }

  send(message: OutgoingMessage): Promise<SendOutcome> {
    return thread.send(this.#key, message);
  }

  close(): Promise<void> {
    return thread.close(this.#key);
  }
}
