import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, it } from "node:test";
import type { Herald } from "../main.ts";
import { describeOnDatabases } from "../testing/test-databases.ts";
import {
  api,
  createTestWorkspace,
  startTestHerald,
} from "../testing/test-server.ts";

/**
 * The README's `curl` examples, run as written against a real server: the same method,
 * path, headers and body, with a fresh workspace's secret key for `<secret key>`.
 */

const readme = fs.readFileSync(
  new URL("../../../../README.md", import.meta.url),
  "utf8",
);

/** The words of each command of a shell script (quotes, `\` line continuations, comments). */
function shellCommands(script: string): string[][] {
  const commands: string[][] = [];
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const endWord = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i] ?? "";
    if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && script[i + 1] === "\n") i++;
    else if (c === "#" && word === undefined) {
      while (i + 1 < script.length && script[i + 1] !== "\n") i++;
    } else if (c === " " || c === "\n") {
      endWord();
      if (c === "\n" && words.length > 0) commands.push(words.splice(0));
    } else word = (word ?? "") + c;
  }
  endWord();
  if (words.length > 0) commands.push(words);
  return commands;
}

interface Example {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function curlExamples(markdown: string): Example[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    (m[1] ?? "").replace(/^ {2}/gm, ""),
  );
  return blocks
    .flatMap(shellCommands)
    .filter((words) => words[0] === "curl")
    .map((words) => {
      const example: Example = { method: "GET", path: "", headers: {} };
      for (let i = 1; i < words.length; i++) {
        const word = words[i] ?? "";
        if (word === "-X") example.method = words[++i] ?? "";
        else if (word === "-H") {
          const [name = "", ...value] = (words[++i] ?? "").split(":");
          example.headers[name.trim()] = value.join(":").trim();
        } else if (word === "-d") {
          example.body = words[++i] ?? "";
          if (!words.includes("-X")) example.method = "POST";
        } else if (word.startsWith("localhost:3000"))
          example.path = word.slice("localhost:3000".length);
      }
      return example;
    });
}

describeOnDatabases("the README's examples", (db) => {
  let herald: Herald;
  before(async () => {
    herald = await startTestHerald(db());
  });
  after(() => herald.close());

  it("run as written, in order, segment and library flow included", async () => {
    const ws = await createTestWorkspace(db());
    const examples = curlExamples(readme);
    const paths = examples.map((e) => `${e.method} ${e.path}`);
    for (const expected of [
      "GET /health",
      "POST /api/segments",
      "POST /api/messages/send",
      "POST /api/flows/library/welcome",
    ])
      assert.ok(paths.includes(expected), `${expected} in ${paths.join(", ")}`);
    for (const example of examples) {
      const headers = Object.fromEntries(
        Object.entries(example.headers).map(([name, value]) => [
          name,
          value.replace("<secret key>", ws.secretKey),
        ]),
      );
      const response = await fetch(herald.url + example.path, {
        method: example.method,
        headers,
        ...(example.body === undefined ? {} : { body: example.body }),
      });
      const text = await response.text();
      assert.ok(
        response.status >= 200 && response.status < 300,
        `${example.method} ${example.path}: ${response.status} ${text}`,
      );
    }
    const segments = await api(herald, ws.secretKey, "GET", "/api/segments");
    assert.deepEqual(
      segments.body.items.map((s: { name: string }) => s.name),
      ["Looked at shoes"],
    );
  });

  it("installs a library flow with no body, even with a JSON content type", async () => {
    const ws = await createTestWorkspace(db());
    await api(herald, ws.secretKey, "PATCH", "/api/workspace/settings", {
      storeName: "Acme",
      storeUrl: "https://acme.example",
    });
    const response = await fetch(
      `${herald.url}/api/flows/library/first-purchase`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${ws.secretKey}`,
          "content-type": "application/json",
        },
      },
    );
    assert.equal(response.status, 201, await response.text());
  });
});
