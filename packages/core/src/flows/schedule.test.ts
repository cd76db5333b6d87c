import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  nextScheduleOccurrence,
  scheduleOccurrence,
  scheduleTimeOfDay,
  type ScheduleCalendar,
} from "./schedule.ts";

/** The first `count` occurrences, walking with `nextScheduleOccurrence` as the scheduler does. */
function walk(schedule: ScheduleCalendar, count: number): string[] {
  const seen: string[] = [];
  let at: Date | null = scheduleOccurrence(schedule, 0);
  while (at && seen.length < count) {
    seen.push(at.toISOString());
    at = nextScheduleOccurrence(schedule, at);
  }
  return seen;
}

describe("schedules keep the calendar", () => {
  it("fires a monthly schedule from 31 January on the last day of shorter months, without drifting", () => {
    const monthly: ScheduleCalendar = {
      every: "month",
      start: "2026-01-31T09:00:00Z",
      timeZone: "UTC",
    };
    assert.deepEqual(walk(monthly, 5), [
      "2026-01-31T09:00:00.000Z",
      "2026-02-28T09:00:00.000Z",
      "2026-03-31T09:00:00.000Z",
      "2026-04-30T09:00:00.000Z",
      "2026-05-31T09:00:00.000Z",
    ]);
    const leap = { ...monthly, start: "2028-01-31T09:00:00Z" };
    assert.equal(walk(leap, 2)[1], "2028-02-29T09:00:00.000Z");
  });

  it("keeps a monthly schedule's date and time in its own zone", () => {
    // 31 January 09:00 in Berlin is 08:00 UTC; 31 March 09:00 (summer time) is 07:00 UTC.
    const berlin: ScheduleCalendar = {
      every: "month",
      start: "2026-01-31T08:00:00Z",
      timeZone: "Europe/Berlin",
    };
    assert.deepEqual(walk(berlin, 3), [
      "2026-01-31T08:00:00.000Z",
      "2026-02-28T08:00:00.000Z",
      "2026-03-31T07:00:00.000Z",
    ]);
    // 1 February 00:30 in Tokyo is still 31 January in UTC: the month is Tokyo's.
    const tokyo: ScheduleCalendar = {
      every: "month",
      start: "2026-01-31T15:30:00Z",
      timeZone: "Asia/Tokyo",
    };
    assert.equal(walk(tokyo, 2)[1], "2026-02-28T15:30:00.000Z");
  });

  it("keeps 09:00 in Berlin for daily and weekly schedules across the March and October DST changes", () => {
    const daily: ScheduleCalendar = {
      every: "day",
      start: "2026-03-28T08:00:00Z", // Saturday 09:00 CET
      timeZone: "Europe/Berlin",
    };
    // Summer time starts on Sunday 29 March 2026: 09:00 CEST is 07:00 UTC.
    assert.deepEqual(walk(daily, 3), [
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
    const weekly: ScheduleCalendar = {
      every: "week",
      start: "2026-10-18T07:00:00Z", // Sunday 09:00 CEST
      timeZone: "Europe/Berlin",
    };
    // Summer time ends on Sunday 25 October 2026: 09:00 CET is 08:00 UTC.
    assert.deepEqual(walk(weekly, 3), [
      "2026-10-18T07:00:00.000Z",
      "2026-10-25T08:00:00.000Z",
      "2026-11-01T08:00:00.000Z",
    ]);
    assert.equal(scheduleTimeOfDay(weekly), "09:00");
  });

  it("finds the next occurrence from any instant, far from the start too", () => {
    const monthly: ScheduleCalendar = {
      every: "month",
      start: "2026-01-31T09:00:00Z",
      timeZone: "UTC",
    };
    assert.equal(
      nextScheduleOccurrence(
        monthly,
        new Date("2031-02-10T00:00:00Z"),
      )?.toISOString(),
      "2031-02-28T09:00:00.000Z",
    );
    assert.equal(
      nextScheduleOccurrence(
        monthly,
        new Date("2026-03-31T09:00:00Z"),
      )?.toISOString(),
      "2026-04-30T09:00:00.000Z",
      "strictly after",
    );
    const yearly: ScheduleCalendar = {
      every: "year",
      start: "2028-02-29T10:00:00Z",
      timeZone: "UTC",
    };
    assert.deepEqual(walk(yearly, 3), [
      "2028-02-29T10:00:00.000Z",
      "2029-02-28T10:00:00.000Z",
      "2030-02-28T10:00:00.000Z",
    ]);
    const once = { ...yearly, every: "once" as const };
    assert.equal(nextScheduleOccurrence(once, new Date(once.start)), null);
  });
});
