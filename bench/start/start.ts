/**
 * bench/start: how long `herald start` takes to answer `GET /health` on the embedded
 * database, the first time (a new data directory: create, migrate, first workspace) and
 * again on the same directory, beside a baseline measured in the same run: a bare Node.js
 * process with the same TypeScript loader answering HTTP. Target: a second start under 3 s.
 *
 *   node --import tsx bench/start/start.ts          (npm run bench:start)
 *
 * Environment: BENCH_RUNS (restarts to time, default 5; the median is reported).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const root = path.resolve(import.meta.dirname, "../..");
const bin = path.join(root, "packages/server/bin/herald.js");

/** Starts `args` and resolves with the milliseconds until `url` answers 200, then stops it. */
async function timeToHealthy(
  args: string[],
  env: NodeJS.ProcessEnv,
  url: string,
): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: "ignore" });
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${args.join(" ")} exited with ${child.exitCode}`);
      const ok = await fetch(url)
        .then((response) => response.ok)
        .catch(() => false);
      if (ok) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await stop(child);
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.on("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const port = 43_000 + (process.pid % 1000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-start-"));
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const env = {
    ...rest,
    HERALD_DATA_DIR: dataDir,
    PORT: String(port),
    HERALD_LOG_LEVEL: "warn",
  };
  const health = `http://127.0.0.1:${port}/health`;
  const bare = [
    "--import",
    "tsx",
    "-e",
    `require("node:http").createServer((q, s) => s.end("ok")).listen(${port}, "127.0.0.1")`,
  ];

  const baseline: number[] = [];
  for (let i = 0; i < runs; i++)
    baseline.push(await timeToHealthy(bare, env, health));
  const first = await timeToHealthy([bin, "start"], env, health);
  const again: number[] = [];
  for (let i = 0; i < runs; i++)
    again.push(await timeToHealthy([bin, "start"], env, health));
  fs.rmSync(dataDir, { recursive: true, force: true });

  const base = median(baseline);
  const second = median(again);
  const line = (name: string, ms: number) =>
    `  ${name.padEnd(44)} ${(ms / 1000).toFixed(2)} s   ${(ms / base).toFixed(1)}× the baseline`;
  process.stdout.write(
    [
      "",
      `bench/start on the embedded database (median of ${runs} runs)`,
      `  baseline: bare Node.js + tsx answering HTTP   ${(base / 1000).toFixed(2)} s`,
      line("first start (new directory, migrations)", first),
      line("start on an existing directory", second),
      `  target: a second start under 3 s — ${second < 3000 ? "met" : "missed"}`,
      "",
    ].join("\n"),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
