import { DomainError } from "@herald/core/domain-error";
import {
  telegramStartToken,
  verifyTelegramStartToken,
} from "@herald/core/messages/tracking";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Tx } from "../db/database.ts";
import { listProfileOrders } from "../orders/orders.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { TelegramProvider } from "../providers/telegram.ts";
import {
  orderStatusText,
  telegramCommand,
  telegramSecret,
  verifyTelegramSecret,
} from "../providers/telegram-webhook.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import { changeConsent } from "./consent-service.ts";
import { workspaceOfHook } from "./message-secrets.ts";
import type { MessagingDeps } from "./messaging-deps.ts";
import {
  findTelegramProfile,
  unlinkTelegramChat,
  upsertTelegramChat,
  type TelegramLink,
} from "./telegram-chats.sql.ts";

/**
 * A workspace's Telegram bot: pointing it at Herald (setWebhook with a secret token), the
 * deep link that connects a shopper's chat to their profile, and the bot's side of the
 * conversation: `/start <token>` links the chat and subscribes it, `/stop` unlinks and
 * unsubscribes it, "where is my order?" answers from the shopper's latest order.
 */

/** The bot of a workspace's settings, or `invalid` naming what to configure. */
function botOf(settings: WorkspaceSettings, missing: string): TelegramProvider {
  if (!settings.telegram?.botToken) throw new DomainError("invalid", missing);
  return new TelegramProvider({
    botToken: settings.telegram.botToken,
    baseUrl: settings.telegram.baseUrl ?? "https://api.telegram.org",
  });
}

/** Points the workspace's bot at Herald's webhook; resolves to the webhook's URL. */
export async function connectTelegramBot(
  deps: Pick<MessagingDeps, "settings" | "config" | "messaging">,
  workspaceId: string,
): Promise<string> {
  const { secrets } = deps.messaging;
  const bot = botOf(
    await deps.settings.get(workspaceId),
    "no Telegram bot configured: PATCH /api/workspace/settings with telegram.botToken first",
  );
  const url = `${deps.config.publicUrl}/webhooks/messages/telegram/${await secrets.hookToken(workspaceId)}`;
  const outcome = await bot.call("setWebhook", {
    url,
    secret_token: telegramSecret(secrets.sign, workspaceId),
    allowed_updates: ["message"],
  });
  if (!outcome.ok)
    throw new DomainError(
      "invalid",
      `Telegram refused the webhook: ${outcome.error}`,
    );
  return url;
}

/** The deep link (t.me/<bot>?start=<token>) that connects a shopper's chat to the profile. */
export async function getTelegramLink(
  deps: Pick<MessagingDeps, "db" | "settings" | "messaging">,
  workspaceId: string,
  profileId: string,
): Promise<{ url: string; token: string }> {
  const settings = await deps.settings.get(workspaceId);
  if (!settings.telegram?.botToken)
    throw new DomainError(
      "invalid",
      "no Telegram bot configured: PATCH /api/workspace/settings with telegram.botToken and telegram.botUsername",
    );
  if (!(await getProfileRow(deps.db, workspaceId, profileId)))
    throw new DomainError("not_found", `no profile ${profileId}`);
  const { secrets } = deps.messaging;
  await secrets.load(workspaceId);
  const token = telegramStartToken(workspaceId, profileId, secrets.sign);
  return {
    url: `https://t.me/${settings.telegram.botUsername ?? "your_bot"}?start=${token}`,
    token,
  };
}

/**
 * Links a Telegram chat to a profile in the caller's transaction: a chat belongs to one
 * profile at a time, so its link to another profile goes first.
 */
export async function linkTelegramChat(
  tx: Tx,
  workspaceId: string,
  link: TelegramLink,
): Promise<void> {
  await unlinkTelegramChat(tx, workspaceId, link.chatId);
  await upsertTelegramChat(tx, workspaceId, link);
}

/** What a Telegram webhook request carries. */
export interface TelegramRequest {
  body: unknown;
  /** X-Telegram-Bot-Api-Secret-Token. */
  secretToken: string | string[] | undefined;
}

/**
 * Answers an update of the workspace's bot (see the module comment), after checking the
 * secret token Herald registered with the webhook.
 */
export async function answerTelegramUpdate(
  deps: MessagingDeps,
  hook: string,
  request: TelegramRequest,
): Promise<{ ok: true }> {
  const { db, clock, logger } = deps;
  const { secrets } = deps.messaging;
  const workspaceId = await workspaceOfHook(secrets, hook);
  verifyTelegramSecret(
    request.secretToken,
    telegramSecret(secrets.sign, workspaceId),
  );
  const settings = await deps.settings.get(workspaceId);
  if (!settings.telegram?.botToken) return { ok: true };
  const bot = botOf(settings, "no Telegram bot configured");
  const command = telegramCommand(request.body);
  if (!command) return { ok: true };
  const chat = command.chatId;
  const store = settings.storeName ?? "our store";
  const now = clock.now();
  const reply = async (answer: string) => {
    const outcome = await bot.call("sendMessage", {
      chat_id: chat,
      text: answer,
    });
    if (!outcome.ok)
      logger.warn(
        { workspaceId, error: outcome.error },
        "the Telegram bot could not answer",
      );
  };
  switch (command.kind) {
    case "start": {
      const profileId = command.token
        ? verifyTelegramStartToken(workspaceId, command.token, secrets.sign)
        : undefined;
      const profile = profileId
        ? await getProfileRow(db, workspaceId, profileId)
        : undefined;
      if (!profile) {
        await reply(
          `Hi! To get messages from ${store} here, open the Telegram link in your account page or in one of our emails.`,
        );
        return { ok: true };
      }
      const id = profile.merged_into ?? profile.id;
      await db.tx(async (tx) => {
        await linkTelegramChat(tx, workspaceId, {
          profileId: id,
          chatId: chat,
          username: command.username,
          now,
        });
        await reachabilityChanged(tx, workspaceId, {
          channel: "telegram",
          profileId: id,
          now,
        });
        await changeConsent(tx, workspaceId, {
          profileId: id,
          channel: "telegram",
          status: "subscribed",
          source: "telegram /start",
          at: now,
        });
      });
      await reply(
        `You're connected to ${store}. Ask me "where is my order?" any time; send /stop to stop messages.`,
      );
      return { ok: true };
    }
    case "stop": {
      const profileId = await findTelegramProfile(db, workspaceId, chat);
      await db.tx(async (tx) => {
        if (profileId)
          await changeConsent(tx, workspaceId, {
            profileId,
            channel: "telegram",
            status: "unsubscribed",
            source: "telegram /stop",
            at: now,
          });
        await unlinkTelegramChat(tx, workspaceId, chat);
        if (profileId)
          await reachabilityChanged(tx, workspaceId, {
            channel: "telegram",
            profileId,
            now,
          });
      });
      await reply(
        `You won't get messages from ${store} here any more. Use your link again to come back.`,
      );
      return { ok: true };
    }
    case "order_status": {
      const profileId = await findTelegramProfile(db, workspaceId, chat);
      if (!profileId) {
        await reply(
          `I don't know who you are yet: open the Telegram link in your ${store} account page, then ask again.`,
        );
        return { ok: true };
      }
      const [latest] = await listProfileOrders(db, workspaceId, [profileId]);
      await reply(
        latest
          ? orderStatusText(latest)
          : `I can't find any order of yours at ${store} yet.`,
      );
      return { ok: true };
    }
    case "other":
      await reply(
        `Ask me "where is my order?" to hear about your latest ${store} order, or send /stop to stop messages.`,
      );
      return { ok: true };
  }
}
