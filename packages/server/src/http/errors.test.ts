import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

/** A response's status and body, which must be the one error shape. */
async function errorOf(response: Response) {
  const body = (await response.json()) as {
    error: { code: string; message: string; details?: unknown[] };
  };
  assert.deepEqual(
    Object.keys(body),
    ["error"],
    `an error body: ${JSON.stringify(body)}`,
  );
  assert.equal(typeof body.error.code, "string");
  assert.equal(typeof body.error.message, "string");
  return { status: response.status, ...body.error };
}

describeOnDatabases("the error path", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  it("answers the router's own errors with the error body", async () => {
    const ws = await createTestWorkspace(db());
    const headers = { authorization: `Bearer ${ws.secretKey}` };
    const badUrl = await errorOf(
      await fetch(`${herald.url}/api/segments/%E0%A4%A`, { headers }),
    );
    assert.equal(badUrl.status, 400);
    assert.equal(badUrl.code, "invalid");
    assert.match(badUrl.message, /percent-encode/);
    const longParam = await errorOf(
      await fetch(`${herald.url}/api/segments/${"x".repeat(5_000)}`, {
        headers,
      }),
    );
    assert.equal(longParam.status, 400);
    assert.match(longParam.message, /longer than 200 characters/);
    const badTracking = await errorOf(
      await fetch(`${herald.url}/v1/track/%zz`, { method: "POST" }),
    );
    assert.equal(badTracking.status, 400);
  });

  it("answers store webhooks' own refusals with the error body", async () => {
    const unknownShop = await errorOf(
      await fetch(`${herald.url}/webhooks/shopify`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-shopify-shop-domain": "nobody.myshopify.com",
          "x-shopify-topic": "orders/create",
        },
        body: "{}",
      }),
    );
    assert.equal(unknownShop.status, 404);
    assert.equal(unknownShop.code, "not_found");
    assert.match(unknownShop.message, /PUT \/api\/connections\/shopify/);
  });

  it("lists the allowed values of an enum once", async () => {
    const ws = await createTestWorkspace(db());
    const response = await api(herald, ws.secretKey, "POST", "/api/templates", {
      name: "Fax",
      channel: "fax",
      content: {},
    });
    assert.equal(response.status, 400);
    assert.deepEqual(response.body.error.details, [
      {
        path: "/body/channel",
        message: "must be one of: email, sms, push, telegram, webhook",
      },
    ]);
    assert.equal(
      response.body.error.message,
      "invalid request: /body/channel must be one of: email, sms, push, telegram, webhook",
    );
  });
});
