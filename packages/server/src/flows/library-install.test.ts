import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { Herald } from "../main.ts";
import { patchSettings } from "../testing/messaging.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { libraryFlows } from "./library.ts";

describeOnDatabases("installing library flows", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  it("refuses a flow whose messages link to the store until storeName and storeUrl are set, saying how", async () => {
    const ws = await createTestWorkspace(db());
    const refused = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/flows/library/welcome",
    );
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /storeName and storeUrl/);
    assert.match(
      refused.body.error.message,
      /PATCH \/api\/workspace\/settings/,
    );
    assert.match(refused.body.error.message, /--store-url/);
    assert.deepEqual(
      refused.body.error.details.map((d: { path: string }) => d.path),
      ["/settings/storeName", "/settings/storeUrl"],
    );
    await patchSettings(herald, ws.secretKey, { storeName: "Acme" });
    const still = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/flows/library/welcome",
    );
    assert.equal(still.status, 400);
    assert.match(still.body.error.message, /needs the setting storeUrl:/);
    const flows = await api(herald, ws.secretKey, "GET", "/api/flows");
    assert.deepEqual(flows.body.items, [], "nothing was installed");

    // The built-in header names the store without a link while storeUrl is unset.
    const own = await api(herald, ws.secretKey, "POST", "/api/templates", {
      name: "Order confirmation",
      starter: "order-confirmation",
    });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const preview = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/templates/${own.body.template.id}/preview`,
      { data: { order_id: "1001" } },
    );
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.match(preview.body.content.html, />\s*Acme\s*</);
    assert.doesNotMatch(preview.body.content.html, /href="#?"/);
  });

  it("warns at install when no profile has marketing consent for the flow's channels, and says how consent arrives", async () => {
    const store = { storeName: "Acme", storeUrl: "https://acme.example" };
    const install = async (ws: { secretKey: string }, name: string) => {
      const installed = await api(
        herald,
        ws.secretKey,
        "POST",
        `/api/flows/library/${name}`,
      );
      assert.equal(installed.status, 201, JSON.stringify(installed.body));
      return installed.body.warnings as string[];
    };

    const fresh = await createTestWorkspace(db());
    await patchSettings(herald, fresh.secretKey, store);
    const [warning, ...others] = await install(fresh, "welcome");
    assert.deepEqual(others, []);
    assert.match(
      warning ?? "",
      /^no profile has email marketing consent yet, so this flow's email messages will be skipped/,
    );
    assert.match(warning ?? "", /email_consent trait/);
    assert.match(warning ?? "", /email_marketing_consent/);
    assert.match(warning ?? "", /unless_unsubscribed/);
    assert.deepEqual(
      await install(fresh, "order-confirmation"),
      [],
      "transactional messages need no consent",
    );

    const consenting = await createTestWorkspace(db());
    await patchSettings(herald, consenting.secretKey, store);
    const identified = await fetch(`${herald.url}/v1/identify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        writeKey: consenting.writeKey,
        userId: "ana",
        traits: { email: "ana@example.com", email_consent: "subscribed" },
      }),
    });
    assert.equal(identified.status, 200);
    await settle(herald);
    assert.deepEqual(await install(consenting, "welcome"), []);

    const open = await createTestWorkspace(db());
    await patchSettings(herald, open.secretKey, {
      ...store,
      marketingConsent: "unless_unsubscribed",
    });
    assert.deepEqual(await install(open, "welcome"), []);
  });

  it("renders every library template with the store's real address and no link to nowhere", async () => {
    const ws = await createTestWorkspace(db());
    await patchSettings(herald, ws.secretKey, {
      storeName: "Acme",
      storeUrl: "https://acme.example",
    });
    let emails = 0;
    for (const { name } of libraryFlows) {
      const installed = await api(
        herald,
        ws.secretKey,
        "POST",
        `/api/flows/library/${name}`,
      );
      assert.equal(installed.status, 201, JSON.stringify(installed.body));
      for (const [key, templateId] of Object.entries(
        installed.body.templates as Record<string, string>,
      )) {
        const preview = await api(
          herald,
          ws.secretKey,
          "POST",
          `/api/templates/${templateId}/preview`,
          { data: { order_id: "1001" } },
        );
        assert.equal(preview.status, 200, JSON.stringify(preview.body));
        const content = preview.body.content as { html?: string };
        const rendered = JSON.stringify(preview.body.content);
        assert.doesNotMatch(rendered, /href=\\"\\"/, `${name} ${key}`);
        assert.doesNotMatch(rendered, /href=\\"#\\"/, `${name} ${key}`);
        if (content.html !== undefined) {
          emails++;
          assert.match(content.html, /href="https:\/\/acme\.example/, key);
          assert.match(content.html, /Acme/, key);
        }
      }
    }
    assert.ok(emails > 20, `${emails} library emails rendered`);
  });
});
