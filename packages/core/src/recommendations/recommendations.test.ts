import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  pairsOf,
  productQuery,
  referenceIds,
  replenishmentDue,
} from "./recommendations.ts";

const day = 86_400_000;
const at = (iso: string) => new Date(iso);

describe("recommendations", () => {
  it("is due after days of use × quantity, or after the shopper's own rhythm once known", () => {
    assert.equal(
      replenishmentDue(
        [{ at: at("2026-01-01T00:00:00Z"), quantity: 2 }],
        15,
      )?.toISOString(),
      "2026-01-31T00:00:00.000Z",
    );
    const rhythm = replenishmentDue(
      [
        { at: at("2026-01-01T00:00:00Z"), quantity: 1 },
        { at: at("2026-01-21T00:00:00Z"), quantity: 1 },
        { at: at("2026-02-10T00:00:00Z"), quantity: 2 },
      ],
      90,
    );
    assert.equal(
      rhythm?.getTime(),
      at("2026-02-10T00:00:00Z").getTime() + 40 * day,
    );
    assert.equal(
      replenishmentDue([{ at: at("2026-01-01T00:00:00Z"), quantity: 1 }], null),
      null,
    );
  });

  it("pairs distinct products both ways and reads references from ids or product lines", () => {
    assert.deepEqual(pairsOf(["a", "b", "a"]), [
      ["a", "b"],
      ["b", "a"],
    ]);
    assert.deepEqual(
      referenceIds([{ product_id: "p1" }, "p2", 3, { name: "x" }]),
      ["p1", "p2", "3"],
    );
  });

  it("validates a block's source and bounds its limit", () => {
    assert.throws(
      () => productQuery("magic", {}),
      /unknown product source "magic"/,
    );
    assert.equal(productQuery("bestsellers", { limit: 500 }).limit, 24);
    assert.equal(productQuery("event", {}).limit, 24);
    assert.equal(productQuery("upsell", {}).limit, 4);
  });
});
