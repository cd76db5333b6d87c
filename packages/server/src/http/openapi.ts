import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { RouteOptions } from "fastify";
import { ProductUpsert } from "@herald/core/catalog/catalog";
import { FlowDefinition } from "@herald/core/flows/definition";
import { SegmentCondition } from "@herald/core/segments/condition";
import { ChannelContent } from "@herald/core/templates/template";
import { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { App } from "./http-deps.ts";

/**
 * The API document, `GET /api/openapi.json` (OpenAPI 3.1), and its readable form at
 * `/api/docs` (Swagger UI, served from Herald's own dependencies). Admin routes describe
 * themselves with their TypeBox schemas. Described here: the routes outside `/api`
 * (tracking API, store and provider webhooks, tracking and unsubscribe pages, health,
 * metrics), which hide from the admin tags, and the bodies whose handlers validate them
 * with their own path-naming errors (segment definitions, flows, settings, template
 * content, catalog products), which the
 * route schemas leave open. TypeBox writes JSON Schema 2020-12, which OpenAPI 3.1 takes
 * as it is, except cyclic schemas' local `$defs`, which become components.
 */

type Schema = Record<string, unknown>;
type Security = Record<string, string[]>[];

/** How a route outside the admin API is described. */
interface RouteDoc {
  tags: string[];
  summary: string;
  description?: string;
  security: Security;
  /** A documentation-only body: the handler reads it leniently and names each problem. */
  body?: Schema;
}

const publicAccess: Security = [];
const writeKey: Security = [{ writeKey: [] }];
const ref = (name: string): Schema => ({
  $ref: `#/components/schemas/${name}`,
});

const trackingCall: Schema = {
  type: "object",
  description:
    "A Segment tracking call. The write key comes by Basic auth (the key as user name) or as writeKey in the body. Unknown fields are kept.",
  properties: {
    userId: { type: "string" },
    anonymousId: { type: "string" },
    messageId: {
      type: "string",
      description: "Repeated calls with one messageId are stored once",
    },
    timestamp: { type: "string", format: "date-time" },
    event: { type: "string", description: "track: the event's name" },
    name: { type: "string", description: "page and screen: the page's name" },
    properties: { type: "object" },
    traits: {
      type: "object",
      description:
        "identify and group: traits; email_consent (subscribed, unsubscribed) records marketing consent",
    },
    context: { type: "object" },
    integrations: { type: "object" },
    previousId: { type: "string", description: "alias: the earlier id" },
    groupId: { type: "string", description: "group: the group's id" },
    writeKey: { type: "string" },
  },
};
const trackingBatch: Schema = {
  type: "object",
  required: ["batch"],
  properties: {
    batch: {
      type: "array",
      items: {
        allOf: [
          trackingCall,
          {
            type: "object",
            required: ["type"],
            properties: {
              type: {
                enum: ["track", "identify", "page", "screen", "group", "alias"],
              },
            },
          },
        ],
      },
    },
    context: {
      type: "object",
      description: "merged under each event's own context",
    },
    integrations: {
      type: "object",
      description: "merged under each event's own integrations",
    },
    writeKey: { type: "string" },
  },
};
const platformWebhook: Schema = {
  type: "object",
  description: "The platform's webhook payload, as the platform sends it",
};

function routeDocs(): Map<string, RouteDoc> {
  const docs = new Map<string, RouteDoc>();
  const add = (method: string, url: string, doc: RouteDoc) =>
    docs.set(`${method} ${url}`, doc);
  const tracking = (description: string) => ({
    tags: ["tracking"],
    security: writeKey,
    description:
      "The Segment HTTP Tracking API; answers 200 once the events are stored, with the refused ones listed by index, path and reason. " +
      description,
  });
  const calls: [string, string, string][] = [
    [
      "track",
      "t",
      "Record what a shopper did (Order Completed, Product Viewed, …)",
    ],
    ["identify", "i", "Tie a shopper to a user id and set traits"],
    ["page", "p", "Record a page view"],
    ["screen", "s", "Record an app screen view"],
    ["group", "g", "Put a shopper in a group (company, household)"],
    ["alias", "a", "Join an earlier id to a user id"],
  ];
  for (const [type, short, summary] of calls) {
    const doc = { ...tracking(`Short form /v1/${short}.`), summary };
    add("POST", `/v1/${type}`, { ...doc, body: trackingCall });
    add("POST", `/v1/${short}`, {
      ...tracking(`Short form of /v1/${type}.`),
      summary,
      body: trackingCall,
    });
  }
  for (const [url, summary] of [
    ["/v1/batch", "Record up to 500 calls of any type in one request"],
    ["/v1/b", "Short form of /v1/batch"],
    ["/v1/import", "Record calls in bulk (the same as /v1/batch)"],
  ] as const)
    add("POST", url, { ...tracking(""), summary, body: trackingBatch });
  add("GET", "/v1/projects/:writeKey/settings", {
    tags: ["tracking"],
    security: publicAccess,
    summary:
      "Settings analytics.js loads when its cdnURL points at Herald: send events here",
  });
  add("OPTIONS", "/v1/*", {
    tags: ["tracking"],
    security: publicAccess,
    summary: "CORS preflight for browsers calling the tracking API",
  });
  for (const method of ["GET", "POST", "DELETE"])
    for (const url of ["/v1/push/vapid-public-key", "/v1/push/subscriptions"])
      docs.set(`${method} ${url}`, {
        tags: ["push"],
        security: writeKey,
        summary: "",
      });

  add("POST", "/webhooks/shopify", {
    tags: ["webhooks"],
    security: publicAccess,
    summary:
      "Shopify webhooks (checkouts, orders, fulfillments, refunds, customers, products, inventory levels)",
    description:
      "Checked with X-Shopify-Hmac-Sha256 against the connection's secret (PUT /api/connections/shopify); the shop is X-Shopify-Shop-Domain, the topic X-Shopify-Topic.",
    body: platformWebhook,
  });
  add("POST", "/webhooks/woocommerce", {
    tags: ["webhooks"],
    security: publicAccess,
    summary: "WooCommerce webhooks (orders, customers, products)",
    description:
      "Checked with X-WC-Webhook-Signature against the connection's secret (PUT /api/connections/woocommerce); the store is X-WC-Webhook-Source.",
    body: platformWebhook,
  });
  for (const [provider, what] of [
    [
      "ses",
      "Amazon SES notifications through SNS: bounces, complaints, deliveries",
    ],
    ["sendgrid", "SendGrid event webhook: bounces, complaints, deliveries"],
    ["postmark", "Postmark webhooks: bounces, spam complaints, deliveries"],
    ["mailgun", "Mailgun webhooks: bounces, complaints, deliveries"],
    ["twilio", "Twilio status callbacks and incoming STOP / START"],
    ["telegram", "Telegram bot updates: /start links a profile, /stop"],
  ] as const)
    add("POST", `/webhooks/messages/${provider}/:hook`, {
      tags: ["webhooks"],
      security: publicAccess,
      summary: what,
      description:
        "hook is the workspace's token: take the whole address from GET /api/messages/providers.",
      body: platformWebhook,
    });

  const pages = { tags: ["pages"], security: publicAccess };
  add("GET", "/t/o/:token", {
    ...pages,
    summary: "Open pixel of an email: records the open, answers a 1×1 GIF",
  });
  add("GET", "/t/c/:token", {
    ...pages,
    summary:
      "Tracked link of an email: records the click, redirects to the link",
  });
  add("GET", "/u/:token", {
    ...pages,
    summary:
      "Unsubscribe page and preference centre (lists, pause, all marketing email); changes nothing by itself",
  });
  add("POST", "/u/:token", {
    ...pages,
    summary:
      "Unsubscribe: List-Unsubscribe=One-Click (RFC 8058) at once, or the preference centre's form",
    body: {
      type: "object",
      properties: {
        "List-Unsubscribe": { const: "One-Click" },
        action: { type: "string" },
      },
    },
  });

  const operations = { tags: ["operations"], security: publicAccess };
  add("GET", "/health", {
    ...operations,
    summary:
      "Is Herald up and its database reachable (503 with the reason if not)",
  });
  add("GET", "/metrics", {
    ...operations,
    summary: "Prometheus metrics (text exposition format)",
  });
  add("GET", "/api/openapi.json", {
    ...operations,
    summary: "This document",
  });
  return docs;
}

/** Documentation-only bodies of admin routes, by method and OpenAPI path. */
const adminBodies: Record<string, (body: Schema | undefined) => Schema> = {
  "post /api/segments": (body) => withProperty(body, "definition"),
  "patch /api/segments/{id}": (body) => withProperty(body, "definition"),
  "post /api/segments/preview": (body) => withProperty(body, "definition"),
  "post /api/templates": (body) =>
    withProperty(body, "content", "ChannelContent"),
  "put /api/templates/{id}": (body) =>
    withProperty(body, "content", "ChannelContent"),
  "post /api/catalog/products": () => ref("ProductUpsert"),
  "post /api/flows": () => ref("FlowDefinition"),
  "put /api/flows/{id}": () => ref("FlowDefinition"),
  "patch /api/workspace/settings": () => ({
    ...ref("WorkspaceSettings"),
    description:
      "The settings to change; a key set to null is removed, a masked secret sent back keeps the stored one",
  }),
};

function withProperty(
  body: Schema | undefined,
  name: string,
  component = "SegmentCondition",
): Schema {
  const properties = (body?.properties ?? {}) as Record<string, Schema>;
  return {
    ...body,
    properties: {
      ...properties,
      [name]: { ...ref(component), ...pick(properties[name]) },
    },
  };
}

const pick = (schema: Schema | undefined) =>
  schema?.description === undefined ? {} : { description: schema.description };

/** The registered routes of apps, as `onRoute` saw them. */
const routesOf = new WeakMap<object, RegisteredRoute[]>();

/** A route as registered: its method and URL pattern (`/api/flows/:id`). */
export interface RegisteredRoute {
  method: string;
  url: string;
}

/** Starts recording every route the app registers from now on (call it first). */
export function recordRoutes(app: App): void {
  const routes: RegisteredRoute[] = [];
  routesOf.set(app, routes);
  app.addHook("onRoute", (route: RouteOptions) => {
    for (const method of [route.method].flat())
      routes.push({ method, url: route.url });
  });
}

/** Every route registered on the app since `recordRoutes`. */
export function registeredRoutes(app: App): readonly RegisteredRoute[] {
  return routesOf.get(app) ?? [];
}

/**
 * The path of a route in the document: `:id` → `{id}`, a trailing `*` → `{path}`, no
 * trailing slash.
 */
export function documentPath(url: string): string {
  return routePath(url).replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

const routePath = (url: string) =>
  url.replace(/\*$/, ":path").replace(/(.)\/$/, "$1");

/** Registers the document builder (before any route). */
export async function registerOpenApi(
  app: App,
  info: { version: string },
): Promise<void> {
  const docs = routeDocs();
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Herald API",
        version: info.version,
        description:
          "Herald's HTTP API. The admin API (/api) takes `Authorization: Bearer <secret key>`; the tracking API (/v1) takes the write key; webhooks and pages carry their own tokens. Readable at /api/docs.",
      },
      components: {
        securitySchemes: {
          secretKey: { type: "http", scheme: "bearer" },
          writeKey: {
            type: "http",
            scheme: "basic",
            description: "The write key as the user name, no password",
          },
        },
      },
      security: [{ secretKey: [] }],
    },
    transform: ({ schema, url, route }) => {
      const method = [route.method].flat()[0] ?? "GET";
      const path = routePath(url);
      const params = url.endsWith("*")
        ? {
            params: {
              type: "object",
              properties: { path: { type: "string", maxLength: 1000 } },
            },
          }
        : {};
      const doc =
        docs.get(`${method} ${url}`) ??
        (url.startsWith("/api/docs")
          ? {
              tags: ["operations"],
              security: publicAccess,
              summary:
                "The readable API documentation (Swagger UI) and its files",
            }
          : undefined);
      if (!doc) return { schema, url: path };
      const { hide: _hide, ...rest } = (schema ?? {}) as Schema;
      return {
        schema: {
          ...rest,
          ...params,
          tags: doc.tags,
          ...(doc.summary ? { summary: doc.summary } : {}),
          ...(doc.description ? { description: doc.description } : {}),
          ...(doc.body ? { body: doc.body } : {}),
          security: doc.security,
        },
        url: path,
      };
    },
    // Herald builds an OpenAPI document, never a Swagger 2 one.
    transformObject: (built) =>
      finishDocument("openapiObject" in built ? built.openapiObject : {}),
  });
}

