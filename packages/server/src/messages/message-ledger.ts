import { createHash } from "node:crypto";
import { DomainError } from "@herald/core/domain-error";
import type { IncomingEvent, JsonObject } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import {
  advanceStatus,
  checkEnqueueRequest,
  type EnqueueRequest,
  type Message,
  type MessageNews,
} from "@herald/core/messages/ledger";
import { messageEventName } from "@herald/core/messages/tracking";
import type { Channel } from "@herald/core/profiles/consent";
import type { Tx } from "../db/database.ts";
import { appendProfileEvents } from "../events/event-log.ts";
import { getList, setListStatus } from "../lists/lists.sql.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { changeConsent } from "./consent-service.ts";
import { insertInteraction } from "./message-interactions.sql.ts";
import {
  getMessageByKey,
  insertMessage,
  insertMessages,
  lockMessageRow,
  messagesChannel,
  setEngagement,
  toMessage,
  type MessageRow,
  type NewMessageRow,
} from "./messages.sql.ts";
import { upsertSuppression } from "./suppressions.sql.ts";

/**
 * The ledger's write side that other features call: queue a message (flows, campaigns,
 * the transactional API), and record what became of it (tracking, provider webhooks),
 * emitting Segment's Email spec events so segments and flows can react. Consent changes
 * that come with news (a complaint, an unsubscribe) go through `consent-service.ts`.
 */

/**
 * Queues a message in the caller's transaction: writes the ledger row (status `queued`)
 * and wakes the sender after commit. A repeated idempotency key returns the first row
 * (`created: false`) and queues nothing; with `requestHash`, a key reused for a different
 * request is refused as a conflict.
 */
export async function enqueueMessage(
  tx: Tx,
  request: EnqueueRequest,
  now: Date,
  requestHash?: string,
): Promise<{ message: Message; created: boolean }> {
  const fresh = newMessageRow(request, now, requestHash);
  const inserted = await insertMessage(tx, fresh);
  if (inserted) {
    tx.notify(messagesChannel, "");
    return { message: toMessage(inserted), created: true };
  }
  const row = await getMessageByKey(
    tx,
    fresh.workspace_id,
    fresh.idempotency_key,
  );
  if (!row) throw new Error("idempotency key vanished during insert");
  if (requestHash && row.request_hash && row.request_hash !== requestHash)
    throw new DomainError(
      "conflict",
      `Idempotency-Key ${request.idempotencyKey} was already used for a different message (${row.id}); use a new key`,
    );
  return { message: toMessage(row), created: false };
}

/**
 * Queues many messages in one statement (a flow batch, a campaign batch); keys queued
 * before are skipped. Resolves to how many rows were created.
 */
export async function enqueueMessages(
  tx: Tx,
  requests: EnqueueRequest[],
  now: Date,
): Promise<number> {
  if (requests.length === 0) return 0;
  const created = await insertMessages(
    tx,
    requests.map((request) => newMessageRow(request, now)),
  );
  if (created > 0) tx.notify(messagesChannel, "");
  return created;
}

/** The ledger row for a request, after checking it and filling its defaults. */
function newMessageRow(
  request: EnqueueRequest,
  now: Date,
  requestHash?: string,
): NewMessageRow {
  const r = checkEnqueueRequest(request);
  const source = r.source;
  return {
    workspace_id: r.workspaceId,
    id: uuidv7(now),
    idempotency_key: r.idempotencyKey,
    request_hash: requestHash ?? null,
    profile_id: r.profileId,
    channel: r.channel,
    transactional: r.transactional,
    source,
    campaign_id: source.kind === "campaign" ? source.campaignId : null,
    template_id: r.templateId ?? null,
    template_version: r.templateVersion ?? null,
    inline_content: r.content ?? null,
    data: r.data ?? {},
    list_id: r.listId ?? null,
    obey_frequency_cap: r.obeyFrequencyCap ?? !r.transactional,
    skip_when_capped: r.skipWhenCapped ?? false,
    obey_quiet_hours: r.obeyQuietHours ?? !r.transactional,
    to_address: r.to ?? null,
    send_at: r.sendAt && r.sendAt > now ? r.sendAt : now,
    created_at: now,
  };
}

