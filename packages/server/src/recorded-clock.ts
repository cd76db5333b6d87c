import { scaledClock, systemClock, type Clock } from "@herald/core/clock";
import type { Config } from "./config.ts";
import {
  getClockRecord,
  insertClockRecord,
  recordClockReading,
} from "./db/clock.sql.ts";
import type { Database } from "./db/database.ts";
import type { Logger } from "./logger.ts";

/**
 * The server's clock, kept with the database it runs on. The first start records its
 * time scale (HERALD_TIME_SCALE) in `herald_clock`; a start at another scale is refused,
 * because the times already stored (wake times, sends, events) would lie far ahead of
 * the new clock or far behind it, and time would run backwards for flows, segments and
 * the sender. A scaled clock goes on from its last reading (recorded every 5 s of wall
 * time and at close), so restarting a demo does not take it back to the wall clock.
 */

/** A start refused because the database was used at another time scale. */
export class TimeScaleMismatchError extends Error {
  override readonly name = "TimeScaleMismatchError";
}

/** The clock, and what stops its recording. */
export interface RecordedClock {
  clock: Clock;
  /** Records the last reading and stops; call before the database closes. */
  close(): Promise<void>;
}

const recordEveryMs = 5_000;

function scaleText(scale: number): string {
  return scale === 1
    ? "HERALD_TIME_SCALE=1 (real time)"
    : `HERALD_TIME_SCALE=${scale}`;
}

/** Checks the recorded time scale against `config` and starts the clock (see the module comment). */
export async function openRecordedClock(
  db: Database,
  config: Readonly<Config>,
  logger: Logger,
): Promise<RecordedClock> {
  const scale = config.timeScale;
  const wall = new Date();
  const record =
    (await getClockRecord(db)) ?? (await insertClockRecord(db, scale, wall));
  if (record.time_scale !== scale) {
    const before = record.time_scale;
    const where = config.databaseUrl
      ? "This database"
      : `The data directory ${config.dataDir}`;
    const fresh = config.databaseUrl
      ? "set DATABASE_URL to a database of its own"
      : `give it a data directory of its own (HERALD_DATA_DIR=${scale === 1 ? "./.herald-live" : "./.herald-demo"})`;
    const again =
      before === 1
        ? "start without HERALD_TIME_SCALE"
        : `start with HERALD_TIME_SCALE=${before} as before`;
    throw new TimeScaleMismatchError(
      `${where} was used with ${scaleText(before)}; starting it with ${scaleText(scale)} ` +
        `would make the times stored in it run backwards. To run ${scale === 1 ? "at real time" : "a demo"}, ` +
        `${fresh}; or ${again}.`,
    );
  }
  const clock =
    scale === 1
      ? systemClock
      : scaledClock(
          scale,
          new Date(Math.max(record.last_reading.getTime(), wall.getTime())),
        );
  await recordClockReading(db, clock.now());
  let saving: Promise<void> = Promise.resolve();
  const save = () =>
    (saving = saving.then(() =>
      recordClockReading(db, clock.now()).catch((error: unknown) =>
        logger.warn({ err: error }, "could not record the clock's reading"),
      ),
    ));
  const timer =
    scale === 1 ? undefined : setInterval(() => void save(), recordEveryMs);
  timer?.unref();
  return {
    clock,
    close: async () => {
      clearInterval(timer);
      await save();
    },
  };
}
