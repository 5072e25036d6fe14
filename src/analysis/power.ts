/**
 * Power and sample size for the sequential count test, without simulation.
 *
 * Under a true canary rate p1 and baseline rate p0, with canary traffic share rho, every canary
 * request (together with its (1-rho)/rho baseline companions) adds to the log likelihood ratio
 * at grid point r a drift and a variance of
 *
 *     d(r)   = p1 log r - (p1 + p0 (1-rho)/rho) log(1 + rho (r-1))
 *     v(r)   = p1 (1-p1) (log r - L)^2 + ((1-rho)/rho) p0 (1-p0) L^2,   L = log(1 + rho (r-1))
 *
 * The mixture reaches 1/alpha once some grid point's sum reaches b = log(1/alpha) - log w_k, w_k
 * the point's prior weight (1/K for the wide prior; the band prior's weight at the pooled rate the
 * test would see, p0 (1 - rho) + p1 rho). With a normal approximation of the sum after n canary
 * requests, the chance that it is past b at n is at least `power` when n d - z sqrt(n v) >= b,
 * z = Phi^-1(power):
 *
 *     sqrt(n) = (z sqrt(v) + sqrt(z^2 v + 4 d b)) / (2 d)
 *
 * minimised over the grid. It ignores overshoot and earlier crossings (both make the real test a
 * little faster), so it errs on the side of asking for more traffic. On top of the test, a rollback
 * also needs the observed difference past the rollback band; the same normal approximation gives
 * the requests for that, and the answer is the larger of the two.
 */
import type { ComparisonGate, RolloutPolicy } from "../policy/types.js";
import { bandLogWeights, DEFAULT_GRID, type MixturePrior, type RatioGrid } from "./sequential.js";
import { normalQuantile, normalSf } from "./stats.js";
import { effectiveBands, mixtureOptions, PERCENTILE_MIN_PAIRED_MINUTES, sequentialAlpha } from "./gate.js";

export interface SampleSizeInput {
  /** Event rate of the baseline, as a fraction (0.001 = 0.1 %). */
  baselineRate: number;
  /** Event rate of a canary the gate should catch, as a fraction. */
  canaryRate: number;
  /** Canary share of traffic, as a fraction (0.01 for a 1 % step). */
  canaryShare: number;
  /** The gate's alpha (the policy's alpha over its comparison gates). */
  alpha: number;
  /** Probability of having decided by the returned size. @default 0.8 */
  power?: number;
  /** Rollback band in percentage points the observed difference must exceed. @default 0 */
  rollbackBand?: number;
  /** The test's prior (the policy's analysis.prior); "band" needs a rollbackBand above 0. @default "wide" */
  prior?: MixturePrior;
  grid?: RatioGrid;
}

export interface SampleSize {
  /** Canary requests for the test to reject with probability `power` (Infinity if it never will). */
  testRequests: number;
  /** Canary requests for the observed difference to clear the rollback band with probability `power`. */
  bandRequests: number;
  /** The larger of the two: canary requests until a rollback with probability `power`. */
  requests: number;
  /** Same at probability one half (the median time to a rollback). */
  medianRequests: number;
  /** Grid ratio that decides fastest. */
  bestRatio: number;
}

