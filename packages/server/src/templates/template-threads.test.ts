import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { ManualClock } from "@herald/core/clock";
import { isDomainError } from "@herald/core/domain-error";
import { emptyProfile } from "@herald/core/profiles/profile";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";
import { TemplateThreads, type RenderJob } from "./template-threads.ts";

/** Liquid that runs until Liquid's own 2 s render limit stops it. */
const endlessLoop =
  "{% for i in (1..2000) %}{% for j in (1..2000) %}{% for k in (1..2000) %}x{% endfor %}{% endfor %}{% endfor %}";

/** An MJML body of about `kb` KB: many sections, each with a personalised text. */
const hugeMjml = (kb: number) =>
  `<mjml><mj-body>${'<mj-section><mj-column><mj-text font-size="14px" color="#333">Hello {{ first_name }}, here is a long paragraph about the spring collection, with light fabrics and fresh colours for every day of the week.</mj-text><mj-button href="https://shop.example/spring">Shop</mj-button></mj-column></mj-section>\n'.repeat(
    Math.ceil((kb * 1024) / 290),
  )}</mj-body></mjml>`;

/** Polls `/health` until `stop` resolves; returns its answer times in ms, fastest first. */
async function healthTimes(
  herald: Herald,
  stop: Promise<unknown>,
): Promise<number[]> {
  let done = false;
  void stop.finally(() => (done = true));
  const times: number[] = [];
  while (!done) {
    const started = performance.now();
    const response = await fetch(`${herald.url}/health`);
    assert.equal(response.status, 200);
    await response.text();
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return times.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

describeOnDatabases("templates: hostile templates and the server", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db(), { clock: new ManualClock() });
  });
  after(() => herald.close());

  it("keeps /health answering within 200 ms while templates fan out, compile huge MJML and loop in eight previews, and refuses the first two", async () => {
    const ws = await createTestWorkspace(db());
    const call = (method: string, path: string, body?: unknown) =>
      api(herald, ws.secretKey, method, path, body);
    // Start the template threads (their start is not what this test is about).
    for (const warm of await Promise.all(
      ["Warm 1", "Warm 2"].map((name) =>
        call("POST", "/api/templates", { name, starter: "abandoned-cart" }),
      ),
    ))
      assert.equal(warm.status, 201, JSON.stringify(warm.body));

    // Five partials, each including the next ten times: 10^5 copies of 10,000 characters.
    const levels = ["fan-a", "fan-b", "fan-c", "fan-d", "fan-e"];
    for (const [i, name] of levels.entries()) {
      const next = levels[i + 1];
      const source = next
        ? `{% include "${next}" %}\n`.repeat(10)
        : "y".repeat(10_000);
      const saved = await call("PUT", `/api/template-partials/${name}`, {
        source,
      });
      assert.equal(saved.status, 204, JSON.stringify(saved.body));
    }
    const loop = await call("POST", "/api/templates", {
      name: "Loop",
      channel: "sms",
      content: { text: endlessLoop },
    });
    assert.equal(loop.status, 201, JSON.stringify(loop.body));

    const fanOut = call("POST", "/api/templates", {
      name: "Fan-out",
      channel: "email",
      content: {
        subject: "Hi",
        mjml: `<mjml><mj-body>\n<mj-raw>\n{% include "fan-a" %}{% include "fan-a" %}\n</mj-raw>\n</mj-body></mjml>`,
      },
    });
    const huge = call("POST", "/api/templates", {
      name: "Huge",
      channel: "email",
      content: { subject: "Spring", mjml: hugeMjml(120) },
    });
    // Eight previews, a few milliseconds apart as people would click.
    const previews: ReturnType<typeof call>[] = [];
    for (let i = 0; i < 8; i++) {
      previews.push(
        call("POST", `/api/templates/${loop.body.template.id}/preview`, {}),
      );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const all = Promise.all([fanOut, huge, ...previews]);
    const health = await healthTimes(herald, all);
    const [refused, tooLong, ...rendered] = await all;

    // Stalls are what would show: with templates on the main thread, every answer in a
    // 2 s loop or a seconds-long MJML compile waits for it. A shared machine may delay one.
    const p95 = percentile(health, 0.95);
    const slowest = percentile(health, 1);
    assert.ok(health.length >= 10, `only ${health.length} health checks`);
    assert.ok(
      p95 < 200 && slowest < 1_000,
      `/health took ${p95.toFixed(0)} ms (95th percentile), ${slowest.toFixed(0)} ms at most`,
    );
    assert.equal(refused?.status, 400, JSON.stringify(refused?.body));
    assert.match(
      refused?.body.error.message,
      /mjml line 3: with its partials expanded this would be 200,\d{3},\d{3} characters, more than the 1,000,000 allowed \("fan-a" ×2 → "fan-b" ×10 → "fan-c" ×10 → "fan-d" ×10 → "fan-e" ×10\)/,
    );
    assert.equal(tooLong?.status, 400, JSON.stringify(tooLong?.body));
    assert.match(
      tooLong?.body.error.message,
      /^the template cannot be saved: mjml: the body compiles to [\d,]+ characters of HTML, more than the 1,000,000 a message may have/,
    );
    for (const preview of rendered) {
      assert.equal(preview.status, 400, JSON.stringify(preview.body));
      assert.match(preview.body.error.message, /render limit exceeded/);
    }
  });
});

it("stops a render or a compile that outlives its time limit with a clear error, and goes on with a new thread", async (t) => {
  const threads = new TemplateThreads();
  threads.configure({ size: 1, renderMs: 300 });
  t.after(() => threads.close());
  const loop = await threads.compile(
    { channel: "sms", content: { text: endlessLoop } },
    new Map(),
  );
  const hello = await threads.compile(
    { channel: "sms", content: { text: "Hello {{ first_name }}" } },
    new Map(),
  );
  const now = new Date("2026-06-01T00:00:00Z");
  const job = (key: string, compiled: typeof loop): RenderJob => ({
    key,
    compiled,
    scope: {
      profile: {
        ...emptyProfile("ws", "00000000-0000-7000-8000-000000000001", now),
        traits: { first_name: "Ana" },
      },
      data: {},
      settings: {},
      links: {},
      messageId: "m-1",
      now,
    },
  });
  const calls = {
    products: async () => [],
    coupon: async () => {
      throw new Error("no coupons here");
    },
  };

  const started = performance.now();
  const stopped = await threads.render(job("loop", loop), calls).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(isDomainError(stopped, "invalid"), String(stopped));
  assert.equal(
    stopped.message,
    "rendering the message took longer than 0.3 s and was stopped; make the template do less (fewer loop iterations, a smaller body) and try again",
  );
  assert.ok(performance.now() - started < 1_500);

  const after1 = await threads.render(job("hello", hello), calls);
  assert.deepEqual(after1, {
    content: { channel: "sms", text: "Hello Ana" },
    warnings: [],
  });

  // Load the new thread's MJML, then give it more than 0.3 s of MJML.
  await threads.compile(
    { channel: "email", content: { subject: "Hi", mjml: hugeMjml(1) } },
    new Map(),
  );
  threads.configure({ compileMs: 300 });
  const slow = await threads
    .compile(
      { channel: "email", content: { subject: "Hi", mjml: hugeMjml(400) } },
      new Map(),
    )
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  assert.ok(isDomainError(slow, "invalid"), String(slow));
  assert.match(
    slow.message,
    /^compiling the template took longer than 0\.3 s and was stopped/,
  );
});
