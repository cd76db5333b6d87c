import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IncomingEvent, JsonObject } from "../events/event.ts";
import { applyEvent, emptyProfile } from "./profile.ts";
import { standardTraitNames, standardTraits } from "./standard-traits.ts";

function identify(traits: JsonObject, at: string): IncomingEvent {
  return {
    messageId: `identify-${at}`,
    type: "identify",
    name: null,
    userId: "u1",
    anonymousId: null,
    properties: {},
    traits,
    context: {},
    timestamp: new Date(at),
    receivedAt: new Date(at),
    source: "api",
    silent: false,
  };
}

describe("standardTraits", () => {
  it("gives every reserved trait analytics.js sends Herald's name, and keeps what was sent", () => {
    const sent = {
      firstName: "Ana",
      lastName: "Lima",
      email: "ana@example.com",
      phone: "+351 912 345 678",
      birthday: "1990-05-12",
      createdAt: "2024-02-01T10:00:00.000Z",
      gender: "female",
      title: "Buyer",
      username: "ana.l",
      website: "https://ana.example",
      avatar: "https://ana.example/me.png",
      company: { name: "Lima & Filhos", id: "c1" },
      address: {
        street: "Rua Augusta 1",
        city: "Lisboa",
        state: "Lisboa",
        postalCode: "1100-048",
        country: "PT",
      },
    };
    assert.deepEqual(standardTraits(sent), {
      ...sent,
      first_name: "Ana",
      last_name: "Lima",
      name: "Ana Lima",
      created_at: "2024-02-01T10:00:00.000Z",
      company_name: "Lima & Filhos",
      street: "Rua Augusta 1",
      city: "Lisboa",
      state: "Lisboa",
      postal_code: "1100-048",
      country: "PT",
    });
    const mapped = standardTraits(sent);
    for (const name of standardTraitNames)
      assert.ok(mapped[name] !== undefined, `${name} is set`);
  });

  it("splits a full name into first and last when neither is given", () => {
    assert.deepEqual(standardTraits({ name: "  Ana  Maria Lima " }), {
      name: "  Ana  Maria Lima ",
      first_name: "Ana",
      last_name: "Maria Lima",
    });
    assert.deepEqual(standardTraits({ name: "Cher" }), {
      name: "Cher",
      first_name: "Cher",
    });
    assert.deepEqual(
      standardTraits({ name: "Ana Lima", firstName: "Anita" }),
      { name: "Ana Lima", firstName: "Anita", first_name: "Anita" },
      "a given first name is not overwritten, nor a last name guessed",
    );
  });

  it("keeps snake_case traits working, and they win over the camelCase spelling", () => {
    assert.deepEqual(standardTraits({ first_name: "Ana", last_name: "Lima" }), {
      first_name: "Ana",
      last_name: "Lima",
      name: "Ana Lima",
    });
    assert.equal(
      standardTraits({ first_name: "Ana", firstName: "Anita" }).first_name,
      "Ana",
    );
    assert.equal(
      standardTraits({ city: "Porto", address: { city: "Lisboa" } }).city,
      "Porto",
    );
  });

  it("reads a company given as text and a nested snake_case postal code; ignores empty values", () => {
    assert.deepEqual(
      standardTraits({
        company: "Acme",
        address: { postal_code: "10115", city: "" },
        firstName: null,
      }),
      {
        company: "Acme",
        address: { postal_code: "10115", city: "" },
        firstName: null,
        company_name: "Acme",
        postal_code: "10115",
      },
    );
  });
});

describe("applyEvent with reserved traits", () => {
  it("stores Herald's names on the profile, last write wins per name", () => {
    let profile = emptyProfile("ws", "p1", new Date("2026-01-01T00:00:00Z"));
    profile = applyEvent(
      profile,
      identify(
        {
          firstName: "Ana",
          address: { street: "Rua Augusta 1", city: "Lisboa", country: "pt" },
        },
        "2026-01-02T10:00:00Z",
      ),
    );
    profile = applyEvent(
      profile,
      identify({ address: { city: "Porto" } }, "2026-01-03T10:00:00Z"),
    );
    assert.equal(profile.traits.first_name, "Ana");
    assert.equal(profile.traits.firstName, "Ana");
    assert.equal(profile.traits.city, "Porto");
    assert.equal(profile.traits.street, "Rua Augusta 1", "kept from before");
    assert.equal(profile.city, "Porto");
    assert.equal(profile.country, "PT");
  });
});
