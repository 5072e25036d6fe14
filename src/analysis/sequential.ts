/**
 * The anytime-valid sequential test for count metrics (errors, slow requests, custom counts).
 *
 * Each minute, condition on the events of both sides, n = x + y. With rho = canary requests /
 * all requests that minute, "no difference" makes the canary's events x ~ Binomial(n, rho); a
 * canary whose rate is r times the baseline's makes them Binomial(n, rho r / (rho r + 1 - rho)).
 * The minute's log likelihood ratio simplifies to
 *
 *     x log r - n log(1 + rho (r - 1))
 *
 * Summed over minutes it is a test martingale for every fixed r; a mixture over a grid of r is one
 * too, so by Ville's inequality P(sup_t E_t >= 1/alpha) <= alpha under "no difference", however
 * often it is looked at. Load swings and incidents that hit both groups cancel because only the
 * split of events between the groups carries evidence.
 * Refs: Lindon, Sanden & Shirikian (KDD 2022); Lindon & Malek (NeurIPS 2022).
 *
 * Two priors over the grid:
 *
 * - "wide": uniform weights 1/K. Every ratio from 1.05x to 1000x costs the same log K nats.
 * - "band" (given a rollback band): weights centred on the ratio at which the canary would be
 *   worse by exactly the band, r_b = 1 + band / baseline rate. Ratios far below r_b are effects the
 *   band would never roll back, and ratios far above it are caught within a minute or two whatever
 *   their weight, so the prior's mass goes where it buys time. The baseline rate is estimated as
 *   the pooled event rate of both sides so far, this minute included: the test conditions on each
 *   minute's total events and requests, so that estimate is fixed before the one thing the test
 *   treats as random, the split of the minute's events between the sides. The e-process is the
 *   product of per-minute factors
 *
 *       F_t = sum_k pi_t(k) L_{t-1}(k) l_t(k) / sum_k pi_t(k) L_{t-1}(k)
 *
 *   (L the likelihood ratio so far, l the minute's): a convex combination, with weights fixed
 *   before the split, of factors with mean 1 under "no difference", so the product is a test
 *   martingale and Ville's inequality holds as before. With a fixed pi it telescopes to the plain
 *   mixture. A worse canary pulls the pooled rate away from the baseline's (up for errors, down
 *   for a conversion), which moves the peak a little off r_b: it costs some speed, never validity.
 *   The pooled rate counts every minute with traffic, minutes without events too.
 *
 * Clustered errors (dispersion "estimate", the default). Errors that come in clusters landing on
 * one side (a client's retries on a sticky target group, a bad host) break the binomial split.
 * Each minute's log likelihood ratio at grid point k is therefore tempered by a dispersion phi_t
 * estimated from the totals of the minutes so far, this one included (dispersion.ts; predictable,
 * since the test conditions on totals), with a margin that grows with the point's per-event log
 * factor (temperAt), and capped at MINUTE_LOG_CAP nats. Tempering by phi at least the size-biased
 * mean cluster size keeps each factor's mean at or below 1 to second order (the margin covers the
 * higher orders for geometric clusters, scripts/dispersion-margin.py); the cap only lowers factors,
 * so it cannot break the supermartingale, and it bounds what one minute can do while the estimate
 * is young. Both only weaken the test: with independent errors it stays valid, and slower.
 */

import { DispersionEstimator } from "./dispersion.js";

/** A grid of rate ratios with its logs precomputed (the inner loop only adds and calls log1p). */
export interface RatioGrid {
  /** Rate ratios r > 1 (canary rate / baseline rate) the mixture puts weight on. */
  readonly ratios: Float64Array;
  /** log r for worseWhen "higher", and -log r for "lower" (the grid mirrored to 1/r). */
  readonly logHigher: Float64Array;
  readonly logLower: Float64Array;
  /** r - 1 and 1/r - 1. */
  readonly minusOneHigher: Float64Array;
  readonly minusOneLower: Float64Array;
  /** log of the mixture weight of each point (uniform: -log K). */
  readonly logWeight: number;
  readonly size: number;
}

export interface RatioGridOptions {
  /** Smallest ratio. @default 1.05 */
  min?: number;
  /** Largest ratio. @default 1000 */
  max?: number;
  /** Number of geometrically spaced points. @default 40 */
  points?: number;
}

/**
 * Geometric grid of rate ratios. The defaults span a 5 % relative increase (custom metrics with
 * large base rates) to a 1000-fold one (0.01 % -> 10 % errors); neighbours are ~19 % apart, so
 * the best grid point is never far from the true ratio, and the price of mixing is log K nats.
 */
