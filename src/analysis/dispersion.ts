/**
 * Overdispersion of error counts, estimated from the minutes' totals only.
 *
 * The sequential test (sequential.ts) treats every event as an independent draw of the side it
 * lands on. Real errors come in clusters: one client's retries on a sticky target group, a bad
 * host, a burst of connection resets. A cluster of B events lands wholly on one side, which
 * multiplies the variance of the split by the size-biased mean cluster size
 * phi = E[B^2] / E[B]. Left alone, a single burst on the canary looks like a regression.
 *
 * The same clusters inflate the variance of the total event count of a minute (both sides) by
 * the same phi: a compound Poisson count has variance phi times its mean. Totals are what the
 * test conditions on, so an estimate built from them (this minute's included) is fixed before
 * the one thing the test treats as random, the split of the minute's events between the sides:
 * tempering a minute's likelihood ratio by it keeps the e-process predictable.
 *
 * Estimator: consecutive minutes (s-1, s) form a pair. Given N = n_{s-1} + n_s events and
 * requests T_{s-1}, T_s, a constant rate makes n_s ~ Binomial(N, w) with w = T_s / (T_{s-1} + T_s)
 * for independent events, and phi times that variance for clustered ones. So
 *
 *     phi_hat = sum_pairs (n_s - N w)^2 / sum_pairs N w (1 - w)
 *
 * (a ratio of sums, so pairs with many events weigh more and a pair with one event is exact).
 * A shared incident starts and ends with a jump of the rate, which would look like an enormous
 * cluster; but a level shift at s leaves the next pair (s, s+1) quiet, while a burst at s makes
 * both pairs loud. A pair is therefore kept only once the following minute has confirmed it is
 * not a level shift (next pair's z^2 below z^2 / LEVEL_SHIFT_RATIO while z^2 is above
 * LEVEL_SHIFT_MIN_Z2 x the current estimate); the newest pair counts provisionally.
 *
 * The estimate starts from a prior of 1 worth one pair and is never below 1 (tempering only ever
 * weakens the test). It is noisy while there are few pairs, and a single cluster can be large;
 * the test therefore also caps what one minute may add (sequential.ts, MINUTE_LOG_CAP).
 */

/** Prior dispersion (independent events), worth DISPERSION_PRIOR_PAIRS pairs. */
export const DISPERSION_PRIOR_PHI = 1;
/** A pair is a level shift when its z^2 is this many times the estimate and the next pair's is this many times smaller. */
export const LEVEL_SHIFT_MIN_Z2 = 9;
export const LEVEL_SHIFT_RATIO = 9;

interface Pair {
  /** (n_s - N w)^2 */
  num: number;
  /** N w (1 - w) */
  den: number;
}

/** Weight of the prior, in pairs. */
export const DISPERSION_PRIOR_PAIRS = 1;

export class DispersionEstimator {
  private num = 0;
  private den = 0;
  /** Sum of squared weights, for the effective number of pairs (sum v)^2 / sum v^2. */
  private den2 = 0;
  private prevEvents = -1;
  private prevTotal = 0;
  /** The newest pair, counted provisionally until the next minute confirms or drops it. */
  private pending: Pair | null = null;
  /** Pairs dropped as level shifts (incident edges), for diagnostics. */
  levelShifts = 0;
  /** Pairs kept. */
  pairs = 0;

  /**
   * The estimate, at least 1: the ratio of sums over the kept pairs and the newest one, shrunk
   * towards the prior by DISPERSION_PRIOR_PAIRS pairs against the effective number of pairs
   * (sum v)^2 / sum v^2.
   */
  get phi(): number {
    const p = this.pending;
    const num = this.num + (p ? p.num : 0);
    const den = this.den + (p ? p.den : 0);
    if (!(den > 0)) return DISPERSION_PRIOR_PHI;
    const pairs = (den * den) / (this.den2 + (p ? p.den * p.den : 0));
    return Math.max(1, (DISPERSION_PRIOR_PAIRS * DISPERSION_PRIOR_PHI + pairs * (num / den)) / (DISPERSION_PRIOR_PAIRS + pairs));
  }

  /** Add one minute's totals: events of both sides, requests of both sides. */
  observe(events: number, total: number): void {
    if (!(total > 0) || !(events >= 0)) return;
    if (this.prevEvents >= 0) {
      const n = events + this.prevEvents;
      const w = total / (total + this.prevTotal);
      const den = n * w * (1 - w);
      const d = events - n * w;
      const pair: Pair | null = den > 0 ? { num: d * d, den } : null;
      this.settle(pair);
      this.pending = pair;
    }
    this.prevEvents = events;
    this.prevTotal = total;
  }

  /** Decide the pending pair now that the next one (`next`, or a quiet pair when null) is known. */
  private settle(next: Pair | null): void {
    const p = this.pending;
    if (!p) return;
    const current = this.den > 0 ? Math.max(1, this.num / this.den) : 1;
    const z2 = p.num / p.den;
    const nextZ2 = next ? next.num / next.den : 0;
    if (z2 > LEVEL_SHIFT_MIN_Z2 * current && nextZ2 * LEVEL_SHIFT_RATIO < z2) {
      this.levelShifts++;
    } else {
      this.num += p.num;
      this.den += p.den;
      this.den2 += p.den * p.den;
      this.pairs++;
    }
    this.pending = null;
  }

  clone(): DispersionEstimator {
    const c = new DispersionEstimator();
    c.num = this.num;
    c.den = this.den;
    c.den2 = this.den2;
    c.prevEvents = this.prevEvents;
    c.prevTotal = this.prevTotal;
    c.pending = this.pending ? { ...this.pending } : null;
    c.levelShifts = this.levelShifts;
    c.pairs = this.pairs;
    return c;
  }
}

