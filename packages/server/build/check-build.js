// Whether packages/server/dist holds a build of the sources as they are now. The build's
// stamp (dist/build-stamp.json, written by build-server.js) lists every file the build
// read: the TypeScript sources esbuild bundled, the migrations copied beside them, the
// package manifests, the lockfile, the TypeScript settings and these build scripts, each
// with its size and modification time. The build is fresh while every one of them still
// has those: an edit, a checkout, a new or removed migration, an `npm install` makes it
// stale. Checking costs one stat per listed file (about 200: a few milliseconds).
import fs from "node:fs";
import path from "node:path";

/** The server package's folder. */
export const serverDir = path.resolve(import.meta.dirname, "..");

/** The repository's root, which the stamp's paths are relative to. */
export const rootDir = path.resolve(serverDir, "../..");

/** Where the build goes (git-ignored). */
export const distDir = path.join(serverDir, "dist");

/** The build's list of inputs and their signatures. */
export const stampFile = path.join(distDir, "build-stamp.json");

/** Bumped when the stamp's shape or the build's layout changes. */
export const stampVersion = 1;

/** A file's or folder's signature (size and modification time), or "missing". */
export function signatureOf(relativePath) {
  const stat = fs.statSync(path.join(rootDir, relativePath), {
    throwIfNoEntry: false,
  });
  if (!stat) return "missing";
  return stat.isDirectory()
    ? `dir:${stat.mtimeMs}`
    : `${stat.size}:${stat.mtimeMs}`;
}

/**
 * Whether the build in dist/ matches the sources: `{ fresh: true }`, or `{ fresh: false,
 * reason }` saying what differs, in words for a notice.
 */
export function checkBuild() {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, "utf8"));
  } catch {
    return { fresh: false, reason: "there is no build yet" };
  }
  if (stamp?.version !== stampVersion || typeof stamp.inputs !== "object")
    return { fresh: false, reason: "the build is from an older build script" };
  for (const [file, signature] of Object.entries(stamp.inputs)) {
    const now = signatureOf(file);
    if (now === signature) continue;
    const change =
      now === "missing"
        ? "was removed"
        : signature === "missing"
          ? "was added"
          : "changed";
    return {
      fresh: false,
      reason: `${file} ${change} since the last build`,
    };
  }
  return { fresh: true };
}
