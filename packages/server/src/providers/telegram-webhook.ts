import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { isJsonObject } from "@herald/core/events/event";
import {
  asksForOrderStatus,
  constantTimeEqual,
} from "@herald/core/messages/tracking";
import { checkBody } from "./webhook-checks.ts";

/**
 * What a workspace's Telegram bot is told (Bot API updates posted to Herald's webhook,
 * with the secret token Herald registered echoed in `X-Telegram-Bot-Api-Secret-Token`),
 * read into the commands the bot answers: `/start <token>` (link the chat to a profile),
 * `/stop`, and "where is my order?".
 */

/** The part of a Telegram update the bot reads. */
const TelegramUpdate = Type.Object({
  message: Type.Optional(
    Type.Object({
      text: Type.Optional(Type.String()),
      chat: Type.Optional(
        Type.Object({ id: Type.Union([Type.Integer(), Type.String()]) }),
      ),
      from: Type.Optional(
        Type.Object({ username: Type.Optional(Type.String()) }),
      ),
    }),
  ),
});

/** What a shopper asked the bot, from which chat. */
export type TelegramCommand = { chatId: string; username: string | null } & (
  | { kind: "start"; token: string | undefined }
  | { kind: "stop" }
  | { kind: "order_status" }
  | { kind: "other" }
);

/** The secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token. */
export function telegramSecret(
  sign: (ws: string, payload: string) => string,
  workspaceId: string,
): string {
  return sign(workspaceId, `tg-webhook.${workspaceId}`);
}

/** Throws `forbidden` unless the request echoes the secret Herald registered. */
export function verifyTelegramSecret(
  given: string | string[] | undefined,
  expected: string,
): void {
  if (typeof given !== "string" || !constantTimeEqual(given, expected))
    throw new DomainError(
      "forbidden",
      "X-Telegram-Bot-Api-Secret-Token does not match: register the webhook with POST /api/messages/telegram/webhook",
    );
}

/** The command in an update (`invalid` when it is not one); undefined when it says nothing. */
export function telegramCommand(body: unknown): TelegramCommand | undefined {
  const update = checkBody(
    TelegramUpdate,
    body ?? {},
    "/body",
    "not a Telegram update",
  );
  const text = update.message?.text?.trim() ?? "";
  const chat = update.message?.chat?.id;
  if (chat === undefined || text === "") return undefined;
  const from = {
    chatId: String(chat),
    username: update.message?.from?.username ?? null,
  };
  const start = /^\/start(?:@\S+)?(?:\s+(\S+))?$/.exec(text);
  if (start) return { ...from, kind: "start", token: start[1] };
  if (/^\/stop\b/i.test(text)) return { ...from, kind: "stop" };
  if (asksForOrderStatus(text)) return { ...from, kind: "order_status" };
  return { ...from, kind: "other" };
}

/** A string field of a provider's JSON, or "". */
function text(value: unknown): string {
  return typeof value === "string" || typeof value === "number"
    ? String(value)
    : "";
}

/** A shopper-facing sentence about an order. */
export function orderStatusText(order: Record<string, unknown>): string {
  const id = String(order.order_id);
  const placed =
    order.placed_at instanceof Date
      ? order.placed_at.toISOString().slice(0, 10)
      : String(order.placed_at).slice(0, 10);
  const f = isJsonObject(order.fulfillment) ? order.fulfillment : {};
  if (order.status === "cancelled")
    return `Your order ${id} (placed ${placed}) was cancelled.`;
  if (order.status === "refunded")
    return `Your order ${id} (placed ${placed}) was refunded.`;
  const statuses: Record<string, string> = {
    fulfilled: "has been packed and is about to ship",
    shipped: "is on its way",
    delivered: "has been delivered",
    ready_for_pickup: "is ready for pick-up",
  };
  const status =
    statuses[text(f.status)] ?? "has been received and is being prepared";
  const url = text(f.tracking_url);
  const number = text(f.tracking_number);
  const tracking = url
    ? ` Track it here: ${url}`
    : number
      ? ` Tracking number: ${number}.`
      : "";
  return `Your order ${id} (placed ${placed}) ${status}.${tracking}`;
}
