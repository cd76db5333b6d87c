import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  catalogChanges,
  isPriceDrop,
  isRestock,
  mergeProduct,
} from "./catalog.ts";

describe("catalog", () => {
  it("merges updates, keeping what an update leaves out, and sums variant stock", () => {
    const created = mergeProduct(undefined, {
      product_id: 42,
      name: "Trail Runner",
      category: "shoes",
      price: 120,
      variants: [
        { variant_id: "42-a", price: 120, stock: 3 },
        { variant_id: "42-b", price: 130, stock: 0 },
      ],
    });
    assert.equal(created.productId, "42");
    assert.equal(created.stock, 3);
    const updated = mergeProduct(created, {
      product_id: "42",
      price: 99,
      variants: [{ variant_id: "42-b", stock: 5 }],
    });
    assert.equal(updated.name, "Trail Runner");
    assert.equal(updated.category, "shoes");
    assert.equal(updated.stock, 8);
    assert.equal(
      updated.variants.find((v) => v.variantId === "42-b")?.price,
      130,
    );

    const changes = catalogChanges(created, updated);
    assert.deepEqual(changes, [
      {
        productId: "42",
        variantId: null,
        kind: "price",
        oldValue: 120,
        newValue: 99,
      },
      {
        productId: "42",
        variantId: null,
        kind: "stock",
        oldValue: 3,
        newValue: 8,
      },
      {
        productId: "42",
        variantId: "42-b",
        kind: "stock",
        oldValue: 0,
        newValue: 5,
      },
    ]);
    assert.deepEqual(
      changes.map((c) => [isPriceDrop(c), isRestock(c)]),
      [
        [true, false],
        [false, false],
        [false, true],
      ],
    );
  });

  it("records nothing when nothing that matters changed", () => {
    const product = mergeProduct(undefined, {
      product_id: "p",
      name: "P",
      price: 10,
      stock: 2,
    });
    assert.deepEqual(
      catalogChanges(
        product,
        mergeProduct(product, { product_id: "p", name: "P renamed" }),
      ),
      [],
    );
  });
});