export function makeRatioGrid(options: RatioGridOptions = {}): RatioGrid {
  const min = options.min ?? 1.05;
  const max = options.max ?? 1000;
  const points = options.points ?? 40;
  if (!(min > 1) || !(max >= min) || !Number.isInteger(points) || points < 1) {
    throw new RangeError(`makeRatioGrid: need 1 < min <= max and an integer points >= 1 (got min ${min}, max ${max}, points ${points})`);
  }
  const ratios = new Float64Array(points);
  const logHigher = new Float64Array(points);
  const logLower = new Float64Array(points);
  const minusOneHigher = new Float64Array(points);
  const minusOneLower = new Float64Array(points);
  const step = points === 1 ? 0 : Math.log(max / min) / (points - 1);
  for (let k = 0; k < points; k++) {
    const logR = Math.log(min) + k * step;
    const r = Math.exp(logR);
    ratios[k] = r;
    logHigher[k] = logR;
    logLower[k] = -logR;
    minusOneHigher[k] = r - 1;
    minusOneLower[k] = 1 / r - 1;
  }
  return { ratios, logHigher, logLower, minusOneHigher, minusOneLower, logWeight: -Math.log(points), size: points };
}

export const DEFAULT_GRID: RatioGrid = makeRatioGrid();

export type RegressionDirection = "higher" | "lower";

/** How the mixture spreads its weight over the grid (see the header). */
export type MixturePrior = "band" | "wide";


/**
 * A relative band's floor (holdBandMin / rollbackBandMin, in points) never exceeds this many
 * times the baseline rate: a floor fit for a 0.1 % base (0.25 points) would otherwise exceed the
 * whole of a 10x regression at 0.01 % (+0.09 points) and let it through. With 5, a regression
 * to 6x the base rate always clears the floor; at 0.1 % and above the floors are unchanged.
 */
export const FLOOR_RATE_MULTIPLE = 5;

/** A relative band in force (a fraction): max(min(floor, FLOOR_RATE_MULTIPLE p), share p). */
export function relativeBandAt(floor: number, share: number, rate: number): number {
  const p = Number.isFinite(rate) && rate > 0 ? rate : 0;
  return Math.max(Math.min(floor, FLOOR_RATE_MULTIPLE * p), share * p);
}

/** Spread of the band prior in log ratio (e-folds): above r_b, and below it. */
export const BAND_PRIOR_SPREAD_ABOVE = 1.2;
export const BAND_PRIOR_SPREAD_BELOW = 0.5;

/**
 * The ratio (in the regression direction, so >= 1) at which a canary is worse than a baseline
 * at `baselineRate` by exactly `band` (both fractions): r_b = 1 + band / p for "higher", and
 * p / (p - band) for "lower" (Infinity when the band is at or beyond the baseline rate itself).
 */
export function bandRatio(direction: RegressionDirection, baselineRate: number, band: number): number {
  if (direction === "higher") return 1 + band / baselineRate;
  return band < baselineRate ? baselineRate / (baselineRate - band) : Infinity;
}

/**
 * Log weights of the band prior over the grid: a two-sided half-normal in log r, peaked at the
 * band ratio (clamped to the grid), normalised to sum to one.
 */
export function bandLogWeights(grid: RatioGrid, direction: RegressionDirection, baselineRate: number, band: number, out: Float64Array = new Float64Array(grid.size)): Float64Array {
  const rb = bandRatio(direction, baselineRate, band);
  const lo = grid.logHigher[0]!;
  const hi = grid.logHigher[grid.size - 1]!;
  const centre = Number.isFinite(rb) ? Math.min(hi, Math.max(lo, Math.log(rb))) : hi;
  const up = 2 * BAND_PRIOR_SPREAD_ABOVE * BAND_PRIOR_SPREAD_ABOVE;
  const down = 2 * BAND_PRIOR_SPREAD_BELOW * BAND_PRIOR_SPREAD_BELOW;
  let acc = 0;
  for (let k = 0; k < grid.size; k++) {
    const d = grid.logHigher[k]! - centre;
    const w = -(d * d) / (d >= 0 ? up : down);
    out[k] = w;
    acc += Math.exp(w);
  }
  const norm = Math.log(acc);
  for (let k = 0; k < grid.size; k++) out[k] = out[k]! - norm;
  return out;
}

/**
 * How the test treats clustered events (dispersion.ts): "estimate" tempers each minute's
 * likelihood ratio by the dispersion estimated from the minutes' totals so far; "none" assumes
 * independent events (valid only if they are).
 */
