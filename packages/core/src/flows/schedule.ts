/**
 * Time arithmetic for waits and date triggers, in the shopper's own time zone: the next
 * 10:00 on a weekday, a birthday seven days ahead at 09:00 local time, when a pack of 100
 * capsules at one a day runs out.
 */

const dayMs = 86_400_000;

function zonedParts(
  at: Date,
  timeZone: string,
): {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
} {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    weekday: "short",
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  return {
    year: Number(get("year")),
    month: Number(get("month")),
    day: Number(get("day")),
    hour: Number(get("hour")),
    minute: Number(get("minute")),
    weekday: weekdays.indexOf(get("weekday")) + 1,
  };
}

/** A valid IANA zone, else UTC. */
export function safeTimeZone(zone: string | null | undefined): string {
  if (!zone) return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone;
  } catch {
    return "UTC";
  }
}

/** The instant a local wall-clock time in `timeZone` denotes (the later one across a DST gap). */
export function zonedTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): Date {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  let at = guess;
  for (let i = 0; i < 3; i++) {
    const p = zonedParts(new Date(at), timeZone);
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
    at += guess - shown;
  }
  return new Date(at);
}

const clock = (hhmm: string) => {
  const [h, m] = hhmm.split(":").map(Number);
  return { hour: h ?? 0, minute: m ?? 0 };
};

/** The first instant at or after `from` that is `time` local on one of `weekdays` (1 = Monday). */
export function nextLocalTime(
  from: Date,
  time: string,
  timeZone: string,
  weekdays?: readonly number[],
): Date {
  const zone = safeTimeZone(timeZone);
  const { hour, minute } = clock(time);
  const today = zonedParts(from, zone);
  for (let offset = 0; offset <= 8; offset++) {
    const day = new Date(
      Date.UTC(today.year, today.month - 1, today.day + offset),
    );
    const candidate = zonedTime(
      day.getUTCFullYear(),
      day.getUTCMonth() + 1,
      day.getUTCDate(),
      hour,
      minute,
      zone,
    );
    const weekday = ((day.getUTCDay() + 6) % 7) + 1;
    if (
      candidate.getTime() >= from.getTime() &&
      (!weekdays || weekdays.includes(weekday))
    )
      return candidate;
  }
  return from;
}

/** What a schedule's calendar is made of. */
export interface ScheduleCalendar {
  every: "once" | "day" | "week" | "month" | "year";
  /** The first occurrence, an ISO time with its offset. */
  start: string;
  /** The zone whose calendar and wall clock the occurrences keep. */
  timeZone: string;
}

