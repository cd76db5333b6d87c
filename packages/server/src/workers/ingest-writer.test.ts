import assert from "node:assert/strict";
import { it } from "node:test";
import { Registry } from "prom-client";
import { ManualClock } from "@herald/core/clock";
import { isDomainError } from "@herald/core/domain-error";
import { normalizeCall } from "@herald/core/events/tracking-call";
import { uuidv7 } from "@herald/core/ids";
import { extractIdentifiers } from "@herald/core/identity/identifiers";
import { silentLogger } from "../logger.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import { createTestWorkspace } from "../testing/test-server.ts";
import { eventsChannel, partitionOf } from "../db/events.sql.ts";
import { storeIngested } from "../db/ingest.sql.ts";
import { IngestWriter, type IngestItem } from "./ingest-writer.ts";

function items(count: number, prefix: string, now: Date): IngestItem[] {
  return Array.from({ length: count }, (_, i) => {
    const result = normalizeCall(
      {
        type: "track",
        event: "Product Viewed",
        anonymousId: `${prefix}-anon-${i % 7}`,
        messageId: `${prefix}-${i}`,
        properties: { product_id: `p${i}` },
      },
      { receivedAt: now, source: "api", newMessageId: () => uuidv7(now) },
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
    return {
      event: result.event,
      identifiers: extractIdentifiers(result.event),
    };
  });
}

describeOnDatabases("ingest writer", (db) => {
  const clock = new ManualClock("2026-06-01T10:00:00Z");
  const newWriter = (
    options: Partial<ConstructorParameters<typeof IngestWriter>[0]> = {},
  ) =>
    new IngestWriter({
      db: db(),
      clock,
      logger: silentLogger,
      registry: new Registry(),
      ...options,
    });

  it("commits many concurrent requests in a few transactions, each resolved after its commit", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const registry = new Registry();
    const writer = newWriter({ registry });
    const writes = Array.from({ length: 200 }, (_, i) =>
      writer.write(ws.id, items(1, `r${i}`, clock.now())),
    );
    const results = await Promise.all(writes);
    assert.ok(results.every((r) => r.stored === 1 && r.duplicates === 0));
    const [row] = await db().query<{ n: number }>(
      "select count(*) as n from events where workspace_id = $1",
      [ws.id],
    );
    assert.equal(row?.n, 200, "every acknowledged event is committed");
    const metrics = await registry.getMetricsAsJSON();
    const histogram = metrics.find(
      (m) => m.name === "herald_ingest_flush_events",
    );
    const flushes = (
      histogram?.values as { metricName?: string; value: number }[] | undefined
    )?.find((v) => v.metricName === "herald_ingest_flush_events_count")?.value;
    assert.ok(
      flushes !== undefined && flushes < 40,
      `200 requests took ${flushes} transactions`,
    );
    const again = await writer.write(ws.id, items(1, "r0", clock.now()));
    assert.deepEqual(again, { stored: 0, duplicates: 1 });
  });

  it("wakes the event processor once the events are committed", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter();
    let heard = 0;
    const unlisten = await db().listen(eventsChannel, () => heard++);
    try {
      await writer.write(ws.id, items(2, "wake", clock.now()));
      for (let i = 0; i < 50 && heard === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(heard > 0, `${eventsChannel} was notified`);
    } finally {
      await unlisten();
    }
  });

  it("refuses writes as rate-limited when too much waits, storing none of them", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter({ maxQueuedEvents: 5 });
    await assert.rejects(
      writer.write(ws.id, items(10, "big", clock.now())),
      (error: unknown) => isDomainError(error, "rate_limited"),
    );
    await writer.drain();
    const [row] = await db().query<{ n: number }>(
      "select count(*) as n from events where workspace_id = $1",
      [ws.id],
    );
    assert.equal(row?.n, 0);
    assert.deepEqual(await writer.write(ws.id, items(3, "ok", clock.now())), {
      stored: 3,
      duplicates: 0,
    });
  });

  it("follows a writer that took a new identifier first: no orphan profile, events on its owner", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const now = clock.now();
    const [first, second, third] = items(3, "race", now).map((item, i) => ({
      ...item.event,
      messageId: `race-${i}`,
      anonymousId: "race-anon",
    }));
    const winner = uuidv7(now);
    await storeIngested(db(), {
      workspaceId: ws.id,
      newIdentities: [
        { type: "anonymous_id", value: "race-anon", profileId: winner },
      ],
      events: [{ ...(first as IngestItem["event"]), profileId: winner }],
      errors: [],
      at: now,
    });
    // Two flushes that looked the identifiers up before the winner committed.
    const lost = uuidv7(now);
    const partly = uuidv7(now);
    const stored = await storeIngested(db(), {
      workspaceId: ws.id,
      newIdentities: [
        { type: "anonymous_id", value: "race-anon", profileId: lost },
        { type: "user_id", value: "race-user", profileId: partly },
        { type: "anonymous_id", value: "race-other-anon", profileId: partly },
      ],
      events: [
        { ...(second as IngestItem["event"]), profileId: lost },
        {
          ...(third as IngestItem["event"]),
          profileId: partly,
          userId: "race-user",
        },
      ],
      errors: [],
      at: now,
    });
    assert.deepEqual([...stored].sort(), ["race-1", "race-2"]);
    const events = await db().query<{
      message_id: string;
      profile_id: string;
      partition: number;
    }>(
      "select message_id, profile_id, partition from events where workspace_id = $1 order by message_id",
      [ws.id],
    );
    assert.deepEqual(
      events.map((e) => [e.message_id, e.profile_id, e.partition]),
      [
        ["race-0", winner, partitionOf(winner)],
        ["race-1", winner, partitionOf(winner)],
        ["race-2", partly, partitionOf(partly)],
      ],
      "the event of the profile that won nothing goes to the winner, in its partition",
    );
    const profiles = await db().query<{ id: string }>(
      "select id from profiles where workspace_id = $1 order by id",
      [ws.id],
    );
    assert.deepEqual(
      profiles.map((p) => p.id),
      [winner, partly].sort(),
      "no profile without identifiers is left behind",
    );
  });
});