export type DispersionMode = "estimate" | "none";

export interface SequentialTestOptions {
  /** "band" needs `band`; without one (or with a band of 0) the prior is "wide". @default "wide" */
  prior?: MixturePrior;
  /** The gate's rollback band as a difference of rates (a fraction: 0.0025 for 0.25 points). */
  band?: number;
  /**
   * A relative rollback band (0.3 for "30%"): the band prior then centres on the band in force,
   * the larger of `band` (the floor, capped at FLOOR_RATE_MULTIPLE x the pooled rate) and this
   * share of the pooled rate (relativeBandAt), i.e. r_b >= 1 + share.
   */
  relativeBand?: number;
  /** @default "estimate" */
  dispersion?: DispersionMode;
  /** With dispersion "estimate": most log likelihood ratio one minute adds at a grid point. @default MINUTE_LOG_CAP */
  minuteCap?: number;
}

/**
 * Default per-minute cap on the log likelihood ratio of each grid point, in nats. Capping a
 * factor at e^c only lowers it, so the e-process stays a supermartingale; it bounds what one
 * minute of clustered errors can do while the dispersion estimate is still young (at
 * alpha 0.005 a rollback needs at least three minutes of evidence).
 */
export const MINUTE_LOG_CAP = 2;

/**
 * Incremental mixture e-process. Push minutes oldest first; read `logEValue` (now) and
 * `maxLogEValue` (running maximum since the first minute, which is what the gate compares
 * with log(1/alpha): Ville's inequality bounds the supremum, so rejecting on the running max is
 * as valid as rejecting on the current value, and a verdict does not flip back by chance).
 */
export class SequentialRateTest {
  readonly grid: RatioGrid;
  readonly direction: RegressionDirection;
  private readonly logR: Float64Array;
  private readonly rMinusOne: Float64Array;
  private readonly sums: Float64Array;
  private current = 0;
  /** Whether `current` reflects every pushed minute (it is computed lazily otherwise). */
  private fresh = true;
  private max = 0;
  /** Band prior only: the rollback band (fraction), the weights' buffer, and baseline totals so far. */
  readonly band: number;
  /** Relative rollback band (share of the pooled rate), 0 when absolute. */
  readonly relativeBand: number;
  private readonly logPrior: Float64Array | null;
  private readonly scratch: Float64Array | null;
  private pooledEvents = 0;
  private pooledTotal = 0;
  /** Minutes that carried evidence (traffic on both sides and at least one event). */
  informativeMinutes = 0;
  /** Minutes skipped because the counts were impossible (negative, non-finite, events > total). */
  invalidMinutes = 0;
  /** Minutes added under the band prior. */
  bandMinutes = 0;
  /** Dispersion estimate from the minutes' totals (null with dispersion "none"). */
  readonly dispersion: DispersionEstimator | null;
  /** The tempering applied to the newest minute (1 = none). */
  lastPhi = 1;
  /** Most log evidence one minute may add at any grid point (Infinity with dispersion "none"). */
  readonly minuteCap: number;

  constructor(direction: RegressionDirection = "higher", grid: RatioGrid = DEFAULT_GRID, options: SequentialTestOptions = {}) {
    this.grid = grid;
    this.direction = direction;
    this.logR = direction === "higher" ? grid.logHigher : grid.logLower;
    this.rMinusOne = direction === "higher" ? grid.minusOneHigher : grid.minusOneLower;
    this.sums = new Float64Array(grid.size);
    const band = options.band ?? 0;
    if (!(Number.isFinite(band) && band >= 0 && band < 1)) throw new RangeError(`SequentialRateTest: band must be a fraction in [0, 1) (got ${band})`);
    this.band = band;
    const relative = options.relativeBand ?? 0;
    if (!(Number.isFinite(relative) && relative >= 0)) throw new RangeError(`SequentialRateTest: relativeBand must be a share of the rate, 0 or more (got ${relative})`);
    this.relativeBand = relative;
    this.logPrior = options.prior === "band" && (band > 0 || relative > 0) ? new Float64Array(grid.size) : null;
    this.scratch = this.logPrior ? new Float64Array(grid.size) : null;
    const mode = options.dispersion ?? "estimate";
    if (mode !== "estimate" && mode !== "none") throw new RangeError(`SequentialRateTest: dispersion must be "estimate" or "none" (got ${String(mode)})`);
    this.dispersion = mode === "estimate" ? new DispersionEstimator() : null;
    this.minuteCap = mode === "estimate" ? (options.minuteCap ?? MINUTE_LOG_CAP) : Infinity;
    if (!(this.minuteCap > 0)) throw new RangeError(`SequentialRateTest: minuteCap must be more than 0 nats (got ${this.minuteCap})`);
  }

