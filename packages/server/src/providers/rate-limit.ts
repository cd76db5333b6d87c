import type { RateLimit } from "@herald/core/messages/settings";

/**
 * A provider's limits: a token bucket for messages per second, and sliding windows of
 * one hour and one day kept as per-minute counts (listmonk's sliding window). Time comes
 * from the caller (the injected clock). Counts start from what the ledger says went out
 * in the window, so a restart does not reset a daily limit.
 *
 * States: open (a message may go now) or waiting (until `take` says when). The state is
 * plain data (`state()`, `RateLimiter.restore`), so that senders in several processes can
 * share one budget through a database row.
 */

/** What a limiter has used: its bucket and its per-minute counts. */
export interface RateLimiterState {
  tokens: number;
  refilledAt: number;
  minutes: [number, number][];
}

/** A provider's rate limiter (see the module comment). */
export class RateLimiter {
  readonly #limits: RateLimit;
  #tokens: number;
  #refilledAt: number;
  /** minute index → messages sent in that minute. */
  readonly #minutes = new Map<number, number>();

  constructor(
    limits: RateLimit,
    now: Date,
    seed: { hour: number; day: number },
  ) {
    this.#limits = limits;
    this.#tokens = Math.max(1, limits.perSecond ?? 1);
    this.#refilledAt = now.getTime();
    const minute = Math.floor(now.getTime() / 60_000);
    // What went out in the last day but not the last hour counts an hour ago; the last hour now.
    if (seed.day > seed.hour)
      this.#minutes.set(minute - 60, seed.day - seed.hour);
    if (seed.hour > 0) this.#minutes.set(minute, seed.hour);
  }

  /** A limiter that goes on from `state`. */
  static restore(limits: RateLimit, state: RateLimiterState): RateLimiter {
    const limiter = new RateLimiter(limits, new Date(state.refilledAt), {
      hour: 0,
      day: 0,
    });
    limiter.#tokens = Math.min(
      state.tokens,
      Math.max(1, limits.perSecond ?? 1),
    );
    for (const [minute, n] of state.minutes) limiter.#minutes.set(minute, n);
    return limiter;
  }

  /** What this limiter has used, to restore it elsewhere. */
  state(): RateLimiterState {
    return {
      tokens: this.#tokens,
      refilledAt: this.#refilledAt,
      minutes: [...this.#minutes],
    };
  }

  /** The limits this limiter enforces. */
  get limits(): RateLimit {
    return this.#limits;
  }

  /** Takes a slot for one message: 0 when it may go now, else milliseconds to wait. */
  take(now: Date): number {
    const t = now.getTime();
    const wait = this.#waitMs(t);
    if (wait > 0) return wait;
    if (this.#limits.perSecond) this.#tokens -= 1;
    const minute = Math.floor(t / 60_000);
    this.#minutes.set(minute, (this.#minutes.get(minute) ?? 0) + 1);
    return 0;
  }

  /** Gives back a slot taken for a message that did not go after all. */
  giveBack(now: Date): void {
    if (this.#limits.perSecond)
      this.#tokens = Math.min(
        this.#tokens + 1,
        Math.max(1, this.#limits.perSecond),
      );
    const minute = Math.floor(now.getTime() / 60_000);
    const n = this.#minutes.get(minute) ?? 0;
    if (n > 0) this.#minutes.set(minute, n - 1);
  }

  #waitMs(t: number): number {
    const { perSecond, perHour, perDay } = this.#limits;
    let wait = 0;
    if (perSecond) {
      const capacity = Math.max(1, perSecond);
      this.#tokens = Math.min(
        capacity,
        this.#tokens + ((t - this.#refilledAt) / 1000) * perSecond,
      );
      this.#refilledAt = t;
      if (this.#tokens < 1)
        wait = Math.ceil(((1 - this.#tokens) / perSecond) * 1000);
    }
    const minute = Math.floor(t / 60_000);
    for (const k of this.#minutes.keys())
      if (k <= minute - 1440) this.#minutes.delete(k);
    for (const [limit, span] of [
      [perHour, 60],
      [perDay, 1440],
    ] as const) {
      if (!limit) continue;
      let used = 0;
      for (const [k, n] of this.#minutes) if (k > minute - span) used += n;
      if (used < limit) continue;
      // Wait until enough of the oldest minutes leave the window.
      const inWindow = [...this.#minutes]
        .filter(([k]) => k > minute - span)
        .sort((a, b) => a[0] - b[0]);
      let excess = used - limit + 1;
      for (const [k, n] of inWindow) {
        excess -= n;
        if (excess <= 0) {
          wait = Math.max(wait, (k + span) * 60_000 - t);
          break;
        }
      }
    }
    return wait;
  }
}
