import type { Clock } from "@herald/core/clock";
import { sleep } from "@herald/core/clock";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { Worker } from "./worker.ts";

/**
 * The loop every background worker runs: do a step; if it found work, step again at once;
 * if not, sleep until a notification on the worker's channel, its next timer (`wakeAt`),
 * or the poll interval, whichever comes first. A failing step is logged and retried with
 * backoff, so a database restart pauses work instead of ending it.
 *
 * States: idle (sleeping) → stepping → idle …; stop() moves it to stopping, waits for the
 * step in progress, then stopped.
 */
export interface LoopOptions {
  name: string;
  db: Database;
  clock: Clock;
  logger: Logger;
  /** Notification channels that mean "there may be work". */
  channels: string[];
  /** Wall-clock milliseconds between polls when nothing wakes the loop. */
  pollMs: number;
  /** Does some work; resolves to how much (0 when there was nothing to do). */
  step: () => Promise<number>;
  /** The next time work becomes due by the clock, if known. */
  nextWakeAt?: () => Promise<Date | undefined>;
}

/** A running loop. */
export interface Loop {
  /** Makes the loop look for work now. */
  wake(): void;
  stop(): Promise<void>;
}

/** Starts a worker loop. */
export function startLoop(options: LoopOptions): Loop {
  const { logger } = options;
  const stopping = new AbortController();
  let wakeUp: AbortController = new AbortController();
  let pendingWake = false;
  const wake = () => {
    pendingWake = true;
    wakeUp.abort();
  };
  const unlisten = Promise.all(
    options.channels.map((channel) => options.db.listen(channel, wake)),
  );

  const run = (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      pendingWake = false;
      wakeUp = new AbortController();
      let did = 0;
      try {
        did = await options.step();
        failures = 0;
      } catch (error) {
        if (stopping.signal.aborted) break;
        failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        logger.error(
          { err: error, worker: options.name, retryInMs: delay },
          "worker step failed",
        );
        await sleep(delay, stopping.signal);
        continue;
      }
      if (did > 0 || pendingWake) continue;
      const signal = AbortSignal.any([stopping.signal, wakeUp.signal]);
      const waits = [sleep(options.pollMs, signal)];
      const next = await options.nextWakeAt?.().catch(() => undefined);
      if (next) waits.push(options.clock.waitUntil(next, signal));
      await Promise.race(waits);
      wakeUp.abort();
    }
  })();

  return {
    wake,
    async stop() {
      stopping.abort();
      wakeUp.abort();
      await run;
      for (const off of await unlisten) await off();
    },
  };
}

/** What every loop worker is built with, from the composition root. */
export type LoopDeps = Pick<LoopOptions, "db" | "clock" | "logger">;

/** What a loop worker says about its own loop: its name, channels, poll, step and timers. */
export type LoopSpec = Omit<LoopOptions, "db" | "clock" | "logger">;

/**
 * A background worker that is one loop: `start` runs `startLoop` with the worker's spec
 * (its failed steps logged under the worker's name), `stop` waits for the step in
 * progress. A subclass passes its spec to the constructor and keeps only its claim, its
 * step and the header comment that names its states.
 */
export abstract class LoopWorker implements Worker {
  readonly name: string;
  readonly #options: LoopOptions;
  #loop: Loop | undefined;

  constructor(deps: LoopDeps, spec: LoopSpec) {
    this.name = spec.name;
    this.#options = {
      ...spec,
      db: deps.db,
      clock: deps.clock,
      logger: deps.logger.child({ component: spec.name }),
    };
  }

  start(): void {
    this.#loop = startLoop(this.#options);
  }

  async stop(): Promise<void> {
    await this.#loop?.stop();
  }

  /** True once `start` has been called (and still after `stop`). */
  protected get started(): boolean {
    return this.#loop !== undefined;
  }

  /** Makes the loop look for work now; nothing before `start`. */
  protected wake(): void {
    this.#loop?.wake();
  }
}

/** Runs `step` until it finds nothing to do; resolves to the work done in all. */
export async function stepUntilIdle(
  step: () => Promise<number>,
): Promise<number> {
  let total = 0;
  for (let done = await step(); done > 0; done = await step()) total += done;
  return total;
}
