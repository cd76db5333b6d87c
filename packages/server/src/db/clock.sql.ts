import type { Queryable } from "./database.ts";

/** The clock a database was used with (one row, absent before the first start). */
export interface ClockRow {
  time_scale: number;
  last_reading: Date;
}

/** The recorded clock, if any. */
export async function getClockRecord(
  q: Queryable,
): Promise<ClockRow | undefined> {
  const [row] = await q.query<ClockRow>(
    "select time_scale, last_reading from herald_clock",
  );
  return row;
}

/** Records the clock of the first start; returns the record that stands (an earlier one wins). */
export async function insertClockRecord(
  q: Queryable,
  timeScale: number,
  reading: Date,
): Promise<ClockRow> {
  const [row] = await q.query<ClockRow>(
    `with added as (
       insert into herald_clock (time_scale, last_reading) values ($1, $2)
       on conflict (id) do nothing
       returning time_scale, last_reading
     )
     select time_scale, last_reading from added
     union all
     select time_scale, last_reading from herald_clock where not exists (select 1 from added)`,
    [timeScale, reading],
  );
  if (!row) throw new Error("herald_clock has no row after its insert");
  return row;
}

/** Moves the recorded reading forward to `reading` (never back). */
export async function recordClockReading(
  q: Queryable,
  reading: Date,
): Promise<void> {
  await q.query(
    "update herald_clock set last_reading = greatest(last_reading, $1)",
    [reading],
  );
}