/** The schedule's time of day ("HH:MM") in its own zone. */
export function scheduleTimeOfDay(schedule: ScheduleCalendar): string {
  const local = zonedParts(
    new Date(schedule.start),
    safeTimeZone(schedule.timeZone),
  );
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(local.hour)}:${two(local.minute)}`;
}

/**
 * Occurrence number `index` (0 is the start) of a schedule: the start's local date moved
 * by whole days, weeks, months or years in its zone, at the start's local time of day.
 * A day the month does not have becomes the month's last (31 January → 28/29 February →
 * 31 March: always counted from the start, so it never drifts), and the time of day stays
 * across DST changes (09:00 in Berlin before and after the clocks move).
 */
export function scheduleOccurrence(
  schedule: ScheduleCalendar,
  index: number,
): Date {
  const zone = safeTimeZone(schedule.timeZone);
  const first = zonedParts(new Date(schedule.start), zone);
  let { year, month, day } = first;
  if (schedule.every === "day" || schedule.every === "week") {
    const moved = new Date(
      Date.UTC(
        year,
        month - 1,
        day + index * (schedule.every === "week" ? 7 : 1),
      ),
    );
    year = moved.getUTCFullYear();
    month = moved.getUTCMonth() + 1;
    day = moved.getUTCDate();
  } else if (schedule.every === "month" || schedule.every === "year") {
    const months = month - 1 + index * (schedule.every === "year" ? 12 : 1);
    year += Math.floor(months / 12);
    month = (months % 12) + 1;
    const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
    day = Math.min(first.day, lastDay);
  }
  return zonedTime(year, month, day, first.hour, first.minute, zone);
}

/** The first occurrence of a schedule after `after`, or null when there is none (once). */
export function nextScheduleOccurrence(
  schedule: ScheduleCalendar,
  after: Date,
): Date | null {
  if (schedule.every === "once") {
    const only = scheduleOccurrence(schedule, 0);
    return only.getTime() > after.getTime() ? only : null;
  }
  const spanDays =
    (after.getTime() - new Date(schedule.start).getTime()) / dayMs;
  // Days a step can be long, the longest month and year with some room.
  const perStep = { day: 1, week: 7, month: 31.5, year: 368.5 }[schedule.every];
  // An estimate a little short of the answer (no step is longer than `perStep` days,
  // but DST can lengthen one by an hour), then forward to the first one after `after`.
  let index = Math.max(0, Math.floor(spanDays / perStep) - 2);
  for (let steps = 0; steps < 1_000; steps++, index++) {
    const at = scheduleOccurrence(schedule, index);
    if (at.getTime() > after.getTime()) return at;
  }
  return null;
}

/**
 * A date value (`2026-05-14`, an ISO time, or epoch milliseconds) as an instant; date-only
 * values mean `time` local on that day.
 */
export function dateValue(
  value: unknown,
  timeZone: string,
  time = "09:00",
): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === "number") return new Date(value);
  if (typeof value !== "string") return undefined;
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (dateOnly) {
    const { hour, minute } = clock(time);
    return zonedTime(
      Number(dateOnly[1]),
      Number(dateOnly[2]),
      Number(dateOnly[3]),
      hour,
      minute,
      safeTimeZone(timeZone),
    );
  }
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/**
 * The next time a date trigger fires: `offsetDays` from the date (a birthday's month and
 * day in the coming year when `yearly`), at `time` local; undefined when it has passed and
 * does not repeat. A 29 February birthday is celebrated on 28 February in other years.
 */
export function nextDateTrigger(
  value: unknown,
  options: {
    offsetDays: number;
    yearly: boolean;
    time?: string;
    timeZone: string;
    after: Date;
  },
): Date | undefined {
  const zone = safeTimeZone(options.timeZone);
  const time = options.time ?? "09:00";
  const base = dateValue(value, zone, time);
  if (!base) return undefined;
  const { hour, minute } = clock(time);
  const local = zonedParts(base, zone);
  const at = (year: number) => {
    const lastDay = new Date(Date.UTC(year, local.month, 0)).getUTCDate();
    const day = Math.min(local.day, lastDay);
    const date = new Date(
      Date.UTC(year, local.month - 1, day + options.offsetDays),
    );
    return zonedTime(
      date.getUTCFullYear(),
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      hour,
      minute,
      zone,
    );
  };
  if (!options.yearly) {
    const once = at(local.year);
    return once.getTime() > options.after.getTime() ? once : undefined;
  }
  const year = zonedParts(options.after, zone).year;
  for (const candidate of [year - 1, year, year + 1, year + 2].map(at)) {
    if (candidate.getTime() > options.after.getTime()) return candidate;
  }
  return undefined;
}

/**
 * When to remind a shopper to reorder: the order time plus the days the shortest-lasting
 * product lasts (quantity × days of use per unit), less the shipping days and the lead
 * days, so the reminder comes while there is still time to reorder.
 */
export function replenishmentDate(
  orderedAt: Date,
  lines: readonly { quantity: number; daysOfUsePerUnit: number | null }[],
  options: {
    shippingDays: number;
    leadDays: number;
    shopperIntervalDays: number | null;
    fallbackDays: number;
  },
): Date {
  const lasting = lines
    .filter(
      (line) => line.daysOfUsePerUnit !== null && line.daysOfUsePerUnit > 0,
    )
    .map((line) => Math.max(1, line.quantity) * (line.daysOfUsePerUnit ?? 0));
  const days =
    lasting.length > 0
      ? Math.min(...lasting)
      : (options.shopperIntervalDays ?? options.fallbackDays);
  return new Date(
    orderedAt.getTime() +
      Math.max(0, days - options.shippingDays - options.leadDays) * dayMs,
  );
}
