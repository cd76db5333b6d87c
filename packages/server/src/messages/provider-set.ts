import type { MessageChannel } from "@herald/core/messages/content";
import type { WorkspaceSettings } from "@herald/core/workspaces/settings";
import type { Logger } from "../logger.ts";
import { HttpSmsProvider } from "../providers/http-sms.ts";
import { OutboxProvider } from "../providers/outbox.ts";
import type { Provider } from "../providers/provider.ts";
import type { SmtpOptions } from "../providers/smtp.ts";
import { ThreadedSmtpProvider } from "../providers/smtp-thread.ts";
import { TelegramProvider } from "../providers/telegram.ts";
import { TwilioProvider } from "../providers/twilio.ts";
import { WebhookProvider } from "../providers/webhook.ts";
import { WebPushProvider } from "../providers/web-push.ts";
import type { MessagingSecrets } from "./message-secrets.ts";

/** What building providers needs: the log, where Herald is reached, secrets, HERALD_SMTP_URL. */
export interface ProviderSetDeps {
  logger: Logger;
  publicUrl: string;
  secrets: MessagingSecrets;
  smtpUrl: string | undefined;
}

/**
 * The provider of each workspace's channel, built from its settings (and HERALD_SMTP_URL)
 * and rebuilt when they change. No configuration means the outbox.
 */
export class ProviderSet {
  readonly #deps: ProviderSetDeps;
  readonly #logger: Logger;
  readonly #providers = new Map<
    string,
    { config: string; provider: Provider }
  >();
  readonly #outbox = new OutboxProvider();

  constructor(deps: ProviderSetDeps) {
    this.#deps = deps;
    this.#logger = deps.logger;
  }

  /** The provider for a workspace's channel now. */
  async get(
    workspaceId: string,
    channel: MessageChannel,
    settings: WorkspaceSettings,
  ): Promise<Provider> {
    const secrets = await this.#deps.secrets.load(workspaceId);
    const config = configOf(this.#deps, {
      workspaceId,
      channel,
      settings,
      secrets,
    });
    if (!config) return this.#outbox;
    const key = `${workspaceId}/${channel}`;
    const json = JSON.stringify(config);
    const cached = this.#providers.get(key);
    if (cached?.config === json) return cached.provider;
    if (cached)
      void cached.provider
        .close?.()
        .catch((error: unknown) =>
          this.#logger.warn({ err: error }, "closing a provider failed"),
        );
    const provider = build(config);
    this.#providers.set(key, { config: json, provider });
    return provider;
  }

  /** Closes every provider (their connection pools). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#providers.values()].map(async (p) => p.provider.close?.()),
    );
    this.#providers.clear();
  }
}

type ProviderConfig =
  | { kind: "smtp"; options: SmtpOptions }
  | { kind: "twilio"; options: ConstructorParameters<typeof TwilioProvider>[0] }
  | {
      kind: "http-sms";
      options: ConstructorParameters<typeof HttpSmsProvider>[0];
    }
  | {
      kind: "web-push";
      options: ConstructorParameters<typeof WebPushProvider>[0];
    }
  | {
      kind: "telegram";
      options: ConstructorParameters<typeof TelegramProvider>[0];
    }
  | { kind: "webhook"; secret: string };

function build(config: ProviderConfig): Provider {
  switch (config.kind) {
    case "smtp":
      return new ThreadedSmtpProvider(config.options);
    case "twilio":
      return new TwilioProvider(config.options);
    case "http-sms":
      return new HttpSmsProvider(config.options);
    case "web-push":
      return new WebPushProvider(config.options);
    case "telegram":
      return new TelegramProvider(config.options);
    case "webhook":
      return new WebhookProvider(config.secret);
  }
}

/** What a workspace's channel is sent with: its settings and delivery's secrets. */
interface ProviderContext {
  workspaceId: string;
  channel: MessageChannel;
  settings: WorkspaceSettings;
  secrets: {
    webhook_secret: string;
    vapid_public_key: string;
    vapid_private_key: string;
  };
}

/** The provider a workspace's settings call for on a channel; undefined means the outbox. */
function configOf(
  deps: ProviderSetDeps,
  context: ProviderContext,
): ProviderConfig | undefined {
  const { workspaceId, channel, settings, secrets } = context;
  const host = new URL(deps.publicUrl).hostname;
  const fromEmail =
    settings.email?.fromEmail ??
    `herald@${host.includes(".") ? host : "localhost.localdomain"}`;
  switch (channel) {
    case "email": {
      const url = settings.email?.smtpUrl ?? deps.smtpUrl;
      if (!url) return undefined;
      return {
        kind: "smtp",
        options: {
          url,
          dkim: settings.email?.dkim ?? [],
          connections: settings.email?.limits?.concurrency ?? 5,
          from: {
            address: fromEmail,
            ...((settings.email?.fromName ?? settings.storeName)
              ? { name: settings.email?.fromName ?? settings.storeName }
              : {}),
          },
          ...(settings.email?.replyTo
            ? { replyTo: settings.email.replyTo }
            : {}),
        },
      };
    }
    case "sms": {
      const sms = settings.sms;
      if (sms?.provider === "twilio" && sms.accountSid && sms.authToken)
        return {
          kind: "twilio",
          options: {
            accountSid: sms.accountSid,
            authToken: sms.authToken,
            baseUrl: sms.baseUrl ?? "https://api.twilio.com",
            ...(sms.from ? { from: sms.from } : {}),
            ...(sms.messagingServiceSid
              ? { messagingServiceSid: sms.messagingServiceSid }
              : {}),
            // Delivery reports come back to the Twilio webhook (signed by this token).
            statusCallback: `${deps.publicUrl}/webhooks/messages/twilio/${workspaceId}.${deps.secrets.sign(workspaceId, `hook.${workspaceId}`)}`,
          },
        };
      if (sms?.provider === "http" && sms.url)
        return {
          kind: "http-sms",
          options: {
            url: sms.url,
            ...(sms.from ? { from: sms.from } : {}),
            ...(sms.headers ? { headers: sms.headers } : {}),
          },
        };
      return undefined;
    }
    case "push":
      return {
        kind: "web-push",
        options: {
          publicKey: secrets.vapid_public_key,
          privateKey: secrets.vapid_private_key,
          subject: settings.push?.subject ?? `mailto:${fromEmail}`,
          ttlSeconds: settings.push?.ttlSeconds ?? 86_400,
        },
      };
    case "telegram":
      return settings.telegram?.botToken
        ? {
            kind: "telegram",
            options: {
              botToken: settings.telegram.botToken,
              baseUrl: settings.telegram.baseUrl ?? "https://api.telegram.org",
            },
          }
        : undefined;
    case "webhook":
      return { kind: "webhook", secret: secrets.webhook_secret };
  }
}
