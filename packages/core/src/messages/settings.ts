import Type from "typebox";

/**
 * A workspace's delivery settings: the sending policy (consent mode, frequency cap, quiet
 * hours) and each channel's provider. Part of the workspace settings (core/workspaces/
 * settings.ts spreads these properties in), so `PATCH /api/workspace/settings` sets them.
 */

const RateLimit = Type.Object(
  {
    perSecond: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
    ),
    perHour: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e9 })),
    perDay: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e9 })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  {
    additionalProperties: false,
    description:
      "Provider limits: messages per second, sliding windows per hour and day, sends in flight",
  },
);
export type RateLimit = Type.Static<typeof RateLimit>;

const TimeOfDay = Type.String({
  pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$",
  description: "HH:MM, 24-hour, in the recipient's time zone",
});

const DkimKey = Type.Object(
  {
    domain: Type.String({ minLength: 1 }),
    selector: Type.String({ minLength: 1 }),
    privateKey: Type.String({
      minLength: 1,
      description:
        "PEM private key; publish the public key at <selector>._domainkey.<domain>",
    }),
  },
  { additionalProperties: false },
);
export type DkimKey = Type.Static<typeof DkimKey>;

/** The properties delivery adds to the workspace settings. */
export const messagingSettingsProperties = {
  marketingConsent: Type.Optional(
    Type.Union(
      [Type.Literal("explicit"), Type.Literal("unless_unsubscribed")],
      {
        description:
          "explicit (default): marketing only to channels with a `subscribed` record; unless_unsubscribed: also to never-asked channels",
      },
    ),
  ),
  frequencyCap: Type.Optional(
    Type.Object(
      {
        messages: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        hours: Type.Number({ exclusiveMinimum: 0, maximum: 87_600 }),
      },
      {
        additionalProperties: false,
        description:
          "At most `messages` marketing messages per profile in any `hours`, all channels, flows and campaigns together",
      },
    ),
  ),
  quietHours: Type.Optional(
    Type.Object(
      { start: TimeOfDay, end: TimeOfDay },
      {
        additionalProperties: false,
        description:
          "No marketing between start and end in the recipient's time zone; messages wait until end",
      },
    ),
  ),
  email: Type.Optional(
    Type.Object(
      {
        fromEmail: Type.Optional(Type.String({ minLength: 3 })),
        fromName: Type.Optional(Type.String()),
        replyTo: Type.Optional(Type.String()),
        smtpUrl: Type.Optional(
          Type.String({
            pattern: "^smtps?://",
            description: "smtp://user:pass@host:587; overrides HERALD_SMTP_URL",
          }),
        ),
        dkim: Type.Optional(Type.Array(DkimKey)),
        trackOpens: Type.Optional(Type.Boolean()),
        trackClicks: Type.Optional(Type.Boolean()),
        utm: Type.Optional(
          Type.Object(
            {
              source: Type.Optional(Type.String()),
              medium: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
        ),
        mailgunSigningKey: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              "Mailgun's HTTP webhook signing key; Mailgun webhooks are refused without it",
          }),
        ),
        sendgridVerificationKey: Type.Optional(
          Type.String({
            minLength: 40,
            description:
              "The verification key of SendGrid's Signed Event Webhook (base64 ECDSA P-256 public key); SendGrid webhooks are refused without it",
          }),
        ),
        postmarkWebhookAuth: Type.Optional(
          Type.Object(
            {
              username: Type.String({ minLength: 1, pattern: "^[^:]+$" }),
              password: Type.String({ minLength: 12 }),
            },
            {
              additionalProperties: false,
              description:
                "Basic auth Postmark sends: set the webhook URL to https://username:password@…; Postmark webhooks are refused without it",
            },
          ),
        ),
        sesTopicArns: Type.Optional(
          Type.Array(Type.String({ pattern: "^arn:aws[a-z-]*:sns:" }), {
            description:
              "SNS topics whose SES notifications are accepted (all signed ones when unset)",
          }),
        ),
        limits: Type.Optional(RateLimit),
      },
      { additionalProperties: false },
    ),
  ),
  sms: Type.Optional(
    Type.Object(
      {
        provider: Type.Union([Type.Literal("twilio"), Type.Literal("http")]),
        from: Type.Optional(Type.String()),
        accountSid: Type.Optional(Type.String()),
        authToken: Type.Optional(Type.String()),
        messagingServiceSid: Type.Optional(Type.String()),
        baseUrl: Type.Optional(Type.String({ pattern: "^https?://" })),
        url: Type.Optional(
          Type.String({
            pattern: "^https?://",
            description:
              "generic HTTP gateway: POST {to, from, text, messageId} as JSON",
          }),
        ),
        headers: Type.Optional(Type.Record(Type.String(), Type.String())),
        trackClicks: Type.Optional(
          Type.Boolean({
            description:
              "links in texts become tracked redirects (about 150 characters each); off by default",
          }),
        ),
        limits: Type.Optional(RateLimit),
      },
      { additionalProperties: false },
    ),
  ),
  push: Type.Optional(
    Type.Object(
      {
        subject: Type.Optional(
          Type.String({ description: "VAPID subject: mailto: or https: URL" }),
        ),
        ttlSeconds: Type.Optional(
          Type.Integer({ minimum: 0, maximum: 2_419_200 }),
        ),
        trackClicks: Type.Optional(
          Type.Boolean({
            description:
              "a notification's link goes through a tracked redirect (Push Opened); on by default",
          }),
        ),
        limits: Type.Optional(RateLimit),
      },
      { additionalProperties: false },
    ),
  ),
  telegram: Type.Optional(
    Type.Object(
      {
        botToken: Type.String({ minLength: 1 }),
        botUsername: Type.Optional(Type.String()),
        baseUrl: Type.Optional(Type.String({ pattern: "^https?://" })),
        limits: Type.Optional(RateLimit),
      },
      { additionalProperties: false },
    ),
  ),
  webhooks: Type.Optional(
    Type.Object(
      { limits: Type.Optional(RateLimit) },
      { additionalProperties: false },
    ),
  ),
  delivery: Type.Optional(
    Type.Object(
      {
        pauseAfterErrors: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 1_000_000,
            description:
              "Pause a provider after this many consecutive errors (default 20)",
          }),
        ),
        pauseMinutes: Type.Optional(
          Type.Number({
            exclusiveMinimum: 0,
            maximum: 525_600,
            description: "Try again after this long paused (default 5)",
          }),
        ),
      },
      { additionalProperties: false },
    ),
  ),
};

