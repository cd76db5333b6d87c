import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../clock.ts";
import { isDomainError } from "../domain-error.ts";
import { sha256Hex } from "../ids.ts";
import {
  createWorkspace,
  keyKindOf,
  type StoredKey,
  type Workspace,
  type WorkspaceStore,
} from "./workspaces.ts";

function memoryStore(): WorkspaceStore & { keys: StoredKey[] } {
  const workspaces: Workspace[] = [];
  const keys: StoredKey[] = [];
  return {
    keys,
    insertWorkspace: async (w, k) => void (workspaces.push(w), keys.push(...k)),
    getWorkspace: async (id) => workspaces.find((w) => w.id === id),
    listWorkspaces: async () => workspaces,
    insertKey: async (k) => void keys.push(k),
    listKeys: async (id) => keys.filter((k) => k.workspaceId === id),
    revokeKey: async () => false,
  };
}

describe("createWorkspace", () => {
  it("issues a write key and a secret key and stores only their hashes", async () => {
    const store = memoryStore();
    const created = await createWorkspace(store, new ManualClock(), {
      name: "  Acme Shoes ",
    });
    assert.equal(created.name, "Acme Shoes");
    assert.equal(keyKindOf(created.writeKey), "write");
    assert.equal(keyKindOf(created.secretKey), "secret");
    const hashes = store.keys.map((k) => k.hash).sort();
    assert.deepEqual(
      hashes,
      [
        await sha256Hex(created.writeKey),
        await sha256Hex(created.secretKey),
      ].sort(),
    );
    assert.ok(
      store.keys.every((k) => !JSON.stringify(k).includes(created.secretKey)),
    );
  });

  it("refuses an empty name with the path of the problem", async () => {
    await assert.rejects(
      createWorkspace(memoryStore(), new ManualClock(), { name: " " }),
      (error) =>
        isDomainError(error, "invalid") && error.details[0]?.path === "/name",
    );
  });
});