/** A stable hash of a request body, to tell a retry from a different request. */
export function hashRequest(body: unknown): string {
  return createHash("sha256").update(JSON.stringify(body)).digest("hex");
}

const stampOf = {
  delivered: "delivered_at",
  opened: "opened_at",
  clicked: "clicked_at",
  bounced: "bounced_at",
  complained: "complained_at",
  unsubscribed: "unsubscribed_at",
} as const;

/** What happened, as a tracking endpoint or a provider webhook saw it. */
export interface NewsInput {
  workspaceId: string;
  /** The ledger row, locked by the caller or loaded here. */
  message: MessageRow | string;
  news: MessageNews;
  /** False for machines (privacy proxies, scanners): recorded, not counted, no event. */
  human: boolean;
  reason?: string;
  linkIndex?: number;
  url?: string;
  userAgent?: string;
  ip?: string;
  /** Hard (permanent) or soft bounce. */
  bounceType?: "hard" | "soft";
  detail?: unknown;
  at: Date;
}

/**
 * Records news about a message in the caller's transaction: the interaction, the
 * ledger status (forward only), the Segment event, and its consequences (a hard bounce or
 * complaint suppresses the address; a complaint also unsubscribes from email marketing).
 * Returns the row, or undefined when the message is unknown.
 */
export async function recordMessageNews(
  tx: Tx,
  input: NewsInput,
): Promise<MessageRow | undefined> {
  const row =
    typeof input.message === "string"
      ? await lockMessageRow(tx, input.workspaceId, input.message)
      : input.message;
  if (!row) return undefined;
  const { news, at } = input;
  await insertInteraction(tx, input.workspaceId, {
    messageId: row.id,
    profileId: row.profile_id,
    kind: news === "opened" ? "open" : news === "clicked" ? "click" : news,
    human: input.human,
    reason: input.reason ?? input.bounceType,
    linkIndex: input.linkIndex,
    url: input.url,
    userAgent: input.userAgent,
    ip: input.ip,
    detail: input.detail,
    at,
  });
  if (!input.human) return row;
  const counts = news !== "bounced" || input.bounceType !== "soft";
  if (counts) {
    const status = advanceStatus(row.status, news);
    await setEngagement(tx, input.workspaceId, {
      id: row.id,
      status,
      stamp: stampOf[news],
      reason:
        news === "bounced" || news === "complained"
          ? (input.reason ?? null)
          : null,
      at,
    });
    row.status = status;
  }
  const name = messageEventName(news, row.channel);
  if (name) {
    const unique =
      news === "opened" || news === "clicked" ? uuidv7(at) : row.id;
    await appendProfileEvents(tx, input.workspaceId, [
      messageEvent(row, {
        name,
        messageId: `herald-${news}-${unique}`,
        at,
        extra: {
          ...(input.linkIndex !== undefined
            ? { link_id: String(input.linkIndex) }
            : {}),
          ...(input.url ? { link_url: input.url } : {}),
          ...(input.bounceType ? { bounce_type: input.bounceType } : {}),
          ...(input.reason ? { reason: input.reason } : {}),
        },
        seen: input,
      }),
    ]);
  }
  const address = row.recipient;
  if (address && news === "bounced" && input.bounceType === "hard") {
    await upsertSuppression(
      tx,
      input.workspaceId,
      {
        channel: row.channel,
        address,
        reason: "hard_bounce",
        source: `message ${row.id}`,
        detail: input.reason,
      },
      at,
    );
    await reachabilityChanged(tx, input.workspaceId, {
      channel: row.channel,
      address,
      now: at,
    });
  }
  if (address && news === "complained") {
    await upsertSuppression(
      tx,
      input.workspaceId,
      {
        channel: row.channel,
        address,
        reason: "complaint",
        source: `message ${row.id}`,
        detail: input.reason,
      },
      at,
    );
    await reachabilityChanged(tx, input.workspaceId, {
      channel: row.channel,
      address,
      now: at,
    });
    await changeConsent(tx, input.workspaceId, {
      profileId: row.profile_id,
      channel: "email",
      status: "unsubscribed",
      source: "complaint",
      at,
      properties: { email_id: row.id },
      viaEvent: false,
    });
  }
  return row;
}

