// A template thread's entry (templates/template-threads.ts starts it): like herald.js,
// runs the TypeScript sources through tsx, no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/templates/template-thread-main.ts");
