import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerSession } from "smtp-server";

/**
 * A real SMTP server (`smtp-server`) on 127.0.0.1 for tests and benchmarks: it accepts
 * everything, keeps each message's raw text (or only counts, for big runs), and can be
 * told to refuse for a while, as a provider in trouble does.
 */

/** A message as the sink received it. */
export interface SunkMessage {
  from: string;
  to: string[];
  raw: string;
}

/** A running sink. */
export interface SmtpSink {
  url: string;
  port: number;
  messages: SunkMessage[];
  /** Messages accepted per recipient address. */
  perRecipient: Map<string, number>;
  accepted: number;
  /** Refuse new messages with 421 (connections) / 451 (recipients) until set false. */
  refusing: boolean;
  close(): Promise<void>;
}

/** Starts a sink; `keepRaw: false` only counts (for 100,000-message runs). */
export async function startSmtpSink(
  options: { keepRaw?: boolean; port?: number } = {},
): Promise<SmtpSink> {
  const keepRaw = options.keepRaw ?? true;
  const sink: Omit<SmtpSink, "url" | "port" | "close"> = {
    messages: [],
    perRecipient: new Map(),
    accepted: 0,
    refusing: false,
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    size: 10 * 1024 * 1024,
    onConnect(_session, callback) {
      if (sink.refusing) {
        const error = Object.assign(new Error("try again later"), {
          responseCode: 421,
        });
        return callback(error);
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (sink.refusing) {
        const error = Object.assign(new Error("temporarily refusing"), {
          responseCode: 451,
        });
        return callback(error);
      }
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => {
        if (keepRaw) chunks.push(chunk);
      });
      stream.on("end", () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        for (const address of to)
          sink.perRecipient.set(
            address,
            (sink.perRecipient.get(address) ?? 0) + 1,
          );
        sink.accepted++;
        if (keepRaw)
          sink.messages.push({
            from: session.envelope.mailFrom
              ? session.envelope.mailFrom.address
              : "",
            to,
            raw: Buffer.concat(chunks).toString("utf8"),
          });
        callback();
      });
    },
  });
  // Clients that are killed mid-session reset their connections: expected here.
  server.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  const running: SmtpSink = Object.assign(sink, {
    url: `smtp://127.0.0.1:${port}?starttls=off`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return running;
}
