/**
 * One minute of ALB traffic for the two target groups, shaped like the CloudWatch metrics the
 * controller reads (AWS/ApplicationELB RequestCount, HTTPCode_Target_5XX_Count,
 * TargetResponseTime per target group). The demo publishes these to CloudWatch; the simulator
 * feeds them to the engine.
 *
 * Model: requests arrive as a Poisson process whose rate swings with the time of day; an optional
 * per-minute gamma factor shared by both target groups makes the counts negative binomial
 * (overdispersed, as real traffic is). Each request goes to the canary with the listener's weight
 * share, so the two groups' counts are independent Poisson draws given the rate. Errors are
 * binomial given the requests; latencies are log-normal per request, so a minute's percentile is
 * the matching order statistic of n log-normal draws (drawn exactly through a beta variate).
 */
import erfc from "@stdlib/math-base-special-erfc";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";
import { Rng } from "./random.js";

/** Log-normal latency of one target group: median and log-space spread. */
export interface LatencyModel {
  /** Median response time in ms. */
  medianMs: number;
  /** Standard deviation of ln(latency). 0.5 puts p99 near 3.2x the median. */
  sigma: number;
}

export interface TrafficMinuteInput {
  /** Mean requests per second over the minute, both target groups together. */
  rps: number;
  /** Share of requests the canary target group receives (its weight over the weight total). */
  canaryShare: number;
  /** Error probability per request on each side this minute (incidents already added). */
  baselineErrorRate: number;
  canaryErrorRate: number;
  baselineLatency?: LatencyModel;
  canaryLatency?: LatencyModel;
  /**
   * Gamma shape of a per-minute rate factor shared by both groups: the counts become negative
   * binomial with variance mean + mean^2/k. Omit (or Infinity) for plain Poisson.
   */
  overdispersion?: number;
  /** Percentiles of TargetResponseTime to report (default [50, 90, 99]). */
  percentiles?: readonly number[];
  /** Latency thresholds (ms) whose exceedances are counted (slow requests), for threshold gates. */
  thresholdsMs?: readonly number[];
  /**
   * Mean size of error clusters (a client's retries on a sticky target group, a bad host): errors
   * come as clusters of geometric size with this mean, each wholly on the side that served it,
   * at the same mean rate. 1 (or omitted) is independent errors.
   */
  meanBurst?: number;
}

/** One target group's minute. A group with no requests has no datapoints at all (see `hasData`). */
export interface TargetGroupMinute {
  /** False when the group served no request: CloudWatch then has no datapoint, not a zero. */
  hasData: boolean;
  /** AWS/ApplicationELB RequestCount (Sum). */
  requestCount: number;
  /** AWS/ApplicationELB HTTPCode_Target_5XX_Count (Sum). */
  http5xxCount: number;
  /** TargetResponseTime percentiles in ms, keyed "p50", "p99" ...; empty without data. */
  latencyMs: Record<string, number>;
  /** TargetResponseTime average in ms (NaN without data). */
  averageLatencyMs: number;
  /** Requests slower than each threshold of `thresholdsMs`, in the same order. */
  slowCounts: number[];
}

export interface TrafficMinute {
  canary: TargetGroupMinute;
  baseline: TargetGroupMinute;
}

export const DEFAULT_LATENCY: LatencyModel = { medianMs: 80, sigma: 0.5 };

/**
 * Diurnal request rate: `rps` at the daily mean, swinging by +/- `amplitude` over a 24 h sine.
 * `dayFraction` is the time of day (0 = midnight, 0.5 = noon); the peak sits at 15:00.
 */
export function diurnalRps(rps: number, amplitude: number, dayFraction: number): number {
  return rps * (1 + amplitude * Math.sin(2 * Math.PI * (dayFraction - 0.375)));
}

/** Share of requests above `thresholdMs` under a log-normal latency. */
export function slowShare(latency: LatencyModel, thresholdMs: number): number {
  const z = (Math.log(thresholdMs) - Math.log(latency.medianMs)) / latency.sigma;
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * The sample `q`-th percentile of `n` log-normal response times: the ceil(q n)-th order statistic,
 * whose uniform image is Beta(k, n - k + 1).
 */
export function samplePercentile(rng: Rng, latency: LatencyModel, n: number, q: number): number {
  const k = Math.min(n, Math.max(1, Math.ceil((q / 100) * n)));
  const u = n === 1 ? rng.next() : rng.beta(k, n - k + 1);
  const z = normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, u)), 0, 1);
  return latency.medianMs * Math.exp(latency.sigma * z);
}

