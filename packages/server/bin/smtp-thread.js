// The SMTP worker thread's entry (providers/smtp-thread.ts starts it): like herald.js,
// runs the TypeScript sources through tsx, no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/providers/smtp-thread-main.ts");
