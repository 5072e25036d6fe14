/**
 * Simulator benchmark (issue 8, plus issue 3's A/A comparison): rollgate's presets and today's
 * tools through the same seeded traffic, faults and CloudWatch delays. Prints one table per
 * figure and writes bench/results/sim.json.
 *
 *   npm run bench                 # every benchmark
 *   npm run bench:sim             # this one; SIM_RUNS / SIM_HEADLINE_RUNS set the runs per cell (100 / 300)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { AA_SCENARIOS, BAD_SCENARIOS, POLICY_NAMES, quantile, runJob, SCENARIOS, wilson, type Job, type JobResult, type PolicyName } from "./sim-lib.js";
import { policyByName } from "./sim-lib.js";
import { isComparisonPolicy } from "../src/sim/index.js";

/** Runs per cell; the headline cells (below) get HEADLINE_RUNS. */
const RUNS = Number(process.env.SIM_RUNS ?? 100);
const HEADLINE_RUNS = Number(process.env.SIM_HEADLINE_RUNS ?? 300);
/** The target scenario, every policy in it; and rollgate's rows in every A/A scenario (the oracles cannot roll back an identical release: ratio 1 has no test). */
const TARGET_SCENARIO = "0.1 -> 0.6 % 100 rps";
function headline(policy: PolicyName, scenario: string): boolean {
  return scenario === TARGET_SCENARIO || (scenario in AA_SCENARIOS && policy.startsWith("rollgate"));
}
const CHUNK = 250;
const THREADS = Math.max(1, Math.min(Number(process.env.SIM_THREADS ?? availableParallelism()), 4));

const AA = Object.keys(AA_SCENARIOS);
const BAD = Object.keys(BAD_SCENARIOS);
const ORACLE: PolicyName = "oracle holding like standard";

function seedBase(scenario: string): number {
  let h = 2166136261;
  for (const ch of scenario) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return (h % 100_000) * 10_000;
}

function jobs(): Job[] {
  const out: Job[] = [];
  const scenarios = [...AA, ...BAD];
  for (const scenario of scenarios) {
    for (const policy of POLICY_NAMES) {
      const runs = headline(policy, scenario) ? Math.max(RUNS, HEADLINE_RUNS) : RUNS;
      for (let from = 0; from < runs; from += CHUNK) {
        // Same seeds for every policy: each sees the same traffic draws as far as its weights allow.
        out.push({ policy, scenario, seedFrom: seedBase(scenario) + from, runs: Math.min(CHUNK, runs - from), measureDecide: policy.startsWith("rollgate") && scenario === AA[0] });
      }
    }
  }
  // Longest first keeps both threads busy to the end.
  const weight = (j: Job) => (j.policy.startsWith("rollgate") || j.policy.startsWith("oracle holding") ? 2 : 1) * (SCENARIOS[j.scenario]!.rps >= 1000 ? 4 : 1);
  return out.sort((a, b) => weight(b) - weight(a));
}

async function runAll(list: Job[]): Promise<JobResult[]> {
  if (THREADS === 1) return list.map(runJob);
  const results: JobResult[] = [];
  let next = 0;
  const workerUrl = new URL("./sim-worker.mjs", import.meta.url);
  await Promise.all(
    Array.from({ length: THREADS }, () => {
      return new Promise<void>((resolve, reject) => {
        const w = new Worker(fileURLToPath(workerUrl), {});
        const feed = () => {
          if (next < list.length) w.postMessage(list[next++]);
          else {
            w.postMessage(null);
            resolve();
          }
        };
        w.on("message", (r: JobResult) => {
          results.push(r);
          feed();
        });
        w.on("error", reject);
        feed();
      });
    }),
  );
  return results;
}

interface Merged {
  runs: number;
  result: number[];
  promotedMin: number[];
  detectionMin: number[];
  maxShare: number[];
  exposed: number[];
  excess: number[];
  timeout: number[];
  decisions: number;
  decideNs: number[];
  wallMs: number;
}

