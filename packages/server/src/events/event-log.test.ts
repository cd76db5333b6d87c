import assert from "node:assert/strict";
import { it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { normalizeCall } from "@herald/core/events/tracking-call";
import { uuidv7 } from "@herald/core/ids";
import { extractIdentifiers } from "@herald/core/identity/identifiers";
import type { Database } from "../db/database.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import { createTestWorkspace } from "../testing/test-server.ts";
import { appendEvents } from "./event-log.ts";
import { insertEventsWithProfiles } from "./event-log.sql.ts";
import { partitionOf } from "./events.sql.ts";
import type { IngestItem } from "./intake.sql.ts";

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

/** A sign-up about `email` with no user or anonymous id, as a webhook or an import appends it. */
function signUp(messageId: string, email: string, now: Date): IngestItem {
  const event: IngestItem["event"] = {
    messageId,
    type: "identify",
    name: null,
    userId: null,
    anonymousId: null,
    properties: {},
    traits: { email },
    context: {},
    timestamp: now,
    receivedAt: now,
    source: "import",
    silent: false,
  };
  return { event, identifiers: extractIdentifiers(event) };
}

/** The profiles owning events or identifiers of `email`, with their events' message ids. */
async function shopperOf(db: Database, workspaceId: string, email: string) {
  const profiles = await db.query<{ id: string }>(
    `select p.id from profiles p
      where p.workspace_id = $1
        and (exists (select 1 from identities i where i.workspace_id = $1 and i.profile_id = p.id and i.value = $2)
             or exists (select 1 from events e where e.workspace_id = $1 and e.profile_id = p.id))
      order by p.id`,
    [workspaceId, email],
  );
  const events = await db.query<{ message_id: string; profile_id: string }>(
    "select message_id, profile_id from events where workspace_id = $1 order by message_id",
    [workspaceId],
  );
  return { profiles: profiles.map((p) => p.id), events };
}

/** Resolves once a backend of this database waits for a lock (another transaction's row). */
async function someoneWaitsForALock(db: Database): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [row] = await db.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`,
    );
    if ((row?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("the second writer never waited for the first");
}

describeOnDatabases("the event log", (db) => {
  const clock = new ManualClock("2026-06-01T10:00:00Z");

  it("gives two concurrent appends for the same new email one profile, and keeps both events", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const now = clock.now();
    const email = "race.shopper@example.com";
    let firstAppended: () => void = () => {};
    const appended = new Promise<void>((resolve) => (firstAppended = resolve));
    const first = db().tx(async (tx) => {
      await appendEvents(tx, ws.id, [signUp("race-first", email, now)], now);
      firstAppended();
      // On PostgreSQL the second writer looks the email up now, finds no owner (this
      // transaction has not committed), plans a profile of its own and waits on the
      // email's row; on PGlite transactions take turns and it starts after this commit.
      if (db().kind === "postgres") await someoneWaitsForALock(db());
    });
    await appended;
    const second = db().tx((tx) =>
      appendEvents(tx, ws.id, [signUp("race-second", email, now)], now),
    );
    const [, stored] = await Promise.all([first, second]);
    assert.deepEqual(
      [...stored],
      ["race-second"],
      "the second event is stored",
    );

    const shopper = await shopperOf(db(), ws.id, email);
    assert.equal(shopper.profiles.length, 1, "one profile for the email");
    const [profile] = shopper.profiles;
    assert.deepEqual(
      shopper.events.map((e) => [e.message_id, e.profile_id]),
      [
        ["race-first", profile],
        ["race-second", profile],
      ],
      "both events, on the one profile",
    );
    const owners = await db().query<{ profile_id: string }>(
      "select profile_id from identities where workspace_id = $1 and type = 'email' and value = $2",
      [ws.id, email],
    );
    assert.deepEqual(
      owners.map((o) => o.profile_id),
      [profile],
    );
  });

  it("plans an identifier an event names twice once", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const now = clock.now();
    const item = signUp("twice-0", "twice@example.com", now);
    const [id] = item.identifiers;
    if (!id) throw new Error("no identifier");
    const stored = await db().tx((tx) =>
      appendEvents(tx, ws.id, [{ ...item, identifiers: [id, { ...id }] }], now),
    );
    assert.deepEqual([...stored], ["twice-0"]);
    const shopper = await shopperOf(db(), ws.id, "twice@example.com");
    assert.equal(shopper.profiles.length, 1);
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
    await insertEventsWithProfiles(db(), {
      workspaceId: ws.id,
      newIdentities: [
        { type: "anonymous_id", value: "race-anon", profileId: winner },
      ],
      events: [{ ...(first as IngestItem["event"]), profileId: winner }],
      at: now,
    });
    // Two flushes that looked the identifiers up before the winner committed.
    const lost = uuidv7(now);
    const partly = uuidv7(now);
    const stored = await insertEventsWithProfiles(db(), {
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
