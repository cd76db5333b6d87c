import { verify, X509Certificate } from "node:crypto";
import Type from "typebox";
import { ms, type Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";

/**
 * Checks that an Amazon SNS message (how SES notifications arrive) was signed by SNS:
 * the RSA signature (SignatureVersion 1: SHA1, 2: SHA256) over the canonical string SNS
 * defines, with the public key of the certificate at `SigningCertURL`. Certificates are
 * fetched only over https from `sns.<region>.amazonaws.com` (`.com.cn` in China) and
 * cached by URL; the same rule guards the `SubscribeURL` a confirmation is followed to.
 * The fetcher can be swapped (tests serve a test certificate), the host rule cannot.
 *
 * Trade-off: the certificate's chain is not walked to a root; the https fetch from
 * SNS's own host is what vouches for it, as in AWS's SDK validators.
 */

/** Fetches an allowed SNS URL (a certificate or a subscription confirmation). */
export type SnsFetch = (url: URL) => Promise<Response>;

/** The fields of an SNS HTTP(S) message that take part in its signature. */
export const SnsEnvelope = Type.Object({
  Type: Type.String(),
  MessageId: Type.String(),
  Message: Type.String(),
  Timestamp: Type.String(),
  TopicArn: Type.String(),
  Subject: Type.Optional(Type.String()),
  SubscribeURL: Type.Optional(Type.String()),
  Token: Type.Optional(Type.String()),
  SignatureVersion: Type.String(),
  Signature: Type.String(),
  SigningCertURL: Type.String(),
});
/** An SNS message as SNS signed it. */
export type SnsEnvelope = Type.Static<typeof SnsEnvelope>;

/** How old a signed SNS message may be: SNS retries a delivery for up to an hour. */
const snsMaxAgeMs = ms.hour;

const snsHost = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** True for an https URL on an SNS host, the only place Herald fetches from for SNS. */
function isSnsUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    url.protocol === "https:" &&
    url.port === "" &&
    url.username === "" &&
    url.password === "" &&
    snsHost.test(url.hostname)
  );
}

/** The string SNS signs: each present field as `name\nvalue\n`, in SNS's order. */
function snsStringToSign(m: SnsEnvelope): string {
  const fields =
    m.Type === "Notification"
      ? ([
          "Message",
          "MessageId",
          "Subject",
          "Timestamp",
          "TopicArn",
          "Type",
        ] as const)
      : ([
          "Message",
          "MessageId",
          "SubscribeURL",
          "Timestamp",
          "Token",
          "TopicArn",
          "Type",
        ] as const);
  return fields
    .filter((f) => m[f] !== undefined)
    .map((f) => `${f}\n${m[f]}\n`)
    .join("");
}

const refused = (why: string) =>
  new DomainError("unauthorized", `SNS message refused: ${why}`);

/** See the module comment. */
export class SnsVerifier {
  readonly #fetch: SnsFetch;
  readonly #clock: Clock;
  readonly #certificates = new Map<string, Promise<X509Certificate>>();

  constructor(deps: { clock: Clock; fetch?: SnsFetch }) {
    this.#clock = deps.clock;
    this.#fetch =
      deps.fetch ??
      ((url) =>
        fetch(url, { redirect: "error", signal: AbortSignal.timeout(10_000) }));
  }

  /** Throws `unauthorized` unless SNS signed `m` within the last hour. */
  async verify(m: SnsEnvelope): Promise<void> {
    const algorithm =
      m.SignatureVersion === "1"
        ? "sha1"
        : m.SignatureVersion === "2"
          ? "sha256"
          : undefined;
    if (!algorithm)
      throw refused(`SignatureVersion ${m.SignatureVersion} is not 1 or 2`);
    if (!isSnsUrl(m.SigningCertURL))
      throw refused(
        "SigningCertURL is not an https URL on sns.<region>.amazonaws.com",
      );
    const at = Date.parse(m.Timestamp);
    const now = this.#clock.now().getTime();
    if (!Number.isFinite(at)) throw refused("Timestamp is not a date");
    if (now - at > snsMaxAgeMs || at - now > 5 * ms.minute)
      throw refused(
        `Timestamp ${m.Timestamp} is more than an hour away from now (a replay?)`,
      );
    const certificate = await this.#certificate(m.SigningCertURL);
    if (
      now < Date.parse(certificate.validFrom) ||
      now > Date.parse(certificate.validTo)
    )
      throw refused(
        `the signing certificate ${m.SigningCertURL} is not valid now`,
      );
    const signed = verify(
      algorithm,
      Buffer.from(snsStringToSign(m), "utf8"),
      certificate.publicKey,
      Buffer.from(m.Signature, "base64"),
    );
    if (!signed) throw refused("the signature does not match the message");
  }

  /** Visits a confirmation's SubscribeURL; false if it is not on SNS or SNS said no. */
  async confirm(subscribeUrl: string): Promise<boolean> {
    if (!isSnsUrl(subscribeUrl)) return false;
    const response = await this.#fetch(new URL(subscribeUrl));
    await response.body?.cancel();
    return response.ok;
  }

  /** The certificate at `url`, fetched once (a failed fetch is tried again next time). */
  #certificate(url: string): Promise<X509Certificate> {
    let certificate = this.#certificates.get(url);
    if (!certificate) {
      certificate = this.#load(url);
      certificate.catch(() => this.#certificates.delete(url));
      if (this.#certificates.size >= 100) this.#certificates.clear();
      this.#certificates.set(url, certificate);
    }
    return certificate;
  }

  async #load(url: string): Promise<X509Certificate> {
    try {
      const response = await this.#fetch(new URL(url));
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return new X509Certificate(await response.text());
    } catch (error) {
      throw refused(
        `could not load the signing certificate ${url}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