/** Canary requests the sequential count test needs to roll back a canary at canaryRate. */
export function requiredCanaryRequests(input: SampleSizeInput): SampleSize {
  const { baselineRate: p0, canaryRate: p1, canaryShare: rho, alpha } = input;
  const power = input.power ?? 0.8;
  const band = (input.rollbackBand ?? 0) / 100;
  const grid = input.grid ?? DEFAULT_GRID;
  const fractions: Array<[string, number, boolean]> = [
    ["baselineRate", p0, true],
    ["canaryRate", p1, true],
    ["canaryShare", rho, false],
    ["alpha", alpha, false],
    ["power", power, false],
  ];
  for (const [name, v, zeroOk] of fractions) {
    if (!((zeroOk ? v >= 0 : v > 0) && v < 1)) throw new RangeError(`${name} must be a fraction in ${zeroOk ? "[0, 1)" : "(0, 1)"} (got ${v})`);
  }
  const higher = p1 >= p0;
  const logR = higher ? grid.logHigher : grid.logLower;
  const rMinusOne = higher ? grid.minusOneHigher : grid.minusOneLower;
  const direction = higher ? "higher" : "lower";
  // The same choice the gate makes (mixtureOptions): the band prior only for a band in (0, 100) points.
  const mixture = mixtureOptions({ rollbackBand: input.rollbackBand ?? 0 }, input.prior ?? "wide");
  const logWeights = mixture.prior === "band" ? bandLogWeights(grid, direction, p0 * (1 - rho) + p1 * rho, mixture.band!) : null;
  const z = normalQuantile(power);
  const companions = (1 - rho) / rho;
  let best = { n: Infinity, ratio: NaN };
  let median = Infinity;
  for (let k = 0; k < grid.size; k++) {
    const lr = logR[k]!;
    const L = Math.log1p(rho * rMinusOne[k]!);
    const d = p1 * lr - (p1 + p0 * companions) * L;
    if (!(d > 0)) continue;
    const v = p1 * (1 - p1) * (lr - L) ** 2 + companions * p0 * (1 - p0) * L * L;
    const b = Math.log(1 / alpha) - (logWeights ? logWeights[k]! : grid.logWeight);
    const n = solve(d, v, b, z);
    if (n < best.n) best = { n, ratio: Math.exp(Math.abs(lr)) };
    median = Math.min(median, solve(d, v, b, 0));
  }
  // The observed difference must clear the band: (|p1-p0| - band) >= z * sd(n).
  const gap = Math.abs(p1 - p0) - band;
  const perRequestVar = p1 * (1 - p1) + p0 * (1 - p0) / companions;
  const bandRequests = gap > 0 ? Math.max(1, (Math.max(z, 0) ** 2 * perRequestVar) / (gap * gap)) : Infinity;
  return {
    testRequests: best.n,
    bandRequests,
    requests: Math.max(best.n, bandRequests),
    medianRequests: Math.max(median, gap > 0 ? 1 : Infinity),
    bestRatio: best.ratio,
  };
}

export interface StepSampleSizeInput extends Omit<SampleSizeInput, "canaryShare"> {
  /** Requests per second over both slots. */
  rps: number;
  /** The step's canary traffic, in percent (1 for a 1 % step). */
  canaryPercent: number;
}

/**
 * Canary requests and minutes a step needs to roll back a canary at `canaryRate`, at a traffic
 * level: requiredCanaryRequests with the share and the time filled in.
 */
export function stepSampleSize(input: StepSampleSizeInput): SampleSize & { canaryRequestsPerMinute: number; minutes: number; medianMinutes: number } {
  if (!(input.rps > 0) || !Number.isFinite(input.rps)) throw new RangeError(`rps must be a positive number (got ${input.rps})`);
  if (!(input.canaryPercent > 0 && input.canaryPercent < 100)) throw new RangeError(`canaryPercent must be above 0 and below 100 (got ${input.canaryPercent})`);
  const { rps, canaryPercent, ...rest } = input;
  const size = requiredCanaryRequests({ ...rest, canaryShare: canaryPercent / 100 });
  const perMinute = rps * 60 * (canaryPercent / 100);
  return { ...size, canaryRequestsPerMinute: perMinute, minutes: size.requests / perMinute, medianMinutes: size.medianRequests / perMinute };
}

/** Smallest n with n d - z sqrt(n v) >= b. */
function solve(d: number, v: number, b: number, z: number): number {
  const sd = Math.sqrt(v);
  const root = (z * sd + Math.sqrt(z * z * v + 4 * d * b)) / (2 * d);
  return root * root;
}

// ---------------------------------------------------------------------------------------------
// Policy check

