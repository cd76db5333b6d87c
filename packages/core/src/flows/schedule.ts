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