  /** The options that rebuild this test (prior, band, dispersion). */
  get options(): SequentialTestOptions {
    return { ...(this.logPrior ? { prior: "band" as const, band: this.band, ...(this.relativeBand > 0 ? { relativeBand: this.relativeBand } : {}) } : { prior: "wide" as const }), dispersion: this.dispersion ? "estimate" : "none", ...(this.dispersion ? { minuteCap: this.minuteCap } : {}) };
  }

  /** The prior the minutes are mixed with. */
  get prior(): MixturePrior {
    return this.logPrior ? "band" : "wide";
  }

  /** log of the mixture e-value after the minutes pushed so far (0 before any evidence). */
  get logEValue(): number {
    if (!this.fresh) {
      let top = -Infinity;
      for (let k = 0; k < this.sums.length; k++) if (this.sums[k]! > top) top = this.sums[k]!;
      this.current = this.mixture(top);
      this.fresh = true;
    }
    return this.current;
  }

  /** Running maximum of logEValue (0 at the start: E_0 = 1). */
  get maxLogEValue(): number {
    return this.max;
  }

  /** Log likelihood ratio accumulated at grid point k (for tests and diagnostics). */
  logLikelihoodRatioAt(k: number): number {
    return this.sums[k] ?? NaN;
  }

  /**
   * Add one minute. A minute with no traffic on one side carries no evidence (rho is 0 or 1 and
   * the ratio is exactly 1), and one with no events neither; both are skipped without cost.
   */
  push(canaryEvents: number, canaryTotal: number, baselineEvents: number, baselineTotal: number): void {
    if (!validCounts(canaryEvents, canaryTotal) || !validCounts(baselineEvents, baselineTotal)) {
      this.invalidMinutes++;
      return;
    }
    const n = canaryEvents + baselineEvents;
    // Totals of both sides, this minute included: the test conditions on every minute's total
    // events and requests, so anything built from them (the pooled rate, the dispersion) is
    // known "before" the split of this minute's events, which is all the martingale needs.
    // Every minute with traffic counts, those without events too (the pooled rate is the rate
    // over all minutes, as documented).
    if (canaryTotal + baselineTotal > 0) {
      this.pooledEvents += n;
      this.pooledTotal += canaryTotal + baselineTotal;
      this.dispersion?.observe(n, canaryTotal + baselineTotal);
    }
    if (canaryTotal === 0 || baselineTotal === 0 || n === 0) return;
    const rho = canaryTotal / (canaryTotal + baselineTotal);
    const excess = this.dispersion ? this.dispersion.phi - 1 : 0;
    this.lastPhi = 1 + excess;
    if (this.logPrior) {
      const pooled = this.pooledEvents / this.pooledTotal;
      const band = Math.min(0.999999, this.relativeBand > 0 ? relativeBandAt(this.band, this.relativeBand, pooled) : this.band);
      this.pushWeighted(canaryEvents, n, rho, excess, bandLogWeights(this.grid, this.direction, pooled, band, this.logPrior));
      return;
    }
    const sums = this.sums;
    const logR = this.logR;
    const rMinusOne = this.rMinusOne;
    const size = sums.length;
    const cap = this.minuteCap;
    let top = -Infinity;
    for (let k = 0; k < size; k++) {
      const lg = Math.log1p(rho * rMinusOne[k]!);
      const s = sums[k]! + Math.min(cap, temperAt(excess, logR[k]! - lg, lg) * (canaryEvents * logR[k]! - n * lg));
      sums[k] = s;
      if (s > top) top = s;
    }
    this.informativeMinutes++;
    // The mixture never exceeds its best component (log E <= max_k s_k), so the K exps of the
    // log-sum-exp are only needed when the running maximum might move; otherwise defer them.
    if (top > this.max) {
      this.current = this.mixture(top);
      this.fresh = true;
      if (this.current > this.max) this.max = this.current;
    } else this.fresh = false;
  }

