/**
 * `npm run bench`: runs every `bench:*` npm script in turn (each benchmark prints its own tables
 * and writes its JSON under bench/results/), then fails if any of them failed. A new benchmark
 * joins by registering its own `bench:<name>` script.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const scripts = Object.keys((JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { scripts: Record<string, string> }).scripts)
  .filter((name) => name.startsWith("bench:"))
  .sort();
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let failed = 0;
for (const name of scripts) {
  console.log(`\n## npm run ${name}\n`);
  const t0 = performance.now();
  const r = spawnSync(npm, ["run", "--silent", name], { stdio: "inherit", cwd: root });
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s, exit ${r.status})`);
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
