#!/usr/bin/env node
// `npm test`: every `*.test.ts` under packages/*/src through Node's own test runner (with
// tsx for TypeScript), after preparing the embedded-database template the tests copy.
// Arguments filter the files by path: `npm test -- segments` runs the files matching it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const filters = process.argv.slice(2);

function findTests(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.name.endsWith(".test.ts")) found.push(full);
  }
  return found;
}

const files = fs
  .readdirSync(path.join(root, "packages"))
  .map((pkg) => path.join(root, "packages", pkg, "src"))
  .filter((dir) => fs.existsSync(dir))
  .flatMap(findTests)
  .map((file) => path.relative(root, file))
  .filter(
    (file) => filters.length === 0 || filters.some((f) => file.includes(f)),
  )
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}

const prepare = spawnSync(
  process.execPath,
  ["--import", "tsx", "packages/server/src/testing/prepare-template.ts"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
if (prepare.status !== 0) process.exit(prepare.status ?? 1);

const concurrency = Math.max(
  1,
  Math.min(files.length, os.availableParallelism()),
);
const run = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    "--test-timeout=300000",
    "--test-reporter=spec",
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
process.exit(run.status ?? 1);
