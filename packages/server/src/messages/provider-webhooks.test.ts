import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { afterEach, it } from "node:test";
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
  fakeSns,
  sendgridHeaders,
  sendgridKeys,
  signSnsMessage,
  snsCertUrl,
  testCertificate,
} from "../testing/provider-signing.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

const certificate = testCertificate();

describeOnDatabases("provider webhooks", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  let sns: ReturnType<typeof fakeSns>;
  afterEach(() => herald.close());

  /** Herald, a workspace, one sent email per name, and the webhook paths. */
  async function start(names: string[]) {
    clock = new ManualClock("2026-01-05T12:00:00Z");
    sns = fakeSns(certificate.pem);
    herald = await startTestHerald(db(), { clock, snsFetch: sns.fetch });
    const ws = await createTestWorkspace(db(), clock);
    const keys = { writeKey: ws.writeKey, secretKey: ws.secretKey };
    const ids: Record<string, string> = {};
    for (const name of names) {
      const profileId = await identify(herald, keys, `u-${name}`, {
        email: `${name}@example.com`,
        email_consent: true,
      });
      ids[name] = await queueMessage(herald, {
        workspaceId: ws.id,
        profileId,
        channel: "email",
        idempotencyKey: `news-${name}`,
        content: { subject: "News", text: "hi" },
      });
    }
    await herald.sender.drain(ws.id);
    const hooks = (
      await api(herald, ws.secretKey, "GET", "/api/messages/providers")
    ).body.webhookUrls as Record<string, string>;
    const status = async (name: string) =>
      (await getMessage(herald, ws.secretKey, ids[name] ?? "")).status;
    return { ws, keys, ids, hooks, status };
  }

  async function post(
    url: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const response = await fetch(local(herald, url), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) };
  }

  const sesBounce = (messageId: string, address: string) =>
    JSON.stringify({
      notificationType: "Bounce",
      mail: {
        messageId: `ses-${address}`,
        commonHeaders: { messageId: `<${messageId}@localhost.localdomain>` },
      },
      bounce: {
        bounceType: "Permanent",
        bounceSubType: "General",
        bouncedRecipients: [{ emailAddress: address }],
      },
    });

  it("accepts SES notifications only with SNS's signature, from a certificate on an SNS host", async () => {
    const { ids, hooks, status } = await start(["v1", "v2", "forged"]);
    const now = clock.now().toISOString();
    const sesPost = (message: Record<string, string>) =>
      post(hooks.ses ?? "", JSON.stringify(message), {
        "content-type": "text/plain; charset=UTF-8",
      });

    for (const version of ["1", "2"] as const) {
      const name = `v${version}`;
      const signed = signSnsMessage(
        {
          Type: "Notification",
          Message: sesBounce(ids[name] ?? "", `${name}@example.com`),
          Timestamp: now,
        },
        certificate.privateKey,
        { version },
      );
      const accepted = await sesPost(signed);
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      assert.equal(accepted.body.matched, 1);
      assert.equal(await status(name), "bounced");
    }
    assert.deepEqual(sns.requested, [snsCertUrl], "the certificate is cached");

    const genuine = signSnsMessage(
      {
        Type: "Notification",
        Message: sesBounce(ids.forged ?? "", "someone@example.com"),
        Timestamp: now,
      },
      certificate.privateKey,
    );
    const tampered = await sesPost({
      ...genuine,
      Message: sesBounce(ids.forged ?? "", "forged@example.com"),
    });
    assert.equal(tampered.status, 401);
    assert.match(tampered.body.error.message, /signature does not match/);
    const unsigned = await sesPost({
      Type: "Notification",
      Message: sesBounce(ids.forged ?? "", "forged@example.com"),
    });
    assert.equal(unsigned.status, 401);
    assert.match(unsigned.body.error.message, /not a signed SNS message/);

    // A certificate anywhere but https://sns.<region>.amazonaws.com is never fetched.
    for (const certUrl of [
      "https://evil.example/SimpleNotificationService.pem",
      "http://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
      "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
      "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    ]) {
      const elsewhere = await sesPost(
        signSnsMessage(
          {
            Type: "Notification",
            Message: sesBounce(ids.forged ?? "", "forged@example.com"),
            Timestamp: now,
          },
          certificate.privateKey,
          { certUrl },
        ),
      );
      assert.equal(elsewhere.status, 401, certUrl);
      assert.match(elsewhere.body.error.message, /SigningCertURL/);
    }
    assert.deepEqual(sns.requested, [snsCertUrl]);

    const replayed = await sesPost(
      signSnsMessage(
        {
          Type: "Notification",
          Message: sesBounce(ids.forged ?? "", "forged@example.com"),
          Timestamp: new Date(
            clock.now().getTime() - 2 * ms.hour,
          ).toISOString(),
        },
        certificate.privateKey,
      ),
    );
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.error.message, /replay/);
    assert.equal(await status("forged"), "sent");

    // A subscription is confirmed at its SubscribeURL, only when that is on SNS too.
    const confirmation = (subscribeUrl: string) =>
      sesPost(
        signSnsMessage(
          {
            Type: "SubscriptionConfirmation",
            Message: "You have chosen to subscribe to the topic",
            Timestamp: now,
            Token: "2336412f37fb687f5d51e6e2425c464de",
            SubscribeURL: subscribeUrl,
          },
          certificate.privateKey,
          { version: "2" },
        ),
      );
    const subscribe =
      "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:ses-notifications&Token=2336412f";
    const confirmed = await confirmation(subscribe);
    assert.deepEqual(
      [confirmed.status, confirmed.body],
      [200, { confirmed: true }],
    );
    const elsewhere = await confirmation("https://evil.example/?Action=x");
    assert.deepEqual(elsewhere.body, { confirmed: false });
    assert.deepEqual(sns.requested, [snsCertUrl, subscribe]);
  });

  it("keeps SES notifications to the topics in email.sesTopicArns", async () => {
    const { ws, ids, hooks, status } = await start(["topic"]);
    await patchSettings(herald, ws.secretKey, {
      email: { sesTopicArns: ["arn:aws:sns:eu-west-1:123456789012:mine"] },
    });
    const message = (TopicArn: string) =>
      post(
        hooks.ses ?? "",
        JSON.stringify(
          signSnsMessage(
            {
              Type: "Notification",
              Message: sesBounce(ids.topic ?? "", "topic@example.com"),
              Timestamp: clock.now().toISOString(),
              TopicArn,
            },
            certificate.privateKey,
          ),
        ),
        { "content-type": "text/plain" },
      );
    const other = await message("arn:aws:sns:us-east-1:999999999999:theirs");
    assert.equal(other.status, 403);
    assert.match(other.body.error.message, /email\.sesTopicArns/);
    assert.equal(await status("topic"), "sent");
    const mine = await message("arn:aws:sns:eu-west-1:123456789012:mine");
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal(await status("topic"), "bounced");
  });

  it("accepts SendGrid events only signed with the workspace's verification key, and recent", async () => {
    const { ws, ids, hooks, status } = await start(["sg", "old"]);
    const { verificationKey, privateKey } = sendgridKeys();
    const body = (name: string) =>
      JSON.stringify([
        {
          email: `${name}@example.com`,
          event: "bounce",
          type: "bounce",
          "smtp-id": `<${ids[name]}@localhost.localdomain>`,
          timestamp: Math.floor(clock.now().getTime() / 1000),
        },
      ]);

    const unconfigured = await post(
      hooks.sendgrid ?? "",
      body("sg"),
      sendgridHeaders(privateKey, body("sg"), clock.now()),
    );
    assert.equal(unconfigured.status, 403);
    assert.match(unconfigured.body.error.message, /sendgridVerificationKey/);

    const bad = await api(
      herald,
      ws.secretKey,
      "PATCH",
      "/api/workspace/settings",
      {
        email: {
          sendgridVerificationKey:
            "bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIGJ5dGVzIQ==",
        },
      },
    );
    assert.equal(bad.status, 400);
    assert.equal(
      bad.body.error.details[0].path,
      "/email/sendgridVerificationKey",
    );
    await patchSettings(herald, ws.secretKey, {
      email: { sendgridVerificationKey: verificationKey },
    });

    const unsigned = await post(hooks.sendgrid ?? "", body("sg"));
    assert.equal(unsigned.status, 401);
    const other = sendgridKeys();
    const forged = await post(
      hooks.sendgrid ?? "",
      body("sg"),
      sendgridHeaders(other.privateKey, body("sg"), clock.now()),
    );
    assert.equal(forged.status, 401);
    assert.match(forged.body.error.message, /does not match/);
    const altered = await post(
      hooks.sendgrid ?? "",
      body("sg").replace("bounce", "delivered"),
      sendgridHeaders(privateKey, body("sg"), clock.now()),
    );
    assert.equal(altered.status, 401);
    const replayed = await post(
      hooks.sendgrid ?? "",
      body("old"),
      sendgridHeaders(
        privateKey,
        body("old"),
        new Date(clock.now().getTime() - 10 * ms.minute),
      ),
    );
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.error.message, /replayed/);
    assert.equal(await status("sg"), "sent");
    assert.equal(await status("old"), "sent");

    const signed = await post(
      hooks.sendgrid ?? "",
      body("sg"),
      sendgridHeaders(privateKey, body("sg"), clock.now()),
    );
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.equal(await status("sg"), "bounced");
  });

  it("accepts Mailgun events only with the signing key's HMAC of a recent timestamp", async () => {
    const { ws, ids, hooks, status } = await start(["mg"]);
    const event = {
      event: "failed",
      severity: "permanent",
      recipient: "mg@example.com",
      message: { headers: { "message-id": `${ids.mg}@localhost.localdomain` } },
    };
    const signed = (key: string, at: Date, token = "a".repeat(50)) => {
      const timestamp = String(Math.floor(at.getTime() / 1000));
      return {
        signature: {
          timestamp,
          token,
          signature: createHmac("sha256", key)
            .update(timestamp + token)
            .digest("hex"),
        },
        "event-data": event,
      };
    };
    const unconfigured = await post(
      hooks.mailgun ?? "",
      signed("k", clock.now()),
    );
    assert.equal(unconfigured.status, 403);
    assert.match(unconfigured.body.error.message, /mailgunSigningKey/);
    await patchSettings(herald, ws.secretKey, {
      email: { mailgunSigningKey: "key-3ax6xnjp29jd6fds4gc373sgvjxteol0" },
    });
    const unsigned = await post(hooks.mailgun ?? "", { "event-data": event });
    assert.equal(unsigned.status, 401);
    const forged = await post(
      hooks.mailgun ?? "",
      signed("guess", clock.now()),
    );
    assert.equal(forged.status, 401);
    const replayed = await post(
      hooks.mailgun ?? "",
      signed(
        "key-3ax6xnjp29jd6fds4gc373sgvjxteol0",
        new Date(clock.now().getTime() - ms.hour),
      ),
    );
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.error.message, /replayed/);
    assert.equal(await status("mg"), "sent");
    const ok = await post(
      hooks.mailgun ?? "",
      signed("key-3ax6xnjp29jd6fds4gc373sgvjxteol0", clock.now()),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await status("mg"), "bounced");
  });

  it("accepts Postmark events only with the configured basic auth, and never shows its password", async () => {
    const { ws, ids, hooks, status } = await start(["pm"]);
    const record = {
      RecordType: "Delivery",
      Recipient: "pm@example.com",
      MessageID: "pm-1",
      Metadata: { herald_message_id: ids.pm },
    };
    const basic = (user: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
    });
    const unconfigured = await post(
      hooks.postmark ?? "",
      record,
      basic("pm", "x"),
    );
    assert.equal(unconfigured.status, 403);
    assert.match(unconfigured.body.error.message, /postmarkWebhookAuth/);
    await patchSettings(herald, ws.secretKey, {
      email: {
        postmarkWebhookAuth: {
          username: "postmark",
          password: "correct-horse-battery",
        },
      },
    });
    const shown = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/workspace/settings",
    );
    assert.deepEqual(shown.body.email.postmarkWebhookAuth, {
      username: "postmark",
      password: "••••••••tery",
    });
    assert.equal((await post(hooks.postmark ?? "", record)).status, 401);
    assert.equal(
      (
        await post(
          hooks.postmark ?? "",
          record,
          basic("postmark", "wrong-horse-battery"),
        )
      ).status,
      401,
    );
    assert.equal(await status("pm"), "sent");
    const ok = await post(
      hooks.postmark ?? "",
      record,
      basic("postmark", "correct-horse-battery"),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await status("pm"), "delivered");
  });

  it("answers 400 with the path of the problem to bodies a provider would not send, and reads the rest of a SendGrid batch", async () => {
    const { ws, ids, hooks, status } = await start(["good", "other"]);
    const sendgrid = sendgridKeys();
    const mailgunKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    const postmark = {
      username: "postmark",
      password: "correct-horse-battery",
    };
    await patchSettings(herald, ws.secretKey, {
      email: {
        sendgridVerificationKey: sendgrid.verificationKey,
        mailgunSigningKey: mailgunKey,
        postmarkWebhookAuth: postmark,
      },
    });
    const refused = (r: { status: number; body: any }, path: string) => {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "invalid");
      assert.equal(r.body.error.details[0].path, path, JSON.stringify(r.body));
    };

    const ses = (Message: string) =>
      post(
        hooks.ses ?? "",
        JSON.stringify(
          signSnsMessage(
            {
              Type: "Notification",
              Message,
              Timestamp: clock.now().toISOString(),
            },
            certificate.privateKey,
          ),
        ),
        { "content-type": "text/plain" },
      );
    refused(await ses("not json {"), "/body/Message");
    refused(
      await ses(
        JSON.stringify({
          notificationType: "Bounce",
          mail: { messageId: "m-1" },
          bounce: {
            bounceType: "Permanent",
            bouncedRecipients: "good@example.com",
          },
        }),
      ),
      "/body/Message/bounce/bouncedRecipients",
    );

    const sendgridPost = (body: unknown) => {
      const text = JSON.stringify(body);
      return post(
        hooks.sendgrid ?? "",
        text,
        sendgridHeaders(sendgrid.privateKey, text, clock.now()),
      );
    };
    refused(await sendgridPost({ event: "bounce" }), "/body");
    refused(await sendgridPost([null]), "/body/0");
    const mixed = await sendgridPost([
      null,
      {
        email: "good@example.com",
        event: "bounce",
        type: "bounce",
        "smtp-id": `<${ids.good}@localhost.localdomain>`,
      },
      { email: "other@example.com", event: 5 },
    ]);
    assert.equal(mixed.status, 200, JSON.stringify(mixed.body));
    assert.equal(mixed.body.matched, 1);
    assert.deepEqual(
      mixed.body.rejected.map((r: { index: number; path: string }) => [
        r.index,
        r.path,
      ]),
      [
        [0, "/body/0"],
        [2, "/body/2/event"],
      ],
    );
    assert.equal(await status("good"), "bounced");
    assert.equal(await status("other"), "sent");

    const basic = {
      authorization: `Basic ${Buffer.from(`${postmark.username}:${postmark.password}`).toString("base64")}`,
    };
    refused(await post(hooks.postmark ?? "", [], basic), "/body");
    refused(
      await post(
        hooks.postmark ?? "",
        { RecordType: "Bounce", Email: 5 },
        basic,
      ),
      "/body/Email",
    );

    const mailgun = (eventData: unknown) => {
      const timestamp = String(Math.floor(clock.now().getTime() / 1000));
      const token = "b".repeat(50);
      return post(hooks.mailgun ?? "", {
        signature: {
          timestamp,
          token,
          signature: createHmac("sha256", mailgunKey)
            .update(timestamp + token)
            .digest("hex"),
        },
        "event-data": eventData,
      });
    };
    refused(await mailgun("failed"), "/body/event-data");
    refused(
      await mailgun({ event: "failed", recipient: ["other@example.com"] }),
      "/body/event-data/recipient",
    );

    refused(
      await post(hooks.twilio ?? "", { From: "+14155550100", Body: 5 }),
      "/body/Body",
    );
    assert.equal(await status("other"), "sent");
  });
});