function merge(results: JobResult[]): Map<string, Merged> {
  const m = new Map<string, Merged>();
  for (const r of results) {
    const key = `${r.job.scenario}|${r.job.policy}`;
    let g = m.get(key);
    if (!g) {
      g = { runs: 0, result: [], promotedMin: [], detectionMin: [], maxShare: [], exposed: [], excess: [], timeout: [], decisions: 0, decideNs: [], wallMs: 0 };
      m.set(key, g);
    }
    g.runs += r.job.runs;
    g.result.push(...r.result);
    g.promotedMin.push(...r.promotedMin);
    g.detectionMin.push(...r.detectionMin);
    g.maxShare.push(...r.maxShare);
    g.exposed.push(...r.exposed);
    g.excess.push(...r.excess);
    g.timeout.push(...r.timeout);
    g.decisions += r.decisions;
    for (const ns of r.decideNs) g.decideNs.push(ns);
    g.wallMs += r.wallMs;
  }
  return m;
}

const fmt = (x: number, digits = 1): string => (x === Infinity ? "never" : Number.isNaN(x) ? "-" : x >= 10_000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits));
const pct = (x: number, digits = 1): string => `${(100 * x).toFixed(digits)} %`;

function table(title: string, header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [`### ${title}`, "", line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line), ""].join("\n");
}

