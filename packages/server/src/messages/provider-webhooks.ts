import { DomainError } from "@herald/core/domain-error";
import { normalizeEmail } from "@herald/core/identity/identifiers";
import type { Tx } from "../db/database.ts";
import { findProfileIdsBy } from "../profiles/identities.sql.ts";
import type { EmailNews } from "../providers/email-news.ts";
import {
  mailgunNews,
  readMailgunWebhook,
  verifyMailgun,
} from "../providers/mailgun-webhook.ts";
import { postmarkNews, verifyPostmark } from "../providers/postmark-webhook.ts";
import {
  sendgridNews,
  verifySendgrid,
  type RejectedEvent,
} from "../providers/sendgrid-webhook.ts";
import { readSnsEnvelope, sesNews } from "../providers/ses-webhook.ts";
import {
  readTwilioForm,
  twilioNews,
  verifyTwilioRequest,
} from "../providers/twilio-webhook.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { changeConsent } from "./consent-service.ts";
import { recordMessageNews, unsubscribeRecipient } from "./message-ledger.ts";
import { workspaceOfHook } from "./message-secrets.ts";
import {
  findMessageByProviderId,
  getMessageRow,
  lockMessageRows,
  type MessageRow,
} from "./messages.sql.ts";
import type { MessagingDeps } from "./messaging-deps.ts";
import { upsertSuppression } from "./suppressions.sql.ts";

/**
 * What providers tell Herald, at `POST /webhooks/messages/<provider>/<hook token>` (the
 * token names and authenticates the workspace; `GET /api/messages/providers` lists the
 * URLs to configure). Each provider's module in `providers/` checks its signature and
 * reads its body into news; this applies the news:
 *
 * - `ses`: Amazon SES notifications through SNS (Bounce, Complaint, Delivery; the
 *   subscription confirmation is followed), SNS's signature checked (`SnsVerifier`),
 *   topics limited to `email.sesTopicArns` when set.
 * - `sendgrid`, `postmark`, `mailgun`: their bounce, complaint, delivery and unsubscribe
 *   events, refused (403) until their credential is set and (401) when the signature does
 *   not match or its timestamp is old.
 * - `twilio`: status callbacks, and inbound STOP / START, which change SMS consent.
 * - `telegram`: the bot's updates (`telegram-service.ts`).
 *
 * A message is found by the ledger id Herald put in its Message-ID, headers or metadata;
 * when none is found a hard bounce or complaint still suppresses the address.
 */

const uuidPattern =
  /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/i;

/** How many pieces of news a request carried, and how many named a known message. */
export interface NewsReceipt {
  matched: number;
  received: number;
}

/**
 * Reads an SES notification posted by SNS: the signature is checked, a subscription
 * confirmation is followed, and a notification's news is applied.
 */
export async function receiveSesNotification(
  deps: MessagingDeps,
  hook: string,
  body: unknown,
): Promise<NewsReceipt | { received: 0 } | { confirmed: boolean }> {
  const { secrets, sns } = deps.messaging;
  const workspaceId = await workspaceOfHook(secrets, hook);
  const envelope = readSnsEnvelope(body);
  await sns.verify(envelope);
  const topics = (await deps.settings.get(workspaceId)).email?.sesTopicArns;
  if (topics && !topics.includes(envelope.TopicArn))
    throw new DomainError(
      "forbidden",
      `the SNS topic ${envelope.TopicArn} is not in email.sesTopicArns: add it there to accept its notifications`,
    );
  if (envelope.Type === "SubscriptionConfirmation") {
    const confirmed = await sns
      .confirm(envelope.SubscribeURL ?? "")
      .catch((error: unknown) => {
        deps.logger.warn(
          { err: error, workspaceId },
          "could not confirm the SNS subscription",
        );
        return false;
      });
    return { confirmed };
  }
  if (envelope.Type !== "Notification") return { received: 0 };
  const items = sesNews(envelope.Message);
  return {
    matched: await applyEmailNews(deps, workspaceId, items),
    received: items.length,
  };
}

/** A SendGrid Event Webhook request: the body, its bytes as signed, the signature headers. */
export interface SendgridRequest {
  body: unknown;
  rawBody: string;
  signature: string | string[] | undefined;
  timestamp: string | string[] | undefined;
}

/** Reads a signed SendGrid batch; events Herald cannot read come back as `rejected`. */
export async function receiveSendgridEvents(
  deps: MessagingDeps,
  hook: string,
  request: SendgridRequest,
): Promise<NewsReceipt & { rejected?: RejectedEvent[] }> {
  const workspaceId = await workspaceOfHook(deps.messaging.secrets, hook);
  verifySendgrid({
    publicKey: (await deps.settings.get(workspaceId)).email
      ?.sendgridVerificationKey,
    signature: request.signature,
    timestamp: request.timestamp,
    rawBody: request.rawBody,
    now: deps.clock.now(),
  });
  const { items, rejected } = sendgridNews(request.body);
  return {
    matched: await applyEmailNews(deps, workspaceId, items),
    received: items.length,
    ...(rejected.length > 0 ? { rejected } : {}),
  };
}

/** Reads a Postmark record sent with the workspace's basic auth. */
export async function receivePostmarkRecord(
  deps: MessagingDeps,
  hook: string,
  request: { body: unknown; authorization: string | undefined },
): Promise<NewsReceipt> {
  const workspaceId = await workspaceOfHook(deps.messaging.secrets, hook);
  verifyPostmark({
    auth: (await deps.settings.get(workspaceId)).email?.postmarkWebhookAuth,
    authorization: request.authorization,
  });
  const items = postmarkNews(request.body);
  return {
    matched: await applyEmailNews(deps, workspaceId, items),
    received: items.length,
  };
}

