import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { startSmtpSink } from "../testing/smtp-sink.ts";
import type { OutgoingMessage } from "./provider.ts";
import { crashSmtpThread, ThreadedSmtpProvider } from "./smtp-thread.ts";

function message(to: string): OutgoingMessage {
  return {
    workspaceId: "ws_test",
    id: "0190a000-0000-7000-8000-000000000001",
    channel: "email",
    to,
    content: {
      channel: "email",
      subject: "Hello",
      html: "<p>Hi there</p>",
      text: "Hi there",
    },
    at: new Date(),
  };
}

const options = (port: number) => ({
  url: `smtp://127.0.0.1:${port}?starttls=off`,
  dkim: [],
  connections: 1,
  from: { address: "shop@example.com" },
});

describe("SMTP thread", () => {
  it("sends through the thread, and a crash fails what it held as outcome_unknown, then recovers", async () => {
    const sink = await startSmtpSink();
    // A server that accepts connections and never greets: sends wait on it.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) =>
      silent.listen(0, "127.0.0.1", resolve),
    );
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      const working = new ThreadedSmtpProvider(options(sink.port));
      const sent = await working.send(message("first@example.com"));
      assert.equal(sent.ok, true);
      assert.equal(sink.perRecipient.get("first@example.com"), 1);

      const stuck = new ThreadedSmtpProvider(options(silentPort));
      const waiting = stuck.send(message("stuck@example.com"));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await crashSmtpThread();
      const outcome = await waiting;
      assert.equal(outcome.ok, false);
      assert.ok(
        !outcome.ok &&
          outcome.kind === "permanent" &&
          outcome.error.startsWith("outcome_unknown"),
        `a send the thread held when it died is never retried blindly: ${JSON.stringify(outcome)}`,
      );

      // The next send starts a new thread with the open transports reopened.
      const again = await working.send(message("second@example.com"));
      assert.equal(again.ok, true);
      assert.equal(sink.perRecipient.get("second@example.com"), 1);
      await stuck.close();
      await working.close();
    } finally {
      silent.close();
      await sink.close();
    }
  });
});
