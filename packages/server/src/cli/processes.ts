import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../logger.ts";

/**
 * `herald start --processes N`: N copies of the server in one command, sharing its port
 * (Node's cluster module hands each new connection to the next copy), so that a machine's
 * cores share the HTTP work. Each copy is a whole Herald on the shared PostgreSQL, as if
 * started by hand beside the others; this primary only supervises them.
 *
 * States: starting (until every copy reports ready; one that exits first fails the start)
 * → running (a copy that dies is replaced after a second) → stopping (SIGTERM or SIGINT
 * is passed to every copy; the primary exits once they all have, non-zero if one failed).
 */

/** What a copy tells the primary once it listens. */
type ReadyMessage = { herald: "ready"; url: string; database: string };

/** True in a copy started by `superviseCopies`. */
export const isCopy = (): boolean => cluster.isWorker;

/**
 * In a copy: tells the primary it is ready, and calls `stop` when the primary asks or
 * is gone.
 */
export function runAsCopy(
  url: string,
  database: string,
  stop: () => void,
): void {
  const message: ReadyMessage = { herald: "ready", url, database };
  process.send?.(message);
  process.on(
    "message",
    (m: { herald?: string }) => m.herald === "stop" && stop(),
  );
  process.on("disconnect", stop);
}

/** In the primary: starts `count` copies and supervises them until they have all stopped. */
export function superviseCopies(count: number, logger: Logger): void {
  let stopping = false;
  let failed = false;
  let announced = false;
  const ready = new Set<Worker>();

  const start = (): void => {
    const copy = cluster.fork();
    copy.on("message", (message: Partial<ReadyMessage>) => {
      if (message.herald !== "ready") return;
      ready.add(copy);
      if (ready.size === count && !announced) {
        announced = true;
        process.stdout.write(
          `Herald is ready at ${message.url} (database: ${message.database}, ${count} processes). Health: ${message.url}/health\n`,
        );
      }
    });
    copy.on("exit", (code, signal) => {
      const wasReady = ready.delete(copy);
      if (code !== 0) failed = true;
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0)
          process.exit(failed ? 1 : 0);
        return;
      }
      if (!wasReady) {
        logger.error(
          { code, signal },
          "a Herald process failed to start; stopping the others",
        );
        stop();
        return;
      }
      logger.warn(
        { pid: copy.process.pid, code, signal },
        "a Herald process died; starting another in 1 s",
      );
      setTimeout(() => stopping || start(), 1_000);
    });
  };

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const copies = Object.values(cluster.workers ?? {});
    if (copies.length === 0) process.exit(failed ? 1 : 0);
    // A message, not a signal: after Ctrl-C the copies have had SIGINT already, and a
    // second signal would make them exit at once.
    for (const copy of copies) copy?.send({ herald: "stop" });
  };

  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) process.exit(1);
    logger.info({ signal }, "stopping");
    stop();
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  for (let i = 0; i < count; i++) start();
}
