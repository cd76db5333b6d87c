import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import {
  runHerald,
  startHeraldProcess,
  tempDataDir,
} from "./testing/herald-process.ts";

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("the time scale a database was started with", () => {
  it("refuses a data directory used at another time scale, and a demo's clock goes on across restarts", async () => {
    const live = await tempDataDir();
    const real = await startHeraldProcess(live);
    real.child.kill("SIGTERM");
    assert.equal(await real.exited, 0);
    // Synchronous, with runHerald's timeout: a Herald that started anyway would never exit.
    const demoOnLive = runHerald(live, ["start"], {
      HERALD_TIME_SCALE: "3600",
    });
    assert.equal(demoOnLive.status, 1);
    assert.match(
      demoOnLive.stderr,
      /was used with HERALD_TIME_SCALE=1 \(real time\); starting it with HERALD_TIME_SCALE=3600 would make the times stored in it run backwards/,
    );
    assert.match(demoOnLive.stderr, /HERALD_DATA_DIR=\.\/\.herald-demo/);

    const demo = await tempDataDir();
    const createdAt = async (url: string, key: string, name: string) => {
      const response = await fetch(`${url}/api/lists`, {
        method: "POST",
        headers: { ...bearer(key), "content-type": "application/json" },
        body: JSON.stringify({ name }),
      });
      assert.equal(response.status, 201);
      return Date.parse(
        ((await response.json()) as { createdAt: string }).createdAt,
      );
    };
    const fast = { HERALD_TIME_SCALE: "3600" };
    const first = await startHeraldProcess(demo, fast);
    const secretKey = /secret key\s+(hs_\w+)/.exec(first.stdout())?.[1] ?? "";
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await createdAt(first.url, secretKey, "before the restart");
    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0);
    const again = await startHeraldProcess(demo, fast);
    try {
      const after = await createdAt(again.url, secretKey, "after the restart");
      assert.ok(
        after > before,
        `the demo clock goes on: ${new Date(after).toISOString()} after ${new Date(before).toISOString()}`,
      );
    } finally {
      again.child.kill("SIGTERM");
      assert.equal(await again.exited, 0);
    }
    const liveOnDemo = runHerald(demo, ["start"]);
    assert.equal(liveOnDemo.status, 1);
    assert.match(
      liveOnDemo.stderr,
      /was used with HERALD_TIME_SCALE=3600; starting it with HERALD_TIME_SCALE=1 \(real time\)/,
    );
    assert.match(
      liveOnDemo.stderr,
      /start with HERALD_TIME_SCALE=3600 as before/,
    );
  });
});

const serverUrl = process.env.HERALD_TEST_DATABASE_URL;
describe(
  "the time scale of a PostgreSQL database",
  { skip: !serverUrl && "HERALD_TEST_DATABASE_URL is not set" },
  () => {
    it("refuses to start a database used at real time with HERALD_TIME_SCALE", async () => {
      const env = { DATABASE_URL: serverUrl ?? "" };
      const dir = fs.mkdtempSync(
        path.join(fs.realpathSync("/tmp"), "herald-pg-"),
      );
      const server = await startHeraldProcess(dir, env);
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0);
      const demo = runHerald(dir, ["start"], {
        ...env,
        HERALD_TIME_SCALE: "3600",
      });
      assert.equal(demo.status, 1);
      assert.match(
        demo.stderr,
        /This database was used with HERALD_TIME_SCALE=1 \(real time\).*set DATABASE_URL to a database of its own/,
      );
    });
  },
);
