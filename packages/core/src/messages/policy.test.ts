import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock, ms } from "../clock.ts";
import {
  capFreesAt,
  decide,
  quietHoursEnd,
  type PolicyInput,
} from "./policy.ts";

const subscribed = {
  status: "subscribed" as const,
  at: "2026-01-01T00:00:00Z",
  source: "identify",
};

function input(over: Partial<PolicyInput> = {}): PolicyInput {
  return {
    channel: "email",
    transactional: false,
    now: new Date("2026-01-05T12:00:00Z"),
    address: "ana@example.com",
    consent: subscribed,
    consentMode: "explicit",
    frequency: { cap: { messages: 2, hours: 24 }, obey: true, sentInWindow: 0 },
    quietHours: {
      window: { start: "21:00", end: "08:00" },
      obey: true,
      timeZone: "Europe/Berlin",
    },
    ...over,
  };
}

describe("the sending policy", () => {
  it("sends marketing to a subscribed profile outside quiet hours and under the cap", () => {
    assert.equal(decide(input()).action, "send");
  });

  it("checks in order: consent before list before suppression before cap", () => {
    const everything = input({
      consent: { ...subscribed, status: "unsubscribed" },
      list: { id: "news", status: "unsubscribed" },
      suppression: "complaint",
      frequency: {
        cap: { messages: 1, hours: 24 },
        obey: true,
        sentInWindow: 5,
      },
    });
    assert.equal(decide(everything).step, "consent");
    assert.equal(decide({ ...everything, consent: subscribed }).step, "list");
    assert.equal(
      decide({
        ...everything,
        consent: subscribed,
        list: { id: "news", status: "subscribed" },
      }).step,
      "suppression",
    );
    const { suppression: _s, ...unsuppressed } = everything;
    assert.equal(
      decide({
        ...unsuppressed,
        consent: subscribed,
        list: { id: "news", status: "subscribed" },
      }).step,
      "frequency_cap",
    );
  });

  it("needs explicit consent for marketing unless the workspace allows never-asked channels", () => {
    const { consent: _c, ...noRecord } = input();
    const d = decide({ ...noRecord, consent: undefined });
    assert.deepEqual([d.action, d.step], ["skip", "consent"]);
    assert.equal(
      decide({
        ...noRecord,
        consent: undefined,
        consentMode: "unless_unsubscribed",
      }).action,
      "send",
    );
    assert.equal(
      decide(input({ consent: { ...subscribed, status: "pending" } })).action,
      "skip",
    );
  });

  it("skips a recipient who paused marketing, until the pause ends", () => {
    const now = new Date("2026-01-05T12:00:00Z");
    assert.equal(
      decide(input({ pausedUntil: new Date(now.getTime() + ms.day) })).step,
      "consent",
    );
    assert.equal(
      decide(input({ pausedUntil: new Date(now.getTime() - 1) })).action,
      "send",
    );
  });

  it("lets transactional mail past consent, lists, cap, quiet hours and complaints, not hard bounces or manual suppression", () => {
    const night = new Date("2026-01-05T23:30:00Z");
    const t = input({
      transactional: true,
      now: night,
      consent: { ...subscribed, status: "unsubscribed" },
      list: { id: "news", status: "unsubscribed" },
      suppression: "complaint",
      frequency: {
        cap: { messages: 1, hours: 24 },
        obey: false,
        sentInWindow: 9,
      },
      quietHours: {
        window: { start: "21:00", end: "08:00" },
        obey: false,
        timeZone: "UTC",
      },
    });
    assert.deepEqual(decide(t), {
      action: "send",
      step: "send",
      reason: "transactional",
    });
    assert.equal(
      decide({ ...t, suppression: "hard_bounce" }).step,
      "suppression",
    );
    assert.equal(decide({ ...t, suppression: "manual" }).step, "suppression");
    assert.equal(
      decide({ ...t, channel: "sms", address: "+14155550100" }).step,
      "consent",
    );
  });

  it("skips a profile with no address for the channel", () => {
    const d = decide(input({ channel: "sms", address: undefined }));
    assert.equal(d.step, "address");
    assert.match(d.reason, /phone number/);
  });

  it("caps marketing per profile across channels as the clock moves", () => {
    const clock = new ManualClock("2026-01-05T12:00:00Z");
    const sent: Date[] = [];
    const cap = { messages: 2, hours: 24 };
    const attempt = () => {
      const now = clock.now();
      const inWindow = sent.filter(
        (at) => at.getTime() > now.getTime() - cap.hours * ms.hour,
      ).length;
      const d = decide(
        input({ now, frequency: { cap, obey: true, sentInWindow: inWindow } }),
      );
      if (d.action === "send") sent.push(now);
      return d;
    };
    assert.equal(attempt().action, "send");
    clock.advance(ms.hour);
    assert.equal(attempt().action, "send");
    clock.advance(ms.hour);
    const third = attempt();
    assert.deepEqual([third.action, third.step], ["skip", "frequency_cap"]);
    assert.match(third.reason, /2 marketing messages in the last 24 h/);
    clock.advance(22 * ms.hour + 1); // the first one leaves the window
    assert.equal(attempt().action, "send");
  });

  it("holds marketing over the cap until the message keeping it full leaves the window, or skips it when its step says so", () => {
    const now = new Date("2026-01-05T12:00:00Z");
    const cap = { messages: 2, hours: 24 };
    const sent = [
      new Date("2026-01-05T09:00:00Z"),
      new Date("2026-01-04T14:00:00Z"),
      new Date("2026-01-05T11:00:00Z"),
    ];
    // Three in the window, at most two: the second oldest (09:00) must leave it.
    const freesAt = capFreesAt(sent, cap);
    assert.equal(freesAt?.toISOString(), "2026-01-06T09:00:00.001Z");
    const frequency = { cap, obey: true, sentInWindow: 3, freesAt };
    const held = decide(input({ now, frequency }));
    assert.deepEqual(held.action === "defer" && [held.step, held.until], [
      "frequency_cap",
      freesAt,
    ]);
    assert.match(held.reason, /waits until 2026-01-06T09:00:00.001Z/);
    const dropped = decide(
      input({ now, frequency: { ...frequency, skipWhenCapped: true } }),
    );
    assert.deepEqual([dropped.action, dropped.step], ["skip", "frequency_cap"]);
    assert.equal(capFreesAt(sent.slice(0, 1), cap), undefined, "under the cap");
    assert.equal(
      decide(input({ now, transactional: true, frequency })).action,
      "send",
      "transactional mail is exempt",
    );
  });

  it("defers marketing in the recipient's quiet hours to the end of them, in their zone", () => {
    // 21:30 in Berlin (UTC+1 in January).
    const d = decide(input({ now: new Date("2026-01-05T20:30:00Z") }));
    assert.equal(d.action, "defer");
    assert.equal(
      d.action === "defer" && d.until.toISOString(),
      "2026-01-06T07:00:00.000Z",
    );
    // 07:59 Berlin is still quiet; 08:00 is not.
    assert.equal(
      decide(input({ now: new Date("2026-01-06T06:59:00Z") })).action,
      "defer",
    );
    assert.equal(
      decide(input({ now: new Date("2026-01-06T07:00:00Z") })).action,
      "send",
    );
    // Same instant, a shopper in New York (15:30 there) gets it now.
    assert.equal(
      decide(
        input({
          now: new Date("2026-01-05T20:30:00Z"),
          quietHours: {
            window: { start: "21:00", end: "08:00" },
            obey: true,
            timeZone: "America/New_York",
          },
        }),
      ).action,
      "send",
    );
  });

  it("finds the end of quiet hours across a daylight-saving change", () => {
    // Berlin springs forward on 2026-03-29 at 02:00; 08:00 local that day is 06:00 UTC.
    const end = quietHoursEnd(
      new Date("2026-03-28T22:00:00Z"),
      { start: "21:00", end: "08:00" },
      "Europe/Berlin",
    );
    assert.equal(end?.toISOString(), "2026-03-29T06:00:00.000Z");
    assert.equal(
      quietHoursEnd(
        new Date("2026-03-29T12:00:00Z"),
        { start: "21:00", end: "08:00" },
        "Europe/Berlin",
      ),
      undefined,
    );
    // A daytime window (start < end) and an unknown zone (UTC).
    assert.equal(
      quietHoursEnd(
        new Date("2026-01-05T13:00:00Z"),
        { start: "12:00", end: "14:00" },
        "Nowhere/Else",
      )?.toISOString(),
      "2026-01-05T14:00:00.000Z",
    );
  });

  it("sends webhooks with no consent, cap or quiet hours", () => {
    const d = decide(
      input({
        channel: "webhook",
        address: "https://crm.example/hook",
        consent: undefined,
        now: new Date("2026-01-05T23:00:00Z"),
      }),
    );
    assert.equal(d.action, "send");
  });
});
