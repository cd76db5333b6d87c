import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock, ms } from "@herald/core/clock";
import type { Database } from "../db/database.ts";
import { openPostgres } from "../db/postgres.ts";
import { silentLogger } from "../logger.ts";
import type { Herald } from "../main.ts";
import { startFakeHttp, type FakeHttp } from "../testing/fake-http.ts";
import {
  getMessage,
  identify,
  patchSettings,
  queueMessage,
} from "../testing/messaging.ts";
import { serverTestDatabase } from "../testing/test-databases.ts";
import {
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

/**
 * Two senders in two processes share one PostgreSQL: here two Heralds on two database
 * handles (two connection pools) to the same database, as `--processes 2` runs them.
 */
const server = await serverTestDatabase();

describe("message senders sharing one PostgreSQL", { skip: !server }, () => {
  let fake: FakeHttp;
  let failing = false;
  const handles: Database[] = [];
  const heralds: Herald[] = [];
  const clock = new ManualClock("2026-01-05T12:00:00Z");
  before(async () => {
    fake = await startFakeHttp(() =>
      failing
        ? { status: 503, body: { error: "down" } }
        : { status: 200, body: { id: "gw" } },
    );
    for (let i = 0; i < 2; i++) {
      const db = await openPostgres(server?.url ?? "", 5, silentLogger);
      handles.push(db);
      heralds.push(await startTestHerald(db, { clock }));
    }
  });
  after(async () => {
    for (const herald of heralds) await herald.close();
    for (const db of handles) await db.close();
    await fake.close();
    await server?.drop();
  });

  it("stay under a provider's rate limit together, and both honour an auto-pause either sets", async () => {
    const [a, b] = heralds;
    assert.ok(a && b);
    const ws = await createTestWorkspace(a.db, clock);
    const keys = { writeKey: ws.writeKey, secretKey: ws.secretKey };
    await patchSettings(a, keys.secretKey, {
      sms: {
        provider: "http",
        url: `${fake.url}/sms`,
        from: "Fern",
        limits: { perSecond: 2 },
      },
      delivery: { pauseAfterErrors: 2, pauseMinutes: 5 },
    });
    const profileId = await identify(a, keys, "u-sms", {
      phone: "+14155550100",
      sms_consent: true,
    });
    let n = 0;
    const queue = async (herald: Herald, count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++)
        ids.push(
          await queueMessage(herald, {
            workspaceId: ws.id,
            profileId,
            channel: "sms",
            transactional: true,
            idempotencyKey: `sms-${++n}`,
            content: { text: `Your code is ${n}` },
          }),
        );
      return ids;
    };
    const sent = () => fake.requests.filter((r) => r.path === "/sms").length;

    // Within one second: two go through one sender, none through the other.
    await queue(a, 4);
    await a.sender.drain(ws.id);
    assert.equal(sent(), 2);
    const later = await queue(b, 4);
    await b.sender.drain(ws.id);
    assert.equal(sent(), 2, "the second process takes from the same budget");
    const waiting = await getMessage(b, keys.secretKey, later[0] ?? "");
    assert.match(String(waiting.reason), /rate limit of sms/);

    // A second later both senders at once: two more, not four.
    clock.advance(ms.second);
    await Promise.all([a.sender.drain(ws.id), b.sender.drain(ws.id)]);
    assert.equal(sent(), 4);

    // The gateway fails: one sender pauses the provider; the other sends nothing either.
    clock.advance(10 * ms.second);
    failing = true;
    await a.sender.drain(ws.id);
    const paused = await a.db.query<{ channel: string }>(
      "select channel from delivery_pauses where workspace_id = $1",
      [ws.id],
    );
    assert.deepEqual(
      paused.map((p) => p.channel),
      ["sms"],
    );
    failing = false;
    const before = sent();
    await queue(b, 2);
    clock.advance(10 * ms.second);
    await b.sender.drain(ws.id);
    assert.equal(sent(), before, "the pause set by one sender holds for both");
  });
});
