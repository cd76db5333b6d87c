import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import semver from "semver";

const root = path.resolve(import.meta.dirname, "../../..");
const read = (file: string) =>
  JSON.parse(fs.readFileSync(path.join(root, file), "utf8")) as {
    engines?: { node?: string };
    packages?: Record<
      string,
      { version?: string; engines?: { node?: string } }
    >;
  };

it("installs on every Node.js version the engines field admits, with no EBADENGINE", () => {
  const admitted = read("package.json").engines?.node;
  assert.ok(admitted, "package.json says which Node.js Herald needs");
  const oldest = semver.minVersion(admitted);
  assert.ok(oldest);
  const refused = Object.entries(read("package-lock.json").packages ?? {})
    .filter(([name]) => name !== "")
    .filter(([, entry]) => {
      const needs = entry.engines?.node;
      return needs !== undefined && !semver.satisfies(oldest, needs);
    })
    .map(
      ([name, entry]) =>
        `${name}@${entry.version} needs ${entry.engines?.node}`,
    );
  assert.deepEqual(refused, [], `not on Node.js ${oldest.version}`);
  assert.ok(semver.satisfies(process.version, admitted), process.version);
});
