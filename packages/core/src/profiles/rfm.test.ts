import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rfmGroup, rfmScores, type RfmThresholds } from "./rfm.ts";

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
});
