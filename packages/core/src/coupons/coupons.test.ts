import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { codesFromRows, generateCode } from "./coupons.ts";

describe("coupon codes", () => {
  it("generates prefixed codes from an unambiguous alphabet", () => {
    const codes = new Set(
      Array.from({ length: 2000 }, () => generateCode("WELCOME-", 8)),
    );
    assert.equal(codes.size, 2000);
    for (const code of codes)
      assert.match(code, /^WELCOME-[2-9A-HJKMNP-Z]{8}$/);
  });

  it("reads the code column of an uploaded CSV and refuses repeats with their line", () => {
    assert.deepEqual(
      codesFromRows([["id", "code"], ["1", "AB-1"], ["2", " ab-2 "], []]),
      ["AB-1", "ab-2"],
    );
    assert.deepEqual(codesFromRows([["X1Y"], ["X2Y"]]), ["X1Y", "X2Y"]);
    assert.throws(
      () => codesFromRows([["code"], ["SAME1"], ["same1"]]),
      (e: Error & { details?: { path: string }[] }) =>
        /repeats line 2/.test(e.message) &&
        e.details?.[0]?.path === "/csv/line/3",
    );
  });
});