/** Errors of n requests at rate p in clusters of geometric size with mean b (binomial for b <= 1). */
export function clusteredErrors(rng: Rng, n: number, p: number, b: number): number {
  if (!(b > 1)) return rng.binomial(n, p);
  const clusters = rng.binomial(n, Math.min(1, p / b));
  if (clusters === 0) return 0;
  // A sum of k geometric sizes on 1, 2, ... is k plus a negative binomial: a gamma-Poisson draw.
  const extra = rng.poisson(rng.gamma(clusters) * (b - 1));
  return Math.min(n, clusters + extra);
}

function sampleGroup(
  rng: Rng,
  n: number,
  errorRate: number,
  latency: LatencyModel,
  percentiles: readonly number[],
  thresholds: readonly number[],
  meanBurst = 1,
): TargetGroupMinute {
  const slowCounts = thresholds.map((t) => (n > 0 ? rng.binomial(n, slowShare(latency, t)) : 0));
  if (n === 0) return { hasData: false, requestCount: 0, http5xxCount: 0, latencyMs: {}, averageLatencyMs: Number.NaN, slowCounts };
  const latencyMs: Record<string, number> = {};
  let previous = 0;
  for (const q of percentiles) {
    // Independent order-statistic draws could cross for tiny n; keep the percentiles monotone.
    previous = Math.max(previous, samplePercentile(rng, latency, n, q));
    latencyMs[`p${q}`] = previous;
  }
  const mean = latency.medianMs * Math.exp((latency.sigma * latency.sigma) / 2);
  const sd = mean * Math.sqrt(Math.exp(latency.sigma * latency.sigma) - 1);
  const averageLatencyMs = Math.max(0, mean + (sd / Math.sqrt(n)) * rng.normal());
  return { hasData: true, requestCount: n, http5xxCount: clusteredErrors(rng, n, errorRate, meanBurst), latencyMs, averageLatencyMs, slowCounts };
}

/**
 * One minute of traffic for both target groups. Pass an Rng (or a seed) to make it reproducible.
 *
 * @example
 *   const m = trafficMinute({ rps: 100, canaryShare: 0.05, baselineErrorRate: 0.001, canaryErrorRate: 0.006 }, 42);
 *   m.canary.requestCount; // ~300
 */
export function trafficMinute(input: TrafficMinuteInput, rngOrSeed: Rng | number = 1): TrafficMinute {
  const rng = typeof rngOrSeed === "number" ? new Rng(rngOrSeed) : rngOrSeed;
  if (!(input.rps >= 0)) throw new RangeError(`trafficMinute: rps must be 0 or more (got ${input.rps})`);
  if (!(input.canaryShare >= 0 && input.canaryShare <= 1)) {
    throw new RangeError(`trafficMinute: canaryShare must be between 0 and 1 (got ${input.canaryShare}); it is canary weight / weight total`);
  }
  for (const field of ["baselineErrorRate", "canaryErrorRate"] as const) {
    const v = input[field];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`trafficMinute: ${field} must be a fraction between 0 and 1 (got ${v}); 0.1 % is 0.001`);
  }
  const k = input.overdispersion ?? Infinity;
  const factor = Number.isFinite(k) ? rng.gamma(k) / k : 1;
  const mean = input.rps * 60 * factor;
  const nCanary = rng.poisson(mean * input.canaryShare);
  const nBaseline = rng.poisson(mean * (1 - input.canaryShare));
  const percentiles = input.percentiles ?? [50, 90, 99];
  const thresholds = input.thresholdsMs ?? [];
  return {
    canary: sampleGroup(rng, nCanary, input.canaryErrorRate, input.canaryLatency ?? DEFAULT_LATENCY, percentiles, thresholds, input.meanBurst),
    baseline: sampleGroup(rng, nBaseline, input.baselineErrorRate, input.baselineLatency ?? DEFAULT_LATENCY, percentiles, thresholds, input.meanBurst),
  };
}
