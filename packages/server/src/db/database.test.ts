import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  describeOnDatabases,
  openTestPglite,
} from "../testing/test-databases.ts";
import { migrate } from "./migrate.ts";

describeOnDatabases("database", (db) => {
  it("commits a transaction's writes together and rolls them back together", async () => {
    // A table of its own: test files share the PostgreSQL database.
    const table = `t_commit_${Math.random().toString(36).slice(2, 10)}`;
    await db().query(`create table ${table} (n int)`);
    await db().tx(async (tx) => {
      await tx.query(`insert into ${table} values (1)`);
      await tx.query(`insert into ${table} values (2)`);
    });
    await assert.rejects(
      db().tx(async (tx) => {
        await tx.query(`insert into ${table} values (3)`);
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    const rows = await db().query<{ n: number }>(
      `select n from ${table} order by n`,
    );
    await db().query(`drop table ${table}`);
    assert.deepEqual(
      rows.map((r) => r.n),
      [1, 2],
    );
  });

  it("delivers a transaction's notifications after commit and drops them on rollback", async () => {
    const heard: string[] = [];
    const unlisten = await db().listen("test_channel", (payload) =>
      heard.push(payload),
    );
    await db()
      .tx(async (tx) => {
        tx.notify("test_channel", "rolled back");
        throw new Error("no");
      })
      .catch(() => undefined);
    await db().tx(async (tx) => {
      tx.notify("test_channel", "committed");
      await tx.query("select 1");
      assert.deepEqual(heard, [], "nothing is heard before commit");
    });
    for (let i = 0; i < 50 && heard.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(heard, ["committed"]);
    await unlisten();
  });

  it("returns counts and money as numbers and timestamps as dates", async () => {
    const [row] = await db().query<{ n: number; amount: number; at: Date }>(
      "select count(*) as n, 12.50::numeric as amount, $1::timestamptz as at from (values (1), (2)) v",
      [new Date("2026-01-01T00:00:00Z")],
    );
    assert.deepEqual(row, {
      n: 2,
      amount: 12.5,
      at: new Date("2026-01-01T00:00:00Z"),
    });
  });

  it("runs migrations again without changing anything", async () => {
    assert.deepEqual(await migrate(db()), []);
  });
});

describe("embedded database", () => {
  it("refuses a database migrated by a newer Herald", async () => {
    const db = await openTestPglite();
    try {
      await db.query(
        "insert into herald_migrations (id, name) values (9999, 'from_the_future')",
      );
      await assert.rejects(
        migrate(db),
        /migrated by a newer Herald \(migration 9999/,
      );
    } finally {
      await db.close();
    }
  });

  it("fails loudly when a query bypasses the open transaction", async () => {
    const db = await openTestPglite();
    try {
      await assert.rejects(
        db.tx(async () => {
          await db.query("select 1");
        }),
        /use the transaction handle/,
      );
      assert.deepEqual(
        await db.query("select 1 as one"),
        [{ one: 1 }],
        "the connection is still usable",
      );
    } finally {
      await db.close();
    }
  });
});
