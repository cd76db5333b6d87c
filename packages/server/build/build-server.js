// `npm run build` (and `npm install`, through the root's prepare script): the server as
// JavaScript in packages/server/dist, so that `herald` starts without compiling
// TypeScript. esbuild bundles the three entries (the CLI and the two worker threads),
// @herald/core from its sources, packages from node_modules at run time (but see
// `inlined`), in about a second: quick enough for bin/herald.js to rebuild a stale build.
// The bundles sit one folder deep as their sources do (dist/cli/herald.js for
// src/cli/herald.ts), so that paths relative to `import.meta.url` (../../package.json,
// ../../bin/*.js, ../db/migrations/) mean the same from a bundle as from its sources; the
// migrations are copied to dist/db/migrations. The stamp (see check-build.js) records
// what the build read.
//
// Several `herald` processes may find the build stale at once (tests start many): one
// builds under a lock file while the others wait and then use its build. Every file is
// written beside its place and renamed into it, the stamp last, so a process never loads
// half a file; the stamp holds the signatures taken before the build read the sources, so
// a source edited during a build leaves it stale.
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import {
  checkBuild,
  distDir,
  rootDir,
  serverDir,
  signatureOf,
  stampFile,
  stampVersion,
} from "./check-build.js";

const sourceDir = path.join(serverDir, "src");
const migrationsDir = path.join(sourceDir, "db/migrations");
const lockFile = path.join(distDir, "build.lock");

/** The entry points, relative to src/. */
const entries = [
  "cli/herald.ts",
  "providers/smtp-thread-main.ts",
  "templates/template-thread-main.ts",
];

/**
 * Packages bundled rather than loaded from node_modules: @herald/core, whose package.json
 * exports TypeScript sources, and typebox, whose ~700 small ES modules took a third of
 * `herald --version` to load one by one (and which only Herald's own code imports).
 * Every other package stays external: bundled, those that find files beside their own
 * (pino's worker, @fastify/swagger's package.json, PGlite's WebAssembly, mjml's config)
 * would break, and the rest gain little.
 */
const inlined = ["@herald/core", "typebox"];

/** Files besides the bundled sources whose change makes the build stale. */
const settingsFiles = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "packages/core/package.json",
  "packages/server/package.json",
  "packages/server/build/build-server.js",
  "packages/server/build/check-build.js",
];

const relative = (file) =>
  path.relative(rootDir, file).split(path.sep).join("/");

/** Signatures of every file under the packages' src folders, and of the settings files. */
function signSources() {
  const signatures = new Map();
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      if (entry.isDirectory() || entry.isFile())
        signatures.set(relative(full), signatureOf(relative(full)));
    }
  };
  for (const pkg of fs.readdirSync(path.join(rootDir, "packages"))) {
    const src = path.join(rootDir, "packages", pkg, "src");
    if (fs.existsSync(src)) walk(src);
  }
  for (const file of settingsFiles) signatures.set(file, signatureOf(file));
  return signatures;
}

/** Writes `contents` to `file` through a temporary file and a rename. */
function writeAtomically(file, contents) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, contents);
  fs.renameSync(temporary, file);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error?.code === "EPERM";
  }
}

/** Takes the build lock, waiting for another builder (or removing a dead one's lock). */
async function lock() {
  fs.mkdirSync(distDir, { recursive: true });
  for (let waited = 0; ; waited += 50) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: "wx" });
      return;
    } catch (error) {
      if (error?.code !== "EEXIST") throw error;
    }
    let holder = 0; // 0 while the holder has not written its pid yet
    try {
      holder = Number(fs.readFileSync(lockFile, "utf8"));
    } catch {
      continue; // released meanwhile
    }
    if ((holder && !alive(holder)) || waited > 120_000)
      fs.rmSync(lockFile, { force: true });
    else await sleep(50);
  }
}

/** Bundles the entries and writes them, the migrations and the stamp to dist/. */
async function bundle() {
  const { build } = await import("esbuild");
  const before = signSources();
  const result = await build({
    absWorkingDir: rootDir,
    entryPoints: entries.map((entry) => path.join(sourceDir, entry)),
    outbase: sourceDir,
    outdir: distDir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    keepNames: true,
    sourcemap: "linked",
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: "silent",
    plugins: [
      {
        name: "node-modules-external",
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, (args) =>
            inlined.some(
              (name) => args.path === name || args.path.startsWith(`${name}/`),
            )
              ? undefined
              : { external: true },
          );
        },
      },
    ],
  });
  for (const output of result.outputFiles)
    writeAtomically(output.path, output.contents);

  const migrations = fs.readdirSync(migrationsDir);
  const copied = path.join(distDir, "db/migrations");
  fs.mkdirSync(copied, { recursive: true });
  for (const file of fs.readdirSync(copied))
    if (!migrations.includes(file)) fs.rmSync(path.join(copied, file));
  for (const file of migrations)
    writeAtomically(
      path.join(copied, file),
      fs.readFileSync(path.join(migrationsDir, file)),
    );

  const inputs = {};
  const read = [
    // Packages bundled from node_modules change only with the lockfile.
    ...Object.keys(result.metafile.inputs).filter(
      (file) => !file.includes("node_modules/"),
    ),
    relative(migrationsDir),
    ...migrations.map((file) => relative(path.join(migrationsDir, file))),
    ...settingsFiles,
  ];
  for (const file of read.sort())
    inputs[file] = before.get(file) ?? signatureOf(file);
  writeAtomically(
    stampFile,
    `${JSON.stringify({ version: stampVersion, inputs }, null, 1)}\n`,
  );
}

/**
 * Builds the server into dist/ under the build lock; with `ifStale`, only when the build
 * is still stale once the lock is held (another process may have just built it). Resolves
 * to the milliseconds taken, or undefined when there was nothing to do.
 */
export async function buildServer({ ifStale = false } = {}) {
  const started = performance.now();
  await lock();
  try {
    if (ifStale && checkBuild().fresh) return undefined;
    await bundle();
    return performance.now() - started;
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const ms = await buildServer();
    process.stdout.write(
      `built ${relative(distDir)} in ${((ms ?? 0) / 1000).toFixed(2)} s\n`,
    );
  } catch (error) {
    process.stderr.write(`${error?.message ?? String(error)}\n`);
    process.exit(1);
  }
}
