import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import { startTestHerald } from "../testing/test-server.ts";
import { documentPath, registeredRoutes } from "./openapi.ts";

type Operation = {
  summary?: string;
  security?: unknown[];
  requestBody?: { content: Record<string, { schema: Record<string, any> }> };
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, any> };
};

describeOnDatabases("the API document", (db) => {
  let herald: Herald;
  let document: Document;
  before(async () => {
    herald = await startTestHerald(db());
    const response = await fetch(`${herald.url}/api/openapi.json`);
    assert.equal(response.status, 200);
    document = (await response.json()) as Document;
  });
  after(() => herald.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    assert.equal(document.openapi, "3.1.0");
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never);
  });

  it("describes every route registered on the app", () => {
    const routes = registeredRoutes(herald.app).filter(
      (route) => route.method !== "HEAD",
    );
    assert.ok(routes.length > 100, `${routes.length} routes recorded`);
    const missing = routes
      .filter(
        (route) =>
          !document.paths[documentPath(route.url)]?.[
            route.method.toLowerCase()
          ],
      )
      .map((route) => `${route.method} ${route.url}`);
    assert.deepEqual(missing, []);
    for (const path of [
      "/v1/track",
      "/v1/t",
      "/v1/batch",
      "/webhooks/shopify",
      "/health",
      "/metrics",
      "/t/c/{token}",
      "/u/{token}",
    ])
      assert.ok(document.paths[path], path);
    assert.deepEqual(document.paths["/v1/track"]?.post?.security, [
      { writeKey: [] },
    ]);
    assert.deepEqual(document.paths["/health"]?.get?.security, []);
  });

  it("documents segment, flow and settings bodies as schemas", () => {
    const body = (path: string, method: string) =>
      document.paths[path]?.[method]?.requestBody?.content["application/json"]
        ?.schema;
    const schemas = document.components.schemas;
    assert.equal(
      body("/api/segments", "post")?.properties?.definition?.$ref,
      "#/components/schemas/SegmentCondition",
    );
    assert.ok(
      JSON.stringify(schemas.SegmentCondition).includes('"const":"event"'),
    );
    assert.equal(
      body("/api/flows", "post")?.$ref,
      "#/components/schemas/FlowDefinition",
    );
    assert.deepEqual(schemas.FlowDefinition.required, [
      "name",
      "trigger",
      "start",
      "nodes",
    ]);
    assert.equal(
      body("/api/workspace/settings", "patch")?.$ref,
      "#/components/schemas/WorkspaceSettings",
    );
    assert.equal(
      schemas.WorkspaceSettings.properties.storeUrl.$ref,
      "#/components/schemas/settings.storeUrl",
    );
    assert.ok(schemas["settings.marketingConsent"].description);
  });

  it("documents template content and catalog products by their core schemas", () => {
    const operation = (path: string, method: string) =>
      document.paths[path]?.[method] as Record<string, any> | undefined;
    const body = (path: string, method: string) =>
      operation(path, method)?.requestBody?.content["application/json"]?.schema;
    const schemas = document.components.schemas;
    for (const [path, method] of [
      ["/api/templates", "post"],
      ["/api/templates/{id}", "put"],
    ] as const)
      assert.equal(
        body(path, method)?.properties?.content?.$ref,
        "#/components/schemas/ChannelContent",
        `${method} ${path}`,
      );
    assert.equal(schemas.ChannelContent.anyOf.length, 5);
    assert.ok(
      schemas.ChannelContent.anyOf.some((channel: any) =>
        channel.required?.includes("mjml"),
      ),
    );
    assert.equal(
      body("/api/catalog/products", "post")?.$ref,
      "#/components/schemas/ProductUpsert",
    );
    const preview = operation("/api/templates/{id}/preview", "post")
      ?.responses?.["200"]?.content["application/json"]?.schema;
    assert.equal(preview?.properties?.content?.anyOf?.length, 5);
  });

  it("serves readable docs from Herald itself at /api/docs", async () => {
    const page = await fetch(`${herald.url}/api/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map(
      (match) => match[1] ?? "",
    );
    assert.ok(scripts.length > 0, html);
    for (const src of scripts) {
      assert.doesNotMatch(src, /^(https?:)?\/\//, "no CDN");
      const script = await fetch(new URL(src, page.url));
      assert.equal(script.status, 200, src);
      assert.ok((await script.text()).length > 0, src);
    }
    const spec = await fetch(new URL("json", page.url.replace(/\/?$/, "/")));
    assert.equal(((await spec.json()) as Document).openapi, "3.1.0");
  });
});
