import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { getSettings } from "./settings.sql.ts";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

describeOnDatabases("admin API keys and workspace isolation", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  it("refuses a request without a key, with an unknown key, or with a write key", async () => {
    const { writeKey } = await createTestWorkspace(db());
    const none = await api(herald, undefined, "GET", "/api/workspace");
    assert.equal(none.status, 401);
    assert.match(none.body.error.message, /Authorization: Bearer/);
    const unknown = await api(
      herald,
      "hs_notarealkey",
      "GET",
      "/api/workspace",
    );
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error.code, "unauthorized");
    const write = await api(herald, writeKey, "GET", "/api/workspace");
    assert.equal(write.status, 403);
    assert.match(write.body.error.message, /write key can only send events/);
  });

  it("shows each key only its own workspace", async () => {
    const a = await createTestWorkspace(db());
    const b = await createTestWorkspace(db());
    assert.equal(
      (await api(herald, a.secretKey, "GET", "/api/workspace")).body.id,
      a.id,
    );
    assert.equal(
      (await api(herald, b.secretKey, "GET", "/api/workspace")).body.id,
      b.id,
    );

    const bKeys = (await api(herald, b.secretKey, "GET", "/api/keys")).body
      .items as { id: string }[];
    const aKeys = (await api(herald, a.secretKey, "GET", "/api/keys")).body
      .items as { id: string }[];
    assert.equal(aKeys.length, 2);
    assert.ok(aKeys.every((k) => !bKeys.some((other) => other.id === k.id)));

    const crossRevoke = await api(
      herald,
      a.secretKey,
      "DELETE",
      `/api/keys/${bKeys[0]?.id}`,
    );
    assert.equal(crossRevoke.status, 404, "A cannot touch B's keys");
    assert.equal(
      (await api(herald, b.secretKey, "GET", "/api/workspace")).status,
      200,
    );
  });

  it("creates a key shown once and refuses it from the moment it is revoked", async () => {
    const a = await createTestWorkspace(db());
    const created = await api(herald, a.secretKey, "POST", "/api/keys", {
      kind: "secret",
      name: "ci",
    });
    assert.equal(created.status, 201);
    assert.match(created.body.key, /^hs_/);
    assert.equal(
      (await api(herald, created.body.key, "GET", "/api/workspace")).status,
      200,
    );

    const listed = await api(herald, a.secretKey, "GET", "/api/keys");
    assert.ok(
      !JSON.stringify(listed.body).includes(created.body.key),
      "listing never shows key values",
    );

    assert.equal(
      (await api(herald, a.secretKey, "DELETE", `/api/keys/${created.body.id}`))
        .status,
      204,
    );
    const revoked = await api(
      herald,
      created.body.key,
      "GET",
      "/api/workspace",
    );
    assert.equal(revoked.status, 401);
    assert.match(revoked.body.error.message, /revoked/);
  });

  it("explains a malformed request body with the path of the problem", async () => {
    const a = await createTestWorkspace(db());
    const bad = await api(herald, a.secretKey, "POST", "/api/keys", {
      kind: "admin",
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid");
    assert.match(bad.body.error.details[0].path, /^\/body\/kind/);
  });

  it("refuses a setting that does not exist, listing the ones that do", async () => {
    const a = await createTestWorkspace(db());
    const typo = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      { storeURL: "https://acme.example", currency: "EUR" },
    );
    assert.equal(typo.status, 400);
    assert.match(typo.body.error.message, /unknown setting storeURL/);
    assert.match(typo.body.error.message, /storeUrl, teamEmail/);
    assert.deepEqual(typo.body.error.details, [
      { path: "/body/storeURL", message: "not a setting" },
    ]);
    const kept = await api(
      herald,
      a.secretKey,
      "GET",
      "/api/workspace/settings",
    );
    assert.deepEqual(kept.body, {}, "nothing of the request was stored");
  });

  it("changes settings, removes a setting set to null, and refuses an invalid one", async () => {
    const a = await createTestWorkspace(db());
    const set = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        defaultPhoneRegion: "DE",
        currency: "EUR",
      },
    );
    assert.deepEqual(set.body, { defaultPhoneRegion: "DE", currency: "EUR" });
    const removed = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        currency: null,
      },
    );
    assert.deepEqual(removed.body, { defaultPhoneRegion: "DE" });
    const bad = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        currency: "euro",
      },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/currency");
  });

  it("masks provider secrets and keeps them when the masks come back", async () => {
    const a = await createTestWorkspace(db());
    const token = "123456:ABCDEFghijklmnopQRSTuvwx";
    const set = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        telegram: { botToken: token, botUsername: "shop_bot" },
        email: { smtpUrl: "smtp://mailer:hunter2@mail.example:587" },
      },
    );
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.telegram, {
      botToken: "••••••••uvwx",
      botUsername: "shop_bot",
    });
    assert.equal(
      set.body.email.smtpUrl,
      "smtp://mailer:••••••••@mail.example:587",
    );
    const read = await api(
      herald,
      a.secretKey,
      "GET",
      "/api/workspace/settings",
    );
    assert.ok(!JSON.stringify(read.body).includes("hunter2"));
    // Writing back what was read, with one change, keeps the secrets.
    const edited = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        telegram: { ...read.body.telegram, botUsername: "store_bot" },
        email: read.body.email,
      },
    );
    assert.equal(edited.status, 200);
    const stored = (await getSettings(db(), a.id)) ?? {};
    assert.equal(stored.telegram?.botToken, token);
    assert.equal(stored.telegram?.botUsername, "store_bot");
    assert.equal(
      stored.email?.smtpUrl,
      "smtp://mailer:hunter2@mail.example:587",
    );
    const orphan = await api(
      herald,
      a.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        sms: { provider: "twilio", authToken: "••••••••" },
      },
    );
    assert.equal(orphan.status, 400);
    assert.match(orphan.body.error.message, /send the secret itself/);
  });

  it("serves health, Prometheus metrics and the OpenAPI document", async () => {
    assert.deepEqual((await api(herald, undefined, "GET", "/health")).body, {
      status: "ok",
      database: db().kind,
    });
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    assert.match(
      metrics,
      /^herald_http_requests_total\{method="GET",route="\/health",status="200"\} \d+/m,
    );
    const openapi = await api(herald, undefined, "GET", "/api/openapi.json");
    assert.equal(openapi.status, 200);
    assert.equal(openapi.body.openapi.slice(0, 2), "3.");
    assert.ok(openapi.body.paths["/api/keys"].post);
  });
});
