// Bundles the controller Lambda into one ESM file for the nodejs22.x runtime. The AWS SDK v3
// clients are bundled in, because the runtime's own SDK version is not pinned.
import { build } from "esbuild";
import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = resolve(root, "dist/lambda/controller.mjs");
mkdirSync(dirname(outfile), { recursive: true });

await build({
  entryPoints: [resolve(root, "src/controller/handler.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node22",
  format: "esm",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  // Some dependencies are CommonJS and call require() for Node built-ins; ESM has no require.
  banner: { js: "import { createRequire as __rollgateCreateRequire } from 'node:module'; const require = __rollgateCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
console.log(`bundled ${outfile} (${Math.round(statSync(outfile).size / 1024)} KiB)`);
