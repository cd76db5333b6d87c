import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import type { NewWorkspace } from "@herald/core/workspaces/workspaces";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  segmentMembers,
  settle,
  startTestHerald,
} from "../testing/test-server.ts";

describeOnDatabases("profiles API: privacy", (db) => {
  let herald: Herald;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock("2026-06-01T00:00:00Z");
    herald = await startTestHerald(db(), { clock });
  });
  after(() => herald.close());

  /** Ingests a batch and waits for its acknowledgement, not for the resolver. */
  async function ingest(ws: NewWorkspace, batch: Record<string, unknown>[]) {
    const response = await fetch(`${herald.url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: ws.writeKey, batch }),
    });
    assert.equal(response.status, 200, await response.text());
    await herald.ingest.drain();
  }

  const profilesOf = async (ws: NewWorkspace, query: string) =>
    (await api(herald, ws.secretKey, "GET", `/api/profiles?${query}`)).body
      .items as { id: string }[];

  it("erases a deleted shopper's events still waiting in the intake, so the resolver cannot bring them back", async () => {
    const ws = await createTestWorkspace(db(), clock);
    await ingest(ws, [
      { type: "identify", userId: "gone", traits: { email: "gone@shop.test" } },
    ]);
    await settle(herald);
    const [profile] = await profilesOf(ws, "userId=gone");
    assert.ok(profile, "the shopper's profile");

    // Acknowledged, not yet resolved: the shopper's new events (one by an identifier only
    // the intake knows yet, beside one the profile has) and another shopper's, in one flush.
    await ingest(ws, [
      {
        type: "track",
        userId: "gone",
        anonymousId: "gone-browser",
        event: "Product Viewed",
        properties: { sku: "p1" },
      },
      {
        type: "identify",
        userId: "gone",
        traits: { email: "gone@shop.test", phone: "+4915100000009" },
      },
      {
        type: "track",
        userId: "stays",
        event: "Product Viewed",
        properties: { sku: "p2" },
      },
    ]);
    const deleted = await api(
      herald,
      ws.secretKey,
      "DELETE",
      `/api/profiles/${profile.id}`,
    );
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    await settle(herald);

    assert.deepEqual(await profilesOf(ws, "userId=gone"), []);
    assert.deepEqual(await profilesOf(ws, "anonymousId=gone-browser"), []);
    assert.deepEqual(await profilesOf(ws, "email=gone%40shop.test"), []);
    const stored = await db().query<{ n: number }>(
      `select count(*)::int as n from events where workspace_id = $1
         and (user_id = 'gone' or anonymous_id = 'gone-browser' or profile_id = $2)`,
      [ws.id, profile.id],
    );
    assert.equal(stored[0]?.n, 0, "none of the shopper's events is stored");
    const waiting = await db().query<{ n: number }>(
      "select count(*)::int as n from intake where workspace_id = $1",
      [ws.id],
    );
    assert.equal(waiting[0]?.n, 0);

    // Nothing accepted for anyone else is lost.
    const [other] = await profilesOf(ws, "userId=stays");
    assert.ok(other, "the other shopper's event was resolved");

    // A later event starts a new profile, as the API says.
    await ingest(ws, [{ type: "track", userId: "gone", event: "Signed Up" }]);
    await settle(herald);
    const [again] = await profilesOf(ws, "userId=gone");
    assert.ok(again && again.id !== profile.id);
  });

  it("shows a first-time buyer as a new buyer from the first order, in the profile and in RFM segments", async () => {
    const ws = await createTestWorkspace(db(), clock);
    // The segment is computed while the store has no buyer at all.
    const created = await api(herald, ws.secretKey, "POST", "/api/segments", {
      name: "New buyers",
      definition: { type: "rfm", groups: ["new"] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await settle(herald);

    await ingest(ws, [
      {
        type: "track",
        userId: "first",
        event: "Order Completed",
        properties: { order_id: "1001", revenue: 42 },
        timestamp: new Date(clock.now().getTime() - 60_000).toISOString(),
      },
    ]);
    await settle(herald);
    const [buyer] = await profilesOf(ws, "userId=first");
    assert.ok(buyer);
    const view = await api(
      herald,
      ws.secretKey,
      "GET",
      `/api/profiles/${buyer.id}`,
    );
    assert.equal(view.body.computed.rfm?.group, "new");
    const members = await segmentMembers(
      herald,
      ws.secretKey,
      created.body.id as string,
    );
    assert.deepEqual(
      members.map((m) => m.profileId),
      [buyer.id],
    );
  });
});
