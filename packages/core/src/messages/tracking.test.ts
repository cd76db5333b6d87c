import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addOpenPixel,
  asksForOrderStatus,
  classifyInteraction,
  encodeToken,
  rewriteLinks,
  smsKeyword,
  telegramStartToken,
  verifyTelegramStartToken,
  verifyToken,
  withUtm,
  type Signer,
} from "./tracking.ts";
import { advanceStatus, checkEnqueueRequest } from "./ledger.ts";

// A toy signer: real signing is HMAC-SHA256 in the server.
const sign: Signer = (ws, payload) => {
  let h = 7;
  for (const c of `${ws}|${payload}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `sig${h.toString(36)}`.padEnd(22, "x");
};
const messageId = "019b8d5e-0000-7000-8000-000000000001";

describe("tracking", () => {
  it("signs tokens and refuses altered ones", () => {
    const token = encodeToken(
      { kind: "c", workspaceId: "ws_abc", messageId, link: 3 },
      sign,
    );
    assert.deepEqual(verifyToken(token, sign), {
      kind: "c",
      workspaceId: "ws_abc",
      messageId,
      link: 3,
    });
    assert.equal(verifyToken(token.replace(".3.", ".4."), sign), undefined);
    assert.equal(
      verifyToken(token.replace("ws_abc", "ws_abd"), sign),
      undefined,
    );
    assert.equal(verifyToken("garbage", sign), undefined);
  });

  it("makes Telegram /start tokens that fit Telegram's 64 characters", () => {
    const token = telegramStartToken("ws_abc", messageId, sign);
    assert.ok(token.length <= 64 && /^[A-Za-z0-9_-]+$/.test(token));
    assert.equal(verifyTelegramStartToken("ws_abc", token, sign), messageId);
    assert.equal(verifyTelegramStartToken("ws_other", token, sign), undefined);
  });

  it("rewrites http links to tracked ones with UTM, leaving mailto, anchors and unsubscribe alone", () => {
    const html = `<a href="https://shop.example/p?id=1&amp;x=2">A</a> <a href='mailto:a@b.c'>M</a> <a href="#top">T</a> <a href="https://herald/u/tok">U</a> <a data-herald-notrack href="https://shop.example/raw">R</a> <a class="b" href="https://shop.example/?utm_source=mine">S</a>`;
    const out = rewriteLinks(html, {
      utm: { source: "herald", medium: "email", campaign: "spring" },
      trackUrl: (i) => `https://herald/t/c/${i}`,
      keep: ["https://herald/u/tok"],
    });
    assert.deepEqual(out.links, [
      "https://shop.example/p?id=1&x=2&utm_source=herald&utm_medium=email&utm_campaign=spring",
      "https://shop.example/?utm_source=mine&utm_medium=email&utm_campaign=spring",
    ]);
    assert.match(out.html, /href="https:\/\/herald\/t\/c\/0"/);
    assert.match(out.html, /href="https:\/\/herald\/t\/c\/1"/);
    assert.match(out.html, /mailto:a@b.c/);
    assert.match(out.html, /href="https:\/\/herald\/u\/tok"/);
    assert.match(out.html, /href="https:\/\/shop.example\/raw"/);
    assert.equal(
      withUtm("tel:+1", { source: "a", medium: "b", campaign: "c" }),
      "tel:+1",
    );
  });

  it("decodes every HTML entity of a tracked link and escapes what it writes back", () => {
    const html = `<a href="https://shop.example/s?q=&quot;red&quot;&amp;n=it&#39;s&amp;p=a&#x2F;b&amp;m=&lt;3&amp;c=&copy;">S</a>`;
    const decoded = `https://shop.example/s?q="red"&n=it's&p=a/b&m=<3&c=©`;
    const tracked = rewriteLinks(html, {
      utm: undefined,
      trackUrl: (i) => `https://herald/t/c/${i}`,
      keep: [],
    });
    assert.deepEqual(tracked.links, [decoded]);
    const untracked = rewriteLinks(html, {
      utm: undefined,
      trackUrl: undefined,
      keep: [],
    });
    assert.equal(
      untracked.html,
      `<a href="https://shop.example/s?q=&quot;red&quot;&amp;n=it&#39;s&amp;p=a/b&amp;m=&lt;3&amp;c=©">S</a>`,
    );
    assert.deepEqual(
      rewriteLinks(`<a href="https://herald/u/a&amp;b">U</a>`, {
        utm: undefined,
        trackUrl: (i) => `https://herald/t/c/${i}`,
        keep: ["https://herald/u/a&b"],
      }).links,
      [],
    );
  });

  it("puts the open pixel before </body>", () => {
    assert.match(
      addOpenPixel("<html><body><p>x</p></body></html>", "https://h/t/o/1"),
      /<img src="https:\/\/h\/t\/o\/1"[^>]*\/><\/body>/,
    );
  });

  it("tells people from privacy proxies and scanners", () => {
    const sentAt = new Date("2026-01-05T09:00:00Z");
    const later = new Date("2026-01-05T10:00:00Z");
    const browser =
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";
    assert.deepEqual(
      classifyInteraction({
        kind: "open",
        userAgent: "Mozilla/5.0",
        ip: "17.58.1.2",
        at: later,
        sentAt,
      }),
      { human: false, reason: "apple_mail_privacy_protection" },
    );
    assert.equal(
      classifyInteraction({
        kind: "open",
        userAgent: browser,
        ip: "17.1.1.1",
        at: later,
        sentAt,
      }).human,
      false,
    );
    assert.equal(
      classifyInteraction({
        kind: "open",
        userAgent:
          "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        at: later,
        sentAt,
      }).human,
      true,
    );
    assert.equal(
      classifyInteraction({
        kind: "open",
        userAgent: browser,
        ip: "203.0.113.9",
        at: later,
        sentAt,
      }).human,
      true,
    );
    assert.deepEqual(
      classifyInteraction({
        kind: "click",
        userAgent: browser,
        at: new Date(sentAt.getTime() + 3000),
        sentAt,
      }),
      { human: false, reason: "clicked_seconds_after_delivery" },
    );
    assert.equal(
      classifyInteraction({
        kind: "click",
        userAgent: "Barracuda Sentinel (EE)",
        at: later,
        sentAt,
      }).reason,
      "scanner_user_agent",
    );
    assert.equal(
      classifyInteraction({
        kind: "click",
        userAgent: browser,
        at: later,
        sentAt,
        recentClicks: 2,
      }).reason,
      "click_burst",
    );
    assert.equal(
      classifyInteraction({
        kind: "click",
        userAgent: browser,
        at: later,
        sentAt,
        recentClicks: 0,
      }).human,
      true,
    );
  });

  it("reads SMS keywords and order questions", () => {
    assert.equal(smsKeyword(" stop "), "stop");
    assert.equal(smsKeyword("Unsubscribe."), "stop");
    assert.equal(smsKeyword("START"), "start");
    assert.equal(smsKeyword("stop sending me deals please"), undefined);
    assert.ok(asksForOrderStatus("Where is my order?"));
    assert.ok(asksForOrderStatus("/order"));
    assert.ok(!asksForOrderStatus("hello"));
  });
});

