import { gunzipSync } from "node:zlib";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { DomainError, isDomainError } from "@herald/core/domain-error";
import {
  isJsonObject,
  type EventType,
  type JsonObject,
} from "@herald/core/events/event";
import { trackingLimits } from "@herald/core/events/tracking-call";
import {
  EventProblem,
  ingestCalls,
  readIngestBody,
  RefusedEvents,
} from "./ingest-calls.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import {
  clientError,
  errorBody,
  handleError,
  statusOf,
} from "../http/errors.ts";

/**
 * The Segment HTTP Tracking API, as existing client libraries send it: every body is JSON
 * whatever its Content-Type (browsers send text/plain, rudder-sdk-node gzipped form
 * encoding), the write key comes by Basic auth or in the body, and each event of a batch
 * stands or falls on its own. A 2xx means the events are committed.
 */

const shortForms: Record<string, EventType> = {
  t: "track",
  i: "identify",
  p: "page",
  s: "screen",
  g: "group",
  a: "alias",
};

/** Parses a tracking request body: gunzip when asked, then JSON, within the size limit. */
function parseBody(raw: Buffer, encoding: string | undefined): JsonObject {
  let bytes = raw;
  if (encoding && /gzip/i.test(encoding)) {
    try {
      bytes = gunzipSync(raw, {
        maxOutputLength: trackingLimits.requestBytes + 1,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
        bytes = Buffer.alloc(trackingLimits.requestBytes + 1);
      else
        throw new DomainError(
          "invalid",
          "the body is marked gzip but does not gunzip: send gzip, or drop Content-Encoding",
        );
    }
  }
  if (bytes.length > trackingLimits.requestBytes) {
    throw new DomainError(
      "too_large",
      `a request may carry at most ${trackingLimits.requestBytes / 1024} KB of JSON (after gunzip)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new DomainError(
      "invalid",
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (!isJsonObject(parsed))
    throw new DomainError("invalid", "the body must be a JSON object");
  return parsed;
}

/** The write key of a request: Basic auth's user name, else the body's `writeKey`. */
function presentedWriteKey(
  request: FastifyRequest,
  body: JsonObject,
): string | undefined {
  const header = request.headers.authorization;
  const basic = header ? /^Basic\s+(\S+)/i.exec(header)?.[1] : undefined;
  if (basic) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const key = decoded.includes(":")
      ? decoded.slice(0, decoded.indexOf(":"))
      : decoded;
    if (key) return key;
  }
  return readIngestBody(body).writeKey;
}

/** The workspace of a request's write key; throws `unauthorized` for none, a revoked or an unknown one. */
async function writeKeyWorkspace(
  deps: HttpDeps,
  key: string | undefined,
): Promise<string> {
  if (!key)
    throw new DomainError(
      "unauthorized",
      "missing write key: send Authorization: Basic base64(<write key>:) or a writeKey field",
    );
  const stored = await deps.keys.resolve(key);
  if (!stored || stored.revokedAt || stored.kind !== "write") {
    throw new DomainError(
      "unauthorized",
      stored?.revokedAt ? "this write key was revoked" : "unknown write key",
    );
  }
  return stored.workspaceId;
}

const IngestResponse = Type.Object({
  success: Type.Boolean(),
  accepted: Type.Integer(),
  /** Events refused, each on its own. */
  rejected: Type.Optional(Type.Array(EventProblem)),
  /** Events stored with a value that is not used (a non-numeric `revenue`, an invalid `email`). */
  warnings: Type.Optional(Type.Array(EventProblem)),
});

/** The `/v1/*` routes. */
export async function registerIngestRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  await app.register(async (v1: App) => {
    v1.removeAllContentTypeParsers();
    v1.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: 4 * 1024 * 1024 },
      (request, body, done) => {
        try {
          done(
            null,
            parseBody(body as Buffer, request.headers["content-encoding"]),
          );
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    );
    v1.setErrorHandler((error: FastifyError, request, reply) => {
      if (isDomainError(error, "rate_limited"))
        reply.header("retry-after", "1");
      // Every event refused: the error, and each event's path and reason beside it.
      if (error instanceof RefusedEvents)
        return reply.status(statusOf[error.code]).send({
          ...errorBody(error.code, error.message, error.details),
          success: false,
          accepted: 0,
          rejected: error.rejected,
        });
      // A request that can never succeed is answered as such (4xx): a retry would fail
      // the same way.
      if (
        isDomainError(error) ||
        error.validation ||
        clientError(error, request.headers["content-type"])
      )
        return handleError(error, request, reply);
      deps.logger.error({ err: error }, "ingest failed");
      // Nothing was acknowledged: the client retries (a 5xx), and message ids make that safe.
      reply.header("retry-after", "2");
      return handleError(
        new DomainError("unavailable", "events could not be stored; retry"),
        request,
        reply,
      );
    });
    v1.addHook("onRequest", async (request, reply) => {
      const origin = request.headers.origin;
      reply.header("access-control-allow-origin", origin ?? "*");
      if (origin) reply.header("vary", "Origin");
    });
    v1.options("/v1/*", async (request, reply) => {
      const requested = request.headers["access-control-request-headers"];
      return reply
        .status(204)
        .header("access-control-allow-methods", "POST, GET, OPTIONS")
        .header(
          "access-control-allow-headers",
          requested ?? "Content-Type, Authorization, X-Retry-Count",
        )
        .header("access-control-max-age", "86400")
        .send();
    });

    const handle =
      (endpoint: string, type: EventType | "batch") =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        const body = isJsonObject(request.body) ? request.body : {};
        const workspaceId = await writeKeyWorkspace(
          deps,
          presentedWriteKey(request, body),
        );
        const result = await ingestCalls(deps, {
          workspaceId,
          endpoint,
          type,
          body,
        });
        return reply.status(200).send(result);
      };

    const routes: [string, EventType | "batch"][] = [
      ["track", "track"],
      ["identify", "identify"],
      ["page", "page"],
      ["screen", "screen"],
      ["group", "group"],
      ["alias", "alias"],
      ["batch", "batch"],
      ["import", "batch"],
      ["b", "batch"],
      ...Object.entries(shortForms),
    ];
    for (const [path, type] of routes) {
      v1.post(
        `/v1/${path}`,
        { schema: { hide: true, response: { 200: IngestResponse } } },
        handle(`/v1/${path}`, type),
      );
    }

    // analytics.js fetches its settings from here when `cdnURL` points at Herald.
    v1.get(
      "/v1/projects/:writeKey/settings",
      {
        schema: {
          hide: true,
          params: Type.Object({ writeKey: Type.String() }),
        },
      },
      async (request) => {
        const { writeKey } = request.params;
        const url = new URL(deps.config.publicUrl);
        return {
          integrations: {
            "Segment.io": {
              apiKey: writeKey,
              apiHost: `${url.host}/v1`,
              protocol: url.protocol.replace(":", ""),
            },
          },
          plan: {
            track: { __default: { enabled: true } },
            identify: { __default: { enabled: true } },
          },
        };
      },
    );
  });
}
