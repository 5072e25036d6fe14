/**
 * A small seeded rollout simulator for calibrating the count gates: A/A false-rollback rates and
 * detection times. It drives evaluateComparisonGate exactly as the engine does (whole-rollout
 * evidence, one call per minute) but models only one gate's counts. The full simulator with
 * faults and the real engine lives in src/sim; this one exists so unit tests and
 * `npx tsx src/analysis/calibrate.ts` can check the statistics on their own.
 */
import { fileURLToPath } from "node:url";
import type { ComparisonGate } from "../policy/types.js";
import { evaluateComparisonGate, exactBinomialJudgement, zTestJudgement } from "./gate.js";
import { mannWhitneyGreater } from "./stats.js";
import { makeRatioGrid, SequentialRateTest } from "./sequential.js";
import type { CountSample, GateVerdict, PercentileSample } from "./types.js";

/** mulberry32: tiny, fast, good enough for seeded test traffic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Binomial draw: exact inversion while the mean is moderate, normal approximation beyond. */
export function binomial(rand: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const flip = p > 0.5;
  const q = flip ? 1 - p : p;
  const mean = n * q;
  let k: number;
  if (mean < 500) {
    let pmf = Math.exp(n * Math.log1p(-q));
    let cdf = pmf;
    const u = rand();
    k = 0;
    const ratio = q / (1 - q);
    while (u > cdf && k < n) {
      pmf *= ((n - k) / (k + 1)) * ratio;
      k++;
      cdf += pmf;
      if (pmf === 0 && cdf < u) break;
    }
  } else {
    k = Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - q)) * gaussian(rand))));
  }
  return flip ? n - k : k;
}

/**
 * Errors of `requests` requests at rate `p` that come in clusters (one client's retries, a bad
 * host): clusters arrive at rate p / meanBurst per request and each has a geometric size with
 * mean `meanBurst`, landing wholly on the side that served it. The mean is p per request as
 * without bursts; the variance is (2 meanBurst - 1) times larger. meanBurst 1 is plain binomial.
 */
export function burstyErrors(rand: () => number, requests: number, p: number, meanBurst: number): number {
  if (!(meanBurst > 1)) return binomial(rand, requests, p);
  const clusters = binomial(rand, requests, Math.min(1, p / meanBurst));
  if (clusters === 0) return 0;
  // Sum of `clusters` geometric sizes on 1, 2, ...: exact draws while few, a moment-matched
  // normal beyond (variance clusters (b - 1) b for mean b).
  let total = 0;
  if (clusters <= 64) {
    const logQ = Math.log1p(-1 / meanBurst);
    for (let i = 0; i < clusters; i++) total += 1 + Math.floor(Math.log(Math.max(rand(), 1e-300)) / logQ);
  } else {
    total = Math.round(clusters * meanBurst + Math.sqrt(clusters * (meanBurst - 1) * meanBurst) * gaussian(rand));
  }
  return Math.min(requests, Math.max(clusters, total));
}

export interface RolloutScenario {
  seed: number;
  /** Requests per second over both sides. */
  rps: number;
  /** Canary percent and hold (minutes) per step. */
  steps: Array<{ percent: number; minutes: number }>;
  /** A step that is still held after maxHoldFactor x its minutes ends the run as "timeout". @default 4 */
  maxHoldFactor?: number;
  baselineRate: number;
  canaryRate: number;
  /** An incident that raises both sides' rates (a dependency outage) for some minutes. */
  incident?: { fromMinute: number; minutes: number; rate: number };
  /** Mean size of error clusters, each landing on one side (burstyErrors). @default 1 (independent errors) */
  meanBurst?: number;
  /** The count test's dispersion correction (GateContext.dispersion). @default "estimate" */
  dispersion?: "estimate" | "none";
  gate: ComparisonGate;
  alpha: number;
  /** The count test's prior (the policy's analysis.prior). @default "band" */
  prior?: "band" | "wide";
  /**
   * Give the gate the step's maxHold (the engine always does), so it spends part of alpha on a
   * final look there; false leaves the whole alpha to the sequential test, as before the final
   * look existed (to measure what it buys). @default true
   */
  finalLook?: boolean;
  /**
   * Which judge decides: the gate (default), one of the fixed-horizon baselines every minute, or
   * "oracle": the bare sequential test told the true rate ratio in advance (all prior weight on
   * canaryRate / baselineRate, no bands) and whether errors cluster (no dispersion correction
   * when they do not), which no real prior can beat. It measures the limit the
   * traffic itself sets.
   */
  judge?: "gate" | "z-test" | "exact-binomial" | "oracle";
}

