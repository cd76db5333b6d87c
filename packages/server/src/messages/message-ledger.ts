import { createHash } from "node:crypto";
import { DomainError } from "@herald/core/domain-error";
import type { IncomingEvent, JsonObject } from "@herald/core/events/event";
import { uuidv7 } from "@herald/core/ids";
import {
  advanceStatus,
  checkEnqueueRequest,
  type EnqueueRequest,
  type Message,
} from "@herald/core/messages/ledger";
import { messageEventName } from "@herald/core/messages/tracking";
import type { Channel, ConsentStatus } from "@herald/core/profiles/consent";
import type { Tx } from "../db/database.ts";
import { getList, setListStatus } from "../lists/lists.sql.ts";
import type { PersonalData } from "../profiles/profile-store.ts";
import type { EventHandler } from "../workers/event-processor.ts";
import {
  eraseMessagingRows,
  exportMessagingRows,
  rekeyMessagingRows,
  getMessageRow,
  insertInteraction,
  deletePushSubscription,
  insertMessage,
  insertMessages,
  type NewMessageRow,
  unlinkTelegramChat,
  messagesChannel,
  setEngagement,
  setProfileConsent,
  toMessage,
  upsertSuppression,
  type MessageRow,
  type SendingRow,
} from "./messages.sql.ts";
import type { SendOutcome } from "../providers/provider.ts";
import { appendProfileEvents } from "../events/ingest-writer.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";

/**
 * The ledger's write side that other features call: queue a message (flows, campaigns,
 * the transactional API), and record what became of it (tracking, provider webhooks),
 * emitting Segment's Email spec events so segments and flows can react.
 *
 * Consent has one source of truth: the profile's `consent`. A change delivery learns of
 * (one-click unsubscribe, STOP, a complaint, the preference centre) is written to the
 * profile at once, so the very next policy check sees it, and an `Unsubscribed` /
 * `Subscribed` event with the same time is appended beside it; when the event processor
 * applies that event it finds the same value (last-write-wins by time), so the two never
 * disagree. List subscriptions live on the list (`setListStatus`), with an `Unsubscribed`
 * event that carries `list_id` (which leaves channel consent alone).
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
  const { row, created } = await insertMessage(
    tx,
    newMessageRow(request, now, requestHash),
  );
  if (created) tx.notify(messagesChannel, "");
  else if (requestHash && row.request_hash && row.request_hash !== requestHash)
    throw new DomainError(
      "conflict",
      `Idempotency-Key ${request.idempotencyKey} was already used for a different message (${row.id}); use a new key`,
    );
  return { message: toMessage(row), created };
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

/** News about a sent message. */
export type MessageNews =
  | "delivered"
  | "opened"
  | "clicked"
  | "bounced"
  | "complained"
  | "unsubscribed";

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
      ? await getMessageRow(tx, input.workspaceId, input.message, true)
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
    await setEngagement(
      tx,
      input.workspaceId,
      row.id,
      status,
      stampOf[news],
      news === "bounced" || news === "complained"
        ? (input.reason ?? null)
        : null,
      at,
    );
    row.status = status;
  }
  const name = messageEventName(news, row.channel);
  if (name) {
    const unique =
      news === "opened" || news === "clicked" ? uuidv7(at) : row.id;
    await appendProfileEvents(tx, input.workspaceId, [
      messageEvent(
        row,
        name,
        `herald-${news}-${unique}`,
        at,
        {
          ...(input.linkIndex !== undefined
            ? { link_id: String(input.linkIndex) }
            : {}),
          ...(input.url ? { link_url: input.url } : {}),
          ...(input.bounceType ? { bounce_type: input.bounceType } : {}),
          ...(input.reason ? { reason: input.reason } : {}),
        },
        input,
      ),
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
    await changeConsent(
      tx,
      input.workspaceId,
      row.profile_id,
      "email",
      "unsubscribed",
      "complaint",
      at,
      {
        email_id: row.id,
      },
      false,
    );
  }
  return row;
}

/** A Herald event about a message, with the Email spec's properties. */
function messageEvent(
  row: MessageRow,
  name: string,
  messageId: string,
  at: Date,
  extra: JsonObject,
  seen?: { userAgent?: string | undefined; ip?: string | undefined },
): IncomingEvent & { profileId: string } {
  const content = row.content ?? row.inline_content ?? {};
  const source = row.source as unknown as Record<string, unknown>;
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
      ...(typeof source.campaignName === "string"
        ? { campaign_name: source.campaignName }
        : {}),
      ...(typeof source.flowId === "string" ? { flow_id: source.flowId } : {}),
      ...(typeof source.flowRunId === "string"
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

/**
 * Changes one channel's consent of a profile now (see the module comment) and appends the
 * matching `Unsubscribed` / `Subscribed` event. `viaEvent` false writes the profile only,
 * for callers that emit their own event.
 */
export async function changeConsent(
  tx: Tx,
  workspaceId: string,
  profileId: string,
  channel: Channel,
  status: ConsentStatus,
  source: string,
  at: Date,
  properties: JsonObject = {},
  viaEvent = true,
): Promise<void> {
  const name = status === "unsubscribed" ? "Unsubscribed" : "Subscribed";
  await setProfileConsent(tx, workspaceId, profileId, channel, {
    status,
    at: at.toISOString(),
    source: name,
  });
  if (!viaEvent) return;
  await appendProfileEvents(tx, workspaceId, [
    {
      messageId: `herald-${name.toLowerCase()}-${uuidv7(at)}`,
      type: "track",
      name,
      userId: null,
      anonymousId: null,
      profileId,
      properties: { channel, source, ...properties },
      traits: null,
      context: {},
      timestamp: at,
      receivedAt: at,
      source: "herald",
      silent: false,
    },
  ]);
}

/**
 * Unsubscribes the recipient of a message: from the message's list if it went to one
 * (RFC 8058 unsubscribes from that mailing), else from the channel's marketing. Records
 * the news on the ledger and emits `Unsubscribed` (with `list_id` for a list).
 */
export async function unsubscribeRecipient(
  tx: Tx,
  row: MessageRow,
  how: string,
  at: Date,
  seen: { userAgent?: string; ip?: string } = {},
): Promise<{ scope: "list" | "channel"; listName?: string }> {
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
    await changeConsent(
      tx,
      row.workspace_id,
      row.profile_id,
      channel,
      "unsubscribed",
      how,
      at,
      {},
      false,
    );
    result = { scope: "channel" };
    props = {};
  }
  const status = advanceStatus(row.status, "unsubscribed");
  await setEngagement(
    tx,
    row.workspace_id,
    row.id,
    status,
    "unsubscribed_at",
    null,
    at,
  );
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
    messageEvent(
      row,
      "Unsubscribed",
      `herald-unsubscribed-${row.id}`,
      at,
      { ...props, source: how },
      seen,
    ),
  ]);
  return result;
}

