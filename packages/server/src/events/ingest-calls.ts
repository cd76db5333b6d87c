import Type, { type Static } from "typebox";
import Value from "typebox/value";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import {
  isJsonObject,
  type EventType,
  type JsonObject,
} from "@herald/core/events/event";
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
import type { Queryable } from "../db/database.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import { listIngestErrors, type IngestError } from "./ingest-errors.sql.ts";
import type { IngestWriter } from "./ingest-writer.ts";
import { encodeIntakeItem } from "./intake.sql.ts";

/**
 * The Segment HTTP Tracking API's calls, once the request is read and its write key
 * known: each event of a request is checked on its own (core's `normalizeCall`), so a
 * malformed one is refused alone with its path and reason and its neighbours are kept;
 * the valid ones go to the intake (committed before the caller answers), the refused ones
 * to the ingest errors log beside them.
 */

/** The write key a body may carry instead of Basic auth. */
const WriteKey = Type.String({ minLength: 1 });
/** A batch's events: each is checked on its own, by `normalizeCall`. */
const BatchEvents = Type.Array(Type.Unknown());
/** What a batch's events share (`context`, `integrations`), merged under each one's own. */
const Shared = Type.Record(Type.String(), Type.Unknown());

/**
 * A tracking request's body, the fields Herald reads beside the events: a single call's
 * body is its one event; a batch's holds `batch`. A shared field of another type is left
 * out, as Segment's API ignores it; `sentAt` is checked with each event.
 */
export const IngestBody = Type.Object({
  writeKey: Type.Optional(WriteKey),
  batch: Type.Optional(BatchEvents),
  context: Type.Optional(Shared),
  integrations: Type.Optional(Shared),
  sentAt: Type.Optional(Type.Unknown()),
});
export type IngestBody = Static<typeof IngestBody>;

/** The fields of a parsed body that are what IngestBody says; the others are left out. */
export function readIngestBody(body: JsonObject): IngestBody {
  const { writeKey, batch, context, integrations, sentAt } = body;
  return {
    ...(Value.Check(WriteKey, writeKey) ? { writeKey } : {}),
    ...(Value.Check(BatchEvents, batch) ? { batch } : {}),
    ...(Value.Check(Shared, context) ? { context } : {}),
    ...(Value.Check(Shared, integrations) ? { integrations } : {}),
    ...(sentAt === undefined ? {} : { sentAt }),
  };
}

/** An event of a request refused, or stored with a value that is not used, and why. */
export const EventProblem = Type.Object({
  index: Type.Integer(),
  messageId: Type.Optional(Type.String()),
  path: Type.String(),
  reason: Type.String(),
});
export type EventProblem = Static<typeof EventProblem>;

/** What a request's events came to: how many are committed, and each one refused or odd. */
export interface IngestResult {
  success: true;
  accepted: number;
  rejected?: EventProblem[];
  warnings?: EventProblem[];
}

/**
 * Every event of a request refused: an `invalid` error (a 400, which Segment's clients do
 * not retry) that also lists each event with its path and reason.
 */
export class RefusedEvents extends DomainError {
  constructor(readonly rejected: EventProblem[]) {
    const first = rejected[0];
    super(
      "invalid",
      `${first?.path} ${first?.reason}`,
      rejected.map((r) => ({ path: r.path, message: r.reason })),
    );
  }
}

/** One tracking request, its write key resolved to a workspace. */
export interface IngestRequest {
  workspaceId: string;
  /** The path it came to (`/v1/batch`), as the ingest errors log names it. */
  endpoint: string;
  /** The endpoint's type; for `batch`, each event names its own. */
  type: EventType | "batch";
  /** The body as parsed: a single call's event, or a batch. */
  body: JsonObject;
}

/** What `ingestCalls` needs. */
export interface IngestDeps {
  ingest: IngestWriter;
  settings: SettingsCache;
  clock: Clock;
}

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

/**
 * Checks a request's events one by one and commits the valid ones to the intake; resolves
 * once they are committed. Throws `RefusedEvents` when every event was refused, an
 * `invalid` error for a batch that is not one, `rate_limited` when too much waits.
 */
export async function ingestCalls(
  deps: IngestDeps,
  request: IngestRequest,
): Promise<IngestResult> {
  const { workspaceId, endpoint, type } = request;
  const body = readIngestBody(request.body);
  const settings = await deps.settings.get(workspaceId);
  const receivedAt = deps.clock.now();

  let raws: unknown[];
  if (type === "batch") {
    if (!body.batch)
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
  } else raws = [request.body];

  const items: string[] = [];
  const rejected: EventProblem[] = [];
  const warnings: EventProblem[] = [];
  const errors: IngestError[] = [];
  const batchContext = type === "batch" ? body.context : undefined;
  const batchIntegrations = type === "batch" ? body.integrations : undefined;
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
        const item = encodeIntakeItem({ event: result.event, identifiers });
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
      type === "batch" ? `/batch/${index}${result.path}` : result.path || "/";
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
  if (items.length === 0 && rejected.length > 0)
    throw new RefusedEvents(rejected);
  return {
    success: true,
    ...written,
    ...(rejected.length > 0 ? { rejected } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** One event the tracking API refused (or stored with a warning), as the admin API shows it. */
export interface IngestErrorView {
  id: number;
  receivedAt: string;
  source: string;
  endpoint: string;
  batchIndex: number | null;
  messageId: string | null;
  reason: string;
  payload: string | null;
}

/** A page of the events the tracking API refused, newest first, and the next page's cursor. */
export async function listIngestErrorPage(
  q: Queryable,
  workspaceId: string,
  page: { limit: number; before?: number },
): Promise<{ items: IngestErrorView[]; next: number | null }> {
  const rows = await listIngestErrors(q, workspaceId, {
    limit: page.limit + 1,
    ...(page.before === undefined ? {} : { beforeId: page.before }),
  });
  const items = rows.slice(0, page.limit).map((r) => ({
    id: r.id,
    receivedAt: r.received_at.toISOString(),
    source: r.source,
    endpoint: r.endpoint,
    batchIndex: r.batch_index,
    messageId: r.message_id,
    reason: r.reason,
    payload: r.payload,
  }));
  return {
    items,
    next: rows.length > page.limit ? (items.at(-1)?.id ?? null) : null,
  };
}
