import Type from "typebox";
import Value from "typebox/value";
import {
  httpOutcome,
  networkOutcome,
  postWithTimeout,
  type OutgoingMessage,
  type Provider,
  type SendOutcome,
} from "./provider.ts";

/**
 * SMS through Twilio's REST API, on the wire as Twilio documents it: a form-encoded POST
 * to `/2010-04-01/Accounts/{AccountSid}/Messages.json` with Basic auth (SID : auth
 * token), answered `201` with the message's `sid`. The base URL is configurable, so tests
 * (and Twilio-compatible gateways) can stand in for api.twilio.com.
 */

/** Twilio credentials and sender. */
export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  from?: string;
  messagingServiceSid?: string;
  baseUrl: string;
  /** Where Twilio reports delivery (`MessageStatus`), if Herald is reachable. */
  statusCallback?: string;
}

/** The fields of Twilio's JSON answer Herald reads (others pass). */
const TwilioAnswer = Type.Object({
  sid: Type.Optional(Type.String()),
  code: Type.Optional(Type.Number()),
  message: Type.Optional(Type.String()),
});

/** Twilio error codes that mean the number can never get this message. */
const deadNumber = new Set([21211, 21214, 21610, 21612, 21614]);

/** See the module comment. */
export class TwilioProvider implements Provider {
  readonly name = "twilio";
  readonly #o: TwilioOptions;

  constructor(options: TwilioOptions) {
    this.#o = options;
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    if (message.content.channel !== "sms")
      throw new Error(`twilio cannot send ${message.content.channel}`);
    const form = new URLSearchParams({
      To: message.to,
      Body: message.content.text,
    });
    if (this.#o.messagingServiceSid)
      form.set("MessagingServiceSid", this.#o.messagingServiceSid);
    else if (this.#o.from) form.set("From", this.#o.from);
    if (this.#o.statusCallback)
      form.set("StatusCallback", this.#o.statusCallback);
    const url = `${this.#o.baseUrl.replace(/\/+$/, "")}/2010-04-01/Accounts/${encodeURIComponent(this.#o.accountSid)}/Messages.json`;
    let response: Response;
    try {
      response = await postWithTimeout(url, {
        headers: {
          authorization: `Basic ${Buffer.from(`${this.#o.accountSid}:${this.#o.authToken}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: form.toString(),
      });
    } catch (error) {
      return networkOutcome(this.name, error);
    }
    const answer: unknown = await response.json().catch(() => ({}));
    const body = Value.Check(TwilioAnswer, answer) ? answer : {};
    if (response.ok) {
      return {
        ok: true,
        provider: this.name,
        ...(body.sid ? { providerMessageId: body.sid } : {}),
      };
    }
    const outcome = httpOutcome(
      this.name,
      response.status,
      `${body.code ?? ""} ${body.message ?? ""}`.trim(),
      response.headers.get("retry-after"),
    );
    if (!outcome.ok && body.code !== undefined && deadNumber.has(body.code))
      return { ...outcome, kind: "permanent", gone: true, recipientOnly: true };
    if (!outcome.ok && outcome.kind === "permanent" && response.status === 400)
      return { ...outcome, recipientOnly: true };
    return outcome;
  }
}
