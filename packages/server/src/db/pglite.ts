import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { createPgConfig } from "@electric-sql/pglite/node-postgres";
import pg from "pg";
import type { Logger } from "../logger.ts";
import { PoolDatabase, pgTypes, type Database } from "./database.ts";

/**
 * Opens the embedded database in `directory` (created on first use), or in memory when
 * `directory` is undefined. The caller holds the directory's lock.
 */
export async function openPglite(
  directory: string | undefined,
  logger: Logger,
  afterClose: () => void = () => undefined,
): Promise<Database> {
  const pglite = await PGlite.create(
    directory === undefined ? undefined : path.resolve(directory),
  );
  const pool = new pg.Pool({ ...createPgConfig(pglite), types: pgTypes });
  const onClose = async () => {
    await pglite.close();
    afterClose();
  };
  return new PoolDatabase({ kind: "pglite", pool, logger, onClose });
}
