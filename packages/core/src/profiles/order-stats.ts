/**
 * A shopper's order figures, from their orders: count, revenue, average order value, first
 * and last order, the average gap between orders and, from it, when the next is expected.
 */

const dayMs = 86_400_000;

/** One order as the figures need it. */
export interface OrderFact {
  placedAt: Date;
  /** Revenue net of refunds; null when the order's amount is unknown. */
  revenue: number | null;
  status: "placed" | "cancelled" | "refunded";
}

export interface OrderStats {
  orderCount: number;
  /** Orders whose amount is known: the divisor of the average order value. */
  valuedOrderCount: number;
  /** Revenue of the orders whose amount is known. */
  revenue: number;
  averageOrderValue: number | null;
  firstOrderAt: Date | null;
  lastOrderAt: Date | null;
  avgDaysBetweenOrders: number | null;
  expectedNextOrderAt: Date | null;
}

/**
 * The figures for a shopper's orders; cancelled and fully refunded orders do not count. An
 * order of unknown amount counts as an order but stays out of revenue and its average.
 */
export function orderStats(orders: readonly OrderFact[]): OrderStats {
  const counted = orders
    .filter((o) => o.status === "placed")
    .sort((a, b) => a.placedAt.getTime() - b.placedAt.getTime());
  const valued = counted.filter((o) => o.revenue !== null);
  const revenue =
    Math.round(valued.reduce((sum, o) => sum + (o.revenue ?? 0), 0) * 100) /
    100;
  const first = counted[0]?.placedAt ?? null;
  const last = counted.at(-1)?.placedAt ?? null;
  const avgDays =
    first && last && counted.length > 1
      ? (last.getTime() - first.getTime()) / dayMs / (counted.length - 1)
      : null;
  return {
    orderCount: counted.length,
    valuedOrderCount: valued.length,
    revenue,
    averageOrderValue:
      valued.length > 0
        ? Math.round((revenue / valued.length) * 100) / 100
        : null,
    firstOrderAt: first,
    lastOrderAt: last,
    avgDaysBetweenOrders:
      avgDays === null ? null : Math.round(avgDays * 10) / 10,
    expectedNextOrderAt:
      last && avgDays !== null
        ? new Date(last.getTime() + avgDays * dayMs)
        : null,
  };
}
