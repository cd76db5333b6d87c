import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * The embedded database's directory lock. PGlite takes no lock of its own and a second
 * process opening the same directory corrupts it, so Herald holds `herald.lock` there: a
 * file created exclusively, holding the owner's pid and, once its server is up, the
 * address of its control channel (so the CLI can ask the running server instead).
 *
 * States: absent → held (file exists, owner alive) → released (file removed on close).
 * A file whose owner is dead on this host is stale and taken over. The trade-off: a pid
 * reused by an unrelated process keeps a stale lock looking held; the message says how to
 * remove it.
 */

/** What the lock file says about its owner. */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  /** The running server's control channel, once it is listening. */
  control?: { port: number; token: string };
}

/** Thrown when another live process holds the directory. */
export class DataDirLockedError extends Error {
  override readonly name = "DataDirLockedError";
  constructor(
    readonly dataDir: string,
    readonly holder: LockInfo,
  ) {
    super(
      `the data directory ${dataDir} is in use by Herald process ${holder.pid} on ${holder.hostname} ` +
        `(started ${holder.startedAt}). Stop that process first, or point HERALD_DATA_DIR at another ` +
        `directory. If no such process runs, delete ${path.join(dataDir, lockFileName)}.`,
    );
  }
}

const lockFileName = "herald.lock";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads the lock file of `dataDir`, if there is one with readable contents. */
export function readLock(dataDir: string): LockInfo | undefined {
  try {
    return JSON.parse(
      fs.readFileSync(path.join(dataDir, lockFileName), "utf8"),
    ) as LockInfo;
  } catch {
    return undefined;
  }
}

/** The holder of `dataDir`'s lock when it is a live process, else undefined. */
export function liveHolder(dataDir: string): LockInfo | undefined {
  const info = readLock(dataDir);
  if (!info) return undefined;
  if (info.hostname !== os.hostname()) return info;
  return info.pid !== process.pid && isAlive(info.pid) ? info : undefined;
}

/** A held lock on a data directory. */
export class DataDirLock {
  readonly #file: string;
  #info: LockInfo;

  private constructor(file: string, info: LockInfo) {
    this.#file = file;
    this.#info = info;
  }

  /** Takes the lock on `dataDir` (creating the directory) or throws DataDirLockedError. */
  static acquire(dataDir: string): DataDirLock {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, lockFileName);
    const info: LockInfo = {
      pid: process.pid,
      hostname: os.hostname(),
      startedAt: new Date().toISOString(),
    };
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const fd = fs.openSync(file, "wx", 0o600);
        fs.writeSync(fd, JSON.stringify(info));
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return new DataDirLock(file, info);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = readLock(dataDir);
      if (!holder) {
        // Being written by its creator this very moment, or truncated by a crash.
        const age =
          Date.now() -
          (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
        if (age > 2_000) fs.rmSync(file, { force: true });
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      if (liveHolder(dataDir)) throw new DataDirLockedError(dataDir, holder);
      fs.rmSync(file, { force: true });
    }
    throw new Error(`could not take the lock in ${dataDir}`);
  }

  /** Records the running server's control channel for CLI commands to use. */
  setControl(control: LockInfo["control"]): void {
    this.#info = { ...this.#info, control };
    const temp = `${this.#file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(this.#info), { mode: 0o600 });
    fs.renameSync(temp, this.#file);
  }

  /** Removes the lock file if it is still this process's. */
  release(): void {
    const current = readLock(path.dirname(this.#file));
    if (current?.pid === process.pid) fs.rmSync(this.#file, { force: true });
  }
}
