/**
 * RFM: recency, frequency and monetary scores from 1 to 5, and the group a shopper falls
 * in. Recency and monetary scores are quintiles of the workspace's own buyers; frequency
 * uses fixed steps, since most shoppers of most stores have exactly one order.
 */

/** The four cut points (20th, 40th, 60th, 80th percentiles) of a workspace's buyers. */
export interface RfmThresholds {
  /** Days since the last order. */
  recencyDays: [number, number, number, number];
  /** Revenue per buyer. */
  monetary: [number, number, number, number];
}

/**
 * The cut points until a store has `rfmMinBuyers` buyers, whose quintiles would say little:
 * recency in days (a month, a quarter, half a year, a year), monetary in the store's
 * currency.
 */
export const defaultRfmThresholds: RfmThresholds = {
  recencyDays: [30, 90, 180, 365],
  monetary: [25, 50, 100, 250],
};

/** The buyers a store needs before its own quintiles replace the defaults. */
export const rfmMinBuyers = 50;

/**
 * The cut points of a workspace from its buyers' percentiles (20/40/60/80th), rounded to
 * cents: the defaults while it has fewer than `rfmMinBuyers` buyers. The first recency cut
 * is at least a day, so that a buyer whose last order was today is always recent (even
 * when every buyer ordered today and the quintiles are all 0).
 */
export function rfmThresholdsOf(percentiles: {
  recency: readonly number[] | null;
  monetary: readonly number[] | null;
  buyers: number;
}): RfmThresholds {
  const four = (values: readonly number[] | null, floor: number) => {
    if (!values || values.length !== 4) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = values.map(
      (v) => Math.round(v * 100) / 100,
    );
    const first = Math.max(a, floor);
    return [
      first,
      Math.max(b, first),
      Math.max(c, first),
      Math.max(d, first),
    ] as [number, number, number, number];
  };
  const recencyDays = four(percentiles.recency, 1);
  const monetary = four(percentiles.monetary, 0);
  return percentiles.buyers >= rfmMinBuyers && recencyDays && monetary
    ? { recencyDays, monetary }
    : defaultRfmThresholds;
}

export interface RfmScores {
  recency: number;
  frequency: number;
  monetary: number;
  group: RfmGroup;
}

export const rfmGroups = [
  "champions",
  "loyal",
  "potential_loyalist",
  "new",
  "promising",
  "need_attention",
  "about_to_lose",
  "at_risk",
  "cant_lose",
  "hibernating",
  "lost",
] as const;
export type RfmGroup = (typeof rfmGroups)[number];

/** Frequency score for an order count: 1, 2, 3, 4–5, 6 or more. */
export function frequencyScore(orderCount: number): number {
  if (orderCount >= 6) return 5;
  if (orderCount >= 4) return 4;
  return Math.max(1, Math.min(3, orderCount));
}

/** 1–5 by where `value` falls among the cut points (`higherIsBetter` for money). */
function quintile(
  value: number,
  cuts: readonly number[],
  higherIsBetter: boolean,
): number {
  const below = cuts.filter((cut) => value > cut).length;
  return higherIsBetter ? below + 1 : 5 - below;
}

/** The group for recency and frequency scores, on the usual RFM grid. */
export function rfmGroup(r: number, f: number): RfmGroup {
  if (r >= 4 && f >= 4) return "champions";
  if (r >= 4 && f === 1) return "new";
  if (r >= 3 && f >= 3) return "loyal";
  if (r >= 4) return "potential_loyalist";
  if (r === 3 && f === 1) return "promising";
  if (r >= 2 && f >= 3 && r <= 3) return r === 3 ? "need_attention" : "at_risk";
  if (r === 3) return "need_attention";
  if (r === 2) return "about_to_lose";
  if (f >= 4) return "cant_lose";
  if (f >= 2) return "hibernating";
  return "lost";
}

const dayMs = 86_400_000;

/** The scores of a buyer; undefined for a shopper with no orders. */
export function rfmScores(
  buyer: { orderCount: number; revenue: number; lastOrderAt: Date | null },
  thresholds: RfmThresholds,
  now: Date,
): RfmScores | undefined {
  if (buyer.orderCount === 0 || !buyer.lastOrderAt) return undefined;
  const days = (now.getTime() - buyer.lastOrderAt.getTime()) / dayMs;
  const recency = quintile(days, thresholds.recencyDays, false);
  const frequency = frequencyScore(buyer.orderCount);
  const monetary = quintile(buyer.revenue, thresholds.monetary, true);
  return { recency, frequency, monetary, group: rfmGroup(recency, frequency) };
}
