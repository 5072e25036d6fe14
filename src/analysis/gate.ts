/**
 * Entry point the engine calls for a comparison gate on every tick. Order of the checks:
 *
 *   missing data            -> gate.onMissingData (never pass)
 *   test rejects AND worse by more than rollbackBand -> rollback
 *   fewer than minSamples canary trials this step    -> hold (never pass)
 *   worse by more than holdBand                      -> hold
 *   otherwise                                        -> pass
 *
 * Count gates (errorRate, latency "threshold", metric) use the anytime-valid mixture e-process
 * of sequential.ts accumulated over the whole rollout, so alpha is a per-rollout budget however
 * many ticks look at it. Latency "percentile" gates use a one-sided Mann-Whitney U test on
 * per-minute percentile points: weaker and not anytime-valid, so it only spends alpha at a few
 * checkpoints (see percentileVerdict). docs/analysis.md explains the method.
 *
 * Given the step's maxHold (ctx.stepMaxHoldMs), a count gate splits its alpha: FINAL_LOOK_SHARE
 * goes to one fixed-horizon look at the step's own data when the step reaches maxHold (the
 * moment it would otherwise time out), the rest to the sequential test. The union bound keeps
 * the per-rollout budget (finalLookAlpha).
 */
import type { ComparisonGate } from "../policy/types.js";
import { DISPERSION_MARGIN_SLOPE, FLOOR_RATE_MULTIPLE, SequentialRateTest, type DispersionMode, type MixturePrior, type RegressionDirection, type SequentialTestOptions } from "./sequential.js";
import { binomialUpperTailReal, exactBinomialTest, mannWhitneyGreater, twoProportionZTest } from "./stats.js";
import type { CountSample, Counts, GateContext, GateEvidence, GateVerdict, PercentileSample, Verdict } from "./types.js";

export function sumCounts(samples: ReadonlyArray<{ canary: Counts; baseline: Counts }>): { canary: Counts; baseline: Counts } {
  const canary = { total: 0, events: 0 };
  const baseline = { total: 0, events: 0 };
  for (const s of samples) {
    canary.total += s.canary.total;
    canary.events += s.canary.events;
    baseline.total += s.baseline.total;
    baseline.events += s.baseline.events;
  }
  return { canary, baseline };
}

/**
 * Paired minutes a percentile gate needs in the step before it may pass. Kept below the first
 * rollback checkpoint: with CloudWatch's 1-3 minute lag, a 10-minute hold sees only 7-9 paired
 * minutes, and demanding 10 stretched every step of a 10-minute ladder by ~25 %.
 */
export const PERCENTILE_MIN_PAIRED_MINUTES = 5;

/** Paired minutes of the first Mann-Whitney look (rollback checkpoints at 10, 20, 40, ...). */
export const PERCENTILE_FIRST_CHECKPOINT = 10;

/** The statistic is reported as a plain number; beyond this it is capped (JSON has no Infinity). */
const STATISTIC_CAP = 1e300;

export function evaluateComparisonGate(gate: ComparisonGate, evidence: GateEvidence | undefined, ctx: GateContext): GateVerdict {
  const base = { gate: gate.name, type: gate.type } as const;
  if (!(ctx.alpha > 0 && ctx.alpha < 1)) {
    // A misconfigured budget must neither pass nor roll back on its own.
    return { ...base, verdict: "hold", reason: `${gate.name}: alpha ${ctx.alpha} is not in (0, 1); check analysis.alpha in the policy` };
  }
  if (!evidence || evidence.samples.length === 0) {
    return missing(gate, "no data");
  }
  const expected = gate.type === "latency" && gate.mode === "percentile" ? "percentiles" : "counts";
  if (evidence.kind !== expected) {
    return missing(gate, `evidence is ${evidence.kind} but the gate compares ${expected}`);
  }
  return evidence.kind === "counts" ? countVerdict(gate, evidence.samples, ctx) : percentileVerdict(gate, evidence.samples, ctx);
}

