#!/usr/bin/env node
// The `herald` command: runs the compiled server in ../dist (built by `npm install` or
// `npm run build`). A build that does not match its sources is never run: it is rebuilt
// first (about a second), and if that fails the sources run through tsx, with a notice.
import { checkBuild } from "../build/check-build.js";

let build = checkBuild();
if (!build.fresh) {
  const stale = build.reason;
  try {
    const { buildServer } = await import("../build/build-server.js");
    const ms = await buildServer({ ifStale: true });
    build = checkBuild();
    if (ms !== undefined && build.fresh)
      process.stderr.write(
        `herald: rebuilt packages/server/dist in ${(ms / 1000).toFixed(1)} s, since ${stale}\n`,
      );
  } catch (error) {
    const why = String(error?.message ?? error)
      .split("\n", 2)
      .join(" ");
    build = { fresh: false, reason: `${stale}, and rebuilding failed: ${why}` };
  }
}

if (build.fresh) {
  process.env.HERALD_COMPILED = "1"; // the worker threads run the same build
  const { main } = await import("../dist/cli/herald.js");
  await main(process.argv);
} else {
  process.stderr.write(
    `herald: running the TypeScript sources through tsx (slower) instead of the build, since ${build.reason}. \`npm run build\` rebuilds.\n`,
  );
  delete process.env.HERALD_COMPILED;
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../src/cli/herald.ts");
  await main(process.argv);
}
