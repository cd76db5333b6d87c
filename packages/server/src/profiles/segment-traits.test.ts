import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { simpleParser } from "mailparser";
import { Analytics } from "@segment/analytics-node";
import { ManualClock, ms } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import { startSmtpSink, type SmtpSink } from "../testing/smtp-sink.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

/**
 * Segment's reserved identify traits as the real client sends them (`firstName`, not
 * `first_name`) reach the profile and the library's emails at a real SMTP server.
 */
describeOnDatabases("Segment's reserved traits in messages", (db) => {
  let sink: SmtpSink;
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    sink = await startSmtpSink();
    clock = new ManualClock("2026-06-01T09:00:00Z");
    herald = await startTestHerald(db(), {
      clock,
      env: { HERALD_SMTP_URL: sink.url },
    });
  });
  after(async () => {
    await herald.close();
    await sink.close();
  });

  it("an abandoned-cart reminder greets the shopper by the firstName analytics-node sent", async () => {
    const ws = await createTestWorkspace(db(), clock);
    // Library messages name the store and link to it: installing needs both.
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      storeName: "Test Shop",
      storeUrl: "https://shop.test",
    });
    const installed = await api(
      herald,
      ws.secretKey,
      "POST",
      "/api/flows/library/abandoned-cart",
      { publish: true },
    );
    assert.equal(installed.status, 201, JSON.stringify(installed.body));

    const analytics = new Analytics({
      writeKey: ws.writeKey,
      host: herald.url,
      flushAt: 3,
      maxRetries: 1,
    });
    analytics.identify({
      userId: "u-ana",
      traits: {
        firstName: "Ana",
        lastName: "Lima",
        email: "ana@example.com",
        email_consent: true,
      },
    });
    analytics.track({
      userId: "u-ana",
      event: "Product Added",
      properties: { cart_id: "cart-ana", product_id: "p1", price: 40 },
    });
    analytics.track({
      userId: "u-ana",
      event: "Checkout Started",
      properties: {
        cart_id: "cart-ana",
        value: 40,
        products: [{ product_id: "p1", price: 40, quantity: 1 }],
      },
    });
    await analytics.closeAndFlush();
    await settle(herald);

    const found = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/profiles?userId=u-ana",
    );
    const profile = found.body.items[0];
    assert.equal(profile.traits.first_name, "Ana");
    assert.equal(profile.traits.last_name, "Lima");
    assert.equal(profile.traits.firstName, "Ana", "the raw trait is kept");

    clock.advance(ms.hour + ms.minute);
    await settle(herald);
    await herald.sender.drain(ws.id);

    const mails = sink.messages.filter((m) => m.to.includes("ana@example.com"));
    assert.equal(mails.length, 1, "one reminder reached the SMTP server");
    const mail = await simpleParser(mails[0]?.raw ?? "");
    const text = `${mail.subject ?? ""}\n${mail.text ?? ""}`;
    assert.match(text, /\bAna\b/, text);
    assert.doesNotMatch(text, /\bthere\b/, "not the stranger's greeting");
  });
});
