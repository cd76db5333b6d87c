import type { Queryable, Tx } from "../db/database.ts";

/** A store platform connected to a workspace. */
export interface StoreConnection {
  workspaceId: string;
  platform: "shopify" | "woocommerce";
  shop: string;
  secret: string;
  createdAt: Date;
}

type ConnectionRow = {
  workspace_id: string;
  platform: StoreConnection["platform"];
  shop: string;
  secret: string;
  created_at: Date;
};

const toConnection = (row: ConnectionRow): StoreConnection => ({
  workspaceId: row.workspace_id,
  platform: row.platform,
  shop: row.shop,
  secret: row.secret,
  createdAt: row.created_at,
});

/** Connects (or reconnects) a workspace to a store. */
export async function upsertConnection(
  q: Queryable,
  connection: StoreConnection,
): Promise<void> {
  await q.query(
    `insert into store_connections (workspace_id, platform, shop, secret, created_at) values ($1, $2, $3, $4, $5)
     on conflict (workspace_id, platform) do update set shop = excluded.shop, secret = excluded.secret`,
    [
      connection.workspaceId,
      connection.platform,
      connection.shop,
      connection.secret,
      connection.createdAt,
    ],
  );
}

/** The connection of a shop (by its domain or host). */
export async function findConnectionByShop(
  q: Queryable,
  platform: StoreConnection["platform"],
  shop: string,
): Promise<StoreConnection | undefined> {
  const [row] = await q.query<ConnectionRow>(
    "select * from store_connections where platform = $1 and shop = $2",
    [platform, shop],
  );
  return row && toConnection(row);
}

/** A workspace's connection to a platform. */
export async function getConnection(
  q: Queryable,
  workspaceId: string,
  platform: StoreConnection["platform"],
): Promise<StoreConnection | undefined> {
  const [row] = await q.query<ConnectionRow>(
    "select * from store_connections where workspace_id = $1 and platform = $2",
    [workspaceId, platform],
  );
  return row && toConnection(row);
}

/** A workspace's connections. */
export async function listConnections(
  q: Queryable,
  workspaceId: string,
): Promise<StoreConnection[]> {
  const rows = await q.query<ConnectionRow>(
    "select * from store_connections where workspace_id = $1 order by platform",
    [workspaceId],
  );
  return rows.map(toConnection);
}

/** Disconnects a platform; false if it was not connected. */
export async function deleteConnection(
  q: Queryable,
  workspaceId: string,
  platform: string,
): Promise<boolean> {
  return (
    (await q.execute(
      "delete from store_connections where workspace_id = $1 and platform = $2",
      [workspaceId, platform],
    )) > 0
  );
}

/** Records a webhook delivery; false when its id was recorded before. */
export async function recordDelivery(
  tx: Tx,
  delivery: {
    workspaceId: string;
    platform: string;
    deliveryId: string;
    topic: string;
    at: Date;
  },
): Promise<boolean> {
  const [row] = await tx.query(
    `insert into webhook_deliveries (workspace_id, platform, delivery_id, topic, received_at) values ($1, $2, $3, $4, $5)
     on conflict do nothing returning delivery_id`,
    [
      delivery.workspaceId,
      delivery.platform,
      delivery.deliveryId,
      delivery.topic,
      delivery.at,
    ],
  );
  return row !== undefined;
}

/**
 * The profile an order belongs to: the shopper of the order's own `Order Completed` event
 * (found by its message id, even before the event processor has recorded the order), or
 * of the recorded order; merged profiles resolve to their survivor.
 */
export async function orderProfile(
  q: Queryable,
  workspaceId: string,
  orderMessageId: string,
  orderId: string,
): Promise<string | undefined> {
  const [row] = await q.query<{ profile_id: string }>(
    `select coalesce(p.merged_into, p.id) as profile_id
       from (select profile_id from events where workspace_id = $1 and message_id = $2
             union all
             select profile_id from orders where workspace_id = $1 and order_id = $3) found
       join profiles p on p.workspace_id = $1 and p.id = found.profile_id
      limit 1`,
    [workspaceId, orderMessageId, orderId],
  );
  return row?.profile_id;
}