/** Delivery's part of the workspace settings. */
export const MessagingSettings = Type.Object(messagingSettingsProperties);
export type MessagingSettings = Type.Static<typeof MessagingSettings>;

/** What a stored secret reads as in the API: the mask and the value's last four characters. */
export const SECRET_MASK = "••••••••";

type Secrets = Record<string, unknown>;

/** Where the provider secrets live, as paths of keys; `*` stands for every key or index. */
const secretPaths: readonly (readonly string[])[] = [
  ["email", "mailgunSigningKey"],
  ["email", "postmarkWebhookAuth", "password"],
  ["email", "dkim", "*", "privateKey"],
  ["sms", "authToken"],
  ["sms", "headers", "*"],
  ["telegram", "botToken"],
];

function maskValue(value: string): string {
  return value.length >= 16 ? SECRET_MASK + value.slice(-4) : SECRET_MASK;
}

/** An SMTP URL with its password masked, so the host and user stay readable. */
function maskSmtpUrl(value: string): string {
  return value.replace(/^(smtps?:\/\/[^:@/]*:)([^@]*)@/, `$1${SECRET_MASK}@`);
}

function mapSecrets(
  node: unknown,
  path: readonly string[],
  at: (value: string, trail: string[]) => unknown,
  trail: string[] = [],
): unknown {
  if (path.length === 0)
    return typeof node === "string" ? at(node, trail) : node;
  if (node === null || typeof node !== "object") return node;
  const [key, ...rest] = path as [string, ...string[]];
  const copy: Secrets = Array.isArray(node)
    ? (Object.assign([], node as unknown[]) as unknown as Secrets)
    : { ...(node as Secrets) };
  for (const k of key === "*" ? Object.keys(copy) : [key])
    if (k in copy) copy[k] = mapSecrets(copy[k], rest, at, [...trail, k]);
  return copy;
}

function valueAt(node: unknown, trail: readonly string[]): unknown {
  let value = node;
  for (const key of trail) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Secrets)[key];
  }
  return value;
}

/**
 * Settings as the API shows them: provider secrets masked (`••••••••` and the last four
 * characters of long ones, the password of an SMTP URL), everything else as stored.
 */
export function maskSecrets<T extends object>(settings: T): T {
  let masked: unknown = settings;
  for (const path of secretPaths) masked = mapSecrets(masked, path, maskValue);
  return mapSecrets(masked, ["email", "smtpUrl"], maskSmtpUrl) as T;
}

/**
 * A settings change with masked secrets put back: a client that reads the settings, edits
 * one field and writes the object back sends the masks, which mean "keep the stored value".
 */
export function unmaskSecrets<T extends object>(change: T, stored: object): T {
  const keep = (value: string, trail: string[]) => {
    if (!value.startsWith(SECRET_MASK)) return value;
    const current = valueAt(stored, trail);
    return typeof current === "string" ? current : value;
  };
  let restored: unknown = change;
  for (const path of secretPaths) restored = mapSecrets(restored, path, keep);
  return mapSecrets(restored, ["email", "smtpUrl"], (value, trail) => {
    const current = valueAt(stored, trail);
    return value.includes(`:${SECRET_MASK}@`) &&
      typeof current === "string" &&
      maskSmtpUrl(current) === value
      ? current
      : value;
  }) as T;
}
