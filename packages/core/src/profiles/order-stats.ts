/**
 * A shopper's order figures, from their orders: count, revenue, average order value, first
 * and last order, the average gap between orders and, from it, when the next is expected.
 */

const dayMs = 86_400_000;

/** One order as the figures need it. */
export interface OrderFact {
  placedAt: Date;
  /** Revenue net of refunds. */
  revenue: number;
  status: "placed" | "cancelled" | "refunded";
}

export interface OrderStats {
  orderCount: number;
  revenue: number;
  averageOrderValue: number | null;
  firstOrderAt: Date | null;
  lastOrderAt: Date | null;
  avgDaysBetweenOrders: number | null;
  expectedNextOrderAt: Date | null;
}

/** The figures for a shopper's orders; cancelled and fully refunded orders do not count. */
export function orderStats(orders: readonly OrderFact[]): OrderStats {
  const counted = orders
    .filter((o) => o.status === "placed")
    .sort((a, b) => a.placedAt.getTime() - b.placedAt.getTime());
  const revenue =
    Math.round(counted.reduce((sum, o) => sum + o.revenue, 0) * 100) / 100;
  const first = counted[0]?.placedAt ?? null;
  const last = counted.at(-1)?.placedAt ?? null;
  const avgDays =
    first && last && counted.length > 1
      ? (last.getTime() - first.getTime()) / dayMs / (counted.length - 1)
      : null;
  return {
    orderCount: counted.length,
    revenue,
    averageOrderValue:
      counted.length > 0
        ? Math.round((revenue / counted.length) * 100) / 100
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
