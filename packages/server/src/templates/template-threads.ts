import os from "node:os";
import { Worker } from "node:worker_threads";
import { DomainError, type ErrorDetail } from "@herald/core/domain-error";
import type { RenderedMessage } from "@herald/core/messages/content";
import type { ProductQuery } from "@herald/core/recommendations/recommendations";
import type {
  CompiledContent,
  TemplateContent,
} from "@herald/core/templates/template";
import { renderLimits, type RenderServices } from "./liquid.ts";
import type { ScopeInput } from "./render.ts";

/**
 * Compiling (MJML) and rendering (Liquid) off the main thread. A tenant's template can
 * cost seconds of CPU (a huge MJML body, a loop that runs until Liquid's 2 s limit); on
 * the main thread that would stall every tenant's ingest, API and sending. So each job
 * runs in a small pool of worker threads (`template-thread-main.ts`), one job per thread
 * at a time, the rest waiting in order.
 *
 * States of a thread: starting (on the first job it is given) → busy (one job) → idle
 * (waiting, not holding the process open) → busy …; a job that outlives its time limit,
 * or a thread that outgrows its memory limit (`resourceLimits`), ends the thread: its job
 * fails with a clear error and the next job starts a new thread. A render's product and
 * coupon lookups run here, on the main thread, where the database is; the time they take
 * does not count against the job's limit.
 *
 * One pool per process (like the SMTP thread), sized by `configure` from the
 * configuration at start; threads start only when jobs come.
 */

/** The pool's limits. */
export interface TemplateThreadOptions {
  /** Threads, at most (each runs one job at a time). */
  size: number;
  /** Time a compile may take, in milliseconds. */
  compileMs: number;
  /** Time a render may take, in milliseconds (Liquid stops itself at renderLimits.renderMs). */
  renderMs: number;
  /** Heap a thread may use, in MB. */
  memoryMb: number;
}

/** What a render job carries: the version (parsed and kept in the thread) and the recipient's variables. */
export interface RenderJob {
  /** Identifies the version (`workspace/template/version`): the thread keeps it parsed. */
  key: string;
  compiled: CompiledContent;
  scope: ScopeInput;
}

/** A rendered message and what rendering it took out. */
export interface RenderedContent {
  content: RenderedMessage;
  warnings: ErrorDetail[];
}

/** The main thread's side of a render: the lookups that need the database. */
export type RenderCalls = Pick<RenderServices, "products" | "coupon">;

/** An error as it crosses between threads. */
export interface ThreadError {
  domain?: { code: DomainError["code"]; details: ErrorDetail[] };
  message: string;
}

/** What the main thread sends a thread. */
export type ThreadRequest =
  | {
      op: "compile";
      id: number;
      template: TemplateContent;
      partials: Map<string, string>;
    }
  | { op: "render"; id: number; job: RenderJob }
  | {
      op: "answer";
      call: number;
      value?: unknown;
      error?: ThreadError;
    };

/** What a thread sends back: a job's result or error, or a lookup it needs. */
export type ThreadReply =
  | { op: "ready" }
  | { op: "done"; id: number; value: unknown }
  | { op: "failed"; id: number; error: ThreadError }
  | {
      op: "call";
      id: number;
      call: number;
      name: "products" | "coupon";
      arg: unknown;
    };

