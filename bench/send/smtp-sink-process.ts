/**
 * The benchmark's SMTP server in a process of its own (so it does not share an event loop
 * with the senders it measures): prints its port, answers "count" with the messages
 * accepted so far.
 */
import { startSmtpSink } from "../../packages/server/src/testing/smtp-sink.ts";

const sink = await startSmtpSink({ keepRaw: false });
process.send?.({ port: sink.port });
process.on("message", (message) => {
  if (message === "count") process.send?.({ count: sink.accepted });
  if (message === "stop") void sink.close().then(() => process.exit(0));
});
