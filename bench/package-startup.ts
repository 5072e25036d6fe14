/**
 * `npm run bench:package`: what an installed rollgate costs at start-up, from the built dist/
 * (run `npm run build` first; the figures are for the compiled code users run):
 * - `rollgate --help` and `rollgate validate <policy>` as subprocesses of the real bin, and
 *   `node` importing the controller Lambda bundle cold, each the median of 10 runs;
 * - the same `--help` through tsx from the TypeScript sources, as the bin did before;
 * - a bare `node -e 0` start, measured the same way, as the floor the others are read against
 *   (the farm's load moves every absolute figure; the ratios to the floor move less);
 * - the Lambda bundle's size.
 * Writes bench/results/package-startup.json.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "rollgate.mjs");
const bundle = join(root, "dist", "lambda", "controller.mjs");
const policy = join(root, "stacks", "shared", "policy.yaml");
const RUNS = 10;

function time(args: string[], expectStatus = 0): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  const ms = performance.now() - t0;
  if (r.status !== expectStatus) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const cases: Array<[string, string[], number]> = [
  ["node -e 0 (floor)", ["-e", "0"], 0],
  ["rollgate --help", [bin, "--help"], 0],
  ["rollgate validate policy.yaml", [bin, "validate", policy], 0],
  // Before issue 16 the bin ran the TypeScript sources through tsx at every start; same command,
  // same run, for the ratio (tsx is a dev dependency of this repository).
  ["(before) tsx src/cli/main.ts --help", ["--import", "tsx", join(root, "src", "cli", "main.ts"), "--help"], 0],
  ["import controller bundle (cold)", ["--input-type=module", "-e", `await import(${JSON.stringify(new URL(`file://${bundle}`).href)})`], 0],
];
statSync(bundle); // fails early with ENOENT when dist/ was not built
for (const [, args, status] of cases) time(args, status); // warm the file cache once; not counted

const results = cases.map(([name, args, status]) => {
  const runs = Array.from({ length: RUNS }, () => time(args, status));
  return { name, medianMs: Math.round(median(runs)), minMs: Math.round(Math.min(...runs)), maxMs: Math.round(Math.max(...runs)) };
});
const floor = results[0]!.medianMs;
console.log(`| measurement (median of ${RUNS}) | median ms | min | max | x floor |`);
console.log("|---|---:|---:|---:|---:|");
for (const r of results) console.log(`| ${r.name} | ${r.medianMs} | ${r.minMs} | ${r.maxMs} | ${(r.medianMs / floor).toFixed(1)} |`);
const bundleBytes = statSync(bundle).size;
console.log(`\ncontroller bundle: ${(bundleBytes / 1024).toFixed(0)} KiB (${bundleBytes} bytes)`);
mkdirSync(join(root, "bench", "results"), { recursive: true });
writeFileSync(join(root, "bench", "results", "package-startup.json"), JSON.stringify({ node: process.version, runs: RUNS, results, bundleBytes }, null, 2) + "\n");
