/**
 * The rendered Argo Rollouts rules beside the AWS flavour, per rps, on the simulator's traffic
 * (src/sim: diurnal Poisson traffic, CloudWatch's 1-3 minute lag): how many healthy rollouts each
 * rolls back (false rollbacks) or leaves paused, and how many bad ones it rolls back and how fast.
 * The Argo side drives the rendered Rollout and AnalysisTemplates with Argo's analysis semantics
 * (components/kubernetes/argo-sim.ts); the AWS side is the real engine (RollgateController).
 *
 *   npx tsx bench/argo-rendered.ts                 # shared example policy, error-rate gate
 *   npx tsx bench/argo-rendered.ts --healthy 300 --bad 100 --rps 20,50,200,1000
 *   npx tsx bench/argo-rendered.ts --bands relative --base 0.02 --rps 50,200
 *   npx tsx bench/argo-rendered.ts --render-check --rps 20,50,100,200,1000   # what renderKubernetes({ expectedRps }) reports
 *
 * Healthy: identical versions with --base errors (default 0.1 %). Bad: the canary serves --bad-rate
 * errors from the start (default 1 % with the absolute bands; with --bands relative the base plus
 * twice the rollback band in force, 3.2 % at a 2 % base). --bands relative uses the standard
 * profile's error-rate gate (hold 10 %, at least 0.1 point; roll back 30 %, at least 0.25) and adds
 * a row for the same gate with its floors as absolute bands (how the render read it before).
 * Within-band: a canary worse by half the rollback band in force, which the policy holds and never
 * rolls back (rolling it back is a false rollback as well).
 * Seeds are fixed, so runs repeat.
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
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const healthyRuns = Number(arg("healthy", "200"));
const badRuns = Number(arg("bad", "100"));
const rpsList = arg("rps", "20,50,200,1000").split(",").map(Number);
const bands = arg("bands", "absolute");
if (bands !== "absolute" && bands !== "relative") throw new Error(`--bands must be absolute or relative; got ${bands}`);
const base = Number(arg("base", "0.001"));

// The shared example policy (stacks/shared/policy.yaml) with its error-rate gate alone, as in the issue.
const shared = parse(readFileSync(resolve(import.meta.dirname, "../stacks/shared/policy.yaml"), "utf8")) as PolicyInput & { gates: unknown[] };
const relativeGate = { type: "errorRate", holdBand: "10%", holdBandMin: 0.1, rollbackBand: "30%", rollbackBandMin: 0.25, minSamples: 200 };
const floorsGate = { type: "errorRate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 };
const withGate = (gate: unknown): PolicyInput =>
  ({ ...shared, rings: [], strategy: { ...(shared.strategy as object), steps: (shared.strategy as { steps: Array<{ ring?: string }> }).steps.filter((s) => !s.ring) } as PolicyInput["strategy"], gates: [gate] }) as PolicyInput;
const policy = parsePolicy(withGate(bands === "relative" ? relativeGate : shared.gates[0]));
const provider = { kind: "cloudWatch" as const, loadBalancer: "app/lb/1", stableTargetGroup: "targetgroup/stable/1", canaryTargetGroup: "targetgroup/canary/1" };
const renderOf = (p: typeof policy) => ({
  rendered: renderKubernetes({ name: "checkout", image: "x", policy: p, provider }),
  query: analysisTiming(planKubernetes("checkout", p, "cloudWatch"), { analysisInterval: "1m", metricDelay: "3m" }).query,
});
const flavours: Array<[string, ReturnType<typeof renderOf> | "aws"]> = [["Argo (rendered)", renderOf(policy)], ["AWS (engine)", "aws"]];
if (bands === "relative") flavours.splice(1, 0, ["Argo, floors only (before)", renderOf(parsePolicy(withGate(floorsGate)))]);
const gate = policy.gates[0] as { rollbackBand: number; rollbackBandRelative?: number };
const bandInForce = Math.max(gate.rollbackBand, (gate.rollbackBandRelative ?? 0) * 100 * base);
const badRate = Number(arg("bad-rate", String(bands === "relative" ? base + (2 * bandInForce) / 100 : 0.01)));

const healthy = (rps: number): Scenario => ({ rps, baselineErrorRate: base, canaryErrorRate: base });
const bad = (rps: number): Scenario => ({ rps, baselineErrorRate: base, canaryErrorRate: badRate });
// Worse than the baseline by half the rollback band in force (2.3 % at a 2 % base with 30 %): the
// policy holds such a canary and never rolls it back; a rollback of it is a false rollback too.
const withinRate = base + bandInForce / 2 / 100;
const within = (rps: number): Scenario => ({ rps, baselineErrorRate: base, canaryErrorRate: withinRate });

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
const argo = (r: ReturnType<typeof renderOf>) => (scenario: Scenario, runs: number, seed: number) => summarize(simulateRendered(r.rendered, r.query, scenario, runs, seed).outcomes);

const min = (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(1)} min`);
console.log(
  `# rendered Argo rules vs the AWS flavour: ${healthyRuns} healthy and ${badRuns} bad rollouts per rps (shared policy's ladder, ${bands} error-rate bands, base ${pct(base)}, bad canary ${pct(badRate)}, within-band canary ${pct(withinRate)}, alpha ${policy.alpha})`,
);
console.log("| rps | flavour | false rollbacks | healthy paused | within-band canary rolled back | bad rolled back | mean detection |");
console.log("|---|---|---|---|---|---|---|");
const t0 = performance.now();
if (process.argv.includes("--render-check")) {
  // The render-time check itself: renderKubernetes with expectedRps, its figures and its warnings.
  console.log("\n| rps | false rollbacks (300 identical) | paused at maxHold | bad canaries caught (150, canary at baseline + 2 x rollback band): Argo / AWS | render says |");
  console.log("|---|---|---|---|---|");
  for (const rps of rpsList) {
    let r;
    try {
      r = renderKubernetes({ name: "checkout", image: "x", policy, provider, expectedRps: rps });
    } catch (e) {
      console.log(`| ${rps} | refused: ${(e as Error).message.split("\n")[1]} | | | |`);
      continue;
    }
    const says = r.warnings.filter((w) => w.path === "args.expectedRps").map((w) => (/of canaries failing/.test(w.message) ? `detection warning: matches AWS from ${r.detectionMatchRps ?? "(not found)"} rps` : "pause warning"));
    console.log(`| ${rps} | ${pct(r.noise!.falseRollbackRate)} | ${pct(r.noise!.pausedRate)} | ${pct(r.detection!.argo)} / ${pct(r.detection!.aws)} | ${says.length ? says.join("; ") : "no warning"} |`);
  }
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  process.exit(0);
}
for (const rps of rpsList) {
  for (const [name, f] of flavours) {
    const run = f === "aws" ? aws : argo(f);
    const h = run(healthy(rps), healthyRuns, 1);
    const w = run(within(rps), badRuns, 200_001);
    const b = run(bad(rps), badRuns, 100_001);
    console.log(`| ${rps} | ${name} | ${pct(h.rolledBack)} | ${pct(h.paused)} | ${pct(w.rolledBack)} | ${pct(b.rolledBack)} | ${min(b.meanDetection)} |`);
  }
}
console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