function missing(gate: ComparisonGate, why: string, extra?: GateVerdict["evidence"]): GateVerdict {
  return {
    gate: gate.name,
    type: gate.type,
    verdict: gate.onMissingData,
    reason: `${gate.name}: ${why} (missing data ${gate.onMissingData === "hold" ? "holds" : "rolls back"})`,
    ...(extra ? { evidence: extra } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Count gates

/**
 * The e-process of a rollout's samples, cached so a tick only pays for the minutes added since
 * the previous tick. Keyed by the first sample object: the simulator appends to one array (or
 * rebuilds the array from the same sample objects); the controller builds fresh objects per
 * invocation and simply misses. A hit requires the very same sample objects in the prefix and
 * the same totals in them, so edited or replaced minutes recompute from scratch.
 */
interface CachedTest {
  test: SequentialRateTest;
  refs: CountSample[];
  fingerprint: number;
}
const cache = new WeakMap<CountSample, Map<string, CachedTest>>();

function fingerprintOf(samples: ReadonlyArray<CountSample>, upTo: number): number {
  let f = 0;
  for (let i = 0; i < upTo; i++) {
    const s = samples[i]!;
    f += s.canary.events + 3 * s.canary.total + 7 * s.baseline.events + 11 * s.baseline.total + ((s.start / 60_000) % 1_000_003);
  }
  return f;
}

/**
 * The sequential test over all samples (the whole rollout), reusing earlier work when it can.
 * `options` picks the mixture prior (sequential.ts); tests with different priors are cached apart.
 */
export function rolloutTest(samples: ReadonlyArray<CountSample>, direction: RegressionDirection, options: SequentialTestOptions = {}): SequentialRateTest {
  const first = samples[0];
  if (!first) return new SequentialRateTest(direction, undefined, options);
  const key = `${options.prior === "band" ? `${direction}:band:${options.band ?? 0}:${options.relativeBand ?? 0}` : direction}:${options.dispersion ?? "estimate"}`;
  let byDirection = cache.get(first);
  let entry = byDirection?.get(key);
  let valid = entry !== undefined && samples.length >= entry.refs.length;
  if (entry && valid) {
    for (let i = 0; i < entry.refs.length; i++) {
      if (samples[i] !== entry.refs[i]) {
        valid = false;
        break;
      }
    }
    if (valid && fingerprintOf(samples, entry.refs.length) !== entry.fingerprint) valid = false;
  }
  if (!entry || !valid) {
    entry = { test: new SequentialRateTest(direction, undefined, options), refs: [], fingerprint: 0 };
    if (!byDirection) {
      byDirection = new Map();
      cache.set(first, byDirection);
    }
    byDirection.set(key, entry);
  }
  for (let i = entry.refs.length; i < samples.length; i++) {
    const s = samples[i]!;
    entry.test.push(s.canary.events, s.canary.total, s.baseline.events, s.baseline.total);
    entry.refs.push(s);
  }
  entry.fingerprint = fingerprintOf(samples, samples.length);
  return entry.test;
}

// Hot path (every tick, every gate, millions of times in the benchmark): no closures here, since
// each closure creation costs an allocation (and a defineProperty under tsx's keepNames).
function validCounts(c: Counts): boolean {
  return Number.isFinite(c.events) && Number.isFinite(c.total) && c.events >= 0 && c.total >= 0 && c.events <= c.total;
}
function validSample(s: CountSample): boolean {
  return validCounts(s.canary) && validCounts(s.baseline);
}

/** The test's prior for a gate: "band" centres it on the gate's rollback band (a fraction there). */
export function mixtureOptions(gate: Pick<ComparisonGate, "rollbackBand" | "rollbackBandRelative">, prior: MixturePrior = "band", dispersion: DispersionMode = "estimate"): SequentialTestOptions {
  const relative = gate.rollbackBandRelative;
  if (prior === "band" && relative !== undefined && relative > 0) {
    // A relative band centres the prior on r = 1 + share (whatever the rate), or on the floor's ratio when that is larger.
    return { prior: "band", band: Math.min(0.99, Math.max(0, gate.rollbackBand) / 100), relativeBand: relative, dispersion };
  }
  return prior === "band" && gate.rollbackBand > 0 && gate.rollbackBand < 100 ? { prior: "band", band: gate.rollbackBand / 100, dispersion } : { prior: "wide", dispersion };
}

/**
 * The bands in force (points) for a baseline rate (a fraction): the absolute bands, or for
 * relative ones the larger of the floor and the share of the rate, the floor never more than
 * FLOOR_RATE_MULTIPLE times the rate (sequential.ts, relativeBandAt).
 */
export function effectiveBands(gate: Pick<ComparisonGate, "holdBand" | "rollbackBand" | "holdBandRelative" | "rollbackBandRelative">, baselineRate: number): { holdBand: number; rollbackBand: number } {
  // relativeBandAt's rule, in points.
  const p = Number.isFinite(baselineRate) && baselineRate > 0 ? baselineRate : 0;
  const of = (floor: number, relative: number | undefined) => (relative === undefined ? floor : Math.max(Math.min(floor, FLOOR_RATE_MULTIPLE * 100 * p), relative * 100 * p));
  return { holdBand: of(gate.holdBand, gate.holdBandRelative), rollbackBand: of(gate.rollbackBand, gate.rollbackBandRelative) };
}

/**
 * Share of a count gate's alpha spent on the final looks at maxHold (the rest goes to the
 * sequential test). Half: a single look at a fixed horizon is far more powerful at that sample
 * size than the anytime test, which pays for looking every minute; the sequential test pays
 * log 2 nats more to reject (measured in docs/analysis.md).
 */
export const FINAL_LOOK_SHARE = 0.5;

/**
 * The final look judges the step's minutes that began at least this long before maxHold: with
 * CloudWatch's one-minute datapoints arriving up to 3 minutes after the minute ends, they are all
 * visible when the step reaches maxHold, so the look sees one fixed set of minutes.
 */
export const FINAL_LOOK_GRACE_MS = 3 * 60_000;

/**
 * Alpha of the final look at step `stepIndex` (from 0): alpha x FINAL_LOOK_SHARE x
 * 1/((s+1)(s+2)), which sums to alpha x FINAL_LOOK_SHARE over any number of steps. Each step can
 * reach its maxHold once, and its look uses only that step's minutes (fresh data given
 * everything before the step started), so the chance that any final look rejects an identical
 * canary is at most the sum of these shares. The first step, where traffic is thinnest and
 * steps time out most, gets half.
 */
export function finalLookAlpha(alpha: number, stepIndex: number): number {
  const s = Math.max(0, stepIndex);
  return (alpha * FINAL_LOOK_SHARE) / ((s + 1) * (s + 2));
}

/** Alpha left to the sequential test when the gate has a final look. */
export function sequentialAlpha(alpha: number, withFinalLook: boolean): number {
  return withFinalLook ? alpha * (1 - FINAL_LOOK_SHARE) : alpha;
}

export interface FinalLookResult {
  /** One-sided p-value of "the canary is worse" over the window's minutes. */
  pValue: number;
  /** Canary events and the number expected without a difference (sum of n_i rho_i). */
  events: number;
  expected: number;
  /** Events of both sides in the window, and the canary's expected share of them. */
  n: number;
  rho: number;
  /** Dispersion the counts were divided by (1 = independent events). */
  phi: number;
}

/**
 * The dispersion the final look divides the counts by, given the estimate phi and the canary's
 * expected share of events rho: 1 + (phi - 1) max(2, 1 + 0.4 log(1 / rho)). Dividing by phi
 * alone (Rao-Scott) matches the variance of clustered counts but not their skew, and the
 * one-sided tail is what the look uses: seeded A/A windows with geometric clusters (means 2-20,
 * shares 1-25 %) rejected up to 2.2x alpha at alpha 0.005 with phi alone, and at most alpha
 * with this margin (test/analysis.final-look.test.ts). The log term is the sequential test's
 * margin (DISPERSION_MARGIN_SLOPE) at the canary side's per-event factor 1 / rho.
 */
export function finalLookDispersion(phi: number, rho: number): number {
  if (!(phi > 1)) return 1;
  const margin = Math.max(2, 1 + DISPERSION_MARGIN_SLOPE * Math.log(1 / Math.max(rho, 1e-12)));
  return 1 + (phi - 1) * margin;
}

/**
 * The fixed-horizon test of the final look: an exact conditional binomial test on the window's
 * minutes. Given each minute's events n_i and the canary's traffic share rho_i, an identical
 * canary's events are a sum of Binomial(n_i, rho_i); that sum is tested against
 * Binomial(N, rho*) with N = sum n_i and rho* = sum n_i rho_i / N, whose upper tail is at least
 * the sum's beyond its mean (Hoeffding 1956), so the p-value is conservative when the shares
 * differ between minutes. With clustered events the counts are divided by a dispersion (the
 * Rao-Scott correction: a design effect of phi leaves N / phi effective events), built from the
 * same estimate the sequential test is tempered by (from the totals, which the test conditions
 * on) with a margin for the tail (finalLookDispersion). Minutes with no traffic on one side
 * carry no evidence and are skipped. `phi` in the result is the divisor applied.
 */
export function finalLookTest(minutes: ReadonlyArray<CountSample>, phi = 1, worseWhen: RegressionDirection = "higher"): FinalLookResult {
  let x = 0;
  let n = 0;
  let mean = 0;
  for (const m of minutes) {
    if (!validSample(m) || m.canary.total === 0 || m.baseline.total === 0) continue;
    const events = m.canary.events + m.baseline.events;
    if (events === 0) continue;
    x += m.canary.events;
    n += events;
    mean += (events * m.canary.total) / (m.canary.total + m.baseline.total);
  }
  const estimate = Number.isFinite(phi) && phi > 1 ? phi : 1;
  if (n === 0) return { pValue: 1, events: x, expected: mean, n, rho: 0, phi: estimate };
  const rho = mean / n;
  const f = finalLookDispersion(estimate, rho);
  const pValue = worseWhen === "higher" ? binomialUpperTailReal(x / f, n / f, rho) : binomialUpperTailReal((n - x) / f, n / f, 1 - rho);
  return { pValue, events: x, expected: mean, n, rho, phi: f };
}

function countVerdict(gate: ComparisonGate, samples: CountSample[], ctx: GateContext): GateVerdict {
  const direction: RegressionDirection = gate.worseWhen;
  const sign = direction === "higher" ? 1 : -1;
  const withFinalLook = ctx.stepMaxHoldMs !== undefined && Number.isFinite(ctx.stepMaxHoldMs) && ctx.stepMaxHoldMs > 0;
  const alphaSequential = sequentialAlpha(ctx.alpha, withFinalLook);
  const threshold = 1 / alphaSequential;
  const logThreshold = -Math.log(alphaSequential);

  const stepCanary = { total: 0, events: 0 };
  const stepBaseline = { total: 0, events: 0 };
  const allCanary = { total: 0, events: 0 };
  const allBaseline = { total: 0, events: 0 };
  let stepMinutes = 0;
  for (const s of samples) {
    if (!validSample(s)) continue;
    allCanary.total += s.canary.total;
    allCanary.events += s.canary.events;
    allBaseline.total += s.baseline.total;
    allBaseline.events += s.baseline.events;
    if (s.start >= ctx.stepStartedAt) {
      stepMinutes++;
      stepCanary.total += s.canary.total;
      stepCanary.events += s.canary.events;
      stepBaseline.total += s.baseline.total;
      stepBaseline.events += s.baseline.events;
    }
  }
  const test = rolloutTest(samples, direction, mixtureOptions(gate, ctx.prior, ctx.dispersion));
  const statistic = Math.min(Math.exp(test.maxLogEValue), STATISTIC_CAP);
  const numbers = { statistic, threshold, canary: stepCanary, baseline: stepBaseline, minutes: stepMinutes };

  if (stepMinutes === 0) return missing(gate, "no valid minutes in this step yet", numbers);
  if (stepBaseline.total === 0) return missing(gate, "no baseline traffic this step to compare with", numbers);
  if (stepCanary.total === 0) return missing(gate, "no canary traffic this step", numbers);

  const canaryRate = stepCanary.events / stepCanary.total;
  const baselineRate = stepBaseline.events / stepBaseline.total;
  const difference = sign * 100 * (canaryRate - baselineRate);
  // Early in a step (below minSamples) its own difference is noise; the rollback band is then
  // judged on the whole rollout's pooled difference, which the test's evidence also spans.
  const enough = stepCanary.total >= gate.minSamples;
  const bandDifference =
    enough || allCanary.total === 0 || allBaseline.total === 0
      ? difference
      : sign * 100 * (allCanary.events / allCanary.total - allBaseline.events / allBaseline.total);
  const rejected = test.maxLogEValue >= logThreshold;
  // Relative bands are a share of the baseline's rate over the whole rollout (steadier than the step's).
  const { holdBand, rollbackBand } = effectiveBands(gate, allBaseline.total > 0 ? allBaseline.events / allBaseline.total : baselineRate);
  const final = finalLook(gate, samples, ctx, test, withFinalLook);

  const holdBandText = bandText(holdBand, gate.holdBandRelative);
  const rollbackBandText = bandText(rollbackBand, gate.rollbackBandRelative);
  const summary = `${gate.name}: canary ${pct(canaryRate)} vs baseline ${pct(baselineRate)} over ${int(stepCanary.total)} canary requests`;
  const eText = `e-value ${num(statistic)} ${rejected ? ">=" : "<"} ${num(threshold)}`;
  const evidence = { ...numbers, difference: sign * difference };

  if (rejected && bandDifference > rollbackBand) {
    const scope = enough ? "" : " (whole rollout)";
    return verdictOf(gate, "rollback", evidence, `${summary}; ${eText} and ${beyond(sign, bandDifference, "points" + scope, "rollback band", rollbackBandText)}`);
  }
  if (final && final.rejected && final.difference > rollbackBand) {
    return verdictOf(gate, "rollback", evidence, `${summary}; ${eText}; ${final.text} and ${beyond(sign, final.difference, "points (final look)", "rollback band", rollbackBandText)}`);
  }
  const finalNote = final ? `; ${final.text}` : "";
  if (!enough) {
    return verdictOf(gate, "hold", evidence, `${summary}; need ${int(gate.minSamples)} this step before it may pass; ${eText}${finalNote}`);
  }
  if (difference > holdBand) {
    return verdictOf(gate, "hold", evidence, `${summary}; ${beyond(sign, difference, "points", "hold band", holdBandText)}; ${eText}${finalNote}`);
  }
  const note = rejected ? `${eText} but ${inside(sign, bandDifference, "points", "rollback band", rollbackBandText)}` : eText;
  return verdictOf(gate, "pass", evidence, `${summary}; ${inside(sign, difference, "points", "hold band", holdBandText)}; ${note}`);
}

/**
 * The final look, once the step has reached its maxHold: the fixed-horizon test over the step's
 * minutes that began at least FINAL_LOOK_GRACE_MS before maxHold, at finalLookAlpha. Null before
 * maxHold or without one. `difference` is over the same minutes, in points, positive = worse.
 */
function finalLook(
  gate: ComparisonGate,
  samples: ReadonlyArray<CountSample>,
  ctx: GateContext,
  test: SequentialRateTest,
  enabled: boolean,
): { rejected: boolean; difference: number; text: string } | null {
  if (!enabled || ctx.now - ctx.stepStartedAt < ctx.stepMaxHoldMs!) return null;
  const end = ctx.stepStartedAt + ctx.stepMaxHoldMs! - FINAL_LOOK_GRACE_MS;
  const window: CountSample[] = [];
  const canary = { total: 0, events: 0 };
  const baseline = { total: 0, events: 0 };
  for (const s of samples) {
    if (s.start < ctx.stepStartedAt || s.start >= end || !validSample(s)) continue;
    window.push(s);
    canary.total += s.canary.total;
    canary.events += s.canary.events;
    baseline.total += s.baseline.total;
    baseline.events += s.baseline.events;
  }
  if (canary.total === 0 || baseline.total === 0) return null;
  const phi = test.dispersion ? test.dispersion.phi : 1;
  const alpha = finalLookAlpha(ctx.alpha, ctx.stepIndex);
  const r = finalLookTest(window, phi, gate.worseWhen);
  const sign = gate.worseWhen === "higher" ? 1 : -1;
  const difference = sign * 100 * (canary.events / canary.total - baseline.events / baseline.total);
  const rejected = r.pValue <= alpha;
  const tempered = r.phi > 1 ? `, counts divided by dispersion ${r.phi.toFixed(2)}` : "";
  const text = `final look at maxHold over ${window.length} minutes: p ${num(r.pValue)} ${rejected ? "<=" : ">"} ${num(alpha)} (${int(r.events)} canary events, ${r.expected.toFixed(1)} expected${tempered})`;
  return { rejected, difference, text };
}

function verdictOf(gate: ComparisonGate, verdict: Verdict, evidence: GateVerdict["evidence"], reason: string): GateVerdict {
  return { gate: gate.name, type: gate.type, verdict, reason, ...(evidence ? { evidence } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Percentile gates (the weaker option)

/**
 * Share of the gate's alpha that a percentile checkpoint may spend. Steps get 1/((s+1)(s+2))
 * (summing to 1 over any number of steps) and, within a step, the k-th checkpoint (at
 * 10, 20, 40, ... paired minutes) gets 2^-(k+1). The union bound over all checkpoints of the
 * rollout keeps the false-rollback probability at or below alpha even though the engine looks
 * every minute: between checkpoints the rollback decision is the last checkpoint's.
 */
export function percentileLookAlpha(alpha: number, stepIndex: number, checkpoint: number): number {
  const s = Math.max(0, stepIndex);
  return (alpha / ((s + 1) * (s + 2))) * Math.pow(2, -(checkpoint + 1));
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentileVerdict(gate: ComparisonGate, samples: PercentileSample[], ctx: GateContext): GateVerdict {
  const sign = gate.worseWhen === "higher" ? 1 : -1;
  const label = gate.type === "latency" ? `p${gate.percentile}` : "value";
  const canary: number[] = [];
  const baseline: number[] = [];
  let canaryCount = 0;
  let baselineCount = 0;
  let countsKnown = 0;
  for (const s of samples) {
    if (s.start < ctx.stepStartedAt) continue;
    if (s.canary === null || s.baseline === null || !Number.isFinite(s.canary) || !Number.isFinite(s.baseline)) continue;
    canary.push(sign * s.canary);
    baseline.push(sign * s.baseline);
    if (s.canaryCount !== undefined) {
      canaryCount += s.canaryCount;
      countsKnown++;
    }
    if (s.baselineCount !== undefined) baselineCount += s.baselineCount;
  }
  const paired = canary.length;
  if (paired === 0) return missing(gate, `no paired ${label} minutes this step`);
  const difference = median(canary) - median(baseline);
  const counts = countsKnown > 0 ? { canary: { total: canaryCount, events: 0 }, baseline: { total: baselineCount, events: 0 } } : {};

  // Rollback decisions only at checkpoints: the first c = 10 * 2^k paired minutes of the step.
  let checkpoint = -1;
  for (let c = PERCENTILE_FIRST_CHECKPOINT; c <= paired; c *= 2) checkpoint++;
  let pValue = 1;
  let lookAlpha = percentileLookAlpha(ctx.alpha, ctx.stepIndex, 0);
  let checkpointDifference = difference;
  if (checkpoint >= 0) {
    const c = PERCENTILE_FIRST_CHECKPOINT * 2 ** checkpoint;
    const cx = canary.slice(0, c);
    const cy = baseline.slice(0, c);
    pValue = mannWhitneyGreater(cx, cy).pValue;
    lookAlpha = percentileLookAlpha(ctx.alpha, ctx.stepIndex, checkpoint);
    checkpointDifference = median(cx) - median(cy);
  }
  const rejected = checkpoint >= 0 && pValue <= lookAlpha;
  const evidence = { statistic: pValue, threshold: lookAlpha, difference: sign * difference, minutes: paired, ...counts };
  const summary = `${gate.name}: canary ${label} median ${ms(sign * median(canary))} vs baseline ${ms(sign * median(baseline))} over ${paired} paired minutes`;
  const pText = checkpoint >= 0 ? `Mann-Whitney p ${num(pValue)} ${rejected ? "<=" : ">"} ${num(lookAlpha)}` : `no Mann-Whitney look before ${PERCENTILE_FIRST_CHECKPOINT} paired minutes`;

  if (rejected && checkpointDifference > gate.rollbackBand) {
    return verdictOf(gate, "rollback", evidence, `${summary}; ${pText} and ${beyond(sign, checkpointDifference, "ms", "rollback band", gate.rollbackBand)}`);
  }
  if (paired < PERCENTILE_MIN_PAIRED_MINUTES) {
    return verdictOf(gate, "hold", evidence, `${summary}; need ${PERCENTILE_MIN_PAIRED_MINUTES} paired minutes before it may pass`);
  }
  if (countsKnown === 0) {
    return verdictOf(gate, "hold", evidence, `${summary}; request counts behind the points are unknown, so minSamples ${int(gate.minSamples)} cannot be checked (supply canaryCount)`);
  }
  if (canaryCount < gate.minSamples) {
    return verdictOf(gate, "hold", evidence, `${summary}; ${int(canaryCount)} canary requests this step, need ${int(gate.minSamples)} before it may pass`);
  }
  if (difference > gate.holdBand) {
    return verdictOf(gate, "hold", evidence, `${summary}; ${beyond(sign, difference, "ms", "hold band", gate.holdBand)}; ${pText}`);
  }
  return verdictOf(gate, "pass", evidence, `${summary}; ${inside(sign, difference, "ms", "hold band", gate.holdBand)}; ${pText}`);
}

// ---------------------------------------------------------------------------------------------
// Comparison baselines for the benchmark: what today's tools do, evaluated every minute.

export type Judgement = "pass" | "rollback";

function stepTotals(samples: ReadonlyArray<CountSample>, stepStartedAt: number): { canary: Counts; baseline: Counts } {
  const canary = { total: 0, events: 0 };
  const baseline = { total: 0, events: 0 };
  for (const s of samples) {
    if (s.start < stepStartedAt || !validSample(s)) continue;
    canary.total += s.canary.total;
    canary.events += s.canary.events;
    baseline.total += s.baseline.total;
    baseline.events += s.baseline.events;
  }
  return { canary, baseline };
}

/**
 * Fixed-horizon one-sided pooled two-proportion z-test on the current step's totals, as if this
 * look were the only one. Called every minute it inflates false rollbacks (that is the point of
 * the comparison); it is not used by any gate.
 */
export function zTestJudgement(
  samples: ReadonlyArray<CountSample>,
  ctx: Pick<GateContext, "stepStartedAt">,
  alpha: number,
  worseWhen: RegressionDirection = "higher",
): Judgement {
  const { canary, baseline } = stepTotals(samples, ctx.stepStartedAt);
  return twoProportionZTest(canary, baseline, worseWhen) <= alpha ? "rollback" : "pass";
}

/**
 * Fixed-horizon one-sided exact conditional binomial test on the current step's totals (the
 * canary's share of events against its share of traffic), as if this look were the only one.
 * For the benchmark only.
 */
export function exactBinomialJudgement(
  samples: ReadonlyArray<CountSample>,
  ctx: Pick<GateContext, "stepStartedAt">,
  alpha: number,
  worseWhen: RegressionDirection = "higher",
): Judgement {
  const { canary, baseline } = stepTotals(samples, ctx.stepStartedAt);
  return exactBinomialTest(canary, baseline, worseWhen) <= alpha ? "rollback" : "pass";
}

/**
 * The sequential test alone, in the same shape as the baselines: "rollback" once the whole
 * rollout's mixture e-value has reached 1/alpha, ignoring bands and minSamples. For comparing
 * the tests themselves in the benchmark; gates use evaluateComparisonGate.
 */
export function sequentialJudgement(
  samples: ReadonlyArray<CountSample>,
  _ctx: Pick<GateContext, "stepStartedAt">,
  alpha: number,
  worseWhen: RegressionDirection = "higher",
): Judgement {
  return rolloutTest(samples, worseWhen).maxLogEValue >= -Math.log(alpha) ? "rollback" : "pass";
}

// ---------------------------------------------------------------------------------------------
// Formatting for reasons an operator reads.

/** "0.25", or for a relative band "0.60 (30% of baseline)". */
function bandText(points: number, relative: number | undefined): string {
  return relative === undefined ? String(points) : `${points.toFixed(points >= 10 ? 1 : 2)} (${Number((relative * 100).toFixed(2))}% of baseline)`;
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(rate * 100 >= 10 ? 1 : 2)} %`;
}
function pts(x: number): string {
  const digits = Math.abs(x) >= 10 ? 1 : 2;
  return `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
}
function msDiff(x: number): string {
  return `${x >= 0 ? "+" : ""}${x.toFixed(Math.abs(x) >= 100 ? 0 : 1)}`;
}
/**
 * "+0.52 points > rollback band 0.25"; for worseWhen "lower" the raw (canary minus baseline)
 * difference is shown, "-3.00 points < -1 (rollback band; lower is worse)". `worse` is the
 * difference in the worse direction (positive = worse).
 */
function beyond(sign: number, worse: number, unit: string, band: string, value: number | string): string {
  const shown = unit.startsWith("ms") ? msDiff(sign * worse) : pts(sign * worse);
  return sign > 0 ? `${shown} ${unit} > ${band} ${value}` : `${shown} ${unit} < -${value} (${band}; lower is worse)`;
}
function inside(sign: number, worse: number, unit: string, band: string, value: number | string): string {
  const shown = unit.startsWith("ms") ? msDiff(sign * worse) : pts(sign * worse);
  return sign > 0 ? `${shown} ${unit} within ${band} ${value}` : `${shown} ${unit} within ${band} ${value} (lower is worse)`;
}
function ms(x: number): string {
  return `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
}
/** 12345 -> "12,345" (toLocaleString is slow, and this runs on every tick of every gate). */
function int(x: number): string {
  const digits = String(Math.round(Math.abs(x)));
  let out = "";
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += ",";
    out += digits[i];
  }
  return x < 0 ? `-${out}` : out;
}
function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  if (x >= 1e6 || x < 1e-3) return x.toExponential(1);
  if (x >= 100) return int(x);
  return x.toPrecision(2);
}
