import assert from "node:assert/strict";
import { after, afterEach, before, it } from "node:test";
import { simpleParser } from "mailparser";
import { ManualClock, ms } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import {
  getMessage,
  identify,
  local,
  queueMessage,
} from "../testing/messaging.ts";
import { startSmtpSink, type SmtpSink } from "../testing/smtp-sink.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

const browser =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

describeOnDatabases("templates: links in messages", (db) => {
  let sink: SmtpSink;
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    sink = await startSmtpSink();
  });
  after(() => sink.close());
  afterEach(async () => {
    await herald.close();
    sink.messages.length = 0;
  });

  async function start() {
    clock = new ManualClock("2026-01-05T12:00:00Z");
    herald = await startTestHerald(db(), {
      clock,
      env: { HERALD_SMTP_URL: sink.url },
    });
    const ws = await createTestWorkspace(db(), clock);
    return { ws, keys: { writeKey: ws.writeKey, secretKey: ws.secretKey } };
  }

  it("takes javascript: and data: links filled from traits out of the email, keeps web, mail and phone links, and says so in the preview", async () => {
    const { keys } = await start();
    const created = await api(
      herald,
      keys.secretKey,
      "POST",
      "/api/templates",
      {
        name: "Profile links",
        channel: "email",
        content: {
          subject: "Your links",
          mjml: `<mjml><mj-body><mj-section><mj-column><mj-text>
<a href="{{ event.website }}">Website</a>
<a href="{{ event.portfolio }}">Portfolio</a>
<a href="{{ event.shop }}">Shop</a>
<a href="mailto:{{ event.email }}">Mail</a>
<a href="tel:{{ event.phone }}">Call</a>
</mj-text></mj-column></mj-section></mj-body></mjml>`,
        },
      },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const preview = await api(
      herald,
      keys.secretKey,
      "POST",
      `/api/templates/${created.body.template.id}/preview`,
      {
        data: {
          website: " JaVaScRiPt:alert(document.cookie)",
          portfolio:
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
          shop: "https://shop.example/?a=1&b=2",
          email: "ana@example.com",
          phone: "+15550100",
        },
      },
    );
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    const html: string = preview.body.content.html;
    assert.doesNotMatch(html, /javascript:|data:text/i);
    assert.match(html, /<a\s*>Website<\/a>/);
    assert.match(html, /<a\s*>Portfolio<\/a>/);
    assert.match(html, /<a href="https:\/\/shop\.example\/\?a=1&amp;b=2">Shop/);
    assert.match(html, /<a href="mailto:ana@example\.com">Mail/);
    assert.match(html, /<a href="tel:\+15550100">Call/);
    assert.doesNotMatch(preview.body.content.text, /javascript:|data:text/i);
    assert.deepEqual(preview.body.warnings, [
      {
        path: "/content/html",
        message:
          'removed the link " JaVaScRiPt:alert(document.cookie)": only http(s), mailto and tel links may be sent (it came from the template or the data it was rendered with)',
      },
      {
        path: "/content/html",
        message:
          'removed the link "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==": only http(s), mailto and tel links may be sent (it came from the template or the data it was rendered with)',
      },
    ]);
  });

  it("sends a tracked link whose href holds HTML entities to exactly the address it stands for", async () => {
    const { ws, keys } = await start();
    const profileId = await identify(herald, keys, "u-ana", {
      email: "ana@example.com",
      email_consent: true,
    });
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "email",
      idempotencyKey: "order-1:links",
      transactional: true,
      content: {
        subject: "Your search",
        html: '<html><body><a href="https://shop.example/search?q=&quot;red shoes&quot;&amp;note=it&#39;s&amp;path=a&#x2F;b&amp;max=&lt;30&amp;copy=&copy;">Search again</a></body></html>',
      },
    });
    await herald.sender.drain(ws.id);
    assert.equal(sink.messages.length, 1);
    const mail = await simpleParser(sink.messages[0]?.raw ?? "");
    const click = /href="([^"]*\/t\/c\/[^"]+)"/.exec(String(mail.html))?.[1];
    assert.ok(click, "the link is tracked");

    clock.advance(5 * ms.minute);
    const followed = await fetch(local(herald, click), {
      redirect: "manual",
      headers: { "user-agent": browser },
    });
    assert.equal(followed.status, 302);
    assert.equal(
      followed.headers.get("location"),
      `https://shop.example/search?q="red shoes"&note=it's&path=a/b&max=<30&copy=©`,
    );
    const message = await getMessage(herald, keys.secretKey, id);
    assert.equal(message.status, "clicked", JSON.stringify(message));
  });
});