  /**
   * One minute under predictable weights log pi (known before the minute): log E grows by
   * log sum_k pi_k e^{s_k + inc_k} - log sum_k pi_k e^{s_k}.
   */
  private pushWeighted(x: number, n: number, rho: number, excess: number, logPi: Float64Array): void {
    const before = this.current;
    const sums = this.sums;
    const size = sums.length;
    const logR = this.logR;
    const rMinusOne = this.rMinusOne;
    const inc = this.scratch!;
    const cap = this.minuteCap;
    let topOld = -Infinity;
    let topNew = -Infinity;
    for (let k = 0; k < size; k++) {
      const old = sums[k]! + logPi[k]!;
      const lg = Math.log1p(rho * rMinusOne[k]!);
      const step = Math.min(cap, temperAt(excess, logR[k]! - lg, lg) * (x * logR[k]! - n * lg));
      inc[k] = step;
      if (old > topOld) topOld = old;
      if (old + step > topNew) topNew = old + step;
    }
    let accOld = 0;
    let accNew = 0;
    for (let k = 0; k < size; k++) {
      const old = sums[k]! + logPi[k]!;
      accOld += Math.exp(old - topOld);
      accNew += Math.exp(old + inc[k]! - topNew);
      sums[k] = sums[k]! + inc[k]!;
    }
    this.current = before + (topNew + Math.log(accNew)) - (topOld + Math.log(accOld));
    this.fresh = true;
    this.informativeMinutes++;
    this.bandMinutes++;
    if (this.current > this.max) this.max = this.current;
  }

  /** log-sum-exp of the components plus the log weight, given their maximum. */
  private mixture(top: number): number {
    const sums = this.sums;
    let acc = 0;
    for (let k = 0; k < sums.length; k++) acc += Math.exp(sums[k]! - top);
    return this.grid.logWeight + top + Math.log(acc);
  }

  /** Copy the state (to branch a what-if without recomputing the history). */
  clone(): SequentialRateTest {
    const copy = new SequentialRateTest(this.direction, this.grid, this.options);
    if (this.dispersion) (copy as { dispersion: DispersionEstimator | null }).dispersion = this.dispersion.clone();
    copy.lastPhi = this.lastPhi;
    copy.sums.set(this.sums);
    copy.pooledEvents = this.pooledEvents;
    copy.pooledTotal = this.pooledTotal;
    copy.bandMinutes = this.bandMinutes;
    copy.current = this.current;
    copy.fresh = this.fresh;
    copy.max = this.max;
    copy.informativeMinutes = this.informativeMinutes;
    copy.invalidMinutes = this.invalidMinutes;
    return copy;
  }
}

/**
 * Margin on the dispersion for large per-event likelihood ratios (dispersion.ts): the tempered
 * factor of a cluster of B events, rho f_c^(B/phi) + (1 - rho) f_b^(B/phi), has mean at most 1
 * to second order when phi is the size-biased mean cluster size, but the higher orders grow
 * with log f (f_c = r / (1 + rho (r - 1)) for the canary's side, f_b = 1 / (1 + rho (r - 1))).
 * Solving for the phi that keeps the mean at 1 for geometric cluster sizes (means 2 to 20,
 * rho 0.01 to 0.5, r 1.1 to 1000; scripts/dispersion-margin.py) gives an excess over 1 that is
 * at most (1 + 0.4 log f) times the size-biased one.
 */
export const DISPERSION_MARGIN_SLOPE = 0.4;

/** 1 / phi_k for a grid point with per-event log factors logFc (canary side) and -logOneRho (baseline side). */
function temperAt(excess: number, logFc: number, logOneRho: number): number {
  if (excess <= 0) return 1;
  const logF = Math.max(logFc, -logOneRho, 0);
  return 1 / (1 + excess * (1 + DISPERSION_MARGIN_SLOPE * logF));
}

function validCounts(events: number, total: number): boolean {
  return Number.isFinite(events) && Number.isFinite(total) && events >= 0 && total >= 0 && events <= total;
}

/** Minute counts as the sequential test reads them. */
export interface MinuteCounts {
  canary: { events: number; total: number };
  baseline: { events: number; total: number };
}

/** log mixture e-value (final and running max) of a sequence of minutes, from scratch. */
export function mixtureLogEValue(
  minutes: ReadonlyArray<MinuteCounts>,
  direction: RegressionDirection = "higher",
  grid: RatioGrid = DEFAULT_GRID,
  options: SequentialTestOptions = {},
): { logEValue: number; maxLogEValue: number } {
  const test = new SequentialRateTest(direction, grid, options);
  for (const m of minutes) test.push(m.canary.events, m.canary.total, m.baseline.events, m.baseline.total);
  return { logEValue: test.logEValue, maxLogEValue: test.maxLogEValue };
}
