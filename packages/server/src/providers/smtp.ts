import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import type { DkimKey } from "@herald/core/messages/settings";
import type { OutgoingMessage, Provider, SendOutcome } from "./provider.ts";

/**
 * Email over SMTP with nodemailer's pooled transport: a few long-lived connections, each
 * carrying many messages. Signs with DKIM by the From address's domain when the workspace
 * has a key for it, covering the one-click unsubscribe headers too.
 *
 * The Message-ID is `<ledger id@from domain>`, so a bounce or complaint that quotes it
 * finds its ledger row.
 */

const dkimFields =
  "From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:" +
  "Content-Transfer-Encoding:In-Reply-To:References:List-Id:List-Help:List-Unsubscribe:" +
  "List-Unsubscribe-Post:List-Subscribe:List-Post:List-Owner:List-Archive:Feedback-ID";

/** An SMTP server and how to sign for it. */
export interface SmtpOptions {
  url: string;
  dkim: DkimKey[];
  /** Connections in the pool. */
  connections: number;
  /** Default sender when the content names none. */
  from: { name?: string; address: string };
  replyTo?: string;
}

type MailError = Error & {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
};

/** See the module comment. */
export class SmtpProvider implements Provider {
  readonly name = "smtp";
  readonly #options: SmtpOptions;
  readonly #transport: Transporter;

  constructor(options: SmtpOptions) {
    this.#options = options;
    const url = new URL(options.url);
    this.#transport = nodemailer.createTransport({
      pool: true,
      host: url.hostname,
      port: Number(url.port || (url.protocol === "smtps:" ? 465 : 587)),
      secure: url.protocol === "smtps:",
      ...(url.username
        ? {
            auth: {
              user: decodeURIComponent(url.username),
              pass: decodeURIComponent(url.password),
            },
          }
        : {}),
      // Local and test servers often speak STARTTLS with self-signed certificates.
      tls: { rejectUnauthorized: url.searchParams.get("tls") !== "strict" },
      ignoreTLS: url.searchParams.get("starttls") === "off",
      maxConnections: options.connections,
      maxMessages: 1000,
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 60_000,
    });
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    if (message.content.channel !== "email")
      throw new Error(`smtp cannot send ${message.content.channel}`);
    const c = message.content;
    const address = c.fromEmail ?? this.#options.from.address;
    const domain = address.split("@")[1]?.toLowerCase() ?? "localhost";
    const key = this.#options.dkim.find(
      (k) => k.domain.toLowerCase() === domain,
    );
    const name = c.fromName ?? this.#options.from.name;
    const replyTo = c.replyTo ?? this.#options.replyTo;
    try {
      const info = (await this.#transport.sendMail({
        from: name ? { name, address } : address,
        to: message.to,
        subject: c.subject,
        ...(c.html ? { html: c.html } : {}),
        text: c.text,
        ...(replyTo ? { replyTo } : {}),
        messageId: `<${message.id}@${domain}>`,
        headers: {
          ...message.headers,
          "X-Herald-Message-Id": `${message.workspaceId}/${message.id}`,
          // Postmark turns X-PM-Metadata-* into webhook metadata: bounces find their row.
          "X-PM-Metadata-herald_message_id": message.id,
        },
        ...(key
          ? {
              dkim: {
                domainName: key.domain,
                keySelector: key.selector,
                privateKey: key.privateKey,
                headerFieldNames: dkimFields,
              },
            }
          : {}),
      })) as { messageId?: string; response?: string };
      return {
        ok: true,
        provider: this.name,
        providerMessageId: info.messageId ?? `<${message.id}@${domain}>`,
      };
    } catch (error) {
      return smtpOutcome(error as MailError);
    }
  }

  async close(): Promise<void> {
    this.#transport.close();
    return Promise.resolve();
  }
}

/** Classifies an SMTP failure: 5xx replies are permanent, the rest is worth a retry. */
export function smtpOutcome(error: MailError): SendOutcome {
  const code = error.responseCode;
  const detail = (error.response ?? error.message).slice(0, 500);
  if (code !== undefined && code >= 500) {
    const recipient = error.code === "EENVELOPE" || error.command === "RCPT TO";
    return {
      ok: false,
      provider: "smtp",
      kind: "permanent",
      error: `SMTP ${code}: ${detail}`,
      gone:
        recipient &&
        /\b5\.1\.[0-9]\b|user unknown|no such user|does not exist/i.test(
          detail,
        ),
      recipientOnly: recipient,
    };
  }
  return {
    ok: false,
    provider: "smtp",
    kind: "transient",
    error: code
      ? `SMTP ${code}: ${detail}`
      : `SMTP ${error.code ?? "error"}: ${detail}`,
  };
}
