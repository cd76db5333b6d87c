import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defaultRfmThresholds,
  rfmGroup,
  rfmMinBuyers,
  rfmScores,
  rfmThresholdsOf,
  type RfmThresholds,
} from "./rfm.ts";

const thresholds: RfmThresholds = {
  recencyDays: [14, 45, 90, 180],
  monetary: [30, 60, 120, 300],
};
const now = new Date("2026-06-01T00:00:00Z");
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);

describe("RFM", () => {
  it("calls a recent, frequent, big spender a champion", () => {
    assert.deepEqual(
      rfmScores(
        { orderCount: 7, revenue: 900, lastOrderAt: daysAgo(3) },
        thresholds,
        now,
      ),
      {
        recency: 5,
        frequency: 5,
        monetary: 5,
        group: "champions",
      },
    );
  });

  it("calls a once-frequent buyer who stopped coming at risk, then one they cannot lose", () => {
    assert.equal(
      rfmScores(
        { orderCount: 4, revenue: 200, lastOrderAt: daysAgo(150) },
        thresholds,
        now,
      )?.group,
      "at_risk",
    );
    assert.equal(
      rfmScores(
        { orderCount: 6, revenue: 500, lastOrderAt: daysAgo(400) },
        thresholds,
        now,
      )?.group,
      "cant_lose",
    );
  });

  it("places every score pair in a group", () => {
    for (let r = 1; r <= 5; r++)
      for (let f = 1; f <= 5; f++) assert.ok(rfmGroup(r, f));
    assert.equal(
      rfmScores(
        { orderCount: 0, revenue: 0, lastOrderAt: null },
        thresholds,
        now,
      ),
      undefined,
    );
  });

  it("has cut points from the first order: defaults until the store has enough buyers", () => {
    assert.deepEqual(
      rfmThresholdsOf({ recency: null, monetary: null, buyers: 0 }),
      defaultRfmThresholds,
    );
    assert.deepEqual(
      rfmThresholdsOf({
        recency: [0, 0, 0, 0],
        monetary: [40, 40, 40, 40],
        buyers: 1,
      }),
      defaultRfmThresholds,
    );
    assert.deepEqual(
      rfmThresholdsOf({
        recency: [10.123, 40, 80, 200],
        monetary: [20, 45.555, 90, 400],
        buyers: rfmMinBuyers,
      }),
      { recencyDays: [10.12, 40, 80, 200], monetary: [20, 45.56, 90, 400] },
    );
  });

  it("calls a first order placed today a new buyer, whatever the store's quintiles", () => {
    const today = new Date(now.getTime() - 60_000);
    for (const thresholds of [
      rfmThresholdsOf({ recency: null, monetary: null, buyers: 0 }),
      // Every buyer of a busy launch day ordered within the hour: all quintiles are 0.
      rfmThresholdsOf({
        recency: [0, 0, 0.01, 0.02],
        monetary: [30, 30, 30, 30],
        buyers: 500,
      }),
    ])
      assert.equal(
        rfmScores(
          { orderCount: 1, revenue: 30, lastOrderAt: today },
          thresholds,
          now,
        )?.group,
        "new",
      );
  });
});
