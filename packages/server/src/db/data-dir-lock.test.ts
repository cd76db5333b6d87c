import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { DataDirLock, DataDirLockedError, readLock } from "./data-dir-lock.ts";

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "herald-lock-"));

describe("data directory lock", () => {
  it("refuses a second holder while the first lives, and frees the directory on release", () => {
    const dir = tempDir();
    const lock = DataDirLock.acquire(dir);
    // The same process stands in for a second one: a live pid that is not ours.
    const other = spawn(process.execPath, [
      "-e",
      "setTimeout(() => {}, 10000)",
    ]);
    try {
      const info = readLock(dir);
      assert.ok(info);
      fs.writeFileSync(
        path.join(dir, "herald.lock"),
        JSON.stringify({ ...info, pid: other.pid }),
      );
      assert.throws(
        () => DataDirLock.acquire(dir),
        (error) => {
          assert.ok(error instanceof DataDirLockedError);
          assert.match(
            error.message,
            new RegExp(`in use by Herald process ${other.pid}`),
          );
          assert.match(error.message, /Stop that process first/);
          return true;
        },
      );
    } finally {
      other.kill("SIGKILL");
    }
    fs.writeFileSync(
      path.join(dir, "herald.lock"),
      JSON.stringify({ ...readLock(dir), pid: process.pid }),
    );
    lock.release();
    assert.equal(fs.existsSync(path.join(dir, "herald.lock")), false);
    DataDirLock.acquire(dir).release();
  });

  it("takes over a lock left by a process that died", async () => {
    const dir = tempDir();
    const dead = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => dead.on("exit", resolve));
    fs.writeFileSync(
      path.join(dir, "herald.lock"),
      JSON.stringify({
        pid: dead.pid,
        hostname: os.hostname(),
        startedAt: new Date().toISOString(),
      }),
    );
    const lock = DataDirLock.acquire(dir);
    assert.equal(readLock(dir)?.pid, process.pid);
    lock.release();
  });

  it("records the control channel for CLI commands", () => {
    const dir = tempDir();
    const lock = DataDirLock.acquire(dir);
    lock.setControl({ port: 4321, token: "t" });
    assert.deepEqual(readLock(dir)?.control, { port: 4321, token: "t" });
    assert.equal(
      fs.statSync(path.join(dir, "herald.lock")).mode & 0o777,
      0o600,
    );
    lock.release();
  });
});
