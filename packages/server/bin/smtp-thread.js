// The SMTP worker thread's entry (providers/smtp-thread.ts starts it): the same code as
// the process that starts it, the compiled build under bin/herald.js (which sets
// HERALD_COMPILED), else the TypeScript sources through tsx (tests, benches).
if (process.env.HERALD_COMPILED === "1") {
  await import("../dist/providers/smtp-thread-main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/providers/smtp-thread-main.ts");
}
