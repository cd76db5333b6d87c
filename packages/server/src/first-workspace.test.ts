import assert from "node:assert/strict";
import { it } from "node:test";
import { listWorkspaces } from "./workspaces/workspaces.sql.ts";
import { describeOnDatabases } from "./testing/test-databases.ts";
import { startTestHerald } from "./testing/test-server.ts";

describeOnDatabases("the first workspace", (db) => {
  it("is created once when several processes start together on an empty database", async () => {
    assert.deepEqual(await listWorkspaces(db()), []);
    const heralds = await Promise.all(
      Array.from({ length: 3 }, () => startTestHerald(db())),
    );
    try {
      const workspaces = await listWorkspaces(db());
      assert.deepEqual(
        workspaces.map((w) => w.name),
        ["My store"],
      );
      const announced = heralds.filter((h) => h.firstWorkspace !== undefined);
      assert.equal(announced.length, 1, "one process prints the keys");
      assert.equal(announced[0]?.firstWorkspace?.id, workspaces[0]?.id);
    } finally {
      await Promise.all(heralds.map((h) => h.close()));
    }
  });
});
