import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import { listWorkspaces } from "../workspaces/workspaces.sql.ts";

// What every operator operation runs with, below both the operations and the ways of
// reaching them (the `herald` command, the control channel of a running server).

/** Progress of a long operation. */
export interface Progress {
  done: number;
  total?: number;
  label?: string;
}

/** What an operation runs with. */
export interface OperationContext {
  db: Database;
  clock: Clock;
  config: Readonly<Config>;
  logger: Logger;
  progress: (update: Progress) => void;
  /** Present when the operation runs inside a server: lets it drop cached keys. */
  forgetKey?: (keyId: string) => void;
}

/** Resolves the workspace an operation is for: the one named, or the only one. */
export async function resolveWorkspace(
  ctx: OperationContext,
  workspaceId: string | undefined,
): Promise<string> {
  if (workspaceId) return workspaceId;
  const all = await listWorkspaces(ctx.db);
  const [only] = all;
  if (all.length === 1 && only) return only.id;
  throw new DomainError(
    "invalid",
    "there are several workspaces: name one with --workspace (herald workspace list shows them)",
  );
}