/** Delivery's rows in privacy export and erasure. */
export const messagingData: PersonalData = {
  name: "messages",
  export: exportMessagingRows,
  erase: eraseMessagingRows,
};

/** Moves delivery's rows of a merged profile to the survivor. */
export const messagingMerges: EventHandler = {
  name: "messages",
  handle: () => Promise.resolve(),
  merge: (tx, merge) =>
    rekeyMessagingRows(tx, merge.workspaceId, merge.mergedId, merge.survivorId),
};

/** A provider's answer about a message, for `applySendEffect`. */
export type SendEffect = {
  row: SendingRow;
  outcome: SendOutcome;
  /** Push endpoints the push service said are gone. */
  gone: string[];
};

/**
 * What a provider's answer means beyond the ledger row, in the recording transaction:
 * expired push subscriptions are deleted, a blocked bot unlinks its chat, an unknown
 * mailbox or dead number is suppressed, Twilio's 21610 (the number sent STOP) records the
 * opt-out.
 */
export async function applySendEffect(
  tx: Tx,
  effect: SendEffect,
  now: Date,
): Promise<void> {
  const { row, outcome, gone } = effect;
  const forgetPush = async () => {
    for (const endpoint of gone)
      await deletePushSubscription(tx, row.workspace_id, endpoint);
    if (gone.length > 0)
      await reachabilityChanged(tx, row.workspace_id, {
        channel: "push",
        profileId: row.profile_id,
        now,
      });
  };
  const suppress = async (channel: "email" | "sms", address: string) => {
    await upsertSuppression(
      tx,
      row.workspace_id,
      {
        channel,
        address,
        reason: "hard_bounce",
        source: `message ${row.id}`,
        detail: outcome.ok ? undefined : outcome.error,
      },
      now,
    );
    await reachabilityChanged(tx, row.workspace_id, { channel, address, now });
  };
  if (outcome.ok || !outcome.gone) {
    await forgetPush();
    return;
  }
  switch (row.channel) {
    case "push":
      await forgetPush();
      break;
    case "telegram":
      if (row.recipient) {
        await unlinkTelegramChat(tx, row.workspace_id, row.recipient);
        await reachabilityChanged(tx, row.workspace_id, {
          channel: "telegram",
          profileId: row.profile_id,
          now,
        });
      }
      break;
    case "email":
      if (row.recipient) await suppress("email", row.recipient);
      break;
    case "sms":
      if (/21610/.test(outcome.error))
        await changeConsent(
          tx,
          row.workspace_id,
          row.profile_id,
          "sms",
          "unsubscribed",
          "carrier STOP",
          now,
        );
      else if (row.recipient) await suppress("sms", row.recipient);
      break;
    case "webhook":
      break;
  }
}
