import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

describeOnDatabases("the outbox", (db) => {
  let herald: Herald;
  const clock = new ManualClock("2026-01-05T12:00:00Z");
  before(async () => {
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  it("shows a marketing message skipped for want of consent, with the reason and how consent arrives", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const sent = await fetch(`${herald.url}/api/messages/send`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${ws.secretKey}`,
        "content-type": "application/json",
        "idempotency-key": "spring-sale-ana",
      },
      body: JSON.stringify({
        channel: "email",
        transactional: false,
        to: { email: "ana@example.com" },
        content: { subject: "Spring sale", html: "<p>20% off</p>" },
      }),
    });
    assert.equal(sent.status, 202, await sent.text());
    await herald.sender.drain(ws.id);

    const outbox = await api(herald, ws.secretKey, "GET", "/api/outbox");
    assert.equal(outbox.status, 200);
    const [skipped] = outbox.body.items;
    assert.equal(skipped?.status, "skipped");
    assert.equal(skipped?.to, "ana@example.com");
    assert.equal(skipped?.decisionStep, "consent");
    assert.match(skipped?.reason, /^no email marketing consent on record/);
    assert.match(skipped?.reason, /email_consent trait/);
    assert.match(skipped?.reason, /unless_unsubscribed/);
  });
});
