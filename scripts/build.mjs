// The package build, run by `npm run build` and by npm itself before `npm pack`/`npm publish`
// (prepack) and after a git install or a clone's `npm install` (prepare):
//   1. tsc: ESM JavaScript and declarations in dist/ (tsconfig.build.json);
//   2. a CommonJS copy in dist/cjs/ for `require()` and Pulumi's CommonJS TypeScript template:
//      each ESM file transformed by esbuild (no bundling, same file layout), the declarations
//      copied beside it, and dist/cjs/package.json marking the folder CommonJS so Node and
//      TypeScript read both as CommonJS;
//   3. the controller Lambda bundle, dist/lambda/controller.mjs (scripts/bundle.mjs).
// Needs the dev dependencies (typescript, esbuild), which npm installs before prepare/prepack.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const cjs = join(dist, "cjs");
const require = createRequire(import.meta.url);
const started = Date.now();

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root });

// ESM files that cannot be CommonJS (top-level await) and that only the ESM bin runs.
const ESM_ONLY = new Set(["src/cli/main.js"]);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

let files = 0;
for (const file of walk(dist)) {
  const rel = relative(dist, file);
  if (rel.startsWith("cjs") || rel.startsWith("lambda")) continue;
  const out = join(cjs, rel);
  if (rel.endsWith(".d.ts")) {
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(file, out);
  } else if (rel.endsWith(".js") && !ESM_ONLY.has(rel.split("\\").join("/"))) {
    const source = readFileSync(file, "utf8");
    const usesMeta = source.includes("import.meta");
    const { code } = await transform(source, {
      loader: "js",
      format: "cjs",
      platform: "node",
      target: "node20",
      sourcefile: rel,
      // import.meta.url has no CommonJS equivalent; give it this file's URL.
      define: usesMeta ? { "import.meta.url": "__rollgate_import_meta_url" } : undefined,
      banner: usesMeta ? 'const __rollgate_import_meta_url = require("node:url").pathToFileURL(__filename).href;' : undefined,
      logLevel: "error",
    });
    if (code.includes("import.meta")) throw new Error(`${rel}: import.meta left in the CommonJS output`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, code);
    files++;
  }
}
writeFileSync(join(cjs, "package.json"), JSON.stringify({ type: "commonjs" }, null, 2) + "\n");

// CommonJS declarations use a type-only stand-in for zod (see scripts/zod-types.d.ts for why).
copyFileSync(join(root, "scripts", "zod-types.d.ts"), join(cjs, "zod-types.d.ts"));
for (const file of walk(cjs).filter((f) => f.endsWith(".d.ts") && !f.endsWith("zod-types.d.ts"))) {
  const text = readFileSync(file, "utf8");
  if (!/from "zod"/.test(text)) continue;
  let rel = relative(dirname(file), join(cjs, "zod-types.js")).split("\\").join("/");
  if (!rel.startsWith(".")) rel = `./${rel}`;
  const out = text.replace(/^import (type )?\{ z \} from "zod";$/m, `import type { z } from "${rel}";`);
  if (/from "zod/.test(out)) throw new Error(`${relative(dist, file)}: a zod import the CommonJS declarations cannot rewrite`);
  writeFileSync(file, out);
}

execFileSync(process.execPath, [join(root, "scripts", "bundle.mjs")], { stdio: "inherit", cwd: root });
// test/support/built-dist.ts rebuilds before the tests when a source is newer than this stamp.
writeFileSync(join(dist, ".build-stamp"), new Date().toISOString() + "\n");
console.log(`built dist/ (ESM), dist/cjs/ (${files} CommonJS files) and the Lambda bundle in ${((Date.now() - started) / 1000).toFixed(1)} s`);
