import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Queryable } from "../db/database.ts";
import { getSettings } from "./settings.sql.ts";

const ttlMs = 10_000;

/**
 * Workspace settings for hot paths (ingest, the event processor), cached for 10 seconds;
 * a change through this process is seen at once.
 */
export class SettingsCache {
  readonly #db: Queryable;
  readonly #entries = new Map<
    string,
    { settings: WorkspaceSettings; until: number }
  >();

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** The settings of a workspace (empty if it has none); `q` is the open transaction, if any. */
  async get(
    workspaceId: string,
    q: Queryable = this.#db,
  ): Promise<WorkspaceSettings> {
    const entry = this.#entries.get(workspaceId);
    if (entry && entry.until > Date.now()) return entry.settings;
    const settings = (await getSettings(q, workspaceId)) ?? {};
    this.#entries.set(workspaceId, { settings, until: Date.now() + ttlMs });
    return settings;
  }

  /** Forgets a workspace's cached settings after a change. */
  forget(workspaceId: string): void {
    this.#entries.delete(workspaceId);
  }
}