export interface RolloutOutcome {
  outcome: "promoted" | "rolled-back" | "timeout";
  /** Minutes from the start of the rollout to the outcome. */
  minutes: number;
  /** Canary requests seen up to the outcome. */
  canaryRequests: number;
  step: number;
  last?: GateVerdict;
}

const MINUTE = 60_000;

export function simulateRollout(s: RolloutScenario): RolloutOutcome {
  const rand = rng(s.seed);
  const samples: CountSample[] = [];
  const maxHoldFactor = s.maxHoldFactor ?? 4;
  let minute = 0;
  let canaryRequests = 0;
  let last: GateVerdict | undefined;
  const ratio = s.canaryRate / s.baselineRate;
  const oracle =
    s.judge === "oracle"
      ? new SequentialRateTest(ratio >= 1 ? "higher" : "lower", makeRatioGrid({ min: Math.max(ratio, 1 / ratio), max: Math.max(ratio, 1 / ratio), points: 1 }), {
          // Told the truth, including whether errors cluster: tempered only when they do.
          dispersion: (s.meanBurst ?? 1) > 1 ? "estimate" : "none",
        })
      : undefined;
  for (let stepIndex = 0; stepIndex < s.steps.length; stepIndex++) {
    const step = s.steps[stepIndex]!;
    const stepStartedAt = minute * MINUTE;
    for (let m = 0; ; m++) {
      const inIncident = s.incident && minute >= s.incident.fromMinute && minute < s.incident.fromMinute + s.incident.minutes;
      const requests = Math.max(0, Math.round(s.rps * 60));
      const canaryTotal = binomial(rand, requests, step.percent / 100);
      const baselineTotal = requests - canaryTotal;
      const canaryP = inIncident ? Math.max(s.incident!.rate, s.canaryRate) : s.canaryRate;
      const baselineP = inIncident ? s.incident!.rate : s.baselineRate;
      samples.push({
        start: minute * MINUTE,
        canary: { total: canaryTotal, events: burstyErrors(rand, canaryTotal, canaryP, s.meanBurst ?? 1) },
        baseline: { total: baselineTotal, events: burstyErrors(rand, baselineTotal, baselineP, s.meanBurst ?? 1) },
      });
      canaryRequests += canaryTotal;
      minute++;
      const ctx = { now: minute * MINUTE, rolloutStartedAt: 0, stepStartedAt, stepIndex, alpha: s.alpha, prior: s.prior ?? "band", dispersion: s.dispersion ?? "estimate", ...(s.finalLook === false ? {} : { stepMaxHoldMs: step.minutes * maxHoldFactor * MINUTE }) };
      let verdict: GateVerdict["verdict"];
      if (!s.judge || s.judge === "gate") {
        last = evaluateComparisonGate(s.gate, { kind: "counts", samples }, ctx);
        verdict = last.verdict;
      } else if (oracle) {
        const x = samples[samples.length - 1]!;
        oracle.push(x.canary.events, x.canary.total, x.baseline.events, x.baseline.total);
        verdict = oracle.maxLogEValue >= -Math.log(s.alpha) ? "rollback" : m + 1 >= step.minutes ? "pass" : "hold";
      } else {
        const judge = s.judge === "z-test" ? zTestJudgement : exactBinomialJudgement;
        verdict = judge(samples, ctx, s.alpha, s.gate.worseWhen);
      }
      if (verdict === "rollback") return { outcome: "rolled-back", minutes: minute, canaryRequests, step: stepIndex, ...(last ? { last } : {}) };
      if (m + 1 >= step.minutes && verdict === "pass") break;
      if (m + 1 >= step.minutes * maxHoldFactor) return { outcome: "timeout", minutes: minute, canaryRequests, step: stepIndex, ...(last ? { last } : {}) };
    }
  }
  return { outcome: "promoted", minutes: minute, canaryRequests, step: s.steps.length - 1, ...(last ? { last } : {}) };
}

/** The standard preset's ladder and error-rate gate at its share of alpha (0.01 over 2 gates). */
export const STANDARD_LADDER = [
  { percent: 1, minutes: 10 },
  { percent: 5, minutes: 10 },
  { percent: 25, minutes: 10 },
  { percent: 50, minutes: 10 },
];
export const STANDARD_ERROR_GATE: ComparisonGate = {
  type: "errorRate",
  name: "error-rate",
  holdBand: 0.1,
  rollbackBand: 0.25,
  minSamples: 200,
  onMissingData: "hold",
  worseWhen: "higher",
};

