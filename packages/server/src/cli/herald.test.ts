import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  runHerald,
  runHeraldAsync,
  startHeraldProcess,
  tempDataDir,
} from "../testing/herald-process.ts";

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function getJson(
  url: string,
  key?: string,
): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { headers: key ? bearer(key) : {} });
  return { status: response.status, body: await response.json() };
}

describe("herald on the embedded database", () => {
  it("creates a first workspace, refuses a second server on the same directory, and serves CLI commands", async () => {
    const dir = await tempDataDir(false);
    const first = await startHeraldProcess(dir);
    try {
      const secretKey = /secret key\s+(hs_\w+)/.exec(first.stdout())?.[1];
      assert.ok(
        secretKey,
        "the first start prints the new workspace's secret key",
      );
      assert.match(
        first.stdout(),
        /Consent arrives[\s\S]+email_consent trait[\s\S]+unless_unsubscribed/,
        "and how marketing consent arrives",
      );
      assert.equal((await getJson(`${first.url}/health`)).body.status, "ok");

      const second = await runHeraldAsync(dir, ["start"]);
      assert.equal(second.status, 1);
      assert.match(
        second.stderr,
        new RegExp(`in use by Herald process ${first.child.pid}`),
      );
      assert.equal(
        (await getJson(`${first.url}/health`)).body.status,
        "ok",
        "the first keeps serving",
      );
      assert.equal(
        (await getJson(`${first.url}/api/workspace`, secretKey)).status,
        200,
      );

      const created = await runHeraldAsync(dir, [
        "workspace",
        "create",
        "--name",
        "Second Store",
        "--json",
      ]);
      assert.equal(created.status, 0, created.stderr);
      const workspace = JSON.parse(created.stdout) as {
        id: string;
        writeKey: string;
        secretKey: string;
      };
      assert.deepEqual(Object.keys(workspace).sort(), [
        "id",
        "name",
        "secretKey",
        "writeKey",
      ]);
      assert.equal(
        (await getJson(`${first.url}/api/workspace`, workspace.secretKey)).body
          .name,
        "Second Store",
      );

      const listed = await runHeraldAsync(dir, ["workspace", "list", "--json"]);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as { name: string }[]).map((w) => w.name),
        ["My store", "Second Store"],
      );

      const keys = JSON.parse(
        (
          await runHeraldAsync(dir, [
            "key",
            "list",
            "--workspace",
            workspace.id,
            "--json",
          ])
        ).stdout,
      ) as {
        id: string;
        kind: string;
      }[];
      const secretId = keys.find((k) => k.kind === "secret")?.id ?? "";
      const revoked = await runHeraldAsync(dir, [
        "key",
        "revoke",
        "--workspace",
        workspace.id,
        secretId,
      ]);
      assert.equal(revoked.status, 0, revoked.stderr);
      assert.equal(
        (await getJson(`${first.url}/api/workspace`, workspace.secretKey))
          .status,
        401,
      );

      first.child.kill("SIGTERM");
      assert.equal(await first.exited, 0, "SIGTERM stops cleanly");
      assert.equal(
        fs.existsSync(path.join(dir, "herald.lock")),
        false,
        "the lock is released",
      );

      const again = await startHeraldProcess(dir);
      try {
        assert.doesNotMatch(again.stdout(), /created your first workspace/);
        const names = (
          JSON.parse(
            (await runHeraldAsync(dir, ["workspace", "list", "--json"])).stdout,
          ) as { name: string }[]
        ).map((w) => w.name);
        assert.deepEqual(names, ["My store", "Second Store"]);
      } finally {
        again.child.kill("SIGTERM");
        await again.exited;
      }
    } finally {
      first.child.kill("SIGKILL");
    }
  });

  it("keeps an acknowledged write through kill -9", async () => {
    const dir = await tempDataDir();
    const first = await startHeraldProcess(dir);
    const secretKey = /secret key\s+(hs_\w+)/.exec(first.stdout())?.[1] ?? "";
    const response = await fetch(`${first.url}/api/keys`, {
      method: "POST",
      headers: { ...bearer(secretKey), "content-type": "application/json" },
      body: JSON.stringify({
        kind: "secret",
        name: "made just before the crash",
      }),
    });
    assert.equal(response.status, 201);
    const made = (await response.json()) as { key: string };
    first.child.kill("SIGKILL");
    await first.exited;

    const restarted = await startHeraldProcess(dir);
    try {
      const workspace = await getJson(
        `${restarted.url}/api/workspace`,
        made.key,
      );
      assert.equal(
        workspace.status,
        200,
        "the key written before kill -9 is there",
      );
    } finally {
      restarted.child.kill("SIGTERM");
      await restarted.exited;
    }
  });

  it("runs CLI commands on the directory itself when no server holds it", () => {
    const dir = fs.mkdtempSync(
      path.join(fs.realpathSync("/tmp"), "herald-cli-"),
    );
    const created = runHerald(dir, [
      "workspace",
      "create",
      "--name",
      "Offline Store",
    ]);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /write key\s+hw_/);
    assert.match(runHerald(dir, ["workspace", "list"]).stdout, /Offline Store/);
    assert.equal(fs.existsSync(path.join(dir, "herald.lock")), false);
  });

  it("runs as npx herald, prints its version, needs no --workspace with one workspace, and takes the settings a library flow needs", async () => {
    const dir = await tempDataDir();
    const root = fileURLToPath(new URL("../../../..", import.meta.url));
    // What `npx herald` runs in a checkout: the workspace's bin, linked by npm install.
    const npx = spawnSync(
      path.join(root, "node_modules", ".bin", "herald"),
      ["--version"],
      { encoding: "utf8", env: { ...process.env, HERALD_DATA_DIR: dir } },
    );
    assert.equal(npx.status, 0, npx.stderr);
    const { version } = JSON.parse(
      fs.readFileSync(path.join(root, "packages/server/package.json"), "utf8"),
    ) as { version: string };
    assert.equal(npx.stdout.trim(), version);

    const created = runHerald(dir, ["workspace", "create", "--name", "Solo"]);
    assert.equal(created.status, 0, created.stderr);
    const keys = runHerald(dir, ["key", "list"]);
    assert.equal(keys.status, 0, keys.stderr);
    assert.match(keys.stdout, /^\S+\s+secret\s/m);
    assert.match(keys.stdout, /^\S+\s+write\s/m);

    const refused = runHerald(dir, ["flows", "install", "welcome"]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /needs the settings storeName and storeUrl/);
    assert.match(refused.stderr, /--store-name … --store-url/);
    const installed = runHerald(dir, [
      "flows",
      "install",
      "welcome",
      "--store-name",
      "Solo",
      "--store-url",
      "https://solo.example",
    ]);
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(installed.stdout, /^installed .+ \(draft, \d+ templates\)/);
    assert.match(
      installed.stderr,
      /^warning: no profile has email marketing consent yet.+email_consent trait/m,
    );
  });

  it("says what to do when asked for a role that needs PostgreSQL, or given a bad setting", () => {
    const role = runHerald("/tmp/unused-herald-dir", [
      "start",
      "--role",
      "api",
    ]);
    assert.equal(role.status, 1);
    assert.match(role.stderr, /set DATABASE_URL/);
    const bad = runHerald("/tmp/unused-herald-dir", ["workspace", "list"], {
      HERALD_TIME_SCALE: "fast",
    });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /HERALD_TIME_SCALE/);
  });
});

const serverUrl = process.env.HERALD_TEST_DATABASE_URL;
describe(
  "herald on a PostgreSQL server",
  { skip: !serverUrl && "HERALD_TEST_DATABASE_URL is not set" },
  () => {
    it("starts on DATABASE_URL and runs CLI commands against it directly", async () => {
      const env = { DATABASE_URL: serverUrl ?? "" };
      const dir = fs.mkdtempSync(
        path.join(fs.realpathSync("/tmp"), "herald-pg-"),
      );
      const created = runHerald(
        dir,
        ["workspace", "create", "--name", "PG Store", "--json"],
        env,
      );
      assert.equal(created.status, 0, created.stderr);
      const { secretKey } = JSON.parse(created.stdout) as { secretKey: string };
      const server = await startHeraldProcess(dir, env);
      try {
        assert.deepEqual((await getJson(`${server.url}/health`)).body, {
          status: "ok",
          database: "postgres",
        });
        assert.equal(
          (await getJson(`${server.url}/api/workspace`, secretKey)).body.name,
          "PG Store",
        );
      } finally {
        server.child.kill("SIGTERM");
        assert.equal(await server.exited, 0);
      }
    });
  },
);
