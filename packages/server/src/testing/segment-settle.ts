import { workspaceBacklog } from "../segments/segments.sql.ts";
import type { Herald } from "../main.ts";
import { stepUntilIdle } from "../workers/worker-loop.ts";

/**
 * For tests and tools that drive Herald step by step: runs the ingest resolver, the event processor and the
 * given segment workers until a workspace has nothing left to do. On PostgreSQL the
 * processor reads only what every running transaction can see, so while another session
 * (another test file on the same database) has a transaction open, committed events may
 * wait; this waits for them instead of stopping at the first empty step.
 */
export async function settleWorkspace(
  herald: Herald,
  workspaceId: string,
  workers: { step: () => Promise<number> }[] = [],
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    await herald.ingest.drain();
    let work = await herald.resolver.resolvePending();
    work += await stepUntilIdle(() => herald.processor.processPending());
    for (const worker of workers)
      work += await stepUntilIdle(() => worker.step());
    if (work > 0) continue;
    if ((await workspaceBacklog(herald.db, workspaceId)) === 0) return;
    if (Date.now() > until)
      throw new Error(
        `workspace ${workspaceId} still has events waiting after ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
