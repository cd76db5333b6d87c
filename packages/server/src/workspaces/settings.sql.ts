import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Queryable } from "../db/database.ts";

/** A workspace's settings (empty when it has none, undefined when there is no workspace). */
export async function getSettings(
  q: Queryable,
  workspaceId: string,
): Promise<WorkspaceSettings | undefined> {
  const [row] = await q.query<{ settings: WorkspaceSettings }>(
    "select settings from workspaces where id = $1",
    [workspaceId],
  );
  return row?.settings;
}

/** Merges `patch` into a workspace's settings (a null value removes a setting); returns the result. */
export async function updateSettings(
  q: Queryable,
  workspaceId: string,
  patch: Record<string, unknown>,
): Promise<WorkspaceSettings | undefined> {
  const [row] = await q.query<{ settings: WorkspaceSettings }>(
    "update workspaces set settings = jsonb_strip_nulls(settings || $2::jsonb) where id = $1 returning settings",
    [workspaceId, JSON.stringify(patch)],
  );
  return row?.settings;
}
