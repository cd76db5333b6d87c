import Type from "typebox";
import type { App, HttpDeps } from "./http-deps.ts";

/** `GET /health` (is the database reachable) and `GET /metrics` (Prometheus text). */
export function registerHealthRoutes(app: App, deps: HttpDeps): void {
  app.get(
    "/health",
    {
      schema: {
        hide: true,
        response: {
          200: Type.Object({
            status: Type.Literal("ok"),
            database: Type.String(),
          }),
          503: Type.Object({
            status: Type.Literal("unavailable"),
            database: Type.String(),
            reason: Type.String(),
          }),
        },
      },
    },
    async (_request, reply) => {
      try {
        await deps.db.query("select 1");
        return { status: "ok" as const, database: deps.db.kind };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return reply.status(503).send({
          status: "unavailable" as const,
          database: deps.db.kind,
          reason,
        });
      }
    },
  );

  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}
