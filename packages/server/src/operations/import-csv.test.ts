import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { standardTraitNames } from "@herald/core/profiles/standard-traits";
import type { Herald } from "../main.ts";
import { silentLogger } from "../logger.ts";
import { runHerald, tempDataDir } from "../testing/herald-process.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";
import { importCsv } from "./import-csv.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-import-"));
function csv(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text.trim() + "\n");
  return file;
}

const customers = csv(
  "customers.csv",
  `
Email,First Name,Last Name,Phone,Accepts Marketing,Customer ID,VIP
ana@example.com,Ana,Lima,+351 912 345 678,yes,c-1,gold
ben@example,Ben,Ray,,no,c-2,
,Cleo,Noor,,,,
dora@example.com,Dora,Hale,,no,c-4,silver
`,
);

const orders = csv(
  "orders.csv",
  `
order_id,email,placed_at,total,revenue,currency,product_id,name,category,price,quantity
1001,ana@example.com,2025-11-02T10:00:00Z,65,60,EUR,cap-100,Capsules,coffee,20,3
1002,ana@example.com,2026-01-15T09:30:00Z,25,25,EUR,mug,Mug,equipment,25,1
1002,ana@example.com,2026-01-15T09:30:00Z,25,25,EUR,spoon,Spoon,equipment,0,1
1003,dora@example.com,last tuesday,10,10,EUR,mug,Mug,equipment,10,1
`,
);