export interface TrafficAssumptions {
  /** Requests per second the service serves (both slots together). */
  rps: number;
  /**
   * Base event rate per gate name, as a fraction. Defaults: error-rate gates 0.001 (0.1 %),
   * latency threshold gates 0.01 (1 % slow), metric gates 0.05.
   */
  baselineRates?: Record<string, number>;
  /**
   * Effect each gate should catch, in percentage points, by gate name.
   * @default twice the gate's rollbackBand (a regression the band clearly calls for)
   */
  effects?: Record<string, number>;
  /** @default 0.8 */
  power?: number;
}

export interface PowerWarning {
  /** Policy field to change (as the user wrote it). */
  path: string;
  message: string;
}

export interface PowerRow {
  step: number;
  percent: number;
  gate: string;
  /** Expected canary requests during the step's hold. */
  canaryRequestsInHold: number;
  /** Canary requests to roll back the effect with probability `power` (count gates). */
  requestsNeeded?: number;
  medianRequestsNeeded?: number;
  /** Minutes at this traffic for requestsNeeded. */
  minutesNeeded?: number;
  baselineRate?: number;
  canaryRate?: number;
}

const DEFAULT_BASE_RATE = { errorRate: 0.001, latency: 0.01, metric: 0.05 } as const;

function stepPaths(policy: RolloutPolicy, index: number): { hold: string; maxHold: string } {
  const strategy = policy.source.strategy as { type?: string; steps?: Array<{ maxHold?: string }> } | undefined;
  switch (strategy?.type) {
    case "canary":
      return {
        hold: `strategy.steps[${index}].hold`,
        maxHold: strategy.steps?.[index]?.maxHold !== undefined ? `strategy.steps[${index}].maxHold` : "timeouts.maxHold",
      };
    case "blueGreen":
      return { hold: "strategy.bake", maxHold: "timeouts.maxHold" };
    default:
      return { hold: "strategy.hold", maxHold: "timeouts.maxHold" };
  }
}

