import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Identifier } from "./identifiers.ts";
import { resolveIdentity, type ProfileIdentities } from "./resolve-identity.ts";

const id = (type: Identifier["type"], value: string): Identifier => ({
  type,
  value,
});

function world(profiles: { id: string; created: string; ids: Identifier[] }[]) {
  const owners = new Map<string, string>();
  const byId = new Map<string, ProfileIdentities>();
  for (const p of profiles) {
    byId.set(p.id, {
      id: p.id,
      createdAt: new Date(p.created),
      identifiers: p.ids,
    });
    for (const i of p.ids) owners.set(`${i.type}:${i.value}`, p.id);
  }
  return { owners, profiles: byId };
}

describe("resolveIdentity", () => {
  it("merges an anonymous profile into the one that holds the user id", () => {
    const w = world([
      { id: "anon", created: "2026-01-01", ids: [id("anonymous_id", "a1")] },
      {
        id: "known",
        created: "2026-02-01",
        ids: [id("user_id", "u1"), id("email", "x@y.z")],
      },
    ]);
    const decision = resolveIdentity(
      [id("user_id", "u1"), id("anonymous_id", "a1")],
      w.owners,
      w.profiles,
    );
    assert.deepEqual(decision, {
      profileId: "known",
      merge: ["anon"],
      link: [],
      dropped: [],
    });
  });

  it("keeps the oldest profile when none holds a user id, and links new identifiers", () => {
    const w = world([
      { id: "newer", created: "2026-03-01", ids: [id("anonymous_id", "a2")] },
      { id: "older", created: "2026-01-01", ids: [id("anonymous_id", "a1")] },
    ]);
    const decision = resolveIdentity(
      [
        id("email", "s@shop.test"),
        id("anonymous_id", "a1"),
        id("anonymous_id", "a2"),
      ],
      w.owners,
      w.profiles,
    );
    assert.equal(decision.profileId, "older");
    assert.deepEqual(decision.merge, ["newer"]);
    assert.deepEqual(decision.link, [id("email", "s@shop.test")]);
  });

  it("never merges two user ids: a new user id with a known email drops the email", () => {
    const w = world([
      {
        id: "p1",
        created: "2026-01-01",
        ids: [id("user_id", "u1"), id("email", "shared@family.test")],
      },
    ]);
    const decision = resolveIdentity(
      [id("user_id", "u2"), id("email", "shared@family.test")],
      w.owners,
      w.profiles,
    );
    assert.deepEqual(decision, {
      profileId: null,
      merge: [],
      link: [id("user_id", "u2")],
      dropped: [id("email", "shared@family.test")],
    });
  });

  it("lets a cart token find a shopper but never merge two", () => {
    const w = world([
      {
        id: "browser",
        created: "2026-01-01",
        ids: [id("anonymous_id", "a1"), id("cart_token", "c1")],
      },
      { id: "buyer", created: "2026-01-02", ids: [id("email", "b@shop.test")] },
    ]);
    assert.equal(
      resolveIdentity([id("cart_token", "c1")], w.owners, w.profiles).profileId,
      "browser",
    );
    const both = resolveIdentity(
      [id("email", "b@shop.test"), id("cart_token", "c1")],
      w.owners,
      w.profiles,
    );
    assert.deepEqual(both, {
      profileId: "buyer",
      merge: [],
      link: [],
      dropped: [],
    });
  });
});
