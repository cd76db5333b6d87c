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

  it("commits many concurrent requests in a few transactions, each resolved after its commit", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const registry = new Registry();
    const writer = new IngestWriter({
      db: db(),
      clock,
      logger: silentLogger,
      registry,
    });
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

  it("refuses writes as rate-limited when too much waits, storing none of them", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = new IngestWriter({
      db: db(),
      clock,
      logger: silentLogger,
      registry: new Registry(),
      maxQueuedEvents: 5,
    });
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
});
