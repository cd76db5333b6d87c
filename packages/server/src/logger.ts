import { pino, type Logger } from "pino";

export type { Logger };

/** The process's root logger: pino JSON lines on stdout, scoped further with `child`. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "herald" } });
}

/** A logger that writes nothing, for tests and CLI commands run in-process. */
export const silentLogger: Logger = pino({ level: "silent" });
