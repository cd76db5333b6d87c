import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomToken, sha256Hex, uuidv7 } from "./ids.ts";

describe("ids", () => {
  it("makes UUIDv7s that sort by their time", () => {
    const early = uuidv7(new Date("2026-01-01T00:00:00Z"));
    const late = uuidv7(new Date("2026-01-01T00:00:01Z"));
    assert.match(
      early,
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.ok(early < late);
  });

  it("makes UUIDv7s of one millisecond that sort in the order they were made", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const ids = Array.from({ length: 1000 }, () => uuidv7(at));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, 1000);
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/);
  });

  it("makes random tokens of the asked length from [0-9A-Za-z]", () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => randomToken(20)));
    assert.equal(tokens.size, 1000);
    for (const token of tokens) assert.match(token, /^[0-9A-Za-z]{20}$/);
  });

  it("hashes like SHA-256", async () => {
    assert.equal(
      await sha256Hex("abc"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
