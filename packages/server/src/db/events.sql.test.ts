import assert from "node:assert/strict";
import { it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { IncomingEvent } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import { describeOnDatabases } from "../testing/test-databases.ts";
import { createTestWorkspace } from "../testing/test-server.ts";
import { appendProfileEvents } from "../workers/ingest-writer.ts";
import {
  advanceCursor,
  lockCursor,
  partitionOf,
  readPartition,
} from "./events.sql.ts";
import { insertProfiles } from "./profiles.sql.ts";

const event = (messageId: string, at: Date): IncomingEvent => ({
  messageId,
  type: "track",
  name: "Test",
  userId: null,
  anonymousId: null,
  properties: {},
  traits: null,
  context: {},
  timestamp: at,
  receivedAt: at,
  source: "herald",
  silent: false,
});

describeOnDatabases("the event log's cursor", (db) => {
  it("never leaves behind an event the processing transaction appends itself", async (t) => {
    if (db().kind !== "postgres")
      return t.skip("needs two concurrent transactions");
    const clock = new ManualClock();
    const now = clock.now();
    const ws = await createTestWorkspace(db(), clock);
    const profileId = uuidv7(now);
    await db().tx((tx) => insertProfiles(tx, ws.id, [profileId], now));
    const partition = partitionOf(profileId);
    // Start from the current end of the partition, whatever other tests left there.
    await db().tx(async (tx) => {
      const cursor = await lockCursor(tx, partition);
      assert.ok(cursor);
      let last = cursor;
      for (
        let rows = await readPartition(tx, partition, last, 10_000);
        rows.length > 0;
        rows = await readPartition(tx, partition, last, 10_000)
      ) {
        const end = rows.at(-1);
        if (end) last = { xid: end.xid, seq: end.seq };
      }
      await advanceCursor(tx, partition, last, 0, now);
    });

    let release: () => void = () => undefined;
    const leased = new Promise<void>((resolve) => (release = resolve));
    let proceed: () => void = () => undefined;
    const ingested = new Promise<void>((resolve) => (proceed = resolve));
    const processing = db().tx(async (tx) => {
      const cursor = await lockCursor(tx, partition);
      assert.ok(cursor, "the lease is free");
      release();
      await ingested; // another transaction commits an event meanwhile
      const rows = await readPartition(tx, partition, cursor, 100);
      const mine = rows
        .filter((r) => r.workspace_id === ws.id)
        .map((r) => r.message_id);
      assert.deepEqual(mine, ["from-ingest"]);
      await appendProfileEvents(tx, ws.id, [
        { ...event("from-processing", now), profileId },
      ]);
      const last = rows.at(-1);
      if (last)
        await advanceCursor(
          tx,
          partition,
          { xid: last.xid, seq: last.seq },
          rows.length,
          now,
        );
    });
    await leased;
    await db().tx((tx) =>
      appendProfileEvents(tx, ws.id, [
        { ...event("from-ingest", now), profileId },
      ]),
    );
    proceed();
    await processing;

    const next = await db().tx(async (tx) => {
      const cursor = await lockCursor(tx, partition);
      assert.ok(cursor);
      return (await readPartition(tx, partition, cursor, 100))
        .filter((r) => r.workspace_id === ws.id)
        .map((r) => r.message_id);
    });
    assert.deepEqual(
      next,
      ["from-processing"],
      "the processor's own event is still ahead of the cursor",
    );
  });
});
