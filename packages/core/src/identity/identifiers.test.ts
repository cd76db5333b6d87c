import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IncomingEvent } from "../events/event.ts";
import { extractIdentifiers, normalizePhone } from "./identifiers.ts";

const event = (over: Partial<IncomingEvent>): IncomingEvent => ({
  messageId: "m",
  type: "track",
  name: "X",
  userId: null,
  anonymousId: null,
  properties: {},
  traits: null,
  context: {},
  timestamp: new Date(),
  receivedAt: new Date(),
  source: "api",
  silent: false,
  ...over,
});

describe("extractIdentifiers", () => {
  it("finds ids in the places Segment's clients put them, normalised, strongest first", () => {
    const ids = extractIdentifiers(
      event({
        userId: "u1",
        anonymousId: "a1",
        context: {
          traits: { email: "  Jane@Shop.TEST " },
          externalIds: [{ id: "8001", type: "shopify_customer_id" }],
        },
        properties: { phone: "(415) 555-2671", cart_id: "c9" },
      }),
      "US",
    );
    assert.deepEqual(ids, [
      { type: "user_id", value: "u1" },
      { type: "email", value: "jane@shop.test" },
      { type: "phone", value: "+14155552671" },
      { type: "shopify_customer_id", value: "8001" },
      { type: "anonymous_id", value: "a1" },
      { type: "cart_token", value: "c9" },
    ]);
  });

  it("ignores placeholder values that would merge strangers", () => {
    for (const placeholder of [
      "0",
      "-1",
      "null",
      "undefined",
      "anonymous",
      "",
      "000",
    ]) {
      assert.deepEqual(
        extractIdentifiers(
          event({ userId: placeholder, anonymousId: placeholder }),
        ),
        [],
        placeholder,
      );
    }
  });

  it("reads national phone numbers in the workspace's region only", () => {
    assert.equal(normalizePhone("030 901820", "DE"), "+4930901820");
    assert.equal(normalizePhone("not a phone", "DE"), undefined);
  });
});
