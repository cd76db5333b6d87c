import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server that records requests and answers as a test says: the stand-in for
 * Twilio, a push service, Telegram's Bot API or a webhook receiver.
 */

/** A request as the fake received it. */
export interface FakeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The fake's answer. */
export interface FakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A running fake. */
export interface FakeHttp {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

/** Starts a fake that answers each request with `answer(request)`. */
export async function startFakeHttp(
  answer: (request: FakeRequest) => FakeAnswer,
): Promise<FakeHttp> {
  const requests: FakeRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request: FakeRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("latin1"),
      };
      requests.push(request);
      const a = answer(request);
      res.writeHead(a.status, {
        "content-type": "application/json",
        ...a.headers,
      });
      res.end(a.body === undefined ? "" : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
