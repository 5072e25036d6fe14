/**
 * Argo Rollouts with the analysis server vs the threshold rendering, beside the AWS flavour's
 * engine, on the same seeded traffic: false rollbacks and stalls of identical versions (A/A),
 * and detection of 0.1 -> 0.6 % and 0.1 -> 20 % error regressions, at 10, 50, 200 and 1,000 rps.
 *
 *   npx tsx bench/analysis-server.ts [runs]        (default 400 A/A and 200 per regression per rps)
 *
 * The ladder is the shared example's (stacks/shared/policy.yaml without its ring step, as the
 * Kubernetes stack renders it): 1/5/25/50 %, 10 minutes each, one errorRate gate (hold 0.1, roll
 * back 0.25 points, minSamples 200), alpha 0.01. Each minute's requests are binomial draws at the
 * weight in force. How each flavour decides:
 *
 * - AWS engine: `decide()` every minute on every delivered minute (the Lambda's loop).
 * - Argo + server: what the rendered web templates make Argo do (components/kubernetes/web-provider.ts):
 *   the guard asks the server's decision code (`judge()` from src/analysis-server, the function
 *   behind POST /v1/verdict) every minute with the shortest hold as its window and aborts on the
 *   first "rollback"; when a step's pause ends, the step verdict asks every minute (with the step's
 *   weight and the previous one, from which the server finds the step's start) until maxHold: the first pass advances, a rollback aborts, no pass by maxHold
 *   pauses the Rollout (Inconclusive; an operator must act), as the engine's onTimeout "pause".
 * - Argo thresholds: the conditions render.ts writes for the Prometheus provider, evaluated here in
 *   JS: the guard fails a measurement when the canary has >= minSamples requests in the window and
 *   is worse by more than the rollback band, and aborts past failureLimit 1 (the second failure);
 *   the step verdict passes within the hold band, fails beyond the rollback band, else pauses.
 * The approval at 50 % is taken as given at once by all three (it is the same for all).
 */
import type { CountSample } from "../src/analysis/types.js";
import { judge } from "../src/analysis-server/judge.js";
import type { VerdictRequest } from "../src/analysis-server/request.js";
import { applyCommand, decide } from "../src/engine/decide.js";
import type { RolloutState } from "../src/engine/types.js";
import { parsePolicy } from "../src/policy/resolve.js";
import type { ComparisonGate } from "../src/policy/types.js";
import { Rng } from "../src/sim/random.js";
import { verdictCount } from "../components/kubernetes/web-provider.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const POLICY = parsePolicy({
  strategy: {
    type: "canary",
    steps: [
      { percent: 1, hold: "10m" },
      { percent: 5, hold: "10m" },
      { percent: 25, hold: "10m" },
      { percent: 50, hold: "10m" },
    ],
  },
  gates: [{ type: "errorRate", name: "errors", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 }],
  analysis: { alpha: 0.01 },
});
const GATE = POLICY.gates[0] as ComparisonGate;
const HOLD = 10;
const MAX_MINUTES = 120;

type Outcome = { kind: "promoted" | "rolled-back" | "paused"; minute: number };
interface World {
  rng: Rng;
  rps: number;
  baseRate: number;
  canaryRate: number;
}

/** One minute of traffic at canary share `percent` (Poisson arrivals, binomial errors). */
function minute(w: World, index: number, percent: number): CountSample {
  const n = w.rng.poisson(w.rps * 60);
  const canary = w.rng.binomial(n, percent / 100);
  const stable = n - canary;
  return {
    start: T0 + index * MIN,
    canary: { total: canary, events: w.rng.binomial(canary, w.canaryRate) },
    baseline: { total: stable, events: w.rng.binomial(stable, w.baseRate) },
  };
}

function awsEngine(w: World): Outcome {
  const started = applyCommand(POLICY, { ...idle(), phase: "idle" }, { type: "start", rolloutId: "r", release: { stable: "a", canary: "b" } }, { freeze: false, killSwitch: false }, T0);
  if (!started.ok) throw new Error(started.message);
  let state: RolloutState = started.decision.state;
  const samples: CountSample[] = [];
  for (let m = 0; m < MAX_MINUTES; m++) {
    const percent = (state.weights.canary / POLICY.weightTotal) * 100;
    samples.push(minute(w, m, percent));
    const now = T0 + (m + 1) * MIN;
    let d = decide(POLICY, state, { alarms: {}, gates: { errors: { kind: "counts", samples } }, freeze: false, killSwitch: false }, now);
    if (d.action === "pause-for-approval") {
      const approved = applyCommand(POLICY, d.state, { type: "approve" }, { freeze: false, killSwitch: false }, now);
      if (approved.ok) d = approved.decision;
    }
    state = d.state;
    if (state.phase === "rolled-back") return { kind: "rolled-back", minute: m + 1 };
    if (state.phase === "promoted") return { kind: "promoted", minute: m + 1 };
    if (state.phase === "paused") return { kind: "paused", minute: m + 1 };
  }
  return { kind: "paused", minute: MAX_MINUTES };
}

function idle(): RolloutState {
  return { rolloutId: "none", phase: "idle", release: { stable: "a", canary: "a" }, stepIndex: -1, stepStartedAt: T0, startedAt: T0, weights: { stable: POLICY.weightTotal, canary: 0 }, lastKnownGood: { stable: POLICY.weightTotal, canary: 0 }, approvals: [] };
}