export interface AaSummary {
  runs: number;
  rolledBack: number;
  timeouts: number;
  promoted: number;
  falseRollbackRate: number;
}

/** A/A runs (canary identical to baseline) of the standard ladder. */
export function runAa(options: {
  runs: number;
  seed?: number;
  rps?: number;
  rate?: number;
  alpha?: number;
  prior?: RolloutScenario["prior"];
  judge?: RolloutScenario["judge"];
  incident?: RolloutScenario["incident"];
  meanBurst?: number;
  dispersion?: RolloutScenario["dispersion"];
  gate?: ComparisonGate;
  finalLook?: boolean;
  steps?: RolloutScenario["steps"];
}): AaSummary {
  const out: AaSummary = { runs: options.runs, rolledBack: 0, timeouts: 0, promoted: 0, falseRollbackRate: 0 };
  for (let i = 0; i < options.runs; i++) {
    const r = simulateRollout({
      seed: (options.seed ?? 1) * 100_003 + i,
      rps: options.rps ?? 100,
      steps: options.steps ?? STANDARD_LADDER,
      baselineRate: options.rate ?? 0.001,
      canaryRate: options.rate ?? 0.001,
      gate: options.gate ?? STANDARD_ERROR_GATE,
      alpha: options.alpha ?? 0.005,
      ...(options.prior ? { prior: options.prior } : {}),
      ...(options.judge ? { judge: options.judge } : {}),
      ...(options.incident ? { incident: options.incident } : {}),
      ...(options.meanBurst ? { meanBurst: options.meanBurst } : {}),
      ...(options.dispersion ? { dispersion: options.dispersion } : {}),
      ...(options.finalLook === false ? { finalLook: false } : {}),
    });
    if (r.outcome === "rolled-back") out.rolledBack++;
    else if (r.outcome === "timeout") out.timeouts++;
    else out.promoted++;
  }
  out.falseRollbackRate = out.rolledBack / out.runs;
  return out;
}

/**
 * Median of times where Infinity means "not within the horizon" (type-1 censoring at one horizon
 * for every run, where the Kaplan-Meier median is the plain median of the censored sample):
 * Infinity when fewer than half the runs have a finite time.
 */
