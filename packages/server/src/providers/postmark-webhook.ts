import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { constantTimeEqual } from "@herald/core/messages/tracking";
import type { EmailNews } from "./email-news.ts";
import { checkBody, unconfiguredProvider } from "./webhook-checks.ts";

/**
 * Postmark's webhooks: one record per request (Bounce, SpamComplaint, Delivery,
 * SubscriptionChange), authenticated by the HTTP basic auth of `email.postmarkWebhookAuth`
 * that the webhook URL carries (`https://user:password@…`).
 */

const Str = Type.String();
const Opt = <T extends Type.TSchema>(schema: T) => Type.Optional(schema);

const PostmarkRecord = Type.Object({
  RecordType: Str,
  MessageID: Opt(Str),
  Email: Opt(Str),
  Recipient: Opt(Str),
  Type: Opt(Str),
  Description: Opt(Str),
  Details: Opt(Str),
  SuppressSending: Opt(Type.Boolean()),
  Metadata: Opt(Type.Record(Type.String(), Type.Unknown())),
});

const hardPostmarkBounces = [
  "HardBounce",
  "BadEmailAddress",
  "ManuallyDeactivated",
  "Blocked",
];

/** The news in a Postmark webhook record. */
export function postmarkNews(body: unknown): EmailNews[] {
  const r = checkBody(
    PostmarkRecord,
    body,
    "/body",
    "not a Postmark webhook record",
  );
  const metadata = r.Metadata ?? {};
  const base = {
    ids: [metadata.herald_message_id, ...Object.values(metadata)],
    address: r.Email ?? r.Recipient,
    ...(r.MessageID ? { providerMessageId: r.MessageID } : {}),
  };
  if (r.RecordType === "Bounce")
    return [
      {
        ...base,
        news: "bounced",
        bounceType: hardPostmarkBounces.includes(r.Type ?? "")
          ? "hard"
          : "soft",
        reason: `${r.Type ?? ""}: ${r.Description || r.Details || ""}`,
      },
    ];
  if (r.RecordType === "SpamComplaint")
    return [{ ...base, news: "complained" }];
  if (r.RecordType === "Delivery") return [{ ...base, news: "delivered" }];
  if (r.RecordType === "SubscriptionChange" && r.SuppressSending === true)
    return [{ ...base, news: "unsubscribed" }];
  return [];
}

/**
 * Checks the HTTP basic auth Postmark sends from a webhook URL `https://user:password@…`:
 * `forbidden` until the workspace sets it, `unauthorized` when it does not match.
 */
export function verifyPostmark(input: {
  auth: { username: string; password: string } | undefined;
  authorization: string | undefined;
}): void {
  if (!input.auth)
    throw unconfiguredProvider(
      "Postmark",
      "email.postmarkWebhookAuth {username, password} (and put them in the webhook URL as https://username:password@…)",
    );
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(input.authorization ?? "");
  const given = match?.[1] ? Buffer.from(match[1], "base64").toString() : "";
  const colon = given.indexOf(":");
  const ok =
    colon >= 0 &&
    constantTimeEqual(given.slice(0, colon), input.auth.username) &&
    constantTimeEqual(given.slice(colon + 1), input.auth.password);
  if (!ok)
    throw new DomainError(
      "unauthorized",
      "the Postmark webhook's basic auth does not match email.postmarkWebhookAuth: the URL must be https://username:password@…",
    );
}
