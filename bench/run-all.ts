/**
 * `npm run bench`: runs every bench/*.bench.ts in turn (each prints its own tables and writes its
 * JSON under bench/results/), and fails if any of them fails.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).sort();
let failed = 0;
for (const f of files) {
  console.log(`\n## ${f}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", `${dir}${f}`], { stdio: "inherit" });
  console.log(`(${f}: ${((performance.now() - t0) / 1000).toFixed(1)} s, exit ${r.status})`);
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
