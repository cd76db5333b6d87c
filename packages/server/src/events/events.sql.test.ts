import assert from "node:assert/strict";
import { it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { IncomingEvent } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import { describeOnDatabases } from "../testing/test-databases.ts";
import { createTestWorkspace } from "../testing/test-server.ts";
import { appendProfileEvents } from "./event-log.ts";
import type { Tx } from "../db/database.ts";
import {
  advanceCursors,
  lockCursors,
  partitionOf,
  readPartitions,
} from "./events.sql.ts";
import { insertProfiles } from "../profiles/profiles.sql.ts";

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

type At = { xid: string; seq: number };
const lockCursor = async (tx: Tx, partition: number) =>
  (await lockCursors(tx, [partition]))[0];
const readPartition = (tx: Tx, partition: number, after: At, limit: number) =>
  readPartitions(tx, [{ partition, ...after }], limit);
const advanceCursor = (
  tx: Tx,
  partition: number,
  to: At,
  processed: number,
  at: Date,
) => advanceCursors(tx, [{ partition, ...to, processed }], at);

/** Moves a partition's cursor to its end, whatever other tests left there. */
async function skipToEnd(tx: Tx, partition: number, now: Date): Promise<void> {
  const cursor = await lockCursor(tx, partition);
  assert.ok(cursor);
  let last: At = cursor;
  for (
    let rows = await readPartition(tx, partition, last, 10_000);
    rows.length > 0;
    rows = await readPartition(tx, partition, last, 10_000)
  ) {
    const end = rows.at(-1);
    if (end) last = { xid: end.xid, seq: end.seq };
  }
  await advanceCursor(tx, partition, last, 0, now);
}

describeOnDatabases("the event log's cursor", (db) => {
  it("reads several partitions in one transaction, each from its own cursor", async () => {
    const clock = new ManualClock();
    const now = clock.now();
    const ws = await createTestWorkspace(db(), clock);
    // Two profiles in two partitions.
    const ids: string[] = [];
    while (ids.length < 2) {
      const id = uuidv7(now);
      if (!ids.some((other) => partitionOf(other) === partitionOf(id)))
        ids.push(id);
    }
    const [a = "", b = ""] = ids;
    await db().tx((tx) => insertProfiles(tx, ws.id, ids, now));
    await db().tx(async (tx) => {
      await skipToEnd(tx, partitionOf(a), now);
      await skipToEnd(tx, partitionOf(b), now);
    });
    await db().tx((tx) =>
      appendProfileEvents(tx, ws.id, [
        { ...event("a1", now), profileId: a },
        { ...event("b1", now), profileId: b },
        { ...event("a2", now), profileId: a },
        { ...event("a3", now), profileId: a },
      ]),
    );
    const partitions = [partitionOf(a), partitionOf(b)];
    const first = await db().tx(async (tx) => {
      const cursors = await lockCursors(tx, partitions);
      assert.equal(cursors.length, 2);
      // At most two from each partition, in commit order.
      const rows = (await readPartitions(tx, cursors, 2)).filter(
        (r) => r.workspace_id === ws.id,
      );
      const lastOf = (profile: string) =>
        rows.filter((r) => r.profile_id === profile).at(-1);
      await advanceCursors(
        tx,
        [a, b].flatMap((profile) => {
          const row = lastOf(profile);
          return row
            ? [
                {
                  partition: partitionOf(profile),
                  xid: row.xid,
                  seq: row.seq,
                  processed: 1,
                },
              ]
            : [];
        }),
        now,
      );
      return rows.map((r) => r.message_id);
    });
    assert.deepEqual(first, ["a1", "b1", "a2"]);
    const rest = await db().tx(async (tx) =>
      (await readPartitions(tx, await lockCursors(tx, partitions), 10))
        .filter((r) => r.workspace_id === ws.id)
        .map((r) => r.message_id),
    );
    assert.deepEqual(rest, ["a3"], "each cursor moved past its own rows");
  });

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
    await db().tx((tx) => skipToEnd(tx, partition, now));

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