/** Reads a signed Mailgun webhook. */
export async function receiveMailgunEvent(
  deps: MessagingDeps,
  hook: string,
  body: unknown,
): Promise<NewsReceipt> {
  const workspaceId = await workspaceOfHook(deps.messaging.secrets, hook);
  const { signature, eventData } = readMailgunWebhook(body);
  verifyMailgun({
    signingKey: (await deps.settings.get(workspaceId)).email?.mailgunSigningKey,
    signature,
    now: deps.clock.now(),
  });
  const items = mailgunNews(eventData);
  return {
    matched: await applyEmailNews(deps, workspaceId, items),
    received: items.length,
  };
}

/** A Twilio request: its form, the URL it was posted to, its signature. */
export interface TwilioRequest {
  body: unknown;
  url: string;
  signature: string | string[] | undefined;
}

/**
 * Reads a Twilio request: a status callback moves the text's ledger row (delivered,
 * bounced); an inbound STOP or START changes the SMS consent of every profile with that
 * number. Twilio answers STOP / START / HELP itself (Advanced Opt-Out).
 */
export async function receiveTwilioRequest(
  deps: MessagingDeps,
  hook: string,
  request: TwilioRequest,
): Promise<void> {
  const { db } = deps;
  const workspaceId = await workspaceOfHook(deps.messaging.secrets, hook);
  const form = readTwilioForm(request.body);
  const settings = await deps.settings.get(workspaceId);
  verifyTwilioRequest({
    authToken: settings.sms?.authToken,
    url: request.url,
    form,
    signature: request.signature,
  });
  const now = deps.clock.now();
  const news = twilioNews(form, settings.defaultPhoneRegion);
  if (news.kind === "status") {
    const { news: what } = news;
    if (!what) return;
    await db.tx(async (tx) => {
      const row = await findMessageByProviderId(
        tx,
        workspaceId,
        news.providerMessageId,
      );
      if (!row) return;
      await recordMessageNews(tx, {
        workspaceId,
        message: row.id,
        human: true,
        ...what,
        at: now,
      });
    });
    return;
  }
  if (news.kind !== "keyword") return;
  const { keyword, phone } = news;
  const profiles = await findProfileIdsBy(db, workspaceId, {
    type: "phone",
    value: phone,
  });
  await db.tx(async (tx) => {
    for (const profileId of profiles)
      await changeConsent(tx, workspaceId, {
        profileId,
        channel: "sms",
        status: keyword === "stop" ? "unsubscribed" : "subscribed",
        source: `SMS ${keyword.toUpperCase()}`,
        at: now,
        properties: { phone },
      });
  });
  deps.logger.info(
    { workspaceId, profiles: profiles.length, keyword },
    "SMS keyword applied",
  );
}

/**
 * Records email news: the ledger row if found, suppressions either way. The rows are
 * found first, then locked together in id order, and the news applied in address
 * order: SendGrid batches the same messages' events in any order, and two requests
 * that locked rows as they came deadlocked on PostgreSQL.
 */
async function applyEmailNews(
  deps: Pick<MessagingDeps, "db" | "clock">,
  workspaceId: string,
  items: EmailNews[],
): Promise<number> {
  const now = deps.clock.now();
  let matched = 0;
  await deps.db.tx(async (tx) => {
    const found: (string | undefined)[] = [];
    for (const item of items)
      found.push((await findRow(tx, workspaceId, item))?.id);
    const ids = [...new Set(found.filter((id) => id !== undefined))];
    const rows = new Map(
      (await lockMessageRows(tx, workspaceId, ids)).map((r) => [r.id, r]),
    );
    const work = items
      .map((item, i) => ({
        item,
        address: normalizeEmail(item.address),
        row: rows.get(found[i] ?? ""),
      }))
      .sort(
        (a, b) =>
          compare(a.address ?? "", b.address ?? "") ||
          compare(a.row?.id ?? "", b.row?.id ?? ""),
      );
    for (const { item, address, row } of work) {
      if (row) {
        matched++;
        if (item.news === "unsubscribed")
          await unsubscribeRecipient(tx, row, { how: "provider", at: now });
        else
          await recordMessageNews(tx, {
            workspaceId,
            message: row,
            news: item.news,
            human: true,
            ...(item.bounceType ? { bounceType: item.bounceType } : {}),
            ...(item.reason ? { reason: item.reason.slice(0, 500) } : {}),
            at: now,
          });
      }
      if (!address) continue;
      if (
        (item.news === "bounced" && item.bounceType === "hard") ||
        item.news === "complained"
      ) {
        await upsertSuppression(
          tx,
          workspaceId,
          {
            channel: "email",
            address,
            reason: item.news === "complained" ? "complaint" : "hard_bounce",
            source: "provider webhook",
            detail: item.reason?.slice(0, 500),
          },
          now,
        );
        await reachabilityChanged(tx, workspaceId, {
          channel: "email",
          address,
          now,
        });
      }
    }
  });
  return matched;
}

/** The ledger row an item is about, unlocked (applyEmailNews locks them together). */
async function findRow(
  tx: Tx,
  workspaceId: string,
  item: EmailNews,
): Promise<MessageRow | undefined> {
  for (const candidate of item.ids) {
    const id =
      typeof candidate === "string"
        ? uuidPattern.exec(candidate)?.[0]?.toLowerCase()
        : undefined;
    if (!id) continue;
    const row = await getMessageRow(tx, workspaceId, id);
    if (row) return row;
  }
  if (item.providerMessageId)
    return findMessageByProviderId(tx, workspaceId, item.providerMessageId);
  return undefined;
}

/** Orders strings by code unit, the same way in every process. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
