/**
 * The rendered Argo Rollouts rules beside the AWS flavour, per rps, on the simulator's traffic
 * (src/sim: diurnal Poisson traffic, CloudWatch's 1-3 minute lag): how many healthy rollouts each
 * rolls back (false rollbacks) or leaves paused, and how many bad ones it rolls back and how fast.
 * The Argo side drives the rendered Rollout and AnalysisTemplates with Argo's analysis semantics
 * (components/kubernetes/argo-sim.ts); the AWS side is the real engine (RollgateController).
 *
 *   npx tsx bench/argo-rendered.ts                 # shared example policy, error-rate gate
 *   npx tsx bench/argo-rendered.ts --healthy 300 --bad 100 --rps 20,50,200,1000
 *
 * Healthy: identical versions with 0.1 % errors. Bad: the canary serves 1 % errors from the start
 * (0.9 points worse; the gate's rollback band is 0.25). Seeds are fixed, so runs repeat.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";
import { simulateRendered } from "../components/kubernetes/argo-sim.js";
import { analysisTiming, planKubernetes, renderKubernetes } from "../components/kubernetes/index.js";
import { parsePolicy, type PolicyInput } from "../src/policy/index.js";
import { RollgateController } from "../src/sim/controller.js";
import { runSimulation } from "../src/sim/simulator.js";
import type { Scenario, SimOutcome } from "../src/sim/types.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const healthyRuns = Number(arg("healthy", "200"));
const badRuns = Number(arg("bad", "100"));
const rpsList = arg("rps", "20,50,200,1000").split(",").map(Number);

// The shared example policy (stacks/shared/policy.yaml) with its error-rate gate alone, as in the issue.
const shared = parse(readFileSync(resolve(import.meta.dirname, "../stacks/shared/policy.yaml"), "utf8")) as PolicyInput & { gates: unknown[] };
const policyInput: PolicyInput = { ...shared, rings: [], strategy: { ...(shared.strategy as object), steps: (shared.strategy as { steps: Array<{ ring?: string }> }).steps.filter((s) => !s.ring) } as PolicyInput["strategy"], gates: [shared.gates[0]] } as PolicyInput;
const policy = parsePolicy(policyInput);
const provider = { kind: "cloudWatch" as const, loadBalancer: "app/lb/1", stableTargetGroup: "targetgroup/stable/1", canaryTargetGroup: "targetgroup/canary/1" };
const rendered = renderKubernetes({ name: "checkout", image: "x", policy, provider });
const plan = planKubernetes("checkout", policy, "cloudWatch");
const query = analysisTiming(plan, { analysisInterval: "1m", metricDelay: "3m" }).query;

const healthy = (rps: number): Scenario => ({ rps, baselineErrorRate: 0.001, canaryErrorRate: 0.001 });
const bad = (rps: number): Scenario => ({ rps, baselineErrorRate: 0.001, canaryErrorRate: 0.01 });

function summarize(outcomes: SimOutcome[]) {
  const n = outcomes.length;
  const rolled = outcomes.filter((o) => o.result === "rolled-back");
  const det = rolled.filter((o) => o.detectionMs !== undefined).map((o) => o.detectionMs! / 60_000);
  return {
    rolledBack: rolled.length / n,
    paused: outcomes.filter((o) => o.result === "paused" || o.result === "unfinished").length / n,
    meanDetection: det.length ? det.reduce((a, b) => a + b, 0) / det.length : Number.NaN,
  };
}

const aws = (scenario: Scenario, runs: number, seed: number) =>
  summarize(Array.from({ length: runs }, (_, i) => runSimulation(new RollgateController(policy), scenario, seed + i).outcome));
const argo = (scenario: Scenario, runs: number, seed: number) => summarize(simulateRendered(rendered, query, scenario, runs, seed).outcomes);

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const min = (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(1)} min`);
console.log(`# rendered Argo rules vs the AWS flavour: ${healthyRuns} healthy and ${badRuns} bad rollouts per rps (shared policy, error-rate gate, alpha ${policy.alpha})`);
console.log("| rps | flavour | false rollbacks | healthy paused | bad rolled back | mean detection |");
console.log("|---|---|---|---|---|---|");
const t0 = performance.now();
for (const rps of rpsList) {
  for (const [name, run] of [["Argo (rendered)", argo], ["AWS (engine)", aws]] as const) {
    const h = run(healthy(rps), healthyRuns, 1);
    const b = run(bad(rps), badRuns, 100_001);
    console.log(`| ${rps} | ${name} | ${pct(h.rolledBack)} | ${pct(h.paused)} | ${pct(b.rolledBack)} | ${min(b.meanDetection)} |`);
  }
}
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