describeOnDatabases("CSV import", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db(), {
      clock: new ManualClock("2026-03-01T00:00:00Z"),
    });
  });
  after(() => herald.close());

  const ctx = () => ({
    db: db(),
    clock: herald.clock,
    config: herald.config,
    logger: silentLogger,
    progress: () => undefined,
  });

  it("imports customers, lists rejected rows with why, and stores nothing new the second time", async () => {
    const ws = await createTestWorkspace(db());
    const first = await importCsv(ctx(), {
      kind: "customers",
      file: customers,
      workspaceId: ws.id,
      silent: true,
    });
    assert.deepEqual([first.rows, first.stored, first.rejected], [4, 2, 2]);
    assert.deepEqual(first.reasons, [
      { line: 3, reason: '"ben@example" is not an email address' },
      {
        line: 4,
        reason: "a customer needs an email, a phone or a customer_id",
      },
    ]);
    const again = await importCsv(ctx(), {
      kind: "customers",
      file: customers,
      workspaceId: ws.id,
      silent: true,
    });
    assert.deepEqual([again.stored, again.duplicates], [0, 2]);
    await settle(herald);
    const ana = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?email=ana@example.com",
      )
    ).body.items[0];
    assert.deepEqual(
      [
        ana.traits.first_name,
        ana.traits.vip,
        ana.phone,
        ana.consent.email.status,
      ],
      ["Ana", "gold", "+351912345678", "subscribed"],
    );
    const errors = await api(herald, ws.secretKey, "GET", "/api/ingest-errors");
    assert.equal(
      errors.body.items.length,
      4,
      "both imports' rejected rows are logged",
    );
  });

  it("lands a store's customer export in the profile fields Segment's reserved traits use", async () => {
    const ws = await createTestWorkspace(db());
    // Shopify's customer export (old and new column names), and a file with full names.
    const file = csv(
      "shopify-customers.csv",
      `
First Name,Last Name,Email,Accepts Email Marketing,Company,Address1,Address2,City,Province,Province Code,Country,Country Code,Zip,Phone,Title,Created At
Ana,Lima,ana.lima@example.com,yes,Lima & Filhos,Rua Augusta 1,2º Esq,Lisboa,Lisboa,11,Portugal,PT,1100-048,+351912345678,Buyer,2026-03-30T14:05:00Z
`,
    );
    const newer = csv(
      "shopify-customers-2024.csv",
      `
Customer ID,First Name,Last Name,Email,Default Address Company,Default Address Address1,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip
c-9,Ben,Ray,ben@example.com,Ray Ltd,1 High St,Leeds,ENG,GB,LS1 1AA
`,
    );
    const named = csv(
      "named.csv",
      `
email,name,birthday
cleo@example.com,Cleo de Noor,1990-05-12
`,
    );
    for (const path of [file, newer, named])
      await importCsv(ctx(), {
        kind: "customers",
        file: path,
        workspaceId: ws.id,
        silent: true,
      });
    await settle(herald);
    const traitsOf = async (email: string) =>
      (await api(herald, ws.secretKey, "GET", `/api/profiles?email=${email}`))
        .body.items[0].traits as Record<string, unknown>;
    const ana = await traitsOf("ana.lima@example.com");
    assert.deepEqual(
      Object.fromEntries(
        standardTraitNames
          .filter((name) => ana[name] !== undefined)
          .map((name) => [name, ana[name]]),
      ),
      {
        first_name: "Ana",
        last_name: "Lima",
        name: "Ana Lima",
        email: "ana.lima@example.com",
        phone: "+351912345678",
        created_at: "2026-03-30T14:05:00.000Z",
        title: "Buyer",
        company_name: "Lima & Filhos",
        street: "Rua Augusta 1, 2º Esq",
        city: "Lisboa",
        state: "Lisboa",
        postal_code: "1100-048",
        country: "PT",
      },
    );
    const ben = await traitsOf("ben@example.com");
    assert.deepEqual(
      [ben.company_name, ben.street, ben.city, ben.postal_code, ben.country],
      ["Ray Ltd", "1 High St", "Leeds", "LS1 1AA", "GB"],
    );
    const cleo = await traitsOf("cleo@example.com");
    assert.deepEqual(
      [cleo.first_name, cleo.last_name, cleo.birthday],
      ["Cleo", "de Noor", "1990-05-12"],
    );
  });

  it("imports order history silently, one order per order id, onto the right shoppers", async () => {
    const ws = await createTestWorkspace(db());
    await importCsv(ctx(), {
      kind: "customers",
      file: customers,
      workspaceId: ws.id,
      silent: true,
    });
    const summary = await importCsv(ctx(), {
      kind: "orders",
      file: orders,
      workspaceId: ws.id,
      silent: true,
    });
    assert.deepEqual([summary.stored, summary.rejected], [2, 1]);
    assert.match(
      summary.reasons[0]?.reason ?? "",
      /order 1003 needs a placed_at date/,
    );
    await settle(herald);
    const ana = (
      await api(
        herald,
        ws.secretKey,
        "GET",
        "/api/profiles?email=ana@example.com",
      )
    ).body.items[0];
    assert.deepEqual(
      [ana.computed.orderCount, ana.computed.revenue, ana.computed.lastOrderAt],
      [2, 85, "2026-01-15T09:30:00.000Z"],
    );
    const placed = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/events?name=Order%20Completed",
    );
    assert.ok(
      placed.body.items.every(
        (e: { silent: boolean; source: string }) =>
          e.silent && e.source === "import",
      ),
    );
    const second = placed.body.items.find(
      (e: { properties: { order_id: string } }) =>
        e.properties.order_id === "1002",
    );
    assert.equal(second.properties.products.length, 2);
  });

  it("imports products with their variants", async () => {
    const ws = await createTestWorkspace(db());
    const products = csv(
      "products.csv",
      `
product_id,name,category,brand,price,stock,variant_id,sku,days_of_use_per_unit
tee,Tee,apparel,Acme,,,tee-s,TEE-S,
tee,Tee,apparel,Acme,,,tee-m,TEE-M,
cap-100,Capsules x100,coffee,Brew,20,50,,,1
bad,Bad,,,-5,,,,
`,
    );
    const summary = await importCsv(ctx(), {
      kind: "products",
      file: products,
      workspaceId: ws.id,
      silent: false,
    });
    assert.deepEqual([summary.stored, summary.rejected], [2, 1]);
    const tee = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/catalog/products/tee",
    );
    assert.deepEqual(
      tee.body.variants.map((v: { sku: string }) => v.sku),
      ["TEE-M", "TEE-S"],
    );
    const capsules = await api(
      herald,
      ws.secretKey,
      "GET",
      "/api/catalog/products/cap-100",
    );
    assert.deepEqual(
      [
        capsules.body.price,
        capsules.body.stock,
        capsules.body.daysOfUsePerUnit,
      ],
      [20, 50, 1],
    );
  });
});

describe("herald import", () => {
  it("prints a summary with the rejected rows", async () => {
    const data = await tempDataDir();
    const created = runHerald(data, [
      "workspace",
      "create",
      "--name",
      "Import Store",
      "--json",
    ]);
    const ws = JSON.parse(created.stdout) as { id: string };
    const result = runHerald(data, [
      "import",
      "customers",
      customers,
      "--workspace",
      ws.id,
      "--silent",
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /4 rows read: 2 new events stored, 2 rejected \(silent: no flows started\)/,
    );
    assert.match(
      result.stdout,
      /line 3: "ben@example" is not an email address/,
    );
    const missing = runHerald(data, [
      "import",
      "customers",
      path.join(dir, "nope.csv"),
      "--workspace",
      ws.id,
    ]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no file .*nope\.csv/);
  });
});
