import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { normalizeShop } from "@herald/core/webhooks/connections";
import type { Database } from "../db/database.ts";
import * as connectionsSql from "./connections.sql.ts";

/**
 * Connecting a Shopify or WooCommerce store to a workspace: its shop and its webhook
 * secret, which store-webhook-routes.ts checks each delivery against. A shop feeds one
 * workspace at a time.
 */

/** A connection as the admin API shows it (never its secret). */
export type ConnectionSummary = Omit<
  connectionsSql.StoreConnection,
  "secret" | "workspaceId"
>;

const summaryOf = (c: connectionsSql.StoreConnection): ConnectionSummary => ({
  platform: c.platform,
  shop: c.shop,
  createdAt: c.createdAt,
});

/** The stores connected to a workspace. */
export async function listConnections(
  db: Database,
  workspaceId: string,
): Promise<ConnectionSummary[]> {
  return (await connectionsSql.listConnections(db, workspaceId)).map(summaryOf);
}

/**
 * Connects (or reconnects) a store by its shop domain (Shopify) or URL (WooCommerce);
 * `conflict` when another workspace has that shop.
 */
export async function connectStore(
  { db, clock }: { db: Database; clock: Clock },
  workspaceId: string,
  input: {
    platform: connectionsSql.StoreConnection["platform"];
    shop: string;
    secret: string;
  },
): Promise<ConnectionSummary> {
  const shop = normalizeShop(input.platform, input.shop);
  const taken = await connectionsSql.findConnectionByShop(
    db,
    input.platform,
    shop,
  );
  if (taken && taken.workspaceId !== workspaceId)
    throw new DomainError(
      "conflict",
      `${shop} is already connected to another workspace; disconnect it there first`,
    );
  const connection: connectionsSql.StoreConnection = {
    workspaceId,
    platform: input.platform,
    shop,
    secret: input.secret,
    createdAt: clock.now(),
  };
  await connectionsSql.upsertConnection(db, connection);
  return summaryOf(connection);
}

/** Disconnects a platform's store; `not_found` when none is connected. */
export async function disconnectStore(
  db: Database,
  workspaceId: string,
  platform: connectionsSql.StoreConnection["platform"],
): Promise<void> {
  if (!(await connectionsSql.deleteConnection(db, workspaceId, platform)))
    throw new DomainError("not_found", `no ${platform} store is connected`);
}