/** What `messageEvent` says happened to a message, and where it was seen from. */
interface MessageEventSpec {
  name: string;
  /** The event's id: one per news, so a repeat is dropped by the event log. */
  messageId: string;
  at: Date;
  /** Properties beyond the message's own (link, bounce type, reason, list). */
  extra: JsonObject;
  seen?: { userAgent?: string | undefined; ip?: string | undefined };
}

/** A Herald event about a message, with the Email spec's properties. */
function messageEvent(
  row: MessageRow,
  spec: MessageEventSpec,
): IncomingEvent & { profileId: string } {
  const { name, messageId, at, extra, seen } = spec;
  const content = row.content ?? row.inline_content ?? {};
  const { source } = row;
  return {
    messageId,
    type: "track",
    name,
    userId: null,
    anonymousId: null,
    profileId: row.profile_id,
    properties: {
      email_id: row.id,
      ...(typeof content.subject === "string"
        ? { email_subject: content.subject }
        : {}),
      ...(row.campaign_id ? { campaign_id: row.campaign_id } : {}),
      ...(source.kind === "campaign" && source.campaignName !== undefined
        ? { campaign_name: source.campaignName }
        : {}),
      ...(source.kind === "flow" && source.flowId !== undefined
        ? { flow_id: source.flowId }
        : {}),
      ...(source.kind === "flow"
        ? { flow_run_id: source.flowRunId, node_id: source.nodeId }
        : {}),
      ...(row.template_id ? { template_id: row.template_id } : {}),
      channel: row.channel,
      ...extra,
    },
    traits: null,
    context: {
      ...(row.channel === "email" && row.recipient
        ? { traits: { email: row.recipient } }
        : {}),
      ...(seen?.ip ? { ip: seen.ip } : {}),
      ...(seen?.userAgent ? { user_agent: seen.userAgent } : {}),
    },
    timestamp: at,
    receivedAt: at,
    source: "herald",
    silent: false,
  };
}

/** How and when a recipient unsubscribed, and from where (the browser, if one). */
export interface UnsubscribeRequest {
  /** `one-click`, `unsubscribe page`, `provider`… */
  how: string;
  at: Date;
  seen?: { userAgent?: string; ip?: string };
}

/**
 * Unsubscribes the recipient of a message: from the message's list if it went to one
 * (RFC 8058 unsubscribes from that mailing), else from the channel's marketing. Records
 * the news on the ledger and emits `Unsubscribed` (with `list_id` for a list).
 */
export async function unsubscribeRecipient(
  tx: Tx,
  row: MessageRow,
  request: UnsubscribeRequest,
): Promise<{ scope: "list" | "channel"; listName?: string }> {
  const { how, at, seen = {} } = request;
  const channel: Channel = row.channel === "webhook" ? "email" : row.channel;
  let result: { scope: "list" | "channel"; listName?: string };
  let props: JsonObject;
  if (row.list_id) {
    const list = await getList(tx, row.workspace_id, row.list_id);
    await setListStatus(tx, row.workspace_id, row.list_id, {
      profileIds: [row.profile_id],
      status: "unsubscribed",
      source: how,
      at,
    });
    result = { scope: "list", ...(list ? { listName: list.name } : {}) };
    props = { list_id: row.list_id, ...(list ? { list_name: list.name } : {}) };
  } else {
    await changeConsent(tx, row.workspace_id, {
      profileId: row.profile_id,
      channel,
      status: "unsubscribed",
      source: how,
      at,
      viaEvent: false,
    });
    result = { scope: "channel" };
    props = {};
  }
  const status = advanceStatus(row.status, "unsubscribed");
  await setEngagement(tx, row.workspace_id, {
    id: row.id,
    status,
    stamp: "unsubscribed_at",
    reason: null,
    at,
  });
  await insertInteraction(tx, row.workspace_id, {
    messageId: row.id,
    profileId: row.profile_id,
    kind: "unsubscribed",
    human: true,
    reason: how,
    userAgent: seen.userAgent,
    ip: seen.ip,
    at,
  });
  await appendProfileEvents(tx, row.workspace_id, [
    messageEvent(row, {
      name: "Unsubscribed",
      messageId: `herald-unsubscribed-${row.id}`,
      at,
      extra: { ...props, source: how },
      seen,
    }),
  ]);
  return result;
}
