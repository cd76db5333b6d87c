import { parentPort } from "node:worker_threads";
import type { SendOutcome } from "./provider.ts";
import { SmtpProvider } from "./smtp.ts";
import type { SmtpThreadReply, SmtpThreadRequest } from "./smtp-thread.ts";

/** The SMTP thread (see `smtp-thread.ts`): nodemailer transports by key. */

const port = parentPort;
if (!port) throw new Error("smtp-thread-main.ts runs only as a worker thread");
const transports = new Map<string, SmtpProvider>();
const reply = (r: SmtpThreadReply) => port.postMessage(r);
const failed = (error: string): SendOutcome => ({
  ok: false,
  provider: "smtp",
  kind: "transient",
  error,
});

port.on("message", (request: SmtpThreadRequest) => {
  switch (request.op) {
    case "open":
      void transports.get(request.key)?.close();
      transports.set(request.key, new SmtpProvider(request.options));
      return;
    case "send": {
      const transport = transports.get(request.key);
      if (!transport) {
        reply({
          id: request.id,
          outcome: failed("SMTP transport is not open"),
        });
        return;
      }
      transport.send(request.message).then(
        (outcome) => reply({ id: request.id, outcome }),
        (error: unknown) =>
          reply({ id: request.id, outcome: failed(`SMTP: ${String(error)}`) }),
      );
      return;
    }
    case "close": {
      const transport = transports.get(request.key);
      transports.delete(request.key);
      void (transport?.close() ?? Promise.resolve()).finally(() =>
        reply({ id: request.id }),
      );
      return;
    }
  }
});
