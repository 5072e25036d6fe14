#!/usr/bin/env node
// The rollgate CLI: compiled JavaScript from dist/ (built by `npm run build`, and by npm itself on
// `npm pack`, `npm publish`, a git install or a clone's `npm install`, through the prepare script).
// No TypeScript loader at run time. Commands load their heavy modules (AWS SDK clients, the
// simulator) only when they run.
try {
  await import("../dist/src/cli/main.js");
} catch (e) {
  if (e?.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes("dist/src/cli/main.js")) {
    process.stderr.write("rollgate: dist/ is missing (a source checkout that was not built); run `npm run build` in the rollgate folder.\n");
    process.exit(1);
  }
  throw e;
}
