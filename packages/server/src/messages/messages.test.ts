import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, afterEach, before, it } from "node:test";
import { ManualClock, ms } from "@herald/core/clock";
import type { Herald } from "../main.ts";
import {
  startFakeHttp,
  type FakeHttp,
  type FakeAnswer,
  type FakeRequest,
} from "../testing/fake-http.ts";
import {
  getMessage,
  identify,
  local,
  patchSettings,
  queueMessage,
} from "../testing/messaging.ts";
import {
  fakeSns,
  sendgridHeaders,
  sendgridKeys,
  signSnsMessage,
  testCertificate,
} from "../testing/provider-signing.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { trackingUrl } from "./message-delivery.ts";
import { MessagingSecrets } from "./message-secrets.ts";
import { verifyTwilioSignature } from "../providers/twilio-webhook.ts";

const basic = (key: string) =>
  `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

describeOnDatabases("delivery API, channels and provider webhooks", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  let fake: FakeHttp;
  let answer: (r: FakeRequest) => FakeAnswer = () => ({
    status: 200,
    body: {},
  });
  before(async () => {
    fake = await startFakeHttp((r) => answer(r));
  });
  after(() => fake.close());
  afterEach(async () => {
    await herald.close();
    fake.requests.length = 0;
  });

  const certificate = testCertificate();
  async function start() {
    clock = new ManualClock("2026-01-05T12:00:00Z");
    herald = await startTestHerald(db(), {
      clock,
      snsFetch: fakeSns(certificate.pem).fetch,
    });
    const ws = await createTestWorkspace(db(), clock);
    return { ws, keys: { writeKey: ws.writeKey, secretKey: ws.secretKey } };
  }

  async function post(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const response = await fetch(local(herald, `http://x${path}`), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text };
  }

  it("sends transactional mail through the API once per Idempotency-Key and keeps it in the outbox", async () => {
    const { ws, keys } = await start();
    const send = (body: Record<string, unknown>, key?: string) =>
      fetch(`${herald.url}/api/messages/send`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${keys.secretKey}`,
          "content-type": "application/json",
          ...(key ? { "idempotency-key": key } : {}),
        },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as Record<string, any>,
      }));
    const body = {
      channel: "email",
      to: { email: "Dana@Example.com", userId: "u-dana" },
      content: {
        subject: "Order 1001 confirmed",
        html: '<p>Thanks! <a href="https://fern.example/orders/1001">Your order</a></p>',
      },
    };
    const missing = await send(body);
    assert.equal(missing.status, 400);
    assert.match(missing.body.error.message, /Idempotency-Key/);
    const first = await send(body, "order-1001-confirmation");
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.message.status, "queued");
    const again = await send(body, "order-1001-confirmation");
    assert.equal(again.status, 200);
    assert.equal(again.body.message.id, first.body.message.id);
    const reused = await send(
      { ...body, content: { subject: "Other", text: "x" } },
      "order-1001-confirmation",
    );
    assert.equal(reused.status, 409);
    const bad = await send({ ...body, to: { email: "not-an-email" } }, "k2");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/body/to/email");

    await herald.sender.drain(ws.id);
    const outbox = await api(herald, keys.secretKey, "GET", "/api/outbox");
    assert.equal(outbox.body.items.length, 1);
    const kept = outbox.body.items[0];
    assert.equal(kept.status, "sent");
    assert.equal(kept.to, "dana@example.com");
    assert.equal(kept.content.subject, "Order 1001 confirmed");
    assert.match(kept.content.html, /\/t\/c\//, "links are tracked");
    assert.doesNotMatch(
      kept.content.html,
      /Unsubscribe/,
      "transactional mail gets no unsubscribe footer",
    );
    const profile = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/profiles?userId=u-dana",
    );
    assert.equal(profile.body.items[0]?.id, kept.profileId);

    // A template that cannot be rendered fails visibly, with the content feature's reason.
    const templated = await send(
      {
        channel: "email",
        to: { email: "dana@example.com" },
        templateId: "tpl_welcome",
      },
      "tpl-1",
    );
    await herald.sender.drain(ws.id);
    const failed = await getMessage(
      herald,
      keys.secretKey,
      templated.body.message.id,
    );
    assert.equal(failed.status, "failed");
    assert.match(failed.reason, /^content: /);
    const retried = await api(
      herald,
      keys.secretKey,
      "POST",
      `/api/messages/${failed.id}/retry`,
    );
    assert.equal(retried.body.status, "queued");
  });

  it("records bounces, complaints and deliveries from SES, SendGrid, Postmark and Mailgun", async () => {
    const { ws, keys } = await start();
    const sendgrid = sendgridKeys();
    await patchSettings(herald, keys.secretKey, {
      email: {
        mailgunSigningKey: "mg-key",
        sendgridVerificationKey: sendgrid.verificationKey,
        postmarkWebhookAuth: { username: "pm", password: "pm-password-1234" },
      },
    });
    const people = ["ses", "sg", "pm", "mg"];
    const ids: Record<string, string> = {};
    for (const p of people) {
      const profileId = await identify(herald, keys, `u-${p}`, {
        email: `${p}@example.com`,
        email_consent: true,
      });
      ids[p] = await queueMessage(herald, {
        workspaceId: ws.id,
        profileId,
        channel: "email",
        idempotencyKey: `news-${p}`,
        content: { subject: "News", text: "hi" },
      });
    }
    await herald.sender.drain(ws.id);
    const providers = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/messages/providers",
    );
    const hooks = providers.body.webhookUrls as Record<string, string>;
    const path = (p: string) => new URL(hooks[p] ?? "").pathname;

    const ses = await post(
      path("ses"),
      JSON.stringify(
        signSnsMessage(
          {
            Type: "Notification",
            Timestamp: clock.now().toISOString(),
            Message: JSON.stringify({
              notificationType: "Bounce",
              mail: {
                messageId: "ses-1",
                commonHeaders: {
                  messageId: `<${ids.ses}@localhost.localdomain>`,
                },
              },
              bounce: {
                bounceType: "Permanent",
                bounceSubType: "General",
                bouncedRecipients: [
                  {
                    emailAddress: "ses@example.com",
                    diagnosticCode: "550 5.1.1 no such user",
                  },
                ],
              },
            }),
          },
          certificate.privateKey,
        ),
      ),
      { "content-type": "text/plain; charset=UTF-8" },
    );
    assert.equal(ses.status, 200, ses.text);
    assert.equal(JSON.parse(ses.text).matched, 1);
    const sgBody = JSON.stringify([
      {
        email: "sg@example.com",
        event: "spamreport",
        "smtp-id": `<${ids.sg}@localhost.localdomain>`,
        timestamp: 1,
      },
    ]);
    const sg = await post(
      path("sendgrid"),
      sgBody,
      sendgridHeaders(sendgrid.privateKey, sgBody, clock.now()),
    );
    assert.equal(JSON.parse(sg.text).matched, 1);
    const pm = await post(
      path("postmark"),
      {
        RecordType: "Delivery",
        Recipient: "pm@example.com",
        MessageID: "pm-1",
        Metadata: { herald_message_id: ids.pm },
      },
      {
        authorization: `Basic ${Buffer.from("pm:pm-password-1234").toString("base64")}`,
      },
    );
    assert.equal(JSON.parse(pm.text).matched, 1);
    const event = {
      event: "failed",
      severity: "permanent",
      recipient: "mg@example.com",
      message: { headers: { "message-id": `${ids.mg}@localhost.localdomain` } },
      "delivery-status": { code: 550 },
    };
    const timestamp = String(clock.now().getTime() / 1000);
    const forged = await post(path("mailgun"), {
      signature: { timestamp, token: "t", signature: "bad" },
      "event-data": event,
    });
    assert.equal(forged.status, 401);
    const signature = createHmac("sha256", "mg-key")
      .update(`${timestamp}t`)
      .digest("hex");
    const mg = await post(path("mailgun"), {
      signature: { timestamp, token: "t", signature },
      "event-data": event,
    });
    assert.equal(JSON.parse(mg.text).matched, 1);
    assert.equal(
      (
        await post(
          "/webhooks/messages/ses/ws_nope.AAAAAAAAAAAAAAAAAAAAAA",
          "{}",
          { "content-type": "text/plain" },
        )
      ).status,
      401,
    );

    const status = async (p: string) =>
      (await getMessage(herald, keys.secretKey, ids[p] ?? "")).status;
    assert.equal(await status("ses"), "bounced");
    assert.equal(await status("sg"), "complained");
    assert.equal(await status("pm"), "delivered");
    assert.equal(await status("mg"), "bounced");
    const suppressed = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/suppressions",
    );
    assert.deepEqual(
      suppressed.body.items
        .map(
          (s: { address: string; reason: string }) =>
            `${s.address}:${s.reason}`,
        )
        .sort(),
      [
        "mg@example.com:hard_bounce",
        "ses@example.com:hard_bounce",
        "sg@example.com:complaint",
      ],
    );
    await settle(herald);
    const sesProfile = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/profiles?userId=u-ses",
    );
    const events = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${sesProfile.body.items[0].id}/events`,
    );
    const bounced = events.body.items.find(
      (e: { name: string }) => e.name === "Email Bounced",
    );
    assert.equal(bounced?.properties.email_id, ids.ses);
    assert.equal(bounced?.properties.bounce_type, "hard");
    const sgProfile = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/profiles?userId=u-sg",
    );
    assert.equal(
      sgProfile.body.items[0].consent.email.status,
      "unsubscribed",
      "a complaint unsubscribes",
    );

    // A hard-bounced address gets nothing, not even an order confirmation; a spam
    // complaint about marketing stops marketing but not the receipt of an order.
    const sesId = sesProfile.body.items[0].id as string;
    const sgId = sgProfile.body.items[0].id as string;
    const marketing = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId: sesId,
      channel: "email",
      idempotencyKey: "news-ses-2",
      content: { subject: "News", text: "x" },
    });
    const receipt = (profileId: string, key: string) =>
      queueMessage(herald, {
        workspaceId: ws.id,
        profileId,
        channel: "email",
        idempotencyKey: key,
        transactional: true,
        source: { kind: "transactional" },
        content: { subject: "Receipt", text: "x" },
      });
    const bouncedReceipt = await receipt(sesId, "receipt-ses");
    const complainedReceipt = await receipt(sgId, "receipt-sg");
    await herald.sender.drain(ws.id);
    const m = await getMessage(herald, keys.secretKey, marketing);
    assert.deepEqual([m.status, m.decisionStep], ["skipped", "suppression"]);
    const b = await getMessage(herald, keys.secretKey, bouncedReceipt);
    assert.deepEqual([b.status, b.decisionStep], ["skipped", "suppression"]);
    assert.equal(
      (await getMessage(herald, keys.secretKey, complainedReceipt)).status,
      "sent",
    );
  });

  it("sends SMS in Twilio's wire format, and STOP / START from Twilio change consent", async () => {
    const { ws, keys } = await start();
    answer = (r) =>
      r.path === "/2010-04-01/Accounts/AC123/Messages.json"
        ? /To=%2B15005550009/.test(r.body)
          ? {
              status: 400,
              body: {
                code: 21211,
                message: "The 'To' number is not a valid phone number.",
                status: 400,
              },
            }
          : {
              status: 201,
              body: { sid: `SM${fake.requests.length}`, status: "queued" },
            }
        : { status: 404, body: {} };
    await patchSettings(herald, keys.secretKey, {
      sms: {
        provider: "twilio",
        accountSid: "AC123",
        authToken: "tw-secret",
        from: "+15005550006",
        baseUrl: fake.url,
      },
    });
    const ana = await identify(herald, keys, "u-sms", {
      phone: "+14155550100",
      sms_consent: true,
    });
    const bad = await identify(herald, keys, "u-bad", {
      phone: "+15005550009",
      sms_consent: true,
    });
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId: ana,
      channel: "sms",
      idempotencyKey: "sms-1",
      content: { text: "20% off today" },
    });
    const badId = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId: bad,
      channel: "sms",
      idempotencyKey: "sms-2",
      content: { text: "20% off today" },
    });
    await herald.sender.drain(ws.id);
    const request = fake.requests.find((r) => r.body.includes("4155550100"));
    assert.equal(request?.method, "POST");
    assert.equal(
      request?.headers.authorization,
      `Basic ${Buffer.from("AC123:tw-secret").toString("base64")}`,
    );
    assert.equal(
      request?.headers["content-type"],
      "application/x-www-form-urlencoded",
    );
    const form = Object.fromEntries(new URLSearchParams(request?.body));
    const hooks = (
      await api(herald, keys.secretKey, "GET", "/api/messages/providers")
    ).body.webhookUrls;
    assert.deepEqual(form, {
      To: "+14155550100",
      Body: "20% off today",
      From: "+15005550006",
      StatusCallback: hooks.twilio,
    });
    const sent = await getMessage(herald, keys.secretKey, id);
    assert.deepEqual(
      [sent.status, sent.provider, sent.providerMessageId],
      ["sent", "twilio", sent.providerMessageId],
    );
    assert.match(sent.providerMessageId, /^SM/);
    const failed = await getMessage(herald, keys.secretKey, badId);
    assert.equal(failed.status, "failed");
    assert.match(failed.reason, /21211/);

    // Twilio's status callback and the shopper's STOP, signed as Twilio signs them.
    const hook = new URL(
      (await api(herald, keys.secretKey, "GET", "/api/messages/providers")).body
        .webhookUrls.twilio,
    );
    const twilio = async (form: Record<string, string>, sign = true) => {
      const url = `${herald.config.publicUrl}${hook.pathname}`;
      const data =
        url +
        Object.keys(form)
          .sort()
          .map((k) => `${k}${form[k]}`)
          .join("");
      const signature = createHmac("sha1", "tw-secret")
        .update(data)
        .digest("base64");
      assert.ok(verifyTwilioSignature("tw-secret", url, form, signature));
      return post(hook.pathname, new URLSearchParams(form).toString(), {
        "content-type": "application/x-www-form-urlencoded",
        ...(sign ? { "x-twilio-signature": signature } : {}),
      });
    };
    assert.equal(
      (await twilio({ From: "+14155550100", Body: "STOP" }, false)).status,
      403,
    );
    await twilio({
      MessageSid: sent.providerMessageId,
      MessageStatus: "delivered",
    });
    assert.equal(
      (await getMessage(herald, keys.secretKey, id)).status,
      "delivered",
    );
    const stop = await twilio({
      From: "+14155550100",
      To: "+15005550006",
      Body: "Stop",
      MessageSid: "SMin1",
    });
    assert.equal(stop.status, 200);
    assert.match(stop.text, /<Response>/);
    let profile = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${ana}`,
    );
    assert.equal(profile.body.consent.sms.status, "unsubscribed");
    const after = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId: ana,
      channel: "sms",
      idempotencyKey: "sms-3",
      content: { text: "x" },
    });
    const otp = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId: ana,
      channel: "sms",
      idempotencyKey: "sms-otp",
      transactional: true,
      source: { kind: "transactional" },
      content: { text: "code 1234" },
    });
    await herald.sender.drain(ws.id);
    assert.equal(
      (await getMessage(herald, keys.secretKey, after)).decisionStep,
      "consent",
    );
    assert.equal(
      (await getMessage(herald, keys.secretKey, otp)).decisionStep,
      "consent",
      "after STOP carriers block every SMS",
    );
    await twilio({ From: "+14155550100", Body: "START" });
    profile = await api(herald, keys.secretKey, "GET", `/api/profiles/${ana}`);
    assert.equal(profile.body.consent.sms.status, "subscribed");
    await settle(herald);
    const events = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${ana}/events`,
    );
    const names = events.body.items.map((e: { name: string }) => e.name);
    assert.ok(
      names.includes("Unsubscribed") && names.includes("Subscribed"),
      names.join(),
    );
    profile = await api(herald, keys.secretKey, "GET", `/api/profiles/${ana}`);
    assert.equal(
      profile.body.consent.sms.status,
      "subscribed",
      "processing the events agrees with the direct write",
    );
  });

  it("sends SMS through a generic HTTP gateway and retries its 5xx", async () => {
    const { ws, keys } = await start();
    let failures = 1;
    answer = (r) =>
      r.path === "/sms"
        ? failures-- > 0
          ? { status: 502, body: { error: "upstream" } }
          : { status: 200, body: { id: "gw-42" } }
        : { status: 404, body: {} };
    await patchSettings(herald, keys.secretKey, {
      sms: {
        provider: "http",
        url: `${fake.url}/sms`,
        from: "Fern",
        headers: { "x-api-key": "gw-secret" },
      },
    });
    const profileId = await identify(herald, keys, "u-gw", {
      phone: "+14155550199",
      sms_consent: true,
    });
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "sms",
      idempotencyKey: "gw-1",
      content: { text: "Your code is 1234" },
    });
    await herald.sender.drain(ws.id);
    assert.equal(
      (await getMessage(herald, keys.secretKey, id)).status,
      "queued",
    );
    clock.advance(31 * ms.second);
    await herald.sender.drain(ws.id);
    const sent = await getMessage(herald, keys.secretKey, id);
    assert.deepEqual([sent.status, sent.providerMessageId], ["sent", "gw-42"]);
    const last = fake.requests.at(-1);
    assert.equal(last?.headers["x-api-key"], "gw-secret");
    assert.deepEqual(JSON.parse(last?.body ?? "{}"), {
      to: "+14155550199",
      from: "Fern",
      text: "Your code is 1234",
      messageId: id,
    });
  });

  it("sends web push with VAPID to every browser and removes subscriptions the push service says are gone", async () => {
    const { ws, keys } = await start();
    answer = (r) =>
      r.path === "/push/gone"
        ? { status: 410, body: {} }
        : { status: 201, body: {}, headers: { location: `${fake.url}/m/1` } };
    const keyResponse = await fetch(`${herald.url}/v1/push/vapid-public-key`, {
      headers: { authorization: basic(keys.writeKey) },
    });
    const { publicKey } = (await keyResponse.json()) as { publicKey: string };
    assert.ok(publicKey.length > 80);
    // Real browser keys: a P-256 public key and a 16-byte auth secret.
    const { generateKeyPairSync, randomBytes } = await import("node:crypto");
    const browserKey = () => {
      const { publicKey: pub } = generateKeyPairSync("ec", {
        namedCurve: "prime256v1",
      });
      return pub.export({ format: "jwk" });
    };
    const p256dh = (jwk: { x?: string; y?: string }) =>
      Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x ?? "", "base64url"),
        Buffer.from(jwk.y ?? "", "base64url"),
      ]).toString("base64url");
    for (const path of ["/push/live", "/push/gone"]) {
      const r = await post(
        "/v1/push/subscriptions",
        {
          anonymousId: "anon-push",
          subscription: {
            endpoint: `${fake.url}${path}`,
            keys: {
              p256dh: p256dh(browserKey()),
              auth: randomBytes(16).toString("base64url"),
            },
          },
        },
        { authorization: basic(keys.writeKey) },
      );
      assert.equal(r.status, 201, r.text);
    }
    await settle(herald);
    const profile = await api(
      herald,
      keys.secretKey,
      "GET",
      "/api/profiles?anonymousId=anon-push",
    );
    const profileId = profile.body.items[0].id as string;
    assert.equal(profile.body.items[0].consent.push.status, "subscribed");
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "push",
      idempotencyKey: "push-1",
      content: {
        title: "Back in stock",
        body: "Your sneakers are back",
        url: "https://fern.example/p/1",
      },
    });
    await herald.sender.drain(ws.id);
    assert.equal(fake.requests.length, 2);
    for (const r of fake.requests) {
      assert.match(
        String(r.headers.authorization),
        /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=/,
      );
      assert.match(
        String(r.headers.authorization),
        new RegExp(`k=${publicKey}$`),
      );
      assert.equal(r.headers["content-encoding"], "aes128gcm");
      assert.equal(r.headers.ttl, "86400");
      assert.ok(
        r.body.length > 100 && !r.body.includes("sneakers"),
        "the payload is encrypted",
      );
    }
    assert.equal((await getMessage(herald, keys.secretKey, id)).status, "sent");
    fake.requests.length = 0;
    await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "push",
      idempotencyKey: "push-2",
      content: { title: "Again", body: "x" },
    });
    await herald.sender.drain(ws.id);
    assert.deepEqual(
      fake.requests.map((r) => r.path),
      ["/push/live"],
      "the gone subscription was removed",
    );
  });

  it("links Telegram through /start, sends there, and answers 'where is my order'", async () => {
    const { ws, keys } = await start();
    answer = (r) =>
      r.path.startsWith("/bot123:abc/")
        ? {
            status: 200,
            body: {
              ok: true,
              result: r.path.endsWith("sendMessage")
                ? { message_id: 77 }
                : true,
            },
          }
        : { status: 404, body: { ok: false } };
    await patchSettings(herald, keys.secretKey, {
      storeName: "Fern & Co",
      telegram: {
        botToken: "123:abc",
        botUsername: "fern_bot",
        baseUrl: fake.url,
      },
    });
    const profileId = await identify(herald, keys, "u-tg", {
      email: "tg@example.com",
    });
    await fetch(`${herald.url}/v1/track`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: basic(keys.writeKey),
      },
      body: JSON.stringify({
        userId: "u-tg",
        event: "Order Completed",
        properties: {
          order_id: "1042",
          total: 59,
          products: [{ product_id: "p1", price: 59, quantity: 1 }],
        },
      }),
    });
    await settle(herald);
    const link = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}/telegram-link`,
    );
    assert.match(
      link.body.url,
      /^https:\/\/t\.me\/fern_bot\?start=[A-Za-z0-9_-]{1,64}$/,
    );
    const registered = await api(
      herald,
      keys.secretKey,
      "POST",
      "/api/messages/telegram/webhook",
    );
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    const setWebhook = JSON.parse(
      fake.requests.find((r) => r.path.endsWith("/setWebhook"))?.body ?? "{}",
    ) as { url: string; secret_token: string };
    const hook = new URL(setWebhook.url).pathname;
    const update = (text: string, secret = setWebhook.secret_token) =>
      post(
        hook,
        {
          update_id: 1,
          message: {
            message_id: 1,
            chat: { id: 5550001, type: "private" },
            from: { id: 5550001, username: "dee" },
            text,
          },
        },
        { "x-telegram-bot-api-secret-token": secret },
      );
    const replies = () =>
      fake.requests
        .filter((r) => r.path.endsWith("/sendMessage"))
        .map((r) => JSON.parse(r.body) as { chat_id: string; text: string });

    assert.equal((await update("/start x", "wrong")).status, 403);
    await update("where is my order?");
    assert.match(replies().at(-1)?.text ?? "", /don't know who you are/);
    await update(`/start ${link.body.token}`);
    assert.match(replies().at(-1)?.text ?? "", /connected to Fern & Co/);
    await update("Where is my order?");
    assert.match(
      replies().at(-1)?.text ?? "",
      /Your order 1042 \(placed 2026-01-05\) has been received/,
    );

    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "telegram",
      idempotencyKey: "tg-1",
      content: {
        text: "Your cart misses you",
        buttons: [{ text: "Open cart", url: "https://fern.example/cart" }],
      },
    });
    await herald.sender.drain(ws.id);
    const sent = replies().at(-1) as unknown as {
      chat_id: string;
      text: string;
      reply_markup: unknown;
    };
    assert.deepEqual(sent, {
      chat_id: "5550001",
      text: "Your cart misses you",
      reply_markup: {
        inline_keyboard: [
          [{ text: "Open cart", url: "https://fern.example/cart" }],
        ],
      },
    });
    const row = await getMessage(herald, keys.secretKey, id);
    assert.deepEqual([row.status, row.providerMessageId], ["sent", "77"]);
    await update("/stop");
    const profile = await api(
      herald,
      keys.secretKey,
      "GET",
      `/api/profiles/${profileId}`,
    );
    assert.equal(profile.body.consent.telegram.status, "unsubscribed");
  });

  it("signs webhooks with HMAC-SHA256 and a timestamp, and retries them with backoff", async () => {
    const { ws, keys } = await start();
    let failures = 1;
    answer = () =>
      failures-- > 0 ? { status: 503, body: {} } : { status: 204 };
    const profileId = await identify(herald, keys, "u-wh", {
      email: "wh@example.com",
    });
    const id = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "webhook",
      to: `${fake.url}/crm`,
      idempotencyKey: "wh-1",
      content: { body: { event: "vip", email: "wh@example.com" } },
    });
    await herald.sender.drain(ws.id);
    const waiting = await getMessage(herald, keys.secretKey, id);
    assert.equal(waiting.status, "queued");
    assert.match(waiting.reason, /HTTP 503/);
    clock.advance(31 * ms.second);
    await herald.sender.drain(ws.id);
    assert.equal((await getMessage(herald, keys.secretKey, id)).status, "sent");
    assert.equal(fake.requests.length, 2);
    const { secret } = (
      await api(herald, keys.secretKey, "GET", "/api/messages/webhook-secret")
    ).body as { secret: string };
    for (const r of fake.requests) {
      assert.deepEqual(JSON.parse(r.body), {
        event: "vip",
        email: "wh@example.com",
      });
      assert.equal(r.headers["x-herald-delivery"], id);
      const timestamp = String(r.headers["x-herald-timestamp"]);
      assert.equal(
        r.headers["x-herald-signature"],
        `v1=${createHmac("sha256", secret).update(`${timestamp}.${r.body}`).digest("hex")}`,
      );
    }
  });

  it("counts SMS clicks and push opens in engagement segments, by channel or any", async () => {
    const { ws, keys } = await start();
    answer = (r) =>
      r.path === "/sms"
        ? { status: 200, body: { id: "gw-7" } }
        : { status: 201, body: {}, headers: { location: `${fake.url}/m/1` } };
    await patchSettings(herald, keys.secretKey, {
      sms: {
        provider: "http",
        url: `${fake.url}/sms`,
        from: "Fern",
        trackClicks: true,
      },
    });
    const profileId = await identify(herald, keys, "u-engaged", {
      phone: "+14155550123",
      sms_consent: true,
    });
    const { generateKeyPairSync, randomBytes } = await import("node:crypto");
    const jwk = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
    }).publicKey.export({ format: "jwk" });
    const subscribed = await post(
      "/v1/push/subscriptions",
      {
        userId: "u-engaged",
        subscription: {
          endpoint: `${fake.url}/push/browser`,
          keys: {
            p256dh: Buffer.concat([
              Buffer.from([4]),
              Buffer.from(jwk.x ?? "", "base64url"),
              Buffer.from(jwk.y ?? "", "base64url"),
            ]).toString("base64url"),
            auth: randomBytes(16).toString("base64url"),
          },
        },
      },
      { authorization: basic(keys.writeKey) },
    );
    assert.equal(subscribed.status, 201, subscribed.text);
    const refused = await api(herald, keys.secretKey, "POST", "/api/segments", {
      name: "Opened a text",
      definition: { type: "message", action: "opened", channel: "sms" },
    });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /SMS has no opens/);
    const definitions = {
      smsClicked: {
        type: "message",
        action: "clicked",
        channel: "sms",
        withinDays: 7,
      },
      pushOpened: {
        type: "message",
        action: "opened",
        channel: "push",
        withinDays: 7,
      },
      anyClicked: { type: "message", action: "clicked", channel: "any" },
      anyOpened: { type: "message", action: "opened", channel: "any" },
      emailClicked: { type: "message", action: "clicked" },
    };
    const ids: Record<string, string> = {};
    for (const [name, definition] of Object.entries(definitions)) {
      const created = await api(
        herald,
        keys.secretKey,
        "POST",
        "/api/segments",
        {
          name,
          definition,
        },
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids[name] = created.body.id as string;
    }
    await settle(herald);

    const sms = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "sms",
      idempotencyKey: "sale-sms",
      content: { text: "Spring sale: https://fern.example/sale." },
    });
    const push = await queueMessage(herald, {
      workspaceId: ws.id,
      profileId,
      channel: "push",
      idempotencyKey: "sale-push",
      content: {
        title: "Spring sale",
        body: "20% off",
        url: "https://fern.example/new",
      },
    });
    await herald.sender.drain(ws.id);
    const text = (
      JSON.parse(
        fake.requests.find((r) => r.path === "/sms")?.body ?? "{}",
      ) as { text: string }
    ).text;
    const smsLink = /(https?:\/\/\S+\/t\/c\/\S+?)\.$/.exec(text)?.[1];
    assert.ok(smsLink, `a tracked link in ${text}`);
    // The link the notification opens (its payload is encrypted for the browser).
    const secrets = new MessagingSecrets(db(), clock);
    await secrets.load(ws.id);
    const pushLink = trackingUrl(
      { publicUrl: herald.url, secrets },
      { workspace_id: ws.id, id: push },
      "c",
    );

    clock.advance(ms.minute);
    for (const [link, target] of [
      [smsLink, "https://fern.example/sale"],
      [pushLink, "https://fern.example/new"],
    ] as const) {
      const followed = await fetch(local(herald, link), { redirect: "manual" });
      assert.equal(followed.status, 302);
      assert.match(
        followed.headers.get("location") ?? "",
        new RegExp(`^${target}`),
      );
    }
    await settle(herald);
    assert.equal(
      (await getMessage(herald, keys.secretKey, sms)).status,
      "clicked",
    );

    for (const [name, expected] of [
      ["smsClicked", 1],
      ["pushOpened", 1],
      ["anyClicked", 1],
      ["anyOpened", 1],
      ["emailClicked", 0],
    ] as const) {
      const segment = await api(
        herald,
        keys.secretKey,
        "GET",
        `/api/segments/${ids[name]}`,
      );
      assert.equal(segment.body.memberCount, expected, `${name}: live members`);
      const preview = await api(
        herald,
        keys.secretKey,
        "POST",
        "/api/segments/preview",
        {
          definition: definitions[name],
        },
      );
      assert.equal(preview.body.count, expected, `${name}: bulk count`);
    }
  });
});
