/**
 * The verdict, by the engine's own code: `evaluateGates` from src/engine/decide.ts (which calls
 * src/analysis's evaluateComparisonGate with the policy's alpha split and prior), over the rollout's
 * minutes, with the step placed where Argo's step verdict runs. No gate logic lives here.
 */
import type { CountSample, GateEvidence, GateVerdict, Verdict } from "../analysis/types.js";
import { evaluateGates } from "../engine/decide.js";
import type { Evidence, RolloutState } from "../engine/types.js";
import type { VerdictRequest } from "./request.js";

/** What the server answers; Argo's web provider reads `verdict` (jsonPath `{$.verdict}`). */
export interface VerdictResponse {
  verdict: Verdict;
  service: string;
  gate: string;
  type: GateVerdict["type"];
  reason: string;
  /** The mixture e-value of count gates (rollback needs >= threshold); null for percentile gates. */
  eValue: number | null;
  /** The percentile gate's Mann-Whitney p-value at its last checkpoint; null for count gates. */
  pValue: number | null;
  /** 1/alpha for an e-value, the look's alpha for a p-value. */
  threshold: number | null;
  /** Totals over the step (what minSamples and the hold band judge). */
  canary: { total: number; events: number } | null;
  baseline: { total: number; events: number } | null;
  /** Canary minus baseline in the gate's unit (percentage points or ms). */
  difference: number | null;
  /** Minutes behind the verdict in this step. */
  minutes: number;
  /** Minutes read over the whole rollout (the sequential test's evidence). */
  rolloutMinutes: number;
  rolloutStartedAt: string | null;
  stepStartedAt: string | null;
  /** End of the last whole minute read. */
  evidenceUntil: string;
  backend: "prometheus" | "cloudWatch";
}

export interface JudgeTimes {
  /** Epoch ms of the canary's first minute; undefined when it has no data yet. */
  canaryStartedAt: number | undefined;
  /** End of the evidence (a whole minute). */
  end: number;
}

const MINUTE = 60_000;

/**
 * When the current step began, from the canary's share of each minute's requests: the change point
 * between the previous weight and the current one that makes the minutes most likely (binomial
 * likelihood of the canary's requests among both sides' at the previous weight before it and at the
 * current weight from it on). Argo cannot tell the server when a step started, but it moved the
 * traffic then, and the traffic shows it. Undefined when the weights are equal (nothing to see) or
 * there are no minutes.
 */
export function stepStartFromShares(samples: ReadonlyArray<CountSample>, previousPercent: number, currentPercent: number): number | undefined {
  if (samples.length === 0 || Math.abs(previousPercent - currentPercent) < 1e-9) return undefined;
  const clamp = (p: number) => Math.min(1 - 1e-9, Math.max(1e-9, p / 100));
  const p0 = clamp(previousPercent);
  const p1 = clamp(currentPercent);
  // Gain of minute m under the current weight over the previous one; the best start maximises the
  // sum of gains from it to the end (ties: the latest start, the fewest minutes claimed).
  let best = samples.length;
  let bestSum = 0;
  let sum = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const c = samples[i]!.canary.total;
    const n = c + samples[i]!.baseline.total;
    sum += c * Math.log(p1 / p0) + (n - c) * Math.log((1 - p1) / (1 - p0));
    if (sum > bestSum) {
      bestSum = sum;
      best = i;
    }
  }
  return best < samples.length ? samples[best]!.start : samples[samples.length - 1]!.start + MINUTE;
}

/**
 * Where the step starts: with the step's weights, where the traffic says it started (never before
 * the rollout); else the last `window` of the rollout; else (the guard) the whole rollout.
 */
export function stepStart(request: Pick<VerdictRequest, "windowMs" | "weights">, rolloutStartedAt: number, end: number, evidence?: GateEvidence): number {
  if (request.weights && evidence?.kind === "counts") {
    const found = stepStartFromShares(evidence.samples, request.weights.previous, request.weights.current);
    if (found !== undefined) return Math.max(rolloutStartedAt, found);
  }
  return request.windowMs === undefined ? rolloutStartedAt : Math.max(rolloutStartedAt, end - request.windowMs);
}

/** The engine's verdict of the request's gate on `evidence`. */
export function judge(request: VerdictRequest, evidence: GateEvidence | undefined, times: JudgeTimes): VerdictResponse {
  const started = times.canaryStartedAt ?? times.end;
  const stepStartedAt = stepStart(request, started, times.end, evidence);
  const step = request.policy.steps[request.stepIndex]!;
  const state: RolloutState = {
    rolloutId: `${request.service}:${request.canaryHash || "canary"}`,
    phase: "progressing",
    release: { stable: request.stableHash, canary: request.canaryHash },
    stepIndex: request.stepIndex,
    stepStartedAt,
    startedAt: started,
    weights: step.weights,
    lastKnownGood: { stable: request.policy.weightTotal, canary: 0 },
    approvals: [],
  };
  const worldEvidence: Evidence = {
    alarms: {},
    gates: evidence ? { [request.gate.name]: evidence } : {},
    freeze: false,
    killSwitch: false,
  };
  // Only this gate: the step's other gates are other metrics of the AnalysisTemplate.
  const [verdict] = evaluateGates(request.policy, { ...step, gates: [request.gate.name] }, state, worldEvidence, times.end);
  return respond(request, verdict!, evidence, times, times.canaryStartedAt === undefined ? null : stepStartedAt);
}

function respond(request: VerdictRequest, v: GateVerdict, evidence: GateEvidence | undefined, times: JudgeTimes, stepStartedAt: number | null): VerdictResponse {
  const percentile = evidence?.kind === "percentiles" || (request.gate.type === "latency" && request.gate.mode === "percentile");
  const e = v.evidence;
  return {
    verdict: v.verdict,
    service: request.service,
    gate: v.gate,
    type: v.type,
    reason: v.reason,
    eValue: !percentile && e?.statistic !== undefined ? e.statistic : null,
    pValue: percentile && e?.statistic !== undefined ? e.statistic : null,
    threshold: e?.threshold ?? null,
    canary: e?.canary ?? null,
    baseline: e?.baseline ?? null,
    difference: e?.difference ?? null,
    minutes: e?.minutes ?? 0,
    rolloutMinutes: evidence?.samples.length ?? 0,
    rolloutStartedAt: times.canaryStartedAt === undefined ? null : new Date(times.canaryStartedAt).toISOString(),
    stepStartedAt: stepStartedAt === null ? null : new Date(stepStartedAt).toISOString(),
    evidenceUntil: new Date(times.end).toISOString(),
    backend: request.backend.kind,
  };
}

/**
 * A hold the server gives without judging: the backend failed, or there is nothing to compare.
 * Never a pass (that would promote on no evidence) and never a rollback (an outage is not a
 * regression).
 */
export function holdWithoutVerdict(request: VerdictRequest, reason: string, end: number): VerdictResponse {
  return {
    verdict: "hold",
    service: request.service,
    gate: request.gate.name,
    type: request.gate.type,
    reason: `${request.gate.name}: ${reason}`,
    eValue: null,
    pValue: null,
    threshold: null,
    canary: null,
    baseline: null,
    difference: null,
    minutes: 0,
    rolloutMinutes: 0,
    rolloutStartedAt: null,
    stepStartedAt: null,
    evidenceUntil: new Date(end).toISOString(),
    backend: request.backend.kind,
  };
}
