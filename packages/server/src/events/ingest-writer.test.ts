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
import type { Database } from "../db/database.ts";
import { eventsChannel } from "./events.sql.ts";
import { listIngestErrors } from "./ingest-errors.sql.ts";
import {
  countIntake,
  encodeIntakeItem,
  intakeChannel,
  takeIntake,
  type IngestItem,
} from "./intake.sql.ts";
import { IngestResolver } from "../workers/ingest-resolver.ts";
import { IngestWriter } from "./ingest-writer.ts";

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

const countEvents = async (db: Database, workspaceId: string) =>
  (
    await db.query<{ n: number }>(
      "select count(*)::int as n from events where workspace_id = $1",
      [workspaceId],
    )
  )[0]?.n ?? 0;

const encoded = (list: IngestItem[]) => list.map(encodeIntakeItem);

describeOnDatabases("ingest writer and resolver", (db) => {
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
  const newResolver = (registry = new Registry()) =>
    new IngestResolver({ db: db(), clock, logger: silentLogger, registry });

  it("commits many concurrent requests to the intake in a few statements, each resolved after its commit", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const registry = new Registry();
    const writer = newWriter({ registry });
    const writes = Array.from({ length: 200 }, (_, i) =>
      writer.write(ws.id, encoded(items(1, `r${i}`, clock.now()))),
    );
    const results = await Promise.all(writes);
    assert.ok(results.every((r) => r.accepted === 1));
    assert.equal(
      await countIntake(db()),
      200,
      "every acknowledged event is committed",
    );
    const metrics = await registry.getMetricsAsJSON();
    const histogram = metrics.find(
      (m) => m.name === "herald_ingest_flush_events",
    );
    const flushes = (
      histogram?.values as { metricName?: string; value: number }[] | undefined
    )?.find((v) => v.metricName === "herald_ingest_flush_events_count")?.value;
    assert.ok(
      flushes !== undefined && flushes < 40,
      `200 requests took ${flushes} statements`,
    );

    const resolverMetrics = new Registry();
    const resolver = newResolver(resolverMetrics);
    assert.equal(await resolver.resolvePending(), 200);
    assert.equal(await countEvents(db(), ws.id), 200);
    assert.equal(await countIntake(db()), 0);
    // A client's retry is acknowledged again and dropped by the resolver.
    assert.deepEqual(
      await writer.write(ws.id, encoded(items(1, "r0", clock.now()))),
      { accepted: 1 },
    );
    assert.equal(await resolver.resolvePending(), 1);
    assert.equal(await countEvents(db(), ws.id), 200);
    const resolved = (await resolverMetrics.getMetricsAsJSON()).find(
      (m) => m.name === "herald_events_resolved_total",
    )?.values;
    assert.deepEqual(resolved?.map((v) => [v.labels.result, v.value]).sort(), [
      ["duplicate", 1],
      ["stored", 200],
    ]);
  });

  it("gives one shopper one profile across requests, and resolves the oldest first", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter();
    await writer.write(ws.id, encoded(items(3, "same", clock.now())));
    await writer.write(ws.id, encoded(items(4, "same", clock.now())));
    await newResolver().resolvePending();
    const rows = await db().query<{ message_id: string; profile_id: string }>(
      "select message_id, profile_id from events where workspace_id = $1 order by seq",
      [ws.id],
    );
    assert.deepEqual(
      rows.map((r) => r.message_id),
      ["same-0", "same-1", "same-2", "same-3"],
      "the first request's events first; message ids are not stored twice",
    );
    const byAnon = new Map<string, Set<string>>();
    for (const row of rows) {
      const anon = `same-anon-${Number(row.message_id.split("-")[1]) % 7}`;
      byAnon.set(anon, (byAnon.get(anon) ?? new Set()).add(row.profile_id));
    }
    assert.equal(byAnon.size, 4);
    assert.ok([...byAnon.values()].every((profiles) => profiles.size === 1));
  });

  it("wakes the resolver once committed, and the resolver wakes the event processor", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter();
    const heard = { intake: 0, events: 0 };
    const offs = [
      await db().listen(intakeChannel, () => heard.intake++),
      await db().listen(eventsChannel, () => heard.events++),
    ];
    const resolver = newResolver();
    resolver.start();
    try {
      await writer.write(ws.id, encoded(items(2, "wake", clock.now())));
      for (let i = 0; i < 100 && heard.events === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(heard.intake > 0, `${intakeChannel} was notified`);
      assert.ok(heard.events > 0, `${eventsChannel} was notified`);
      assert.equal(await countEvents(db(), ws.id), 2);
    } finally {
      await resolver.stop();
      for (const off of offs) await off();
    }
  });

  it("puts taken rows back when the resolver's transaction fails", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await newWriter().write(ws.id, encoded(items(3, "back", clock.now())));
    await assert.rejects(
      db().tx(async (tx) => {
        assert.equal((await takeIntake(tx, 100)).length, 1);
        throw new Error("crash before commit");
      }),
      /crash before commit/,
    );
    assert.equal(await countIntake(db()), 3);
    await newResolver().resolvePending();
    assert.equal(await countEvents(db(), ws.id), 3);
  });

  it("sets aside an intake row that cannot be stored, and stores the rows beside it", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter();
    await writer.write(ws.id, encoded(items(2, "before", clock.now())));
    // Written by hand: text that is not an intake item at all, which no writer writes.
    await db().query(
      "insert into intake (workspace_id, received_at, event_count, items) values ($1, now(), 1, $2)",
      [ws.id, '[{"event": "bad-0"'],
    );
    await writer.write(ws.id, encoded(items(2, "after", clock.now())));
    const resolver = newResolver();
    assert.equal(
      await resolver.resolvePending(),
      5,
      "four stored and one set aside",
    );
    const ids = await db().query<{ message_id: string }>(
      "select message_id from events where workspace_id = $1 order by message_id",
      [ws.id],
    );
    assert.deepEqual(
      ids.map((r) => r.message_id),
      ["after-0", "after-1", "before-0", "before-1"],
    );
    assert.equal(await countIntake(db()), 0);
    const errors = await listIngestErrors(db(), ws.id, { limit: 10 });
    assert.equal(errors.length, 1);
    assert.match(
      errors[0]?.reason ?? "",
      /^an acknowledged event could not be stored: /,
    );
    assert.match(errors[0]?.payload ?? "", /bad-0/);
  });

  it("sets aside only the event that cannot be stored, not the other events of its flush", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const other = await createTestWorkspace(db(), clock);
    const batch = items(100, "flush", clock.now());
    // Past what PostgreSQL can hold; the API refuses it, so only a bug could let it in.
    const bad = batch[37];
    if (!bad) throw new Error("no item");
    bad.event.timestamp = new Date("-271821-04-20T00:00:00.000Z");
    const writer = newWriter();
    // One flush: both workspaces' writes go in one statement.
    await Promise.all([
      writer.write(ws.id, encoded(batch)),
      writer.write(other.id, encoded(items(3, "neighbour", clock.now()))),
    ]);
    const registry = new Registry();
    assert.equal(await newResolver(registry).resolvePending(), 103);
    assert.equal(await countEvents(db(), ws.id), 99);
    assert.equal(await countEvents(db(), other.id), 3);
    assert.equal(await countIntake(db()), 0);
    const errors = await listIngestErrors(db(), ws.id, { limit: 10 });
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.message_id, "flush-37");
    assert.match(
      errors[0]?.reason ?? "",
      /^an acknowledged event could not be stored: /,
    );
    const setAside = (
      await registry.getSingleMetric("herald_events_resolved_total")?.get()
    )?.values.find((v) => v.labels.result === "set_aside");
    assert.equal(setAside?.value, 1);
  });

  it("keeps characters PostgreSQL cannot store as U+FFFD instead of failing later", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const [item] = items(1, "nul", clock.now());
    if (!item) throw new Error("no item");
    item.event.properties = { note: "a\u0000b", ["k\u0000"]: "lone \ud800" };
    await newWriter().write(ws.id, [encodeIntakeItem(item)]);
    await newResolver().resolvePending();
    const [row] = await db().query<{ properties: Record<string, string> }>(
      "select properties from events where workspace_id = $1",
      [ws.id],
    );
    assert.deepEqual(row?.properties, {
      note: "a\ufffdb",
      "k\ufffd": "lone \ufffd",
    });
  });

  it("refuses writes as rate-limited when too much waits, storing none of them", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const writer = newWriter({ maxQueuedEvents: 5 });
    await assert.rejects(
      writer.write(ws.id, encoded(items(10, "big", clock.now()))),
      (error: unknown) => isDomainError(error, "rate_limited"),
    );
    await writer.drain();
    assert.equal(await countIntake(db()), 0);
    assert.deepEqual(
      await writer.write(ws.id, encoded(items(3, "ok", clock.now()))),
      { accepted: 3 },
    );
  });
});
