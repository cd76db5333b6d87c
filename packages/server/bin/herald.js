#!/usr/bin/env node
// The `herald` command: runs the TypeScript sources through tsx, no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/herald.ts");
await main(process.argv);
