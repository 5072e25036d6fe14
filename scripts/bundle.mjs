// Bundles the controller Lambda into one ESM file for the nodejs22.x runtime. The AWS SDK v3
// clients are bundled in, because the runtime's own SDK version is not pinned.
import { build } from "esbuild";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// zod re-exports all of its ~50 error-message locales as a namespace (`z.locales`), which defeats
// tree-shaking: 256 KiB of the bundle. The controller only uses English (zod registers `en` from
// its own module), so the locales namespace is cut down to `en`. BENCHMARKS.md has the figures.
const zodEnglishOnly = {
  name: "zod-locales-en-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: resolve(dirname(args.importer), "../locales/index.js"), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), "en.js"))};`,
      resolveDir: dirname(args.path),
    }));
  },
};
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
  plugins: [zodEnglishOnly],
});
console.log(`bundled ${outfile} (${Math.round(statSync(outfile).size / 1024)} KiB)`);