const request = (stepIndex: number, windowMs: number, weights?: { current: number; previous: number }): VerdictRequest => ({
  service: "bench",
  policy: POLICY,
  gate: GATE,
  stepIndex,
  windowMs,
  ...(weights ? { weights } : {}),
  canaryHash: "c",
  stableHash: "s",
  backend: { kind: "prometheus", names: { requestsMetric: "", statusLabel: "", errorStatusRegex: "", durationMetric: "", podHashLabel: "", selector: "" } },
});

/**
 * Argo with the web templates: the guard every minute; after the step's pause the step verdict
 * every minute until maxHold (first pass advances, rollback aborts, no pass by maxHold pauses),
 * while the guard keeps measuring.
 */
function argoServer(w: World): Outcome {
  const samples: CountSample[] = [];
  let m = 0;
  for (let step = 0; step < POLICY.steps.length; step++) {
    const { percent, maxHoldMs } = POLICY.steps[step]!;
    const weight = Math.ceil(percent);
    const verdicts = verdictCount(HOLD * MIN, maxHoldMs, MIN);
    const weights = { current: weight, previous: step === 0 ? 0 : Math.ceil(POLICY.steps[step - 1]!.percent) };
    for (let i = 0; i < HOLD; i++, m++) {
      samples.push(minute(w, m, weight));
      const guard = judge(request(step, HOLD * MIN), { kind: "counts", samples }, { canaryStartedAt: T0, end: T0 + (m + 1) * MIN });
      if (guard.verdict === "rollback") return { kind: "rolled-back", minute: m + 1 };
    }
    let passed = false;
    for (let k = 0; k < verdicts && !passed; k++) {
      if (k > 0) {
        samples.push(minute(w, m, weight));
        m++;
        const guard = judge(request(step, HOLD * MIN), { kind: "counts", samples }, { canaryStartedAt: T0, end: T0 + m * MIN });
        if (guard.verdict === "rollback") return { kind: "rolled-back", minute: m };
      }
      const v = judge(request(step, HOLD * MIN, weights), { kind: "counts", samples }, { canaryStartedAt: T0, end: T0 + m * MIN });
      if (v.verdict === "rollback") return { kind: "rolled-back", minute: m };
      passed = v.verdict === "pass";
    }
    if (!passed) return { kind: "paused", minute: m };
  }
  return { kind: "promoted", minute: m };
}

/** Canary-minus-stable error difference (points) over the last `window` minutes, or null below minSamples. */
function windowDifference(samples: CountSample[], window: number): number | null {
  let cn = 0, ce = 0, sn = 0, se = 0;
  for (const s of samples.slice(-window)) {
    cn += s.canary.total;
    ce += s.canary.events;
    sn += s.baseline.total;
    se += s.baseline.events;
  }
  if (cn < Math.max(1, GATE.minSamples) || sn <= 0) return null;
  return 100 * (ce / cn - se / sn);
}

/** Argo with the threshold templates render.ts writes (guard failureLimit 1). */
function argoThreshold(w: World): Outcome {
  const samples: CountSample[] = [];
  let m = 0;
  let guardFailures = 0;
  for (let step = 0; step < POLICY.steps.length; step++) {
    const percent = Math.ceil(POLICY.steps[step]!.percent);
    for (let i = 0; i < HOLD; i++, m++) {
      samples.push(minute(w, m, percent));
      const d = windowDifference(samples, HOLD);
      if (d !== null && d > GATE.rollbackBand && ++guardFailures > 1) return { kind: "rolled-back", minute: m + 1 };
    }
    const d = windowDifference(samples, HOLD);
    if (d !== null && d > GATE.rollbackBand) return { kind: "rolled-back", minute: m };
    if (d === null || d > GATE.holdBand) return { kind: "paused", minute: m };
  }
  return { kind: "promoted", minute: m };
}

const FLAVOURS = { "AWS engine": awsEngine, "Argo + analysis server": argoServer, "Argo thresholds": argoThreshold } as const;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)} %`;

const runs = Number(process.argv[2] ?? 400);
const started = Date.now();
console.log(`runs: ${runs} A/A and ${runs / 2} per regression, per rps; ladder 1/5/25/50 % x 10 min; errorRate gate 0.1/0.25 points, alpha 0.01\n`);
console.log("| scenario | rps | flavour | rolled back | paused (operator) | promoted | median minutes to rollback |");
console.log("|---|---|---|---|---|---|---|");
for (const [label, canaryRate, n] of [["A/A 0.1 %", 0.001, runs], ["0.1 -> 0.6 %", 0.006, runs / 2], ["0.1 -> 20 %", 0.2, runs / 2]] as const) {
  for (const rps of [10, 50, 200, 1000]) {
    for (const [name, flavour] of Object.entries(FLAVOURS)) {
      const outcomes: Outcome[] = [];
      for (let r = 0; r < n; r++) outcomes.push(flavour({ rng: new Rng(1_000_003 * rps + r), rps, baseRate: 0.001, canaryRate }));
      const back = outcomes.filter((o) => o.kind === "rolled-back");
      const paused = outcomes.filter((o) => o.kind === "paused").length;
      const promoted = outcomes.filter((o) => o.kind === "promoted").length;
      const med = median(back.map((o) => o.minute));
      console.log(`| ${label} | ${rps} | ${name} | ${pct(back.length, n)} | ${pct(paused, n)} | ${pct(promoted, n)} | ${med === null ? "-" : med.toFixed(1)} |`);
    }
  }
}
console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
