/**
 * Special functions and the classical (fixed-horizon) tests. Special functions come from
 * @stdlib (gammaln, betainc, erfc, normal quantile), not hand-rolled approximations; every
 * function here is cross-checked against SciPy in test/analysis.stats.test.ts.
 */
import betainc from "@stdlib/math-base-special-betainc";
import erfc from "@stdlib/math-base-special-erfc";
import gammaln from "@stdlib/math-base-special-gammaln";
import normalQuantileStd from "@stdlib/stats-base-dists-normal-quantile";

/** log C(n, k) via log-gamma; exact enough for any n a minute of traffic produces. */
export function logChoose(n: number, k: number): number {
  return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1);
}

/** log P(X = k) for X ~ Binomial(n, p); -Infinity outside the support. Matches scipy.stats.binom.logpmf. */
export function binomialLogPmf(k: number, n: number, p: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || k > n || !(p >= 0 && p <= 1)) return -Infinity;
  if (p === 0) return k === 0 ? 0 : -Infinity;
  if (p === 1) return k === n ? 0 : -Infinity;
  // log1p keeps precision when p is tiny (rare events are the whole point).
  return logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/**
 * P(X >= k) for X ~ Binomial(n, p), computed as the regularized incomplete beta I_p(k, n-k+1):
 * unlike 1 - cdf(k-1) it keeps its precision deep in the tail. Matches scipy.stats.binom.sf(k-1, n, p).
 */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return betainc(p, k, n - k + 1, true, false);
}

/**
 * The binomial upper tail continued to real k and n: I_p(k, n - k + 1), which equals
 * P(X >= k) for integers. Used for counts divided by a dispersion factor (the Rao-Scott
 * correction of the final look, gate.ts). 1 for k <= 0, 0 for k > n. Matches
 * scipy.special.betainc(k, n - k + 1, p).
 */
export function binomialUpperTailReal(k: number, n: number, p: number): number {
  if (!(k > 0)) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return betainc(p, k, n - k + 1, true, false);
}

/** Standard normal upper tail P(Z > z), via erfc (no cancellation for large z). Matches scipy.stats.norm.sf. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Standard normal quantile. Matches scipy.stats.norm.ppf. */
export function normalQuantile(p: number): number {
  return normalQuantileStd(p, 0, 1);
}

/** Counts of one side over some window. */
export interface CountTotals {
  total: number;
  events: number;
}

/**
 * One-sided pooled two-proportion z-test: p-value of "canary rate > baseline rate" (or "<" when
 * worseWhen is "lower"). Fixed-horizon: valid for one look only. Returns 1 when either side has
 * no trials or nothing happened on either side (no evidence of a difference).
 */
export function twoProportionZTest(canary: CountTotals, baseline: CountTotals, worseWhen: "higher" | "lower" = "higher"): number {
  const n1 = canary.total;
  const n2 = baseline.total;
  if (!(n1 > 0 && n2 > 0)) return 1;
  const p1 = canary.events / n1;
  const p2 = baseline.events / n2;
  const pooled = (canary.events + baseline.events) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(variance > 0)) return 1;
  const z = (p1 - p2) / Math.sqrt(variance);
  return normalSf(worseWhen === "higher" ? z : -z);
}

/**
 * One-sided exact conditional binomial test: given n = canary events + baseline events and the
 * canary's traffic share rho, the canary's events are Binomial(n, rho) when the rates are equal.
 * Returns P(X >= x) (or P(X <= x) when worseWhen is "lower"). Fixed-horizon: one look only.
 * Matches scipy.stats.binomtest(x, n, rho, alternative="greater"/"less").pvalue.
 */