function plannedHoldMinutes(name: PolicyName): number {
  const p = policyByName(name);
  if (isComparisonPolicy(p)) {
    if (p.kind === "codedeploy") return 5;
    if (p.kind === "flagger") return 5;
    return 40;
  }
  return p.steps.reduce((s, st) => s + st.holdMs, 0) / 60_000;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const list = jobs();
  const merged = merge(await runAll(list));
  const get = (scenario: string, policy: PolicyName) => merged.get(`${scenario}|${policy}`)!;
  const json: Record<string, unknown> = {
    command: "npm run bench:sim (bench/sim.bench.ts)",
    runsPerCell: RUNS,
    headlineRunsPerCell: Math.max(RUNS, HEADLINE_RUNS),
    threads: THREADS,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
    date: new Date().toISOString(),
    scenarios: SCENARIOS,
  };
  const out: string[] = [
    `${RUNS} seeded runs per cell, ${Math.max(RUNS, HEADLINE_RUNS)} in the headline cells (every policy in ${TARGET_SCENARIO}; rollgate's rows in every A/A scenario); the same seeds for every policy in a scenario.`,
    "",
  ];

  // 1. Identical releases.
  const aaRows: string[][] = [];
  const aaJson: Record<string, unknown>[] = [];
  for (const scenario of AA) {
    for (const policy of POLICY_NAMES) {
      const g = get(scenario, policy);
      const rb = g.result.filter((x) => x === 1).length;
      const paused = g.result.filter((x) => x === 2 || x === 3).length;
      const promoted = g.result.filter((x) => x === 0).length;
      const [lo, hi] = wilson(rb, g.runs);
      const times = g.promotedMin.filter((x, i) => g.result[i] === 0 && x < Infinity);
      const t50 = quantile(times, 0.5);
      aaRows.push([scenario, policy, String(g.runs), `${pct(rb / g.runs)} [${pct(lo)}, ${pct(hi)}]`, pct(paused / g.runs), pct(promoted / g.runs), fmt(t50)]);
      aaJson.push({ scenario, policy, runs: g.runs, falseRollbackRate: rb / g.runs, ci95: [lo, hi], pausedRate: paused / g.runs, promotedRate: promoted / g.runs, timeTo100MedianMin: t50, plannedHoldMin: plannedHoldMinutes(policy) });
    }
  }
  out.push(table("1. Identical releases (A/A): false rollbacks per rollout, paused or unfinished (held past a timeout), promoted, median minutes to 100 %", ["scenario", "policy", "runs", "false rollbacks [95 % CI]", "paused", "promoted", "to 100 % median"], aaRows));
  json.falseRollbacks = aaJson;

  // 2. Bad releases: exposure against the oracle, detection (censored), power.
  const badRows: string[][] = [];
  const badJson: Record<string, unknown>[] = [];
  for (const scenario of BAD) {
    const o = get(scenario, ORACLE);
    const o50 = quantile(o.exposed, 0.5);
    const o90 = quantile(o.exposed, 0.9);
    const latency = (SCENARIOS[scenario]!.canaryLatencyFactor ?? 1) !== 1;
    for (const policy of POLICY_NAMES) {
      const g = get(scenario, policy);
      const stopped = g.result.filter((x) => x === 1).length;
      const early = g.result.filter((x, i) => x === 1 && g.maxShare[i]! < 0.25).length;
      const e50 = quantile(g.exposed, 0.5);
      const e90 = quantile(g.exposed, 0.9);
      // Censored at the 120-minute window: runs never rolled back count as never (Kaplan-Meier median at one horizon).
      const d50 = quantile(g.detectionMin, 0.5);
      const ratio50 = latency ? Number.NaN : e50 / o50;
      const ratio90 = latency ? Number.NaN : e90 / o90;
      badRows.push([scenario, policy, String(g.runs), fmt(e50, 0), fmt(e90, 0), latency ? "n/a" : fmt(ratio50, 2), latency ? "n/a" : fmt(ratio90, 2), pct(stopped / g.runs), fmt(d50), pct(early / g.runs)]);
      badJson.push({ scenario, policy, runs: g.runs, exposedRequests: { median: e50, p90: e90 }, exposureVsOracle: { median: ratio50, p90: ratio90 }, rolledBackWithin120Min: stopped / g.runs, detectionMinCensoredMedian: d50, stoppedBefore25Rate: early / g.runs, excessErrors: { median: quantile(g.excess, 0.5), p90: quantile(g.excess, 0.9) } });
    }
  }
  out.push(
    table(
      "2. Bad releases: canary requests served after the onset until the canary weight is 0 (120-minute window), ratio to the oracle's, share rolled back, censored median minutes from onset to rollback (never = fewer than half rolled back), share stopped before 25 %",
      ["scenario", "policy", "runs", "exposed median", "exposed p90", "/ oracle median", "/ oracle p90", "rolled back", "detection median (min)", "stopped < 25 %"],
      badRows,
    ),
  );
  json.badReleases = badJson;

  // 3. Compute per decision.
  const cRows: string[][] = [];
  for (const policy of POLICY_NAMES.filter((p) => p.startsWith("rollgate"))) {
    const us = get(AA[0]!, policy).decideNs.map((ns) => ns / 1000);
    cRows.push([policy, String(us.length), fmt(quantile(us, 0.5), 1), fmt(quantile(us, 0.99), 1)]);
  }
  out.push(table(`3. decide() per call (engine plus analysis), ${AA[0]} (microseconds)`, ["policy", "decisions timed", "median", "p99"], cRows));

  // Target: the standard preset's p90 exposure within 1.2x of the oracle's.
  const target = (badJson.find((r) => r.scenario === TARGET_SCENARIO && r.policy === "rollgate standard")!.exposureVsOracle as { p90: number }).p90;
  out.push(`Target: rollgate standard, ${TARGET_SCENARIO}: p90 exposure / holding oracle p90 = ${fmt(target, 2)} (target <= 1.2: ${target <= 1.2 ? "met" : "missed"}).`);
  json.targetP90VsOracle = target;

  const wall = (performance.now() - t0) / 1000;
  const sims = [...merged.values()].reduce((s, g) => s + g.runs, 0);
  const simMs = [...merged.values()].reduce((s, g) => s + g.wallMs, 0);
  out.push(`${sims.toLocaleString("en-US")} simulated rollouts in ${wall.toFixed(1)} s wall on ${THREADS} thread(s) (${(simMs / sims).toFixed(2)} ms of CPU per rollout).`);
  json.wallSeconds = wall;
  json.rollouts = sims;
  console.log(out.join("\n"));
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}sim.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${dir}sim.md`, `${out.join("\n")}\n`);
}

await main();
