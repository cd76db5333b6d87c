/**
 * bench/start: how long the `herald` command takes, beside bare Node.js measured in the
 * same run: a CLI command to its exit (`herald --version`; `herald workspace list`, which
 * opens the embedded database, and the same while a server holds it, which asks that
 * server), and `herald start` until `GET /health` answers 200, the first time (a new data
 * directory: create, migrate, first workspace) and again on the same directory. The
 * baselines are `node -e 0` (a process that starts and exits) and a bare Node.js HTTP
 * server answering its first request. Everything is measured in rounds, one of each per
 * round, so that a busy machine slows them alike; a figure is the median over the rounds,
 * with the fastest and slowest beside it, and the CPU time the process used (on Linux),
 * which a busy machine changes less than the wall-clock time. Targets: a CLI command
 * under 1 s, a second start under 1.5 s.
 *
 *   node --import tsx bench/start/start.ts          (npm run bench:start)
 *
 * Environment: BENCH_RUNS (rounds, default 7); BENCH_BEFORE (another checkout's
 * `packages/server/bin/herald.js`, say an older commit's: timed in the same rounds, with
 * the ratio of this checkout's figures to its own).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const runs = Number(process.env.BENCH_RUNS ?? 7);
const root = path.resolve(import.meta.dirname, "../..");

/** One timing: wall-clock milliseconds and CPU milliseconds (NaN where unknown). */
interface Timing {
  ms: number;
  cpu: number;
}

const tick = 1000 / 100; // Linux reports process times in 1/100 s

/** User + system CPU milliseconds from a /proc stat line's fields after the name. */
function cpuOf(statFile: string, fields: [number, number]): number {
  try {
    const stat = fs.readFileSync(statFile, "utf8");
    const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (
      (Number(after[fields[0]]) + Number(after[fields[1]])) * tick || Number.NaN
    );
  } catch {
    return Number.NaN;
  }
}
/** CPU time of this process's ended children so far. */
const childrenCpu = () => cpuOf("/proc/self/stat", [13, 14]);
/** CPU time of a running process. */
const processCpu = (pid: number) => cpuOf(`/proc/${pid}/stat`, [11, 12]);

