import type { Fulfillment, OrderRecord } from "@herald/core/orders/orders";
import type { OrderFact } from "@herald/core/profiles/order-stats";
import type { Queryable, Tx } from "../db/database.ts";

/**
 * Records a placed order and its lines; false when the order id is already known (the
 * same order reported again), in which case nothing changes.
 */
export async function insertOrder(
  tx: Tx,
  workspaceId: string,
  placed: {
    profileId: string;
    order: OrderRecord;
    messageId: string;
    at: Date;
  },
): Promise<boolean> {
  const { profileId, order, messageId, at } = placed;
  const [row] = await tx.query<{ order_id: string }>(
    `insert into orders (workspace_id, order_id, profile_id, checkout_id, cart_id, currency, total, revenue, subtotal,
                         tax, shipping, discount, coupon, placed_at, updated_at, message_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     on conflict (workspace_id, order_id) do nothing
     returning order_id`,
    [
      workspaceId,
      order.orderId,
      profileId,
      order.checkoutId,
      order.cartId,
      order.currency,
      order.total,
      order.revenue,
      order.subtotal,
      order.tax,
      order.shipping,
      order.discount,
      order.coupon,
      order.placedAt,
      at,
      messageId,
    ],
  );
  if (!row) return false;
  await insertOrderItems(tx, workspaceId, profileId, order);
  return true;
}

async function insertOrderItems(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  order: Pick<OrderRecord, "orderId" | "items" | "placedAt">,
): Promise<void> {
  if (order.items.length === 0) return;
  const rows = order.items.map((item, line) => ({
    line,
    ...item,
    quantity: Math.max(1, Math.round(item.quantity ?? 1)),
  }));
  await tx.query(
    `insert into order_items (workspace_id, order_id, line, profile_id, product_id, variant_id, sku, name, category, brand,
                              price, quantity, placed_at)
     select $1, $2, r.line, $3, r.product_id, r.variant_id, r.sku, r.name, r.category, r.brand, r.price, r.quantity, $4
       from jsonb_to_recordset($5::jsonb) as r(line int, product_id text, variant_id text, sku text, name text,
            category text, brand text, price numeric, quantity int)`,
    [
      workspaceId,
      order.orderId,
      profileId,
      order.placedAt,
      JSON.stringify(rows),
    ],
  );
}

/** Applies an `Order Updated`: the fields it states, and its lines if it lists them. */
export async function updateOrder(
  tx: Tx,
  workspaceId: string,
  update: { orderId: string; order: Partial<OrderRecord>; at: Date },
): Promise<string | undefined> {
  const { orderId, order, at } = update;
  const [row] = await tx.query<{ profile_id: string; placed_at: Date }>(
    `update orders set
        currency = coalesce($3, currency), total = coalesce($4, total), revenue = coalesce($5, revenue),
        subtotal = coalesce($6, subtotal), tax = coalesce($7, tax), shipping = coalesce($8, shipping),
        discount = coalesce($9, discount), coupon = coalesce($10, coupon), updated_at = $11
      where workspace_id = $1 and order_id = $2
      returning profile_id, placed_at`,
    [
      workspaceId,
      orderId,
      order.currency ?? null,
      order.total ?? null,
      order.revenue ?? null,
      order.subtotal ?? null,
      order.tax ?? null,
      order.shipping ?? null,
      order.discount ?? null,
      order.coupon ?? null,
      at,
    ],
  );
  if (!row) return undefined;
  if (order.items && order.items.length > 0) {
    await tx.query(
      "delete from order_items where workspace_id = $1 and order_id = $2",
      [workspaceId, orderId],
    );
    await insertOrderItems(tx, workspaceId, row.profile_id, {
      orderId,
      items: order.items,
      placedAt: row.placed_at,
    });
  }
  return row.profile_id;
}

/** Sets an order's status (cancelled); returns its profile id, if the order is known. */
export async function cancelOrder(
  tx: Tx,
  workspaceId: string,
  orderId: string,
  at: Date,
): Promise<string | undefined> {
  const [row] = await tx.query<{ profile_id: string }>(
    "update orders set status = 'cancelled', updated_at = $3 where workspace_id = $1 and order_id = $2 returning profile_id",
    [workspaceId, orderId, at],
  );
  return row?.profile_id;
}

