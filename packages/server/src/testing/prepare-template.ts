import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listMigrations, migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { silentLogger } from "../logger.ts";

/**
 * The migrated PGlite directory that test databases are copied from, kept under
 * node_modules/.cache and named by a hash of the migrations, so that a new migration
 * makes a new template. Built once per change; concurrent builders race harmlessly (each
 * builds aside, the first rename wins).
 */

const cacheDir = fileURLToPath(
  new URL("../../../../node_modules/.cache/herald", import.meta.url),
);

/** The template directory, built first if missing. */
export async function pgliteTemplateDir(): Promise<string> {
  const hash = createHash("sha256");
  for (const m of listMigrations()) hash.update(`${m.id}:${m.name}:${m.sql}\0`);
  const dir = path.join(
    cacheDir,
    `pglite-template-${hash.digest("hex").slice(0, 16)}`,
  );
  if (fs.existsSync(dir)) return dir;

  fs.mkdirSync(cacheDir, { recursive: true });
  const building = fs.mkdtempSync(path.join(cacheDir, "building-"));
  const db = await openPglite(building, silentLogger);
  await migrate(db);
  await db.close();
  try {
    fs.renameSync(building, dir);
  } catch {
    fs.rmSync(building, { recursive: true, force: true });
  }
  for (const stale of fs.readdirSync(cacheDir)) {
    if (
      stale.startsWith("pglite-template-") &&
      path.join(cacheDir, stale) !== dir
    ) {
      fs.rmSync(path.join(cacheDir, stale), { recursive: true, force: true });
    }
  }
  return dir;
}

if (import.meta.url === `file://${process.argv[1]}`) await pgliteTemplateDir();