/** Runs `args` to its exit. */
async function timeToExit(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<Timing> {
  const cpuBefore = childrenCpu();
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: "ignore" });
  const code = await new Promise<number | null>((resolve) =>
    child.on("exit", (exitCode) => resolve(exitCode)),
  );
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${args.join(" ")} exited with ${code}`);
  return { ms, cpu: childrenCpu() - cpuBefore };
}

/** Starts `args` and resolves once `url` answers 200, with the child still running. */
async function timeToHealthy(
  args: string[],
  env: NodeJS.ProcessEnv,
  url: string,
): Promise<Timing & { child: ChildProcess }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: "ignore" });
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${args.join(" ")} exited with ${child.exitCode}`);
    if (performance.now() - started > 120_000) {
      await stop(child);
      throw new Error(`${args.join(" ")} did not answer ${url} in 120 s`);
    }
    const ok = await fetch(url)
      .then((response) => response.ok)
      .catch(() => false);
    if (ok) {
      const ms = performance.now() - started;
      return { ms, cpu: processCpu(child.pid ?? 0), child };
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
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
const seconds = (ms: number) => (ms / 1000).toFixed(2);

/** The figures of one `herald` under test, by name, and the data directory they use. */
interface Subject {
  name: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  timings: Map<string, Timing[]>;
}

const figures = [
  "herald --version",
  "herald workspace list (opens the database)",
  "herald workspace list (asks the running server)",
  "first start (new directory, migrations)",
  "start on an existing directory",
] as const;
type Figure = (typeof figures)[number];

function record(subject: Subject, figure: Figure, timing: Timing): void {
  subject.timings.set(figure, [...(subject.timings.get(figure) ?? []), timing]);
}

async function main(): Promise<void> {
  const port = 43_000 + (process.pid % 1000);
  const health = `http://127.0.0.1:${port}/health`;
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const env = { ...rest, PORT: String(port), HERALD_LOG_LEVEL: "warn" };
  const subject = (name: string, bin: string): Subject => ({
    name,
    bin: path.resolve(bin),
    env: {
      ...env,
      HERALD_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "herald-start-")),
    },
    timings: new Map(),
  });
  const subjects = [
    subject("this checkout", path.join(root, "packages/server/bin/herald.js")),
    ...(process.env.BENCH_BEFORE
      ? [subject("before", process.env.BENCH_BEFORE)]
      : []),
  ];
  const bareHttp = [
    "-e",
    `require("node:http").createServer((q, s) => s.end("ok")).listen(${port}, "127.0.0.1")`,
  ];
  const exit: Timing[] = [];
  const http: Timing[] = [];

  try {
    for (const s of subjects) {
      // Untimed once: a stale or missing build is rebuilt, and the files are cached.
      await timeToExit([s.bin, "--version"], s.env);
      const first = await timeToHealthy([s.bin, "start"], s.env, health);
      record(s, "first start (new directory, migrations)", first);
      await stop(first.child);
    }
    for (let round = 0; round < runs; round++) {
      exit.push(await timeToExit(["-e", "0"], env));
      const bare = await timeToHealthy(bareHttp, env, health);
      http.push(bare);
      await stop(bare.child);
      for (const s of subjects) {
        const run = (...args: string[]) => timeToExit([s.bin, ...args], s.env);
        record(s, "herald --version", await run("--version"));
        record(
          s,
          "herald workspace list (opens the database)",
          await run("workspace", "list"),
        );
        const server = await timeToHealthy([s.bin, "start"], s.env, health);
        record(s, "start on an existing directory", server);
        try {
          record(
            s,
            "herald workspace list (asks the running server)",
            await run("workspace", "list"),
          );
        } finally {
          await stop(server.child);
        }
      }
    }
  } finally {
    for (const s of subjects)
      fs.rmSync(s.env.HERALD_DATA_DIR ?? "", { recursive: true, force: true });
  }

  const wall = (timings: Timing[]) => median(timings.map((t) => t.ms));
  const bases = { http: wall(http), exit: wall(exit) };
  const line = (name: string, timings: Timing[], previous?: Timing[]) => {
    const walls = timings.map((t) => t.ms);
    const ms = median(walls);
    const spread =
      walls.length > 1
        ? `(${seconds(Math.min(...walls))}–${seconds(Math.max(...walls))})`
        : "(1 run)";
    const cpu = median(timings.map((t) => t.cpu));
    const ratios = previous
      ? [
          `${(ms / bases.http).toFixed(1).padStart(5)}× HTTP`,
          `${(ms / bases.exit).toFixed(1).padStart(5)}× node -e 0`,
          ...(previous.length
            ? [
                `${(ms / wall(previous)).toFixed(2)}× before` +
                  ` (CPU ${(cpu / median(previous.map((t) => t.cpu))).toFixed(2)}×)`,
              ]
            : []),
        ].join("  ")
      : "";
    const cpuText = Number.isNaN(cpu) ? "" : `CPU ${seconds(cpu)} s`;
    return `  ${name.padEnd(48)} ${seconds(ms).padStart(6)} s ${spread.padEnd(14)} ${cpuText.padEnd(11)} ${ratios}`;
  };
  const report = (s: Subject) => {
    const before = s === subjects[1] ? undefined : subjects[1];
    const of = (figure: Figure) => s.timings.get(figure) ?? [];
    const cli = Math.max(
      wall(of("herald --version")),
      wall(of("herald workspace list (opens the database)")),
      wall(of("herald workspace list (asks the running server)")),
    );
    const second = wall(of("start on an existing directory"));
    return [
      `${s.name}: ${path.relative(process.cwd(), s.bin) || s.bin}`,
      ...figures.map((figure) =>
        line(figure, of(figure), before?.timings.get(figure) ?? []),
      ),
      `  targets: a CLI command under 1 s — ${cli < 1000 ? "met" : "missed"}; ` +
        `a second start under 1.5 s — ${second < 1500 ? "met" : "missed"}`,
    ];
  };
  process.stdout.write(
    [
      "",
      `bench/start on the embedded database: median of ${runs} rounds (fastest–slowest),`,
      `CPU time used, and multiples of each baseline measured in the same rounds${subjects.length > 1 ? " and of before" : ""}`,
      line("baseline: node -e 0", exit),
      line("baseline: bare Node.js answering HTTP", http),
      ...subjects.flatMap(report),
      `  (load average at the end: ${os
        .loadavg()
        .map((n) => n.toFixed(1))
        .join(" ")} on ${os.availableParallelism()} cores)`,
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
