import http from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { isDomainError } from "@herald/core/domain-error";
import type { Logger } from "../logger.ts";
import type { Progress } from "./operation-context.ts";

/**
 * The control channel: how `herald` CLI commands reach a server that holds the embedded
 * database's directory (only one process may open it). The server listens on 127.0.0.1
 * with a random token that only the lock file (mode 0600) reveals. A request names an
 * operation and its arguments; the answer is newline-delimited JSON: progress lines, then
 * one `result` or `error` line.
 */

/** A control-channel address as written in the lock file. */
export interface ControlAddress {
  port: number;
  token: string;
}

/** Runs a named operation, reporting progress. */
export type OperationRunner = (
  name: string,
  args: Record<string, unknown>,
  progress: (update: Progress) => void,
) => Promise<unknown>;

/** An error reported by the server for an operation, with its domain code if it had one. */
export class OperationError extends Error {
  override readonly name = "OperationError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Starts the control channel; resolves to its address and a close function. */
export async function startControlServer(
  run: OperationRunner,
  logger: Logger,
): Promise<ControlAddress & { close(): Promise<void> }> {
  const token = randomBytes(24).toString("hex");
  const expected = Buffer.from(`Bearer ${token}`);
  const server = http.createServer((request, response) => {
    const presented = Buffer.from(request.headers.authorization ?? "");
    if (
      presented.length !== expected.length ||
      !timingSafeEqual(presented, expected)
    ) {
      response.writeHead(401).end();
      return;
    }
    const name = decodeURIComponent(
      new URL(request.url ?? "/", "http://control").pathname.replace(
        /^\/op\//,
        "",
      ),
    );
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/x-ndjson" });
      const send = (line: object) =>
        response.write(`${JSON.stringify(line)}\n`);
      let args: Record<string, unknown>;
      try {
        args = JSON.parse(
          Buffer.concat(chunks).toString("utf8") || "{}",
        ) as Record<string, unknown>;
      } catch {
        send({
          error: {
            code: "invalid",
            message: "control request body is not JSON",
          },
        });
        response.end();
        return;
      }
      run(name, args, (progress) => send({ progress }))
        .then((result) => send({ result: result ?? null }))
        .catch((error: unknown) => {
          if (!isDomainError(error))
            logger.error(
              { err: error, operation: name },
              "control operation failed",
            );
          const message =
            error instanceof Error ? error.message : String(error);
          send({
            error: {
              code: isDomainError(error) ? error.code : "internal",
              message,
            },
          });
        })
        .finally(() => response.end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Asks the server at `address` to run an operation; resolves to its result. */
export async function callControl(
  address: ControlAddress,
  name: string,
  args: Record<string, unknown>,
  onProgress: (progress: Progress) => void = () => undefined,
): Promise<unknown> {
  const response = await fetch(
    `http://127.0.0.1:${address.port}/op/${encodeURIComponent(name)}`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${address.token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(args),
    },
  );
  if (response.status === 401)
    throw new OperationError(
      "the running server refused the control token",
      "unauthorized",
    );
  if (!response.body)
    throw new OperationError("the running server sent no answer", "internal");
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as {
        progress?: Progress;
        result?: unknown;
        error?: { code: string; message: string };
      };
      buffered = buffered.slice(newline + 1);
      if (line.progress) onProgress(line.progress);
      if (line.error)
        throw new OperationError(line.error.message, line.error.code);
      if ("result" in line) return line.result;
    }
  }
  throw new OperationError(
    "the running server closed the control channel without an answer",
    "internal",
  );
}
