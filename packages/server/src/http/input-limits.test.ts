import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  additionalProperties?: Schema | boolean;
};
type Operation = {
  parameters?: { in: string; name: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
};

/** Every admin API operation the server registered, from its OpenAPI document. */
function operations(herald: Herald) {
  const doc = herald.app.swagger() as {
    paths: Record<string, Record<string, Operation>>;
  };
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith("/api/"))
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        op,
      })),
    );
}

/** The numbers without a range and the strings without a length, by where they are. */
function unbounded(schema: Schema, at: string, out: string[]): void {
  const { type } = schema;
  if (
    (type === "number" || type === "integer") &&
    ((schema.minimum === undefined && schema.exclusiveMinimum === undefined) ||
      (schema.maximum === undefined && schema.exclusiveMaximum === undefined))
  )
    out.push(`${at}: a number without minimum and maximum`);
  if (
    type === "string" &&
    schema.maxLength === undefined &&
    schema.enum === undefined &&
    schema.const === undefined &&
    schema.format === undefined
  )
    out.push(`${at}: a string without maxLength`);
  for (const [name, child] of Object.entries(schema.properties ?? {}))
    unbounded(child, `${at}/${name}`, out);
  if (schema.items) unbounded(schema.items, `${at}/items`, out);
  for (const list of [schema.anyOf, schema.oneOf, schema.allOf])
    for (const [i, child] of (list ?? []).entries())
      unbounded(child, `${at}|${i}`, out);
  if (typeof schema.additionalProperties === "object")
    unbounded(schema.additionalProperties, `${at}/*`, out);
}

describeOnDatabases("admin API input limits", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  it("gives every number a route reads a range and every string a length", () => {
    const problems: string[] = [];
    const ops = operations(herald);
    assert.ok(ops.length > 50, "the routes are listed");
    for (const { method, path, op } of ops) {
      for (const p of op.parameters ?? [])
        unbounded(p.schema, `${method} ${path} ${p.in} ${p.name}`, problems);
      for (const [type, content] of Object.entries(
        op.requestBody?.content ?? {},
      ))
        unbounded(content.schema, `${method} ${path} body (${type})`, problems);
    }
    assert.deepEqual(problems, []);
  });

  it("answers limit=1e309 and Infinity on every paged list with a 400 naming limit", async () => {
    const ws = await createTestWorkspace(db());
    const paged = operations(herald).filter(
      ({ method, op }) =>
        method === "GET" &&
        (op.parameters ?? []).some(
          (p) => p.in === "query" && p.name === "limit",
        ),
    );
    assert.ok(paged.length >= 10, `paged lists found: ${paged.length}`);
    for (const { path } of paged) {
      const url = path.replace(
        /\{[^}]+\}/g,
        "0190a0a0-0000-7000-8000-000000000000",
      );
      for (const limit of ["1e309", "Infinity"]) {
        const response = await api(
          herald,
          ws.secretKey,
          "GET",
          `${url}?limit=${limit}`,
        );
        assert.equal(response.status, 400, `${path}?limit=${limit}`);
        assert.equal(
          response.body.error.details?.[0]?.path,
          "/querystring/limit",
          `${path}?limit=${limit}: ${JSON.stringify(response.body)}`,
        );
      }
    }
  });

  it("refuses numbers past what storage keeps with a 400 naming the field", async () => {
    const ws = await createTestWorkspace(db());
    const cases: [string, string, unknown, string][] = [
      [
        "GET",
        "/api/ingest-errors?before=99999999999999999999",
        undefined,
        "/querystring/before",
      ],
      [
        "GET",
        "/api/templates/t/versions/99999999999",
        undefined,
        "/params/version",
      ],
      [
        "POST",
        "/api/catalog/products",
        { product_id: "p1", name: "Mug", price: 1e308 },
        "/price",
      ],
      [
        "POST",
        "/api/coupons/pools",
        { id: "far", kind: "generated", expiresAfterDays: "1e309" },
        "/body/expiresAfterDays",
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const response = await api(herald, ws.secretKey, method, path, body);
      assert.equal(
        response.status,
        400,
        `${method} ${path}: ${JSON.stringify(response.body)}`,
      );
      assert.equal(response.body.error.details?.[0]?.path, field, path);
    }
  });

  it("refuses NUL, lone surrogates, over-long strings and deep nesting in bodies and paths with a 400 naming the field", async () => {
    const ws = await createTestWorkspace(db());
    const segment = (name: string, trait: string, value: unknown = "x") => ({
      name,
      definition: { type: "trait", trait, op: "equals", value },
    });
    const cases: [string, string, unknown, string, RegExp][] = [
      [
        "POST",
        "/api/segments",
        segment("nul", "a\u0000b"),
        "/body/definition/trait",
        /NUL/,
      ],
      [
        "POST",
        "/api/segments",
        segment("lone \ud800", "a"),
        "/body/name",
        /surrogate/,
      ],
      ["GET", "/api/scores/a%00b", undefined, "/params/name", /NUL/],
      [
        "POST",
        "/api/segments",
        segment("x".repeat(300_000), "a"),
        "/body/name",
        /500 characters/,
      ],
      [
        "POST",
        "/api/lists",
        { name: "x".repeat(1_000) },
        "/body/name",
        /200 characters/,
      ],
    ];
    for (const [method, path, body, field, message] of cases) {
      const response = await api(herald, ws.secretKey, method, path, body);
      assert.equal(
        response.status,
        400,
        `${path}: ${JSON.stringify(response.body).slice(0, 300)}`,
      );
      assert.equal(response.body.error.details?.[0]?.path, field, path);
      assert.match(response.body.error.message, message);
    }
    const deep = '{"a":'.repeat(5_000) + "1" + "}".repeat(5_000);
    const response = await fetch(`${herald.url}/api/segments`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${ws.secretKey}`,
        "content-type": "application/json",
      },
      body: `{"name": "deep", "definition": {"type": "trait", "trait": "a", "op": "equals", "value": ${deep}}}`,
    });
    const refused = (await response.json()) as {
      error: { message: string; details: { path: string }[] };
    };
    assert.equal(response.status, 400);
    assert.match(
      refused.error.details[0]?.path ?? "",
      /^\/body\/definition\/value\/a\//,
    );
    assert.match(refused.error.message, /nested more than 32 levels/);
  });
});
