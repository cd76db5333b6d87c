import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RateLimiter } from "./rate-limit.ts";

describe("provider rate limits", () => {
  it("lets a burst of one second through, then spaces messages out", () => {
    const t = new Date("2026-01-05T12:00:00Z");
    const limiter = new RateLimiter({ perSecond: 2 }, t, { hour: 0, day: 0 });
    assert.equal(limiter.take(t), 0);
    assert.equal(limiter.take(t), 0);
    assert.equal(limiter.take(t), 500);
    assert.equal(limiter.take(new Date(t.getTime() + 500)), 0);
  });

  it("keeps a sliding hour window and a daily window that survive a restart", () => {
    const t = new Date("2026-01-05T12:00:00Z");
    const limiter = new RateLimiter({ perHour: 3, perDay: 5 }, t, {
      hour: 1,
      day: 2,
    });
    assert.equal(limiter.take(t), 0);
    assert.equal(limiter.take(t), 0);
    const wait = limiter.take(t);
    assert.ok(
      wait > 0 && wait <= 3_600_000,
      `waits for the hour window (${wait} ms)`,
    );
    const later = new Date(t.getTime() + 61 * 60_000);
    assert.equal(limiter.take(later), 0, "the hour window slid");
    assert.ok(
      limiter.take(later) > 3_600_000,
      "the day is full (2 seeded + 3 sent)",
    );
  });

  it("goes on from a stored state, as another process left it", () => {
    const t = new Date("2026-01-05T12:00:00Z");
    const first = new RateLimiter({ perSecond: 2, perHour: 3 }, t, {
      hour: 0,
      day: 0,
    });
    assert.equal(first.take(t), 0);
    assert.equal(first.take(t), 0);
    const state = JSON.parse(JSON.stringify(first.state())) as ReturnType<
      RateLimiter["state"]
    >;
    const second = RateLimiter.restore({ perSecond: 2, perHour: 3 }, state);
    assert.equal(second.take(t), 500, "the bucket is as empty as it was left");
    const later = new Date(t.getTime() + 1000);
    assert.equal(second.take(later), 0);
    assert.ok(second.take(later) > 0, "the hour window counts the first two");
  });
});
