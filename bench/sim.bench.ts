/**
 * Simulator benchmark (issue 8, plus issue 3's A/A comparison): rollgate's presets and today's
 * tools through the same seeded traffic, faults and CloudWatch delays. Prints one table per
 * figure and writes bench/results/sim.json.
 *
 *   npm run bench                 # every benchmark
 *   npm run bench:sim             # this one; SIM_RUNS=200 for a quick look
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { POLICY_NAMES, quantile, runJob, SCENARIOS, wilson, type Job, type JobResult, type PolicyName } from "./sim-lib.js";
import { policyByName } from "./sim-lib.js";
import { isComparisonPolicy } from "../src/sim/index.js";

const RUNS = Number(process.env.SIM_RUNS ?? 2000);
const CHUNK = 250;
const THREADS = Math.max(1, Math.min(Number(process.env.SIM_THREADS ?? availableParallelism()), 4));

const AA = ["aa-100rps", "aa-100rps-no-incidents", "aa-10rps-overdispersed"];
const REGRESSIONS = [
  { key: "0.6pct", label: "0.1 % -> 0.6 % errors" },
  { key: "20pct", label: "0.1 % -> 20 % errors" },
];
const RPS = [10, 100, 1000];

function seedBase(scenario: string): number {
  let h = 2166136261;
  for (const ch of scenario) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return (h % 100_000) * 10_000;
}

function jobs(): Job[] {
  const out: Job[] = [];
  const scenarios = [...AA, ...REGRESSIONS.flatMap((r) => RPS.map((rps) => `bad-${r.key}-${rps}rps`))];
  for (const scenario of scenarios) {
    for (const policy of POLICY_NAMES) {
      for (let from = 0; from < RUNS; from += CHUNK) {
        // Same seeds for every policy: each sees the same traffic draws as far as its weights allow.
        out.push({ policy, scenario, seedFrom: seedBase(scenario) + from, runs: Math.min(CHUNK, RUNS - from), measureDecide: policy.startsWith("rollgate") && scenario === "aa-100rps" });
      }
    }
  }
  // Longest first keeps both threads busy to the end.
  const weight = (j: Job) => (j.policy.startsWith("rollgate") && j.policy !== "rollgate low" ? 2 : 1) * (j.scenario.startsWith("aa") ? 2 : 1);
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
    command: "npm run bench (bench/sim.bench.ts)",
    runsPerCell: RUNS,
    threads: THREADS,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
    date: new Date().toISOString(),
    scenarios: SCENARIOS,
  };
  const out: string[] = [];

  // 1. False rollbacks on identical versions, and 5. time to 100 %.
  const aaRows: string[][] = [];
  const aaJson: Record<string, unknown>[] = [];
  for (const scenario of AA) {
    for (const policy of POLICY_NAMES) {
      const g = get(scenario, policy);
      const rb = g.result.filter((x) => x === 1).length;
      const to = g.timeout.filter((x) => x === 1).length;
      const promoted = g.result.filter((x) => x === 0).length;
      const [lo, hi] = wilson(rb, g.runs);
      const planned = plannedHoldMinutes(policy);
      // Time to 100 % of the releases that ended promoted (a CodeDeploy release rolled back
      // during its termination wait reached 100 % but did not succeed).
      const times = g.promotedMin.filter((x, i) => g.result[i] === 0 && x < Infinity);
      const t50 = quantile(times, 0.5);
      const t90 = quantile(times, 0.9);
      aaRows.push([scenario, policy, String(g.runs), `${pct(rb / g.runs)} [${pct(lo)}, ${pct(hi)}]`, pct(to / g.runs), pct(promoted / g.runs), fmt(t50), fmt(t90), fmt(planned, 0), fmt(t50 / planned, 2)]);
      aaJson.push({ scenario, policy, runs: g.runs, falseRollbackRate: rb / g.runs, ci95: [lo, hi], timeoutRollbackRate: to / g.runs, promotedRate: promoted / g.runs, timeTo100Min: { median: t50, p90: t90 }, plannedHoldMin: planned });
    }
  }
  out.push(table("1 and 5. False rollbacks per rollout and time to 100 %, identical versions (A/A)", ["scenario", "policy", "runs", "false rollbacks [95 % CI]", "of which step timeouts", "promoted", "to 100 % median (min)", "p90", "hold total", "median / hold"], aaRows));
  json.falseRollbacks = aaJson;

  // 2-4. Bad releases: exposure, detection, power.
  const badRows: string[][] = [];
  const detRows: string[][] = [];
  const powRows: string[][] = [];
  const badJson: Record<string, unknown>[] = [];
  for (const r of REGRESSIONS) {
    for (const rps of RPS) {
      const scenario = `bad-${r.key}-${rps}rps`;
      const cd = get(scenario, "CodeDeploy canary 10%/5m");
      const cdMed = quantile(cd.exposed, 0.5);
      const cdP90 = quantile(cd.exposed, 0.9);
      for (const policy of POLICY_NAMES) {
        const g = get(scenario, policy);
        const stopped = g.result.filter((x) => x === 1).length;
        const early = g.result.filter((x, i) => x === 1 && g.maxShare[i]! < 0.25).length;
        const e50 = quantile(g.exposed, 0.5);
        const e90 = quantile(g.exposed, 0.9);
        const x50 = quantile(g.excess, 0.5);
        const x90 = quantile(g.excess, 0.9);
        const d50 = quantile(g.detectionMin, 0.5);
        const d90 = quantile(g.detectionMin, 0.9);
        const [plo, phi] = wilson(early, g.runs);
        badRows.push([r.label, String(rps), policy, fmt(e50, 0), fmt(e90, 0), fmt(x50), fmt(x90), fmt(e90 / cdP90, 3)]);
        detRows.push([r.label, String(rps), policy, pct(stopped / g.runs), fmt(d50), fmt(d90)]);
        powRows.push([r.label, String(rps), policy, `${pct(early / g.runs)} [${pct(plo)}, ${pct(phi)}]`]);
        badJson.push({
          regression: r.label,
          rps,
          policy,
          runs: g.runs,
          exposedRequests: { median: e50, p90: e90 },
          excessErrors: { median: x50, p90: x90 },
          exposureVsCodeDeploy: { median: e50 / cdMed, p90: e90 / cdP90 },
          stoppedRate: stopped / g.runs,
          detectionMin: { median: d50, p90: d90 },
          stoppedBefore25Rate: early / g.runs,
          ci95StoppedBefore25: [plo, phi],
        });
      }
    }
  }
  out.push(table("2. Exposure to a bad release: canary requests and excess errors served until the canary weight reaches 0 (120-minute window)", ["regression", "rps", "policy", "requests median", "requests p90", "excess errors median", "excess p90", "p90 / CodeDeploy p90"], badRows));
  out.push(table("3. Detection: regression onset to weights restored (minutes; never = not rolled back within 120 min)", ["regression", "rps", "policy", "rolled back", "median", "p90"], detRows));
  out.push(table("4. Power: bad releases stopped before the canary reached 25 %", ["regression", "rps", "policy", "stopped before 25 % [95 % CI]"], powRows));
  json.badReleases = badJson;

  // 6. Compute per decision.
  const cRows: string[][] = [];
  const cJson: Record<string, unknown>[] = [];
  for (const policy of POLICY_NAMES.filter((p) => p.startsWith("rollgate"))) {
    const g = get("aa-100rps", policy);
    const us = g.decideNs.map((ns) => ns / 1000);
    const med = quantile(us, 0.5);
    const p99 = quantile(us, 0.99);
    cRows.push([policy, String(us.length), fmt(med, 1), fmt(p99, 1), fmt(quantile(us, 1), 0)]);
    cJson.push({ policy, decisions: us.length, decideUs: { median: med, p99, max: quantile(us, 1) } });
  }
  out.push(table("6. Controller compute per decision: decide() = engine plus analysis, A/A 100 rps (microseconds)", ["policy", "decisions timed", "median", "p99", "max"], cRows));
  json.compute = cJson;

  // Targets (ours, measured here, never asserted in tests).
  const tRows: string[][] = [];
  const tJson: Record<string, unknown>[] = [];
  const target = (name: string, policy: string, value: number, limit: number, show: (x: number) => string, better: "below" | "above" = "below") => {
    const met = better === "below" ? value <= limit : value >= limit;
    const miss = better === "below" ? `missed (x${(value / limit).toFixed(2)})` : `missed (by ${(100 * (limit - value)).toFixed(1)} points)`;
    tRows.push([name, policy, show(value), `${better === "below" ? "<=" : ">="} ${show(limit)}`, met ? "met" : Number.isNaN(value) ? "missed (none promoted)" : miss]);
    tJson.push({ target: name, policy, value, limit, met });
  };
  const bad = (key: string, rps: number, policy: PolicyName) => (json.badReleases as Array<Record<string, any>>).find((r) => r.regression.startsWith(key) && r.rps === rps && r.policy === policy)!;
  const aaOf = (scenario: string, policy: string) => (json.falseRollbacks as Array<Record<string, any>>).find((r) => r.scenario === scenario && r.policy === policy)!;
  const presets = POLICY_NAMES.filter((p) => p.startsWith("rollgate"));
  for (const p of presets) target("false rollbacks per rollout (A/A 100 rps, incidents)", p, aaOf("aa-100rps", p).falseRollbackRate, 0.01, (x) => pct(x, 2));
  for (const p of presets) target("0.1->0.6 % @100 rps: p90 exposed requests", p, bad("0.1 % -> 0.6", 100, p).exposedRequests.p90, 2500, (x) => fmt(x, 0));
  for (const p of presets) target("0.1->0.6 % @100 rps: p90 excess errors", p, bad("0.1 % -> 0.6", 100, p).excessErrors.p90, 15, (x) => fmt(x, 1));
  for (const rps of RPS) for (const p of presets) target(`20 % regression @${rps} rps: median detection (min)`, p, bad("0.1 % -> 20", rps, p).detectionMin.median, 3, (x) => fmt(x, 1));
  for (const r of REGRESSIONS) for (const rps of RPS) for (const p of presets) target(`${r.label} @${rps} rps: stopped before 25 %`, p, bad(r.label, rps, p).stoppedBefore25Rate, 0.95, (x) => pct(x, 1), "above");
  for (const r of REGRESSIONS) for (const rps of RPS) for (const p of presets) target(`${r.label} @${rps} rps: p90 exposure / CodeDeploy p90`, p, bad(r.label, rps, p).exposureVsCodeDeploy.p90, 0.2, (x) => fmt(x, 3));
  for (const p of presets) {
    const a = aaOf("aa-100rps", p);
    target("good release @100 rps: p90 time to 100 % / hold total", p, a.timeTo100Min.p90 / a.plannedHoldMin, 1.1, (x) => fmt(x, 2));
  }
  target("issue 3: 0.6 % vs 0.1 % @100 rps, 1 % first step: median rollback (min)", "rollgate standard", bad("0.1 % -> 0.6", 100, "rollgate standard").detectionMin.median, 15, (x) => fmt(x, 1));
  out.push(table("Targets", ["target", "policy", "measured", "target", "verdict"], tRows));
  json.targets = tJson;

  const wall = (performance.now() - t0) / 1000;
  const simMs = [...merged.values()].reduce((s, g) => s + g.wallMs, 0);
  const sims = [...merged.values()].reduce((s, g) => s + g.runs, 0);
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
