/**
 * Wall-clock time in a recipient's time zone, from the platform's Intl data: what time it
 * is there, and the instant a local time of day next comes round (across DST changes).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True when `zone` is an IANA time zone this platform knows. */
export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** How many minutes `zone` is ahead of UTC at `at`. */
export function zoneOffsetMinutes(at: Date, zone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(at))
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  const asUtc = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

/** Minutes since local midnight at `at` in `zone`. */
export function localMinuteOfDay(at: Date, zone: string): number {
  const local = at.getTime() + zoneOffsetMinutes(at, zone) * 60_000;
  const minutes = Math.floor(local / 60_000) % 1440;
  return minutes < 0 ? minutes + 1440 : minutes;
}

/** Parses "HH:MM" (24 h) to minutes since midnight; undefined when malformed. */
export function parseTimeOfDay(text: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The first instant after `at` when the local time in `zone` is `minuteOfDay`. */
export function nextLocalTime(
  at: Date,
  zone: string,
  minuteOfDay: number,
): Date {
  const now = localMinuteOfDay(at, zone);
  let ahead = (minuteOfDay - now + 1440) % 1440;
  if (ahead === 0) ahead = 1440;
  const startOfMinute = Math.floor(at.getTime() / 60_000) * 60_000;
  let candidate = new Date(startOfMinute + ahead * 60_000);
  // A DST change in between moves the wall clock: correct by the difference in offset.
  const shift =
    zoneOffsetMinutes(at, zone) - zoneOffsetMinutes(candidate, zone);
  if (shift !== 0) candidate = new Date(candidate.getTime() + shift * 60_000);
  return candidate;
}
