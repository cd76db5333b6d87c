import Fastify, { LogController, type FastifyBaseLogger } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { registerMessageRoutes } from "../messages/message-routes.ts";
import { registerProviderWebhookRoutes } from "../messages/provider-webhook-routes.ts";
import { registerTrackingRoutes } from "../messages/tracking-routes.ts";
import { registerCatalogRoutes } from "../catalog/catalog-routes.ts";
import { registerConnectionRoutes } from "../connections/connection-routes.ts";
import { registerWebhookRoutes } from "../connections/store-webhook-routes.ts";
import { registerEventRoutes } from "../events/event-routes.ts";
import { registerIngestRoutes } from "../events/ingest-routes.ts";
import { registerProfileRoutes } from "../profiles/profile-routes.ts";
import { requireSecretKey } from "./auth.ts";
import type { App, HttpDeps } from "./http-deps.ts";
import { handleError, errorBody, maxParamLength } from "./errors.ts";
import { registerHealthRoutes } from "./health.ts";
import { recordRoutes, registerDocsPage, registerOpenApi } from "./openapi.ts";
import { registerInputLimits } from "./input-limits.ts";
import { registerWorkspaceRoutes } from "../workspaces/workspace-routes.ts";
import { registerListRoutes } from "../lists/list-routes.ts";
import { registerScoreRoutes } from "../scores/score-routes.ts";
import { registerSegmentRoutes } from "../segments/segment-routes.ts";
import { registerTagRoutes } from "../tags/tag-routes.ts";
import { registerTemplateRoutes } from "../templates/template-routes.ts";
import { registerCouponRoutes } from "../coupons/coupon-routes.ts";
import { registerFlowRoutes } from "../flows/flow-routes.ts";
import YAML from "yaml";

export const apiVersion = "0.1.0";

/**
 * Builds the HTTP server. The `worker` role serves only `/health` and `/metrics`; the
 * others serve everything. Route files register themselves under their feature's name.
 */
export async function buildApp(deps: HttpDeps): Promise<App> {
  // pino's Logger, seen as Fastify's logger type so that the instance's generics match App.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app: App = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength },
    // The router's own errors (bad percent-encoding, an over-long parameter) get the
    // same error body as everything else.
    frameworkErrors: (error, request, reply) =>
      void handleError(error, request, reply),
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: "array",
        useDefaults: true,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  recordRoutes(app);

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(
        errorBody(
          "not_found",
          `no route ${request.method} ${request.url.split("?")[0]}`,
        ),
      ),
  );
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    deps.metrics.httpRequests.inc({
      method: request.method,
      route,
      status: reply.statusCode,
    });
    deps.metrics.httpDuration.observe(
      { method: request.method, route },
      reply.elapsedTime / 1000,
    );
  });

  await registerOpenApi(app, { version: apiVersion });

  registerHealthRoutes(app, deps);
  if (deps.config.role === "worker") return app;

  await registerIngestRoutes(app, deps);
  await registerWebhookRoutes(app, deps);
  await registerTrackingRoutes(app, deps);
  await registerProviderWebhookRoutes(app, deps);
  app.get("/api/openapi.json", { schema: { hide: true } }, async () =>
    app.swagger(),
  );
  await registerDocsPage(app);
  await app.register(
    async (api: App) => {
      api.addHook("onRequest", requireSecretKey(deps.keys));
      registerInputLimits(api);
      // An action with nothing to say (install, publish) may come with no body at all, even
      // when the client sets Content-Type: application/json: that is an empty object.
      api.addHook("preValidation", async (request) => {
        if (request.body === undefined && request.routeOptions.schema?.body)
          request.body = {};
      });
      const parseJson = api.getDefaultJsonParser("error", "error");
      api.removeContentTypeParser("application/json");
      api.addContentTypeParser(
        "application/json",
        { parseAs: "string" },
        (request, body, done) => {
          const text = body as string; // parseAs: "string"
          if (text.trim() === "") done(null, undefined);
          else void parseJson(request, text, done);
        },
      );
      // Flows kept in git are YAML.
      api.addContentTypeParser(
        ["application/yaml", "application/x-yaml", "text/yaml"],
        { parseAs: "string" },
        (_request, body, done) => {
          try {
            done(null, YAML.parse(body as string) as unknown);
          } catch (error) {
            done(
              Object.assign(
                new Error(
                  `the body is not valid YAML: ${(error as Error).message}`,
                ),
                { statusCode: 400 },
              ),
              undefined,
            );
          }
        },
      );
      registerWorkspaceRoutes(api, deps);
      registerProfileRoutes(api, deps);
      registerEventRoutes(api, deps);
      registerSegmentRoutes(api, deps);
      registerTagRoutes(api, deps);
      registerScoreRoutes(api, deps);
      registerListRoutes(api, deps);
      registerMessageRoutes(api, deps);
      registerCatalogRoutes(api, deps);
      registerConnectionRoutes(api, deps);
      registerTemplateRoutes(api, deps);
      registerCouponRoutes(api, deps);
      registerFlowRoutes(api, deps);
    },
    { prefix: "/api" },
  );
  return app;
}