/** Registers `/api/docs` (after the document's routes). */
export async function registerDocsPage(app: App): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: "/api/docs",
    uiConfig: { deepLinking: true },
  });
}

/**
 * Adds the named schemas, puts the documentation-only bodies in, and hoists every cyclic
 * schema's `$defs` into components (`$ref: "SegmentCondition"` → the component).
 */
function finishDocument(document: object): Schema {
  const { components = {}, paths = {} } = document as {
    components?: Schema;
    paths?: Record<string, Record<string, Schema>>;
  };
  const schemas = (components.schemas ?? {}) as Record<string, unknown>;
  const settings = json(WorkspaceSettings);
  const settingProperties = settings.properties as Record<string, Schema>;
  for (const [key, schema] of Object.entries(settingProperties)) {
    schemas[`settings.${key}`] = schema;
    settingProperties[key] = ref(`settings.${key}`);
  }
  schemas.WorkspaceSettings = settings;
  schemas.SegmentCondition = json(SegmentCondition);
  schemas.FlowDefinition = json(FlowDefinition);
  schemas.ChannelContent = json(ChannelContent);
  schemas.ProductUpsert = json(ProductUpsert);

  for (const [key, bodyOf] of Object.entries(adminBodies)) {
    const [method = "", path = ""] = key.split(" ");
    const operation = paths[path]?.[method];
    if (!operation) continue;
    const content = ((operation.requestBody as Schema | undefined)?.content ??
      {}) as Record<string, Schema>;
    const current = content["application/json"]?.schema as Schema | undefined;
    operation.requestBody = {
      required: true,
      content: { "application/json": { schema: bodyOf(current) } },
    };
  }
  const settingsGet = paths["/api/workspace/settings"]?.get;
  const settingsResponse = (settingsGet?.responses as Schema | undefined)?.[
    "200"
  ] as Schema | undefined;
  if (settingsResponse)
    settingsResponse.content = {
      "application/json": { schema: ref("WorkspaceSettings") },
    };

  const named: Record<string, unknown> = {};
  const hoistedPaths = hoist(paths, named);
  for (const [name, schema] of Object.entries(schemas)) {
    const hoisted = hoist(schema, named) as Schema;
    // A cyclic schema is a reference to its own hoisted definition: keep that.
    if (hoisted.$ref !== `#/components/schemas/${name}`) named[name] = hoisted;
  }
  return {
    ...document,
    paths: hoistedPaths,
    components: { ...components, schemas: named },
  };
}

const json = (schema: unknown): Schema =>
  JSON.parse(JSON.stringify(schema)) as Schema;

function hoist(node: unknown, schemas: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((item) => hoist(item, schemas));
  if (node === null || typeof node !== "object") return node;
  const { $defs, ...rest } = node as Schema;
  if ($defs && typeof $defs === "object")
    for (const [name, def] of Object.entries($defs as Schema))
      schemas[name] = hoist(def, schemas);
  const out: Schema = {};
  for (const [key, value] of Object.entries(rest))
    out[key] =
      key === "$ref" && typeof value === "string" && /^[A-Za-z]\w*$/.test(value)
        ? `#/components/schemas/${value}`
        : hoist(value, schemas);
  return out;
}