/**
 * Adds a refund (all of it when `amount` is null); a fully refunded order stops counting.
 * An order of unknown amount is fully refunded only by a refund of unknown amount.
 */
export async function refundOrder(
  tx: Tx,
  workspaceId: string,
  refund: { orderId: string; amount: number | null; at: Date },
): Promise<string | undefined> {
  const { orderId, amount, at } = refund;
  const [row] = await tx.query<{ profile_id: string }>(
    `update orders set
        refunded = case when revenue is null then refunded + coalesce($3::numeric, 0)
                        else least(revenue, refunded + coalesce($3::numeric, revenue)) end,
        status = case when status = 'cancelled' then status
                      when $3::numeric is null then 'refunded'
                      when least(revenue, refunded + $3::numeric) >= revenue then 'refunded'
                      else status end,
        updated_at = $4
      where workspace_id = $1 and order_id = $2
      returning profile_id`,
    [workspaceId, orderId, amount, at],
  );
  return row?.profile_id;
}

/** Records the latest fulfilment news of an order. */
export async function setFulfillment(
  tx: Tx,
  workspaceId: string,
  news: { orderId: string; fulfillment: Fulfillment; at: Date },
): Promise<string | undefined> {
  const { orderId, fulfillment, at } = news;
  const [row] = await tx.query<{ profile_id: string }>(
    `update orders set fulfillment = coalesce(fulfillment, '{}'::jsonb) || $3::jsonb, updated_at = $4
      where workspace_id = $1 and order_id = $2 returning profile_id`,
    [workspaceId, orderId, JSON.stringify(fulfillment), at],
  );
  return row?.profile_id;
}

/** The order facts of profiles, for their computed attributes. */
export async function orderFacts(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Map<string, OrderFact[]>> {
  const facts = new Map<string, OrderFact[]>(profileIds.map((id) => [id, []]));
  if (profileIds.length === 0) return facts;
  const rows = await q.query<{
    profile_id: string;
    placed_at: Date;
    revenue: number | null;
    status: OrderFact["status"];
  }>(
    `select profile_id, placed_at, revenue - refunded as revenue, status from orders
      where workspace_id = $1 and profile_id = any($2::uuid[])`,
    [workspaceId, profileIds],
  );
  for (const row of rows)
    facts.get(row.profile_id)?.push({
      placedAt: row.placed_at,
      revenue: row.revenue,
      status: row.status,
    });
  return facts;
}

/** Moves a merged profile's orders to the survivor. */
export async function rekeyOrders(
  tx: Tx,
  workspaceId: string,
  from: string,
  to: string,
): Promise<void> {
  await tx.query(
    "update orders set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
  await tx.query(
    "update order_items set profile_id = $3 where workspace_id = $1 and profile_id = $2",
    [workspaceId, from, to],
  );
}

/** A profile's orders with their lines, newest first. */
export async function listProfileOrders(
  q: Queryable,
  workspaceId: string,
  profileIds: string[],
): Promise<Record<string, unknown>[]> {
  return q.query(
    `select o.order_id, o.status, o.currency, o.total, o.revenue, o.refunded, o.coupon, o.checkout_id, o.cart_id,
            o.fulfillment, o.placed_at,
            coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object('product_id', i.product_id, 'variant_id',
                      i.variant_id, 'sku', i.sku, 'name', i.name, 'category', i.category, 'brand', i.brand,
                      'price', i.price, 'quantity', i.quantity)) order by i.line)
                        from order_items i where i.workspace_id = o.workspace_id and i.order_id = o.order_id), '[]') as items
       from orders o where o.workspace_id = $1 and o.profile_id = any($2::uuid[])
      order by o.placed_at desc`,
    [workspaceId, profileIds],
  );
}

/** Deletes the orders of profiles. */
export async function deleteProfileOrders(
  tx: Tx,
  workspaceId: string,
  profileIds: string[],
): Promise<void> {
  await tx.query(
    "delete from orders where workspace_id = $1 and profile_id = any($2::uuid[])",
    [workspaceId, profileIds],
  );
}