describeOnDatabases("provider webhooks under load", (db) => {
  it("takes concurrent SendGrid bounces for the same messages, in any order, without a deadlock", async () => {
    const clock = new ManualClock("2026-01-05T12:00:00Z");
    const herald = await startTestHerald(db(), { clock });
    try {
      const ws = await createTestWorkspace(db(), clock);
      const keys = { writeKey: ws.writeKey, secretKey: ws.secretKey };
      const { verificationKey, privateKey } = sendgridKeys();
      await patchSettings(herald, ws.secretKey, {
        email: { sendgridVerificationKey: verificationKey },
      });
      const messages: { id: string; email: string }[] = [];
      for (let i = 0; i < 8; i++) {
        const email = `load${i}@example.com`;
        const profileId = await identify(herald, keys, `u-load${i}`, {
          email,
          email_consent: true,
        });
        const id = await queueMessage(herald, {
          workspaceId: ws.id,
          profileId,
          channel: "email",
          idempotencyKey: `load-${i}`,
          content: { subject: "News", text: "hi" },
        });
        messages.push({ id, email });
      }
      await herald.sender.drain(ws.id);
      const hook = (
        await api(herald, ws.secretKey, "GET", "/api/messages/providers")
      ).body.webhookUrls.sendgrid as string;
      // SendGrid batches the same messages' events differently on every retry.
      const batch = (k: number) => {
        const turn = k % messages.length;
        const order = [...messages.slice(turn), ...messages.slice(0, turn)];
        return JSON.stringify(
          (k % 2 ? order.reverse() : order).map((m) => ({
            email: m.email,
            event: "bounce",
            type: "bounce",
            reason: "550 5.1.1 unknown user",
            "smtp-id": `<${m.id}@localhost.localdomain>`,
          })),
        );
      };
      const responses = await Promise.all(
        Array.from({ length: 12 }, async (_, k) => {
          const body = batch(k);
          const response = await fetch(local(herald, hook), {
            method: "POST",
            headers: {
              "content-type": "application/json",
              ...sendgridHeaders(privateKey, body, clock.now()),
            },
            body,
          });
          return `${response.status} ${await response.text()}`;
        }),
      );
      for (const r of responses) assert.match(r, /^200 /, r);
      for (const m of messages)
        assert.equal(
          (await getMessage(herald, ws.secretKey, m.id)).status,
          "bounced",
        );
      const suppressed = await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/suppressions",
      );
      assert.equal(suppressed.body.items.length, messages.length);
    } finally {
      await herald.close();
    }
  });
});