export function censoredMedian(times: ReadonlyArray<number>): number {
  if (times.length === 0) return Number.NaN;
  const s = [...times].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/** Minutes and canary requests until rollback for a canary held at one step. */
export function runDetection(options: {
  runs: number;
  seed?: number;
  rps: number;
  percent: number;
  baselineRate: number;
  canaryRate: number;
  alpha?: number;
  prior?: RolloutScenario["prior"];
  judge?: RolloutScenario["judge"];
  maxMinutes?: number;
  meanBurst?: number;
  dispersion?: RolloutScenario["dispersion"];
  gate?: ComparisonGate;
  finalLook?: boolean;
}): {
  detected: number;
  /** Median over the detected runs only (biased low when some are never detected). */
  medianMinutes: number;
  medianCanaryRequests: number;
  /**
   * Median over all runs, the undetected ones counting as never (Infinity when fewer than half
   * are detected within the horizon): with one fixed horizon for every run this is the
   * Kaplan-Meier median.
   */
  censoredMedianMinutes: number;
  /** Share detected within the horizon. */
  detectedWithinHorizon: number;
} {
  const minutes: number[] = [];
  const requests: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    const r = simulateRollout({
      seed: (options.seed ?? 7) * 100_003 + i,
      rps: options.rps,
      steps: [{ percent: options.percent, minutes: options.maxMinutes ?? 240 }],
      maxHoldFactor: 1,
      baselineRate: options.baselineRate,
      canaryRate: options.canaryRate,
      gate: options.gate ?? STANDARD_ERROR_GATE,
      alpha: options.alpha ?? 0.005,
      ...(options.prior ? { prior: options.prior } : {}),
      ...(options.judge ? { judge: options.judge } : {}),
      ...(options.meanBurst ? { meanBurst: options.meanBurst } : {}),
      ...(options.dispersion ? { dispersion: options.dispersion } : {}),
      ...(options.finalLook === false ? { finalLook: false } : {}),
    });
    if (r.outcome === "rolled-back") {
      minutes.push(r.minutes);
      requests.push(r.canaryRequests);
    }
  }
  const med = (xs: number[]) => {
    if (xs.length === 0) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const all = [...minutes, ...Array.from({ length: options.runs - minutes.length }, () => Infinity)];
  return { detected: minutes.length, medianMinutes: med(minutes), medianCanaryRequests: med(requests), censoredMedianMinutes: censoredMedian(all), detectedWithinHorizon: minutes.length / options.runs };
}

/**
 * A/A for the percentile gate: identical per-minute p99 distributions on both sides, `steps`
 * steps of `minutes` minutes, the gate checked every minute; alongside, a naive one-sided
 * Mann-Whitney p-value on the step's points checked every minute without any alpha spending.
 */
export function runPercentileAa(options: { runs: number; alpha: number; seed?: number; steps?: number; minutes?: number }): { runs: number; gate: number; naive: number } {
  const gate: ComparisonGate = { type: "latency", name: "latency", mode: "percentile", percentile: 99, holdBand: 50, rollbackBand: 0, minSamples: 1, onMissingData: "hold", worseWhen: "higher" };
  const steps = options.steps ?? 3;
  const perStep = options.minutes ?? 20;
  let gateRollbacks = 0;
  let naiveRollbacks = 0;
  for (let run = 0; run < options.runs; run++) {
    const rand = rng((options.seed ?? 4242) + run);
    const samples: PercentileSample[] = [];
    let gateFired = false;
    let naiveFired = false;
    for (let step = 0; step < steps; step++) {
      const stepStartedAt = step * perStep * MINUTE;
      for (let m = 0; m < perStep; m++) {
        const minute = step * perStep + m;
        samples.push({ start: minute * MINUTE, canary: 300 * Math.exp(0.2 * (rand() - 0.5)), baseline: 300 * Math.exp(0.2 * (rand() - 0.5)), canaryCount: 100, baselineCount: 9900 });
        const v = evaluateComparisonGate(gate, { kind: "percentiles", samples }, { now: (minute + 1) * MINUTE, rolloutStartedAt: 0, stepStartedAt, stepIndex: step, alpha: options.alpha });
        if (v.verdict === "rollback") gateFired = true;
        const points = samples.slice(step * perStep);
        if (points.length >= 3 && mannWhitneyGreater(points.map((p) => p.canary!), points.map((p) => p.baseline!)).pValue <= options.alpha) naiveFired = true;
      }
    }
    if (gateFired) gateRollbacks++;
    if (naiveFired) naiveRollbacks++;
  }
  return { runs: options.runs, gate: gateRollbacks, naive: naiveRollbacks };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const runs = Number(process.argv[2] ?? 200);
  const started = Date.now();
  console.log(`A/A, standard ladder (1/5/25/50 %, 10m each), 100 rps, 0.1 % errors, alpha 0.005, ${runs} runs:`);
  for (const judge of ["gate", "z-test", "exact-binomial"] as const) {
    console.log(`  ${judge.padEnd(15)}`, runAa({ runs, judge }));
  }
  console.log("A/A with an incident hitting both groups (5 % errors, minutes 12-17):", runAa({ runs, incident: { fromMinute: 12, minutes: 5, rate: 0.05 } }));
  console.log("A/A at 1 % base rate:", runAa({ runs, rate: 0.01 }));
  console.log("Detection 0.1 % -> 0.6 %, 100 rps, held at a 1 % step:", runDetection({ runs, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006 }));
  console.log("Prior: censored (Kaplan-Meier) median minutes to rollback, 100 rps, held at a 1 % step, baseline 0.1 %, rollback band 0.25 points:");
  for (const alpha of [0.005, 0.01]) {
    for (const canaryRate of [0.0035, 0.0045, 0.006, 0.01, 0.02]) {
      const cell = (prior: "band" | "wide") => runDetection({ runs, rps: 100, percent: 1, baselineRate: 0.001, canaryRate, alpha, prior });
      const band = cell("band");
      const wide = cell("wide");
      const oracle = runDetection({ runs, rps: 100, percent: 1, baselineRate: 0.001, canaryRate, alpha, judge: "oracle" });
      const show = (r: ReturnType<typeof runDetection>) => `${r.censoredMedianMinutes} min (${(100 * r.detectedWithinHorizon).toFixed(1)} % within 240 min; ${r.medianMinutes} over detected)`;
      console.log(`  alpha ${alpha}, canary ${(canaryRate * 100).toFixed(2)} %: band ${show(band)}, wide ${show(wide)}, oracle ${show(oracle)}`);
    }
  }
  console.log("A/A with the wide prior (the band prior is the gate row above):", runAa({ runs, prior: "wide" }));
  for (const alpha of [0.05, 0.2]) {
    console.log(`Percentile gate A/A (3 steps x 20m, checked every minute), alpha ${alpha}, rollbacks (gate vs naive per-minute Mann-Whitney):`, runPercentileAa({ runs, alpha }));
  }
  console.log(`(${Date.now() - started} ms)`);
}
