import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import { runOperation } from "../operations/operations.ts";
import { parseConfig } from "../config.ts";
import { listStatusesOf } from "./lists.sql.ts";
import { silentLogger } from "../logger.ts";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  segmentMembers,
  startTestHerald,
} from "../testing/test-server.ts";
import { settleWorkspace } from "../testing/segment-settle.ts";
import { SegmentComputer } from "../workers/segment-computer.ts";

describeOnDatabases("lists API and CSV import", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T00:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  const createList = async (
    ws: NewWorkspace,
    body: Record<string, unknown>,
  ) => {
    const created = await api(herald, ws.secretKey, "POST", "/api/lists", body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body as { id: string; name: string };
  };

  it("creates lists, refuses duplicates and unknown fields with the path, and reports members by status", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const list = await createList(ws, {
      name: "Newsletter",
      doubleOptIn: true,
    });
    const duplicate = await api(herald, ws.secretKey, "POST", "/api/lists", {
      name: "newsletter",
    });
    assert.equal(duplicate.status, 409);
    const bad = await api(herald, ws.secretKey, "POST", "/api/lists", {
      name: "X",
      colour: "red",
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, "/body/colour");

    const added = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/lists/${list.id}/members`,
      {
        members: [
          { email: "Ann@Shop.test", traits: { first_name: "Ann" } },
          { phone: "+4915112345678" },
          { email: "bob@shop.test", status: "subscribed" },
        ],
      },
    );
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.added, 3);
    const [ann, phone, bob] = added.body.profileIds as string[];
    assert.ok(ann && phone && bob && new Set([ann, phone, bob]).size === 3);

    const again = await api(
      herald,
      ws.secretKey,
      "POST",
      `/api/lists/${list.id}/members`,
      {
        members: [{ email: "ann@shop.test" }],
      },
    );
    assert.deepEqual(
      again.body.profileIds,
      [ann],
      "the same person is found again, not created twice",
    );

    const view = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/lists/${list.id}`,
    );
    assert.deepEqual(view.body.members, {
      subscribed: 1,
      unsubscribed: 0,
      pending: 2,
    });
    const pending = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/lists/${list.id}/members?status=pending&limit=1`,
    );
    assert.equal(pending.body.items.length, 1);
    const rest = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/lists/${list.id}/members?status=pending&after=${pending.body.next}`,
    );
    assert.equal(rest.body.items.length, 1);
    assert.equal(rest.body.next, null);

    const unsubscribed = await api(
      herald,
      ws.secretKey,
      "PUT",
      `/api/lists/${list.id}/members/${ann}`,
      {
        status: "unsubscribed",
      },
    );
    assert.equal(unsubscribed.body.status, "unsubscribed");
    assert.deepEqual(
      Object.fromEntries(await listStatusesOf(db(), ws.id, ann)),
      { [list.id]: "unsubscribed" },
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "DELETE",
          `/api/lists/${list.id}/members/${phone}`,
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await api(
          herald,
          ws.secretKey,
          "DELETE",
          `/api/lists/${list.id}/members/${phone}`,
        )
      ).status,
      404,
    );

    await settleWorkspace(herald, ws.id);
    const profile = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${ann}`,
    );
    assert.equal(
      profile.body.traits.first_name,
      "Ann",
      "the identify event Herald recorded carried the traits",
    );
  });

  it("refuses to delete a list a segment uses", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const list = await createList(ws, { name: "Customers" });
    await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "On the list",
      definition: { type: "list", listId: list.id },
    });
    const refused = await api(
      herald,
      ws.secretKey,
      "DELETE",
      `/api/lists/${list.id}`,
    );
    assert.equal(refused.status, 409);
    assert.match(refused.body.error.message, /"On the list"/);
  });

  it("imports a CSV of members with progress, a summary of rejected rows, and segments that follow", async () => {
    const ws = await createTestWorkspace(db(), clock);
    const list = await createList(ws, { name: "Spring launch" });
    const segment = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "Subscribed to spring launch",
      definition: { type: "list", listId: list.id, status: "subscribed" },
    });
    await new SegmentComputer({
      db: db(),
      clock,
      logger: silentLogger,
      workspaceId: ws.id,
    }).runPending();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-lists-"));
    const file = path.join(dir, "members.csv");
    fs.writeFileSync(
      file,
      [
        "E-mail,First Name,Status",
        "ann@shop.test,Ann,",
        "not-an-email,Bob,",
        "cid@shop.test,Cid,unsubscribed",
        ",Dee,",
        "eve@shop.test,Eve,maybe",
        "fay@shop.test,Fay,pending",
      ].join("\n") + "\n",
    );
    const progress: { done: number; total?: number }[] = [];
    const summary = (await runOperation(
      {
        db: db(),
        clock,
        config: parseConfig({}),
        logger: silentLogger,
        progress: (update) => progress.push(update),
      },
      "list.import",
      { workspaceId: ws.id, listId: list.id, file, status: "subscribed" },
    )) as {
      imported: number;
      rejectedCount: number;
      rejected: { line: number; reason: string }[];
    };
    fs.rmSync(dir, { recursive: true, force: true });

    assert.equal(summary.imported, 3);
    assert.equal(summary.rejectedCount, 3);
    assert.deepEqual(
      summary.rejected.map((r) => r.line),
      [3, 5, 6],
    );
    assert.match(summary.rejected[0]?.reason ?? "", /not an email address/);
    assert.match(summary.rejected[2]?.reason ?? "", /status "maybe"/);
    assert.deepEqual(progress.at(-1), {
      done: 6,
      total: 6,
      label: "importing into Spring launch",
    });

    const counts = (
      await api(herald, ws.secretKey, "GET", `/api/lists/${list.id}`)
    ).body.members;
    assert.deepEqual(counts, { subscribed: 1, unsubscribed: 1, pending: 1 });
    const segmentNow = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/segments/${segment.body.id}`,
    );
    assert.equal(
      segmentNow.body.memberCount,
      1,
      "the segment on the list follows the import at once",
    );
    await settleWorkspace(herald, ws.id);
    const members = await segmentMembers(herald, ws.secretKey, segment.body.id);
    assert.deepEqual(
      members.map((m) => m.email),
      ["ann@shop.test"],
    );
    const events = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/events?limit=50",
    );
    const identifies = events.body.items.filter(
      (e: { type: string }) => e.type === "identify",
    );
    assert.equal(identifies.length, 3);
    assert.ok(
      identifies.every(
        (e: { silent: boolean; source: string }) =>
          e.silent && e.source === "import",
      ),
    );
  });

  it("refuses an import into a list that does not exist, saying which", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await assert.rejects(
      () =>
        runOperation(
          {
            db: db(),
            clock,
            config: parseConfig({}),
            logger: silentLogger,
            progress: () => undefined,
          },
          "list.import",
          { workspaceId: ws.id, listId: "list_nope", file: "/nonexistent.csv" },
        ),
      /no list list_nope/,
    );
  });
});
