/**
 * Time, injected. Every time-dependent component takes a Clock instead of calling
 * `Date.now()`, and SQL receives `now` as a parameter, so tests can move days of flow
 * time in milliseconds and a demo server can run faster than the wall clock.
 */
export interface Clock {
  /** The current instant on this clock. */
  now(): Date;
  /**
   * Resolves when the clock reaches `at` (at once if it already has), or when `signal`
   * aborts. A wall-clock wait is shortened by the clock's speed.
   */
  waitUntil(at: Date, signal?: AbortSignal): Promise<void>;
}

const maxTimerMs = 2_147_483_647;

/** Waits `ms` of wall time, or until `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, Math.min(ms, maxTimerMs)));
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The wall clock. */
export const systemClock: Clock = {
  now: () => new Date(),
  waitUntil: (at, signal) => sleep(at.getTime() - Date.now(), signal),
};

/**
 * A clock that starts at the wall clock's current time (or at `from`, where a faster
 * clock stood when it last ran) and then runs `scale` times faster (HERALD_TIME_SCALE):
 * at 3600, an hour of clock time passes in one second.
 */
export function scaledClock(scale: number, from?: Date): Clock {
  if (!(scale > 0))
    throw new RangeError(`time scale must be positive, got ${scale}`);
  if (scale === 1) return systemClock;
  const startWall = Date.now();
  const origin = from?.getTime() ?? startWall;
  const now = () => new Date(origin + (Date.now() - startWall) * scale);
  return {
    now,
    waitUntil: (at, signal) =>
      sleep((at.getTime() - now().getTime()) / scale, signal),
  };
}

/**
 * A clock that only moves when told to, for tests. Waiters wake when `advance` or `set`
 * moves the clock past their instant.
 */
export class ManualClock implements Clock {
  #now: number;
  #waiters = new Set<{ at: number; wake: () => void }>();

  constructor(start: Date | string = "2026-01-05T09:00:00.000Z") {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  /** Moves the clock forward by `ms` and wakes everything now due. */
  advance(ms: number): Date {
    return this.set(new Date(this.#now + ms));
  }

  /** Moves the clock to `at` (never backwards) and wakes everything now due. */
  set(at: Date): Date {
    this.#now = Math.max(this.#now, at.getTime());
    for (const waiter of [...this.#waiters])
      if (waiter.at <= this.#now) waiter.wake();
    return this.now();
  }

  waitUntil(at: Date, signal?: AbortSignal): Promise<void> {
    if (at.getTime() <= this.#now || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { at: at.getTime(), wake };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", wake, { once: true });
      const waiters = this.#waiters;
      function wake() {
        waiters.delete(waiter);
        signal?.removeEventListener("abort", wake);
        resolve();
      }
    });
  }
}

/** Milliseconds in common units, for readable durations. */
export const ms = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
} as const;