describe("the ledger", () => {
  it("moves engagement forward only, with bounces and complaints on top", () => {
    assert.equal(advanceStatus("sent", "opened"), "opened");
    assert.equal(advanceStatus("clicked", "opened"), "clicked");
    assert.equal(advanceStatus("opened", "delivered"), "opened");
    assert.equal(advanceStatus("clicked", "complained"), "complained");
    assert.equal(advanceStatus("queued", "opened"), "queued");
  });

  it("refuses a message with neither template nor content, and names the field", () => {
    assert.throws(
      () =>
        checkEnqueueRequest({
          workspaceId: "w",
          profileId: "p",
          channel: "email",
          source: { kind: "test" },
          idempotencyKey: "k",
          transactional: false,
        }),
      (e: Error & { details?: { path: string }[] }) =>
        e.details?.[0]?.path === "/templateId",
    );
    assert.throws(
      () =>
        checkEnqueueRequest({
          workspaceId: "w",
          profileId: "p",
          channel: "email",
          content: { html: "<p>x</p>" },
          source: { kind: "test" },
          idempotencyKey: "k",
          transactional: false,
        }),
      /subject/,
    );
    assert.throws(
      () =>
        checkEnqueueRequest({
          workspaceId: "w",
          profileId: "p",
          channel: "webhook",
          content: { body: {} },
          source: { kind: "test" },
          idempotencyKey: "k",
          transactional: false,
        }),
      /URL/,
    );
  });
});