export function exactBinomialTest(canary: CountTotals, baseline: CountTotals, worseWhen: "higher" | "lower" = "higher"): number {
  const all = canary.total + baseline.total;
  if (!(canary.total > 0 && baseline.total > 0)) return 1;
  const rho = canary.total / all;
  const x = canary.events;
  const n = canary.events + baseline.events;
  if (n === 0) return 1;
  // P(X <= x) under rho equals P(n - X >= n - x) under 1 - rho.
  return worseWhen === "higher" ? binomialUpperTail(x, n, rho) : binomialUpperTail(n - x, n, 1 - rho);
}

/** Result of a one-sided Mann-Whitney U test. */
export interface MannWhitneyResult {
  /** U statistic of the first sample (number of pairs where x beats y, ties count half). */
  u: number;
  pValue: number;
  method: "exact" | "asymptotic";
}

/** Above this n*m (or with ties) the normal approximation is used instead of the exact distribution. */
export const MWU_EXACT_MAX_PRODUCT = 2500;

/**
 * One-sided Mann-Whitney U test of "x tends to be greater than y". Exact null distribution when
 * there are no ties and n*m <= MWU_EXACT_MAX_PRODUCT, otherwise the normal approximation with
 * tie correction and continuity correction. Matches scipy.stats.mannwhitneyu(x, y,
 * alternative="greater", method=<same method>).
 */
export function mannWhitneyGreater(x: ReadonlyArray<number>, y: ReadonlyArray<number>): MannWhitneyResult {
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) return { u: 0, pValue: 1, method: "exact" };
  // Midranks of the pooled sample; the tie groups feed the variance correction.
  const pooled: Array<{ v: number; fromX: boolean }> = [];
  for (const v of x) pooled.push({ v, fromX: true });
  for (const v of y) pooled.push({ v, fromX: false });
  pooled.sort((a, b) => a.v - b.v);
  let rankSumX = 0;
  let tieTerm = 0;
  let ties = false;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && pooled[j + 1]!.v === pooled[i]!.v) j++;
    const t = j - i + 1;
    if (t > 1) {
      ties = true;
      tieTerm += t * t * t - t;
    }
    const midrank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (pooled[k]!.fromX) rankSumX += midrank;
    i = j + 1;
  }
  const u = rankSumX - (n * (n + 1)) / 2;
  if (!ties && n * m <= MWU_EXACT_MAX_PRODUCT) {
    return { u, pValue: exactUUpperTail(u, n, m), method: "exact" };
  }
  const mean = (n * m) / 2;
  const total = n + m;
  const variance = ((n * m) / 12) * (total + 1 - tieTerm / (total * (total - 1)));
  if (!(variance > 0)) return { u, pValue: 1, method: "asymptotic" };
  // Continuity correction as SciPy applies it for alternative="greater".
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, pValue: normalSf(z), method: "asymptotic" };
}

/**
 * P(U >= u) under H0 without ties. The counts of U = 0..nm are the coefficients of the Gaussian
 * binomial [n+m choose n]_q = prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i). Only the low end is built
 * (the distribution is symmetric): low coefficients come out of the recurrence as exact small
 * integers, so deep tails keep their precision, and the work is O(n * k) for the k needed.
 */
function exactUUpperTail(u: number, n: number, m: number): number {
  const max = n * m;
  const upper = u > max / 2;
  // P(U >= u) = P(U <= max - u) when u is in the upper half; otherwise 1 - P(U <= u - 1).
  const last = upper ? max - u : u - 1;
  if (last < 0) return upper ? 0 : 1;
  const small = Math.min(n, m);
  const large = Math.max(n, m);
  const c = new Float64Array(last + 1);
  c[0] = 1;
  for (let i = 1; i <= small; i++) {
    const shift = large + i;
    for (let k = last; k >= shift; k--) c[k]! -= c[k - shift]!;
    for (let k = i; k <= last; k++) c[k]! += c[k - i]!;
  }
  let low = 0;
  for (let k = 0; k <= last; k++) low += c[k]!;
  const share = low / Math.exp(logChoose(n + m, n));
  return Math.min(1, Math.max(0, upper ? share : 1 - share));
}
