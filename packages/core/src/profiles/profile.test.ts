import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IncomingEvent } from "../events/event.ts";
import { applyEvent, emptyProfile } from "./profile.ts";

function track(
  name: string,
  at: string,
  source: IncomingEvent["source"],
): IncomingEvent {
  return {
    messageId: `${name}-${at}`,
    type: "track",
    name,
    userId: "u1",
    anonymousId: null,
    properties: {},
    traits: null,
    context: {},
    timestamp: new Date(at),
    receivedAt: new Date(at),
    source,
    silent: false,
  };
}

describe("applyEvent", () => {
  it("counts the shopper's own activity as seen, not what Herald records about them", () => {
    let profile = emptyProfile("ws", "p1", new Date("2026-01-01T00:00:00Z"));
    profile = applyEvent(
      profile,
      track("Product Viewed", "2026-01-02T10:00:00Z", "api"),
    );
    for (const name of ["Segment Entered", "Email Delivered", "Email Opened"])
      profile = applyEvent(
        profile,
        track(name, "2026-03-01T10:00:00Z", "herald"),
      );
    assert.equal(profile.lastSeenAt?.toISOString(), "2026-01-02T10:00:00.000Z");
    profile = applyEvent(
      profile,
      track("Order Completed", "2026-03-02T10:00:00Z", "shopify"),
    );
    assert.equal(profile.lastSeenAt?.toISOString(), "2026-03-02T10:00:00.000Z");
    assert.equal(
      profile.firstSeenAt?.toISOString(),
      "2026-01-02T10:00:00.000Z",
    );
  });
});
