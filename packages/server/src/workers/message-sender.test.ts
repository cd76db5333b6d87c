import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, afterEach, before, it } from "node:test";
import { dkimVerify } from "mailauth";
import { simpleParser } from "mailparser";
import { ManualClock, ms } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import {
  getMessage,
  identify,
  local,
  patchSettings,
  queueMessage,
} from "../testing/messaging.ts";
import {
  insertList,
  listStatusesOf,
  setListStatus,
} from "../lists/lists.sql.ts";
import { startSmtpSink, type SmtpSink } from "../testing/smtp-sink.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

const browser =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

describeOnDatabases("message sender over SMTP", (db) => {
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
    sink.perRecipient.clear();
    sink.refusing = false;
    sink.accepted = 0;
  });

  async function start() {
    clock = new ManualClock("2026-01-05T12:00:00Z");
    herald = await startTestHerald(db(), {
      clock,
      env: { HERALD_SMTP_URL: sink.url },
    });
    const ws = await createTestWorkspace(db(), clock);
    const keys = { writeKey: ws.writeKey, secretKey: ws.secretKey };
    return { ws, keys };
  }

  it("delivers DKIM-signed marketing mail with one-click unsubscribe headers and tracked links; POST unsubscribes, GET does not", async () => {
    const { ws, keys } = await start();
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
    });
    await patchSettings(herald, keys.secretKey, {
      storeName: "Fern & Co",
      email: {
        fromEmail: "news@fern.example",
        fromName: "Fern & Co",
        dkim: [
          {
            domain: "fern.example",
            selector: "herald1",
            privateKey: privateKey
              .export({ type: "pkcs8", format: "pem" })
              .toString(),
          },
        ],
      },
    });
    const profileId = await identify(herald, keys, "u-ana", {
      email: "ana@example.com",
      email_consent: true,
    });
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "email",
      idempotencyKey: "campaign-1:ana",
      content: {
        subject: "Spring is here",
        html: '<html><body><h1>New in</h1><a href="https://fern.example/spring?x=1">Shop the collection</a></body></html>',
      },
    });
    await herald.sender.drain(ws.id);

    assert.equal(sink.messages.length, 1);
    const raw = sink.messages[0]?.raw ?? "";
    const dns = publicKey
      .export({ type: "spki", format: "der" })
      .toString("base64");
    const verified = await dkimVerify(Buffer.from(raw), {
      resolver: (name: string, type: string) =>
        name === "herald1._domainkey.fern.example" && type === "TXT"
          ? Promise.resolve([[`v=DKIM1; k=rsa; p=${dns}`]])
          : Promise.reject(
              Object.assign(new Error("not found"), { code: "ENOTFOUND" }),
            ),
    });
    const result = verified.results[0];
    assert.equal(result?.status.result, "pass", JSON.stringify(result?.status));
    assert.equal(result?.signingDomain, "fern.example");
    const signed =
      /^DKIM-Signature:[\s\S]*?\bh=([^;]+);/im
        .exec(raw)?.[1]
        ?.replace(/\s+/g, "") ?? "";
    assert.match(
      signed,
      /List-Unsubscribe:List-Unsubscribe-Post/i,
      "both headers are signed",
    );

    const mail = await simpleParser(raw);
    const header = (name: string) =>
      mail.headerLines
        .find((h) => h.key === name)
        ?.line.replace(/^[^:]+:\s*/, "")
        .replace(/\s+/g, "") ?? "";
    const unsubscribeUrl = header("list-unsubscribe").replace(/[<>]/g, "");
    assert.match(unsubscribeUrl, /\/u\/u\.ws_/);
    assert.equal(header("list-unsubscribe-post"), "List-Unsubscribe=One-Click");
    assert.equal(mail.messageId, `<${id}@fern.example>`);
    const html = String(mail.html);
    const click = /href="([^"]*\/t\/c\/[^"]+)"/.exec(html)?.[1];
    assert.ok(click, "the link is tracked");
    assert.doesNotMatch(
      html,
      /fern\.example\/spring/,
      "the original link is not in the mail",
    );
    assert.match(html, /\/t\/o\//, "the open pixel is there");

    // A scanner clicking at once is recorded but not counted; a person later is.
    const scanner = await fetch(local(herald, click), {
      redirect: "manual",
      headers: { "user-agent": browser },
    });
    assert.equal(scanner.status, 302);
    assert.equal((await getMessage(herald, keys.secretKey, id)).status, "sent");
    clock.advance(5 * ms.minute);
    const person = await fetch(local(herald, click), {
      redirect: "manual",
      headers: { "user-agent": browser },
    });
    assert.equal(
      person.headers.get("location"),
      "https://fern.example/spring?x=1&utm_source=herald&utm_medium=email&utm_campaign=Spring+sale",
    );
    const clicked = await getMessage(herald, keys.secretKey, id);
    assert.equal(clicked.status, "clicked");
    assert.deepEqual(
      clicked.interactions.map(
        (i: { kind: string; human: boolean; reason: string | null }) => [
          i.kind,
          i.human,
          i.reason,
        ],
      ),
      [
        ["click", false, "clicked_seconds_after_delivery"],
        ["click", true, null],
      ],
    );

    // GET shows the page and changes nothing.
    const page = await fetch(local(herald, unsubscribeUrl));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Unsubscribe ana@example\.com\?/);
    const still = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(still.body.consent.email.status, "subscribed");

    // One-click POST unsubscribes at once.
    const post = await fetch(local(herald, unsubscribeUrl), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    assert.equal(post.status, 200);
    const after = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(after.body.consent.email.status, "unsubscribed");
    assert.equal(
      (await getMessage(herald, keys.secretKey, id)).status,
      "unsubscribed",
    );

    await settle(herald);
    const events = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}/events?limit=50`,
    );
    const names = events.body.items.map((e: { name: string }) => e.name);
    assert.ok(names.includes("Email Link Clicked"), names.join());
    assert.ok(names.includes("Unsubscribed"), names.join());
    const clickEvent = events.body.items.find(
      (e: { name: string }) => e.name === "Email Link Clicked",
    );
    assert.equal(clickEvent.properties.email_id, id);
    assert.equal(clickEvent.properties.email_subject, "Spring is here");
    assert.equal(clickEvent.properties.campaign_name, "Spring sale");
    assert.equal(
      names.filter((n: string) => n === "Email Link Clicked").length,
      1,
      "the scanner's click is no event",
    );
    // Processing the event kept the consent the unsubscribe wrote.
    const processed = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(processed.body.consent.email.status, "unsubscribed");

    // The next marketing message is skipped, with the reason on the ledger.
    const next = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "email",
      idempotencyKey: "campaign-2:ana",
      content: { subject: "More", html: "<p>more</p>" },
    });
    await herald.sender.drain(ws.id);
    const skipped = await getMessage(herald, keys.secretKey, next);
    assert.deepEqual(
      [skipped.status, skipped.decisionStep, skipped.reason],
      ["skipped", "consent", "unsubscribed from email marketing"],
    );
    assert.equal(sink.messages.length, 1);
  });

  it("queues a message once per idempotency key", async () => {
    const { ws, keys } = await start();
    const profileId = await identify(herald, keys, "u-bo", {
      email: "bo@example.com",
      email_consent: "subscribed",
    });
    const request = {
      workspaceId: ws.id,
      profileId,
      channel: "email" as const,
      idempotencyKey: "flow-run-7:node-3",
      source: { kind: "flow" as const, flowRunId: "run-7", nodeId: "node-3" },
      content: { subject: "Welcome", text: "Hello" },
    };
    const first = await queueMessage(herald, request);
    const second = await queueMessage(herald, request);
    assert.equal(first, second);
    await herald.sender.drain(ws.id);
    await queueMessage(herald, request);
    await herald.sender.drain(ws.id);
    assert.equal(sink.perRecipient.get("bo@example.com"), 1);
  });

  it("retries while the SMTP server refuses, pauses the provider, and delivers every message exactly once when it recovers", async () => {
    const { ws, keys } = await start();
    await patchSettings(herald, keys.secretKey, {
      delivery: { pauseAfterErrors: 10, pauseMinutes: 5 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const profileId = await identify(herald, keys, `u-${i}`, {
        email: `shopper${i}@example.com`,
        email_consent: true,
      });
      ids.push(
        await queueMessage(herald, {
          workspaceId: ws.id,
          profileId,
          channel: "email",
          idempotencyKey: `refuse-${i}`,
          content: { subject: `Hello ${i}`, text: "hi" },
        }),
      );
    }
    sink.refusing = true;
    await herald.sender.drain(ws.id);
    assert.equal(sink.accepted, 0);
    const waiting = await getMessage(herald, keys.secretKey, ids[0] ?? "");
    assert.equal(waiting.status, "queued");
    assert.match(waiting.reason, /retry 2 of 8 after: SMTP/);
    const alerts = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/messages/providers",
    );
    assert.equal(alerts.body.paused.length, 1, JSON.stringify(alerts.body));
    assert.equal(alerts.body.paused[0].channel, "email");
    assert.match(alerts.body.paused[0].reason, /consecutive errors/);
    const metrics = await (await fetch(`${herald.url}/metrics`)).text();
    assert.match(metrics, /herald_delivery_paused\{channel="email"\} 1/);

    // Still refusing at the first retry: more backoff.
    clock.advance(ms.minute);
    await herald.sender.drain(ws.id);
    assert.equal(sink.accepted, 0);

    sink.refusing = false;
    clock.advance(6 * ms.minute);
    await herald.sender.drain(ws.id);
    assert.equal(sink.accepted, 25);
    for (let i = 0; i < 25; i++)
      assert.equal(sink.perRecipient.get(`shopper${i}@example.com`), 1);
    const sent = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/messages?status=sent&limit=100",
    );
    assert.equal(sent.body.items.length, 25);
    assert.equal(
      (await api(herald, keys.secretKey, "GET", "/api/messages/providers")).body
        .paused.length,
      0,
    );
    clock.advance(ms.day);
    await herald.sender.drain(ws.id);
    assert.equal(sink.accepted, 25);
  });

  it("caps marketing per profile and holds it through the recipient's quiet hours, as the clock moves", async () => {
    const { ws, keys } = await start();
    await patchSettings(herald, keys.secretKey, {
      frequencyCap: { messages: 2, hours: 24 },
      quietHours: { start: "21:00", end: "08:00" },
    });
    // 12:00 UTC is 07:00 in New York: quiet.
    const profileId = await identify(
      herald,
      keys,
      "u-cy",
      { email: "cy@example.com", email_consent: true },
      { timezone: "America/New_York" },
    );
    const queue = (key: string, extra: Record<string, unknown> = {}) =>
      queueMessage(herald, {
        workspaceId: ws.id,
        profileId,
        channel: "email",
        idempotencyKey: key,
        content: { subject: key, text: "x" },
        ...extra,
      });
    const first = await queue("m1");
    const receipt = await queue("receipt", {
      transactional: true,
      source: { kind: "transactional" },
    });
    await herald.sender.drain(ws.id);
    const held = await getMessage(herald, keys.secretKey, first);
    assert.deepEqual(
      [held.status, held.decisionStep],
      ["deferred", "quiet_hours"],
    );
    assert.equal(held.sendAt, "2026-01-05T13:00:00.000Z");
    assert.equal(
      (await getMessage(herald, keys.secretKey, receipt)).status,
      "sent",
      "transactional ignores quiet hours",
    );
    assert.deepEqual([...sink.perRecipient.values()], [1]);

    clock.set(new Date("2026-01-05T13:00:00Z"));
    const second = await queue("m2");
    clock.advance(ms.second); // the order the cap counts in
    const third = await queue("m3");
    await herald.sender.drain(ws.id);
    assert.equal(
      (await getMessage(herald, keys.secretKey, first)).status,
      "sent",
    );
    assert.equal(
      (await getMessage(herald, keys.secretKey, second)).status,
      "sent",
    );
    // Held, not dropped: it waits until the first of the two leaves the window.
    const capped = await getMessage(herald, keys.secretKey, third);
    assert.deepEqual(
      [capped.status, capped.decisionStep, capped.sendAt],
      ["deferred", "frequency_cap", "2026-01-06T13:00:01.001Z"],
    );
    assert.match(
      capped.reason,
      /2 marketing messages in the last 24 h.*waits until 2026-01-06T13:00:01.001Z/,
    );

    // A day later the window is clear again (and it is daytime in New York).
    clock.advance(ms.day + ms.minute);
    const fourth = await queue("m4");
    await herald.sender.drain(ws.id);
    for (const held of [third, fourth])
      assert.equal(
        (await getMessage(herald, keys.secretKey, held)).status,
        "sent",
      );
    assert.equal(sink.perRecipient.get("cy@example.com"), 5);
  });
  it("sends list mail only to subscribed members; the preference centre leaves a list and pauses, one-click leaves only the list", async () => {
    const { ws, keys } = await start();
    await patchSettings(herald, keys.secretKey, { storeName: "Fern & Co" });
    const profileId = await identify(herald, keys, "u-lia", {
      email: "lia@example.com",
      email_consent: true,
    });
    const other = await identify(herald, keys, "u-max", {
      email: "max@example.com",
      email_consent: true,
    });
    const now = clock.now();
    await db().tx(async (tx) => {
      for (const [id, name] of [
        ["news", "Weekly news"],
        ["deals", "Deals"],
      ] as const)
        await insertList(tx, ws.id, {
          id,
          name,
          description: "",
          public: true,
          doubleOptIn: false,
          createdAt: now,
        });
      await setListStatus(tx, ws.id, "news", {
        profileIds: [profileId],
        status: "subscribed",
        source: "test",
        at: now,
      });
      await setListStatus(tx, ws.id, "deals", {
        profileIds: [profileId],
        status: "subscribed",
        source: "test",
        at: now,
      });
    });
    const toList = (key: string, listId: string, who = profileId) =>
      queueMessage(herald, {
        workspaceId: ws.id,
        profileId: who,
        channel: "email",
        listId,
        idempotencyKey: key,
        content: { subject: key, html: "<p>hello</p>" },
      });
    const news = await toList("news-1", "news");
    const notMember = await toList("news-1-max", "news", other);
    await herald.sender.drain(ws.id);
    assert.equal(
      (await getMessage(herald, keys.secretKey, news)).status,
      "sent",
    );
    const skipped = await getMessage(herald, keys.secretKey, notMember);
    assert.deepEqual(
      [skipped.status, skipped.decisionStep, skipped.reason],
      ["skipped", "list", "not a member of list news"],
    );

    const raw =
      sink.messages.find((m) => m.to.includes("lia@example.com"))?.raw ?? "";
    const url = (
      /^List-Unsubscribe:\s*<([^>]+)>/m.exec(raw)?.[1] ?? ""
    ).replace(/\s+/g, "");
    const page = await (await fetch(local(herald, url))).text();
    assert.match(page, /Unsubscribe from the list “Weekly news”/);
    assert.match(page, /name="list_deals" value="on" checked/);

    // The preference centre: leave "deals", pause for 30 days.
    const form = new URLSearchParams({
      action: "preferences",
      shown_news: "1",
      list_news: "on",
      shown_deals: "1",
      pause: "30",
    });
    const saved = await fetch(local(herald, url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    assert.equal(saved.status, 200);
    assert.match(await saved.text(), /preferences are saved/);
    const statuses = await listStatusesOf(db(), ws.id, profileId);
    assert.deepEqual(Object.fromEntries(statuses), {
      news: "subscribed",
      deals: "unsubscribed",
    });
    const paused = await toList("news-2", "news");
    await herald.sender.drain(ws.id);
    assert.match(
      (await getMessage(herald, keys.secretKey, paused)).reason,
      /paused marketing until/,
    );

    // After the pause, one-click on a list message leaves that list only.
    clock.advance(31 * ms.day);
    const oneClick = await fetch(local(herald, url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    assert.equal(oneClick.status, 200);
    assert.equal(
      (await listStatusesOf(db(), ws.id, profileId)).get("news"),
      "unsubscribed",
    );
    const profile = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(profile.body.consent.email.status, "subscribed");
    await settle(herald);
    const after = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(
      after.body.consent.email.status,
      "subscribed",
      "a list unsubscribe leaves email consent alone",
    );
  });
});
