import type { MessageChannel } from "@herald/core/messages/content";
import type { RateLimiterState } from "../providers/rate-limit.ts";
import type { Tx } from "../db/database.ts";

// Providers' shared rate-limit budgets (`delivery_budgets`): one row per workspace and
// channel, locked in a claim's transaction, so every sender of one database takes from it.

/** A provider's shared rate-limit budget (see `lockDeliveryBudget`). */
export type DeliveryBudgetRow = {
  limits_key: string | null;
  state: RateLimiterState | null;
};

/**
 * Makes sure a provider's budget row exists (empty at first), for `lockDeliveryBudget`:
 * two senders creating it at once wait for each other here instead of both seeding it.
 */
export async function ensureDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  channel: MessageChannel,
): Promise<void> {
  await tx.query(
    `insert into delivery_budgets (workspace_id, channel) values ($1, $2)
     on conflict (workspace_id, channel) do nothing`,
    [workspaceId, channel],
  );
}

/** Locks a provider's budget row until the transaction ends, and reads it. */
export async function lockDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  channel: MessageChannel,
): Promise<DeliveryBudgetRow | undefined> {
  const [row] = await tx.query<DeliveryBudgetRow>(
    "select limits_key, state from delivery_budgets where workspace_id = $1 and channel = $2 for update",
    [workspaceId, channel],
  );
  return row;
}

/** What a provider's budget has used, under the limits it was counted for. */
export interface DeliveryBudget {
  channel: MessageChannel;
  /** The limits the state was counted under (JSON), to start over when they change. */
  limitsKey: string;
  state: RateLimiterState;
}

/** Stores what a provider's budget has used. */
export async function saveDeliveryBudget(
  tx: Tx,
  workspaceId: string,
  budget: DeliveryBudget,
): Promise<void> {
  await tx.query(
    "update delivery_budgets set limits_key = $3, state = $4 where workspace_id = $1 and channel = $2",
    [
      workspaceId,
      budget.channel,
      budget.limitsKey,
      JSON.stringify(budget.state),
    ],
  );
}
