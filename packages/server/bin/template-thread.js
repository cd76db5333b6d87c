// A template thread's entry (templates/template-threads.ts starts it): the same code as
// the process that starts it, the compiled build under bin/herald.js (which sets
// HERALD_COMPILED), else the TypeScript sources through tsx (tests, benches).
if (process.env.HERALD_COMPILED === "1") {
  await import("../dist/templates/template-thread-main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/templates/template-thread-main.ts");
}
