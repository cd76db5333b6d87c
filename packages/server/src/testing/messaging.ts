import assert from "node:assert/strict";
import type { EnqueueRequest } from "@herald/core/messages/ledger";
import type { Herald } from "../main.ts";
import { enqueueMessage } from "../messages/message-ledger.ts";
import { api, settle } from "./test-server.ts";

/**
 * Helpers for delivery tests: make shoppers through the real ingest API, queue messages
 * the way flows and campaigns do, and change a workspace's delivery settings.
 */

/** Sends an identify call with the write key and waits until it is processed; returns the profile id. */
export async function identify(
  herald: Herald,
  keys: { writeKey: string; secretKey: string },
  userId: string,
  traits: Record<string, unknown>,
  context: Record<string, unknown> = {},
): Promise<string> {
  const response = await fetch(`${herald.url}/v1/identify`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Basic ${Buffer.from(`${keys.writeKey}:`).toString("base64")}`,
    },
    body: JSON.stringify({ userId, traits, context }),
  });
  assert.equal(response.status, 200, await response.text());
  await settle(herald);
  const found = await api(
    herald,
    keys.secretKey,
    "GET",
    `/api/profiles?userId=${encodeURIComponent(userId)}`,
  );
  assert.equal(found.body.items.length, 1, JSON.stringify(found.body));
  return found.body.items[0].id as string;
}

/** Queues a message in its own transaction, as a flow or campaign would in theirs. */
export async function queueMessage(
  herald: Herald,
  request: Omit<EnqueueRequest, "source" | "transactional"> &
    Partial<Pick<EnqueueRequest, "source" | "transactional">>,
): Promise<string> {
  const result = await herald.db.tx((tx) =>
    enqueueMessage(
      tx,
      {
        source: {
          kind: "campaign",
          campaignId: "cmp_test",
          campaignName: "Spring sale",
        },
        transactional: false,
        ...request,
      },
      herald.clock.now(),
    ),
  );
  return result.message.id;
}

/** Sets delivery settings through the settings API. */
export async function patchSettings(
  herald: Herald,
  secretKey: string,
  patch: Record<string, unknown>,
): Promise<void> {
  const response = await api(
    herald,
    secretKey,
    "PATCH",
    "/api/workspace/settings",
    patch,
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

/** One ledger row through the API. */
export async function getMessage(
  herald: Herald,
  secretKey: string,
  id: string,
): Promise<Record<string, any>> {
  const response = await api(herald, secretKey, "GET", `/api/messages/${id}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body as Record<string, any>;
}

/** The path (and query) of a Herald URL, to call on the test server's real address. */
export function local(herald: Herald, url: string): string {
  const u = new URL(url);
  return `${herald.url}${u.pathname}${u.search}`;
}
