import type { Clock } from "@herald/core/clock";
import { sleep } from "@herald/core/clock";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger.ts";

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

/** Runs `step` until it finds nothing to do; resolves to the work done in all. */
export async function stepUntilIdle(
  step: () => Promise<number>,
): Promise<number> {
  let total = 0;
  for (let done = await step(); done > 0; done = await step()) total += done;
  return total;
}
