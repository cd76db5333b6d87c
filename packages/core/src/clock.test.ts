import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, ms, scaledClock } from "./clock.ts";

describe("ManualClock", () => {
  it("wakes a waiter only once the clock passes its instant", async () => {
    const clock = new ManualClock("2026-03-01T00:00:00Z");
    let woke = false;
    const waiting = clock
      .waitUntil(new Date("2026-03-01T01:00:00Z"))
      .then(() => (woke = true));
    clock.advance(59 * ms.minute);
    await Promise.resolve();
    assert.equal(woke, false);
    clock.advance(ms.minute);
    await waiting;
    assert.equal(woke, true);
  });

  it("never moves backwards", () => {
    const clock = new ManualClock("2026-03-01T00:00:00Z");
    clock.set(new Date("2025-01-01T00:00:00Z"));
    assert.equal(clock.now().toISOString(), "2026-03-01T00:00:00.000Z");
  });

  it("lets an abort signal end a wait", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const waiting = clock.waitUntil(
      new Date(clock.now().getTime() + ms.day),
      controller.signal,
    );
    controller.abort();
    await waiting;
  });
});

describe("scaledClock", () => {
  it("runs faster than the wall clock by its scale", async () => {
    const clock = scaledClock(3600);
    const start = clock.now().getTime();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const elapsed = clock.now().getTime() - start;
    // 50 ms of wall time at 3600× is three minutes of clock time (timer slack allowed).
    assert.ok(
      elapsed >= 3 * ms.minute && elapsed < 30 * ms.minute,
      `elapsed ${elapsed} ms`,
    );
  });

  it("shortens waits by its scale", async () => {
    const clock = scaledClock(3600);
    const started = Date.now();
    await clock.waitUntil(new Date(clock.now().getTime() + 6 * ms.minute));
    const wall = Date.now() - started;
    // Six minutes at 3600× is 100 ms of wall time; unscaled it would be 360,000 ms.
    assert.ok(wall >= 90 && wall < 5_000, `waited ${wall} ms`);
  });

  it("refuses a scale that is not positive", () => {
    assert.throws(() => scaledClock(0), RangeError);
  });
});