/** An error for the other thread. */
export function toThreadError(error: unknown): ThreadError {
  if (error instanceof DomainError)
    return {
      domain: { code: error.code, details: error.details },
      message: error.message,
    };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** The error a ThreadError stands for. */
export function fromThreadError(error: ThreadError): Error {
  return error.domain
    ? new DomainError(error.domain.code, error.message, error.domain.details)
    : new Error(error.message);
}

const entry = new URL("../../bin/template-thread.js", import.meta.url);

/**
 * Defaults for a process that sets none (tests, benches, the CLI): one thread fewer than
 * the machine has cores (1 to 4), so the main thread keeps a core of its own.
 */
const defaultThreadOptions: TemplateThreadOptions = {
  size: Math.max(1, Math.min(4, os.availableParallelism() - 1)),
  compileMs: 20_000,
  renderMs: renderLimits.renderMs + 1_000,
  memoryMb: 512,
};

interface Job {
  request:
    | {
        op: "compile";
        template: TemplateContent;
        partials: Map<string, string>;
      }
    | { op: "render"; job: RenderJob };
  calls?: RenderCalls;
  limitMs: number;
  what: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Running {
  id: number;
  job: Job;
  /** Time left before the thread is stopped; counts down only while the thread works. */
  leftMs: number;
  since: number;
  timer: NodeJS.Timeout | undefined;
  /** Lookups the thread is waiting on (the clock is paused while any is). */
  waiting: number;
}

class TemplateThread {
  readonly worker: Worker;
  running: Running | undefined;
  /** Loaded and waiting for jobs (it says so once its modules are in). */
  ready = false;
  /** Why the thread is being ended, for the error of its job. */
  ending: string | undefined;

  constructor(memoryMb: number) {
    this.worker = new Worker(entry, {
      resourceLimits: { maxOldGenerationSizeMb: memoryMb },
    });
    this.worker.unref();
  }
}

/** See the module comment. */
export class TemplateThreads {
  #options: TemplateThreadOptions = defaultThreadOptions;
  readonly #threads = new Set<TemplateThread>();
  readonly #idle: TemplateThread[] = [];
  readonly #queue: Job[] = [];
  /** Threads started and not ready yet (loading their modules). */
  #starting = 0;
  #next = 1;

  /** Sets the pool's limits; threads already started keep their memory limit until they end. */
  configure(options: Partial<TemplateThreadOptions>): void {
    this.#options = { ...this.#options, ...options };
  }

  /** The options in force (the bench prints the pool's size). */
  get options(): Readonly<TemplateThreadOptions> {
    return this.#options;
  }

  /** Compiles a version's content in a thread (see compile.ts). */
  compile(
    template: TemplateContent,
    partials: ReadonlyMap<string, string>,
  ): Promise<CompiledContent> {
    return this.#submit({
      request: { op: "compile", template, partials: new Map(partials) },
      limitMs: this.#options.compileMs,
      what: "compiling the template",
    }) as Promise<CompiledContent>;
  }

  /**
   * Renders one recipient's message in a thread, answering its lookups with `calls`;
   * `warnings` name the links that were taken out (see safe-urls.ts).
   */
  render(job: RenderJob, calls: RenderCalls): Promise<RenderedContent> {
    return this.#submit({
      request: { op: "render", job },
      calls,
      limitMs: this.#options.renderMs,
      what: "rendering the message",
    }) as Promise<RenderedContent>;
  }

  /** Ends every thread; jobs waiting or running fail. */
  async close(): Promise<void> {
    for (const job of this.#queue.splice(0))
      job.reject(new Error("the template threads were closed"));
    await Promise.all(
      [...this.#threads].map((thread) => {
        thread.ending = "the template threads were closed";
        return thread.worker.terminate();
      }),
    );
  }

  #submit(job: Omit<Job, "resolve" | "reject">): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...job, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (;;) {
      const thread = this.#queue.length > 0 ? this.#idle.pop() : undefined;
      const job = thread && this.#queue.shift();
      if (!thread || !job) break;
      const running: Running = {
        id: this.#next++,
        job,
        leftMs: job.limitMs,
        since: performance.now(),
        timer: undefined,
        waiting: 0,
      };
      thread.running = running;
      thread.worker.ref();
      this.#resumeClock(thread, running);
      thread.worker.postMessage({
        ...job.request,
        id: running.id,
      } satisfies ThreadRequest);
    }
    while (
      this.#queue.length > this.#starting &&
      this.#threads.size < this.#options.size
    )
      this.#start();
  }

  #resumeClock(thread: TemplateThread, running: Running): void {
    running.since = performance.now();
    running.timer = setTimeout(() => {
      const seconds = (running.job.limitMs / 1000).toLocaleString("en-US");
      this.#end(
        thread,
        `${running.job.what} took longer than ${seconds} s and was stopped; make the template do less (fewer loop iterations, a smaller body) and try again`,
      );
    }, running.leftMs);
  }

  #pauseClock(running: Running): void {
    if (running.timer === undefined) return;
    clearTimeout(running.timer);
    running.timer = undefined;
    running.leftMs -= performance.now() - running.since;
  }

  #start(): void {
    const thread = new TemplateThread(this.#options.memoryMb);
    this.#threads.add(thread);
    this.#starting++;
    thread.worker.on("message", (reply: ThreadReply) => {
      if (reply.op !== "ready") return this.#reply(thread, reply);
      // A job's clock starts once its thread has loaded, not while it starts.
      thread.ready = true;
      this.#starting--;
      this.#idle.push(thread);
      this.#dispatch();
    });
    thread.worker.on("error", (error) => {
      const code = (error as { code?: unknown }).code;
      this.#died(
        thread,
        code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `${thread.running?.job.what ?? "the template"} needed more than ${this.#options.memoryMb} MB of memory and was stopped; make the template smaller`
          : `the template thread failed: ${error.message}`,
      );
    });
    thread.worker.on("exit", (code) =>
      this.#died(
        thread,
        thread.ending ?? `the template thread stopped (exit code ${code})`,
      ),
    );
  }

  /** Stops a thread whose job must not go on. */
  #end(thread: TemplateThread, why: string): void {
    thread.ending = why;
    this.#died(thread, why);
    void thread.worker.terminate();
  }

  /** Forgets a thread that ended, failing its job, and lets the queue go on. */
  #died(thread: TemplateThread, why: string): void {
    if (!this.#threads.delete(thread)) return;
    const at = this.#idle.indexOf(thread);
    if (at !== -1) this.#idle.splice(at, 1);
    if (!thread.ready) {
      // It never loaded: starting another would fail the same way.
      this.#starting--;
      if (this.#starting === 0 && this.#threads.size === 0)
        for (const job of this.#queue.splice(0))
          job.reject(new Error(`the template thread could not start: ${why}`));
    }
    const running = thread.running;
    thread.running = undefined;
    if (running) {
      this.#pauseClock(running);
      running.job.reject(
        new DomainError("invalid", why, [{ path: "/content", message: why }]),
      );
    }
    this.#dispatch();
  }

  #reply(
    thread: TemplateThread,
    reply: Exclude<ThreadReply, { op: "ready" }>,
  ): void {
    const running = thread.running;
    if (!running || reply.id !== running.id) return;
    if (reply.op === "call") {
      this.#call(thread, running, reply);
      return;
    }
    this.#pauseClock(running);
    thread.running = undefined;
    thread.worker.unref();
    this.#idle.push(thread);
    if (reply.op === "done") running.job.resolve(reply.value);
    else running.job.reject(fromThreadError(reply.error));
    this.#dispatch();
  }

  #call(
    thread: TemplateThread,
    running: Running,
    reply: Extract<ThreadReply, { op: "call" }>,
  ): void {
    const calls = running.job.calls;
    if (running.waiting++ === 0) this.#pauseClock(running);
    const answer = (message: ThreadRequest) => {
      if (thread.running !== running) return;
      if (--running.waiting === 0) this.#resumeClock(thread, running);
      thread.worker.postMessage(message);
    };
    const pending: Promise<unknown> = !calls
      ? Promise.reject(new Error("this job makes no lookups"))
      : reply.name === "products"
        ? calls.products(reply.arg as ProductQuery)
        : calls.coupon(reply.arg as string);
    pending.then(
      (value) => answer({ op: "answer", call: reply.call, value }),
      (error: unknown) =>
        answer({ op: "answer", call: reply.call, error: toThreadError(error) }),
    );
  }
}

/** The process's template threads. */
export const templateThreads = new TemplateThreads();