/** Per step and comparison gate: the traffic a step sees against what its gates need. */
export function planPower(policy: RolloutPolicy, traffic: TrafficAssumptions): { rows: PowerRow[]; warnings: PowerWarning[] } {
  if (!(traffic.rps > 0) || !Number.isFinite(traffic.rps)) throw new RangeError(`rps must be a positive number (got ${traffic.rps})`);
  const comparisons = policy.gates.filter((g): g is ComparisonGate => g.type !== "alarm");
  const alpha = policy.alpha / (comparisons.length || 1);
  const rows: PowerRow[] = [];
  const warnings: PowerWarning[] = [];
  for (const step of policy.steps) {
    const share = step.weights.canary / policy.weightTotal;
    const perMinute = traffic.rps * 60 * share;
    const holdMinutes = step.holdMs / 60_000;
    const maxHoldMinutes = step.maxHoldMs / 60_000;
    const inHold = perMinute * holdMinutes;
    const paths = stepPaths(policy, step.index);
    const lead = `at ${fmtInt(traffic.rps)} rps a ${step.percent} % step sees ~${fmtInt(inHold)} canary requests in ${fmtMin(holdMinutes)}`;
    for (const gate of comparisons) {
      if (!step.gates.includes(gate.name)) continue;
      const row: PowerRow = { step: step.index, percent: step.percent, gate: gate.name, canaryRequestsInHold: inHold };
      rows.push(row);
      if (share <= 0) continue;
      if (perMinute * maxHoldMinutes < gate.minSamples) {
        warnings.push({
          path: paths.maxHold,
          message: `${lead}; the ${gate.name} gate needs ${fmtInt(gate.minSamples)} (minSamples) before it may pass, which takes ~${fmtMin(gate.minSamples / perMinute)}, longer than the step's maxHold ${fmtMin(maxHoldMinutes)}: raise the step's percent or maxHold, or lower minSamples`,
        });
      } else if (inHold < gate.minSamples) {
        warnings.push({
          path: paths.hold,
          message: `${lead}; the ${gate.name} gate needs ${fmtInt(gate.minSamples)} (minSamples), so the step holds ~${fmtMin(gate.minSamples / perMinute)}: lengthen the hold to match`,
        });
      }
      if (gate.type === "latency" && gate.mode === "percentile") {
        if (holdMinutes < PERCENTILE_MIN_PAIRED_MINUTES) {
          warnings.push({
            path: paths.hold,
            message: `the ${gate.name} gate compares per-minute p${gate.percentile} points and needs ${PERCENTILE_MIN_PAIRED_MINUTES} paired minutes before it may pass; a ${fmtMin(holdMinutes)} hold will wait for them`,
          });
        }
        continue;
      }
      const base = traffic.baselineRates?.[gate.name] ?? DEFAULT_BASE_RATE[gate.type];
      // Relative bands are judged at this base rate.
      const { holdBand, rollbackBand } = effectiveBands(gate, base);
      const effect = traffic.effects?.[gate.name] ?? 2 * rollbackBand;
      const target = gate.worseWhen === "higher" ? base + effect / 100 : base - effect / 100;
      if (!(target > 0 && target < 1) || effect <= 0) continue;
      const size = requiredCanaryRequests({
        baselineRate: base,
        canaryRate: target,
        canaryShare: share,
        // The sequential test's share: the engine gives every step a maxHold, so the gate keeps
        // the rest of its alpha for the final look there (gate.ts).
        alpha: sequentialAlpha(alpha, true),
        rollbackBand,
        prior: policy.prior ?? "band",
        ...(traffic.power !== undefined ? { power: traffic.power } : {}),
      });
      // An identical canary's observed difference is noise of this size at the end of the hold;
      // when it often exceeds the hold band, good releases hold past their step.
      const se = 100 * Math.sqrt(base * (1 - base) * (1 / inHold + share / ((1 - share) * inHold)));
      const spuriousHold = se > 0 ? normalSf(holdBand / se) : 0;
      if (spuriousHold > 0.2) {
        warnings.push({
          path: paths.hold,
          message: `${lead}; at a ${fmtRate(base)} base rate the ${gate.name} difference has a standard error of ~${se.toPrecision(2)} points, so an identical canary still looks worse than the hold band ${Number(holdBand.toPrecision(3))} ~${Math.round(spuriousHold * 100)} % of the time at the end of the hold: lengthen the hold or widen holdBand`,
        });
      }
      row.requestsNeeded = size.requests;
      row.medianRequestsNeeded = size.medianRequests;
      row.minutesNeeded = size.requests / perMinute;
      row.baselineRate = base;
      row.canaryRate = target;
      if (inHold < size.requests) {
        warnings.push({
          path: paths.hold,
          message: `${lead}; the ${gate.name} gate needs ~${fmtInt(size.requests)} to detect ${fmtRate(base)} -> ${fmtRate(target)} (${Math.round((traffic.power ?? 0.8) * 100)} % of the time; ~${fmtMin(size.requests / perMinute)} at this traffic)`,
        });
      }
    }
  }
  return { rows, warnings };
}

/**
 * Warnings for a resolved policy at an expected traffic level: steps whose hold cannot gather the
 * evidence their gates need. Used by `rollgate plan-power` and `rollgate validate --rps`.
 */
export function checkPolicyPower(policy: RolloutPolicy, traffic: TrafficAssumptions): PowerWarning[] {
  return planPower(policy, traffic).warnings;
}

function fmtInt(x: number): string {
  if (!Number.isFinite(x)) return "an unbounded number of";
  const rounded = x >= 1000 ? Math.round(x / 100) * 100 : x >= 100 ? Math.round(x / 10) * 10 : Math.round(x);
  return rounded.toLocaleString("en-US");
}
function fmtMin(minutes: number): string {
  if (!Number.isFinite(minutes)) return "forever";
  if (minutes >= 120) return `${(minutes / 60).toFixed(1).replace(/\.0$/, "")}h`;
  return `${Math.ceil(minutes)}m`;
}
function fmtRate(rate: number): string {
  const p = rate * 100;
  return `${Number(p.toPrecision(2))} %`;
}
