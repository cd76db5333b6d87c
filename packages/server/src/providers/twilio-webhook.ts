import { createHmac } from "node:crypto";
import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { normalizePhone } from "@herald/core/identity/identifiers";
import type { MessageNews } from "@herald/core/messages/ledger";
import { constantTimeEqual, smsKeyword } from "@herald/core/messages/tracking";
import { checkBody } from "./webhook-checks.ts";

/**
 * What Twilio posts (a form of text fields): status callbacks of the texts Herald sent
 * (delivered, undelivered, failed) and inbound texts, of which STOP / START change SMS
 * consent. `X-Twilio-Signature` is checked with the workspace's auth token.
 */

/** Twilio's form: text fields only. */
const TwilioForm = Type.Record(Type.String(), Type.String());
/** Twilio's form, as it was posted. */
export type TwilioForm = Type.Static<typeof TwilioForm>;

/** Error codes that mean the number will never take a text (hard bounces). */
const deadNumberCodes = ["21211", "21614", "30005", "30006"];

/** The form of a Twilio request; `invalid` when it is not text fields. */
export function readTwilioForm(body: unknown): TwilioForm {
  return checkBody(
    TwilioForm,
    body ?? {},
    "/body",
    "Twilio posts a form of text fields",
  );
}

/** Checks Twilio's request signature: base64 HMAC-SHA1 of the URL and the sorted form fields. */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  form: Record<string, string>,
  header: string | string[] | undefined,
): boolean {
  if (typeof header !== "string") return false;
  const data =
    url +
    Object.keys(form)
      .sort()
      .map((k) => `${k}${form[k]}`)
      .join("");
  const expected = createHmac("sha1", authToken).update(data).digest("base64");
  return constantTimeEqual(expected, header);
}

/**
 * Throws `forbidden` when the workspace has a Twilio auth token and the request's
 * signature (over the URL Twilio posted to) does not match it.
 */
export function verifyTwilioRequest(input: {
  authToken: string | undefined;
  url: string;
  form: TwilioForm;
  signature: string | string[] | undefined;
}): void {
  if (!input.authToken) return;
  if (
    !verifyTwilioSignature(
      input.authToken,
      input.url,
      input.form,
      input.signature,
    )
  )
    throw new DomainError(
      "forbidden",
      "X-Twilio-Signature does not match this workspace's Twilio auth token",
    );
}

/** What a Twilio request says. */
export type TwilioNews =
  /** A status callback of a text Herald sent, with the news it carries, if any. */
  | {
      kind: "status";
      providerMessageId: string;
      news?: {
        news: Extract<MessageNews, "delivered" | "bounced">;
        bounceType?: "hard" | "soft";
        reason?: string;
      };
    }
  /** An inbound STOP or START from a phone number. */
  | { kind: "keyword"; keyword: "stop" | "start"; phone: string }
  /** Anything else (HELP, a question): Twilio answers those itself. */
  | { kind: "none" };

/** The news in a Twilio form; phone numbers are read in `defaultRegion`. */
export function twilioNews(
  form: TwilioForm,
  defaultRegion: string | undefined,
): TwilioNews {
  const status = form.MessageStatus;
  if (typeof status === "string" && form.MessageSid) {
    const providerMessageId = form.MessageSid;
    if (status === "delivered")
      return {
        kind: "status",
        providerMessageId,
        news: { news: "delivered" },
      };
    if (status === "undelivered" || status === "failed")
      return {
        kind: "status",
        providerMessageId,
        news: {
          news: "bounced",
          bounceType: deadNumberCodes.includes(form.ErrorCode ?? "")
            ? "hard"
            : "soft",
          reason: `Twilio ${status} ${form.ErrorCode ?? ""}`.trim(),
        },
      };
    return { kind: "status", providerMessageId };
  }
  const keyword = smsKeyword(form.Body ?? "");
  const phone = normalizePhone(form.From, defaultRegion);
  if (phone && (keyword === "stop" || keyword === "start"))
    return { kind: "keyword", keyword, phone };
  return { kind: "none" };
}
