import { gunzipSync } from "node:zlib";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { DomainError, isDomainError } from "@herald/core/domain-error";
import { isJsonObject, type EventType } from "@herald/core/events/event";
import {
  normalizeCall,
  trackingLimits,
  type CallResult,
} from "@herald/core/events/tracking-call";
import { uuidv7 } from "@herald/core/ids";
import {
  extractIdentifiers,
  identifierRules,
} from "@herald/core/identity/identifiers";
import type { IngestError } from "./ingest-errors.sql.ts";
import { encodeIntakeItem } from "./intake.sql.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { clientError, errorBody, handleError } from "../http/errors.ts";

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

type IngestBody = Record<string, unknown>;

/** A request body past the size limit: a 413, whatever the route. */
function tooLarge(message: string): Error {
  return Object.assign(new Error(message), {
    statusCode: 413,
    code: "FST_ERR_CTP_BODY_TOO_LARGE",
  });
}

/** Parses a tracking request body: gunzip when asked, then JSON, within the size limit. */
function parseBody(raw: Buffer, encoding: string | undefined): IngestBody {
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
    throw tooLarge(
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
  body: IngestBody,
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
  return typeof body.writeKey === "string" && body.writeKey !== ""
    ? body.writeKey
    : undefined;
}

const EventProblem = Type.Object({
  index: Type.Integer(),
  messageId: Type.Optional(Type.String()),
  path: Type.String(),
  reason: Type.String(),
});

const IngestResponse = Type.Object({
  success: Type.Boolean(),
  accepted: Type.Integer(),
  /** Events refused, each on its own. */
  rejected: Type.Optional(Type.Array(EventProblem)),
  /** Events stored with a value that is not used (a non-numeric `revenue`, an invalid `email`). */
  warnings: Type.Optional(Type.Array(EventProblem)),
});

/** The size of an event as sent (as JSON); Infinity when it is nested too deep to encode. */
function sentBytes(raw: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(raw));
  } catch {
    return Infinity;
  }
}

/** A refused event as the ingest errors log keeps it: as sent, cut to 4 KB. */
function payloadOf(raw: unknown): string {
  try {
    return (JSON.stringify(raw) ?? "").slice(0, 4096);
  } catch {
    // Nested too deep to encode (the reason it was refused).
    return "(not kept: nested too deep to encode)";
  }
}

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
      // A request that can never succeed is answered as such (4xx): a retry would fail
      // the same way.
      if (
        isDomainError(error) ||
        error.validation ||
        clientError(error, request.headers["content-type"])
      )
        return handleError(error, request, reply);
      deps.logger.error({ err: error }, "ingest failed");
      // Nothing was acknowledged: the client retries, and message ids make that safe.
      return reply
        .status(503)
        .header("retry-after", "2")
        .send(errorBody("unavailable", "events could not be stored; retry"));
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
        const body = (request.body ?? {}) as IngestBody;
        const key = presentedWriteKey(request, body);
        if (!key)
          throw new DomainError(
            "unauthorized",
            "missing write key: send Authorization: Basic base64(<write key>:) or a writeKey field",
          );
        const stored = await deps.keys.resolve(key);
        if (!stored || stored.revokedAt || stored.kind !== "write") {
          throw new DomainError(
            "unauthorized",
            stored?.revokedAt
              ? "this write key was revoked"
              : "unknown write key",
          );
        }
        const workspaceId = stored.workspaceId;
        const settings = await deps.settings.get(workspaceId);
        const receivedAt = deps.clock.now();

        let raws: unknown[];
        if (type === "batch") {
          if (!Array.isArray(body.batch))
            throw new DomainError(
              "invalid",
              "a batch request needs a `batch` array of events",
            );
          if (body.batch.length > trackingLimits.batchEvents) {
            throw new DomainError(
              "invalid",
              `a batch may hold at most ${trackingLimits.batchEvents} events; this one has ${body.batch.length}`,
            );
          }
          raws = body.batch;
        } else raws = [body];

        const items: string[] = [];
        const rejected: {
          index: number;
          messageId?: string;
          path: string;
          reason: string;
        }[] = [];
        const warnings: typeof rejected = [];
        const errors: IngestError[] = [];
        const batchContext =
          type === "batch" && isJsonObject(body.context)
            ? body.context
            : undefined;
        const batchIntegrations =
          type === "batch" && isJsonObject(body.integrations)
            ? body.integrations
            : undefined;
        for (const [index, raw] of raws.entries()) {
          let result: CallResult = normalizeCall(raw, {
            ...(type === "batch" ? {} : { type }),
            receivedAt,
            ...(batchContext ? { batchContext } : {}),
            ...(batchIntegrations ? { batchIntegrations } : {}),
            batchSentAt: body.sentAt,
            source: "api",
            newMessageId: () => `herald-${uuidv7(receivedAt)}`,
          });
          if (result.ok) {
            const identifiers = extractIdentifiers(
              result.event,
              settings.defaultPhoneRegion,
            );
            if (!identifiers.some((id) => identifierRules[id.type].merges)) {
              result = {
                ok: false,
                path: "/userId",
                reason:
                  "no usable userId or anonymousId (placeholders such as 'anonymous', '0' or 'null' are ignored)",
              };
            } else {
              // Over the limit means as sent and as kept (a client's own check passes
              // events up to the limit; the stored form adds a few fields).
              const item = encodeIntakeItem({
                event: result.event,
                identifiers,
              });
              if (
                Buffer.byteLength(item) <= trackingLimits.eventBytes ||
                sentBytes(raw) <= trackingLimits.eventBytes
              ) {
                items.push(item);
                for (const warning of result.warnings ?? []) {
                  const path =
                    type === "batch"
                      ? `/batch/${index}${warning.path}`
                      : warning.path;
                  warnings.push({
                    index,
                    messageId: result.event.messageId,
                    path,
                    reason: warning.reason,
                  });
                  errors.push({
                    source: "api",
                    endpoint,
                    batchIndex: type === "batch" ? index : null,
                    messageId: result.event.messageId,
                    reason: `warning (event stored): ${path}: ${warning.reason}`,
                    payload: payloadOf(raw),
                  });
                }
                continue;
              }
              result = {
                ok: false,
                path: "",
                reason: `an event may be at most ${trackingLimits.eventBytes / 1024} KB`,
              };
            }
          }
          const messageId =
            isJsonObject(raw) && typeof raw.messageId === "string"
              ? raw.messageId
              : undefined;
          const path =
            type === "batch"
              ? `/batch/${index}${result.path}`
              : result.path || "/";
          rejected.push({
            index,
            ...(messageId ? { messageId } : {}),
            path,
            reason: result.reason,
          });
          errors.push({
            source: "api",
            endpoint,
            batchIndex: type === "batch" ? index : null,
            messageId: messageId ?? null,
            reason: `${path}: ${result.reason}`,
            payload: payloadOf(raw),
          });
        }

        const written = await deps.ingest.write(workspaceId, items, errors);
        if (items.length === 0 && rejected.length > 0) {
          const first = rejected[0];
          return reply.status(400).send({
            ...errorBody(
              "invalid",
              `${first?.path} ${first?.reason}`,
              rejected.map((r) => ({ path: r.path, message: r.reason })),
            ),
            success: false,
            accepted: 0,
            rejected,
          });
        }
        return reply.status(200).send({
          success: true,
          ...written,
          ...(rejected.length > 0 ? { rejected } : {}),
          ...(warnings.length > 0 ? { warnings } : {}),
        });
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
      { schema: { hide: true } },
      async (request) => {
        const { writeKey } = request.params as { writeKey: string };
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
