import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pgliteTemplateDir } from "./prepare-template.ts";

/**
 * Real `herald` processes for end-to-end tests: the CLI as a user runs it, on a data
 * directory of the test's own.
 */

const bin = fileURLToPath(new URL("../../bin/herald.js", import.meta.url));

/** A fresh data directory; `migrated` starts it from the test template (no initdb wait). */
export async function tempDataDir(migrated = true): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-data-"));
  if (migrated)
    fs.cpSync(await pgliteTemplateDir(), path.join(dir, "pg"), {
      recursive: true,
    });
  return dir;
}

/** A running `herald start`. */
export interface HeraldProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  /** Resolves to the exit code once the process has ended. */
  exited: Promise<number | null>;
}

function environment(
  dataDir: string,
  env: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  return {
    ...rest,
    HERALD_DATA_DIR: dataDir,
    HERALD_HOST: "127.0.0.1",
    PORT: "0",
    HERALD_LOG_LEVEL: "warn",
    ...env,
  };
}

/** Spawns `herald start` and resolves once it prints that it is ready. */
export async function startHeraldProcess(
  dataDir: string,
  env?: Record<string, string>,
  args: string[] = [],
): Promise<HeraldProcess> {
  const child = spawn(process.execPath, [bin, "start", ...args], {
    env: environment(dataDir, env),
    stdio: "pipe",
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`herald did not start in 60 s:\n${out}\n${err}`)),
      60_000,
    );
    child.stdout.on("data", () => {
      const match = /Herald is ready at (\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `herald exited with ${code} before it was ready:\n${out}\n${err}`,
        ),
      );
    });
  });
  return { child, url, stdout: () => out, exited };
}

/** Runs a `herald` command to completion. */
export function runHerald(
  dataDir: string,
  args: string[],
  env?: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], {
    env: environment(dataDir, env),
    encoding: "utf8",
    timeout: 60_000,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/** Runs a `herald` command in the background, for commands that must not block the test. */
export function runHeraldAsync(
  dataDir: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: environment(dataDir, env),
      stdio: "pipe",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (status) => resolve({ status, stdout, stderr }));
  });
}
