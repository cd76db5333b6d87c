import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import path from "node:path";
import { systemClock } from "@herald/core/clock";
import { uuidv7 } from "@herald/core/ids";
import { createWorkspace } from "@herald/core/workspaces/workspaces";
import { openPglite } from "../db/pglite.ts";
import { insertProfiles } from "../profiles/profiles.sql.ts";
import { updateSettings } from "../workspaces/settings.sql.ts";
import { workspaceStore } from "../workspaces/workspaces.sql.ts";
import { silentLogger } from "../logger.ts";
import { enqueueMessage } from "../messages/message-ledger.ts";
import {
  startHeraldProcess,
  tempDataDir,
  type HeraldProcess,
} from "../testing/herald-process.ts";
import { startSmtpSink, type SmtpSink } from "../testing/smtp-sink.ts";

/**
 * The ledger's promise under the worst kind of stop: `kill -9` of a real Herald process
 * at random moments while 5,000 messages are queued and sent, restarted each time on the
 * same data directory. Counted at the SMTP server: nobody gets a message twice, and every
 * message that did not arrive is on the ledger in a state that says so.
 */

const total = 5_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === "object" && address ? address.port : 0),
      );
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("message delivery under kill -9", () => {
  let sink: SmtpSink;
  let dataDir: string;
  let herald: HeraldProcess | undefined;
  let env: Record<string, string>;
  before(async () => {
    sink = await startSmtpSink({ keepRaw: false });
    dataDir = await tempDataDir();
    env = {
      PORT: String(await freePort()),
      HERALD_SMTP_URL: sink.url,
      HERALD_LOG_LEVEL: "error",
    };
  });
  after(async () => {
    herald?.child.kill("SIGKILL");
    await sink.close();
  });

  it("never sends a message twice and leaves every undelivered message visible", async (t) => {
    // 5,000 marketing emails queued on the ledger, as a campaign would queue them.
    const db = await openPglite(path.join(dataDir, "pg"), silentLogger);
    const now = new Date();
    const ws = await createWorkspace(workspaceStore(db), systemClock, {
      name: "Crash shop",
    });
    await updateSettings(db, ws.id, {
      marketingConsent: "unless_unsubscribed",
    });
    await db.tx(async (tx) => {
      const ids = Array.from({ length: total }, () => uuidv7(now));
      await insertProfiles(tx, ws.id, ids, now);
      for (const [i, profileId] of ids.entries())
        await enqueueMessage(
          tx,
          {
            workspaceId: ws.id,
            profileId,
            channel: "email",
            transactional: false,
            source: { kind: "campaign", campaignId: "crash" },
            idempotencyKey: `crash-${i}`,
            to: `s${i}@crash.example`,
            content: { subject: `Deal ${i}`, text: `Hello ${i}` },
          },
          now,
        );
    });
    await db.close();

    // Kill at random moments while they go out; restart each time on the same directory.
    herald = await startHeraldProcess(dataDir, env);
    const url = herald.url;
    const call = async (path: string) => {
      const response = await fetch(url + path, {
        headers: { authorization: `Bearer ${ws.secretKey}` },
      });
      return (await response.json()) as Record<string, any>;
    };
    const openCount = async () => {
      const counts = ((
        await call("/api/messages?limit=1").catch(() => undefined)
      )?.counts ?? {}) as Record<string, number>;
      return (
        (counts.queued ?? 0) + (counts.sending ?? 0) + (counts.deferred ?? 0)
      );
    };
    let kills = 0;
    while (kills < 8) {
      await sleep(500 + Math.random() * 2500);
      if ((await openCount()) === 0) break;
      herald.child.kill("SIGKILL");
      await herald.exited;
      kills++;
      herald = await startHeraldProcess(dataDir, env);
    }
    const deadline = Date.now() + 120_000;
    while ((await openCount()) > 0) {
      assert.ok(
        Date.now() < deadline,
        "messages still open two minutes after the last kill",
      );
      await sleep(250);
    }
    assert.ok(
      kills >= 3,
      `killed only ${kills} times before everything went out`,
    );

    // Every message's state, from the ledger.
    const rows: { to: string; status: string; reason: string | null }[] = [];
    let before: string | null = null;
    do {
      const page: Record<string, any> = await call(
        `/api/messages?limit=500${before ? `&before=${before}` : ""}`,
      );
      rows.push(
        ...(page.items as {
          to: string;
          status: string;
          reason: string | null;
        }[]),
      );
      before = page.next as string | null;
    } while (before);
    assert.equal(rows.length, total, "one ledger row per message");

    const duplicates = [...sink.perRecipient].filter(([, n]) => n > 1);
    assert.deepEqual(duplicates, [], "nobody got a message twice");
    let missing = 0;
    for (const row of rows) {
      const arrived = sink.perRecipient.get(row.to) ?? 0;
      if (row.status === "sent")
        assert.equal(arrived, 1, `${row.to} is sent on the ledger`);
      if (arrived === 0) {
        missing++;
        assert.equal(
          row.status,
          "failed",
          `${row.to} did not arrive: ${row.status}`,
        );
        assert.match(row.reason ?? "", /outcome_unknown/);
      }
    }
    const statuses = new Map<string, number>();
    for (const row of rows)
      statuses.set(row.status, (statuses.get(row.status) ?? 0) + 1);
    t.diagnostic(
      `kill -9 ×${kills}: ${sink.accepted} of ${total} arrived once, ${missing} did not arrive and are failed (outcome_unknown); ledger ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    assert.equal(sink.accepted + missing, total);
  });
});
