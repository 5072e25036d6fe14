/**
 * vitest globalSetup: the tests that run what users run (the compiled bin, the CommonJS build,
 * the packed tarball) need dist/ built from the current sources. A clone gets dist/ from
 * `npm ci` (the prepare script); after an edit this rebuilds it once, before any test file runs,
 * when a source is newer than the last build's stamp.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const INPUTS = ["index.ts", "src", "components", "bin", "scripts/build.mjs", "scripts/bundle.mjs", "tsconfig.json", "tsconfig.build.json", "package.json"];
export const STAMP = join(ROOT, "dist", ".build-stamp");

function newest(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((e) => newest(join(path, e))));
}

export function distIsStale(): boolean {
  const built = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  return INPUTS.some((p) => newest(join(ROOT, p)) > built);
}

export default function setup(): void {
  if (!distIsStale()) return;
  console.log("dist/ is older than the sources: npm run build");
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
}
