/**
 * Argo Rollouts success/failure conditions and the metric queries behind them.
 *
 * The query decides, the conditions read. Every comparison gate renders one query that returns
 * ONE number, the gate's verdict value for the window:
 *
 * | value                | meaning                                                                 |
 * |----------------------|-------------------------------------------------------------------------|
 * | FAIL (1e9)           | a confident regression beyond the rollback band (see below): roll back   |
 * | a difference         | canary minus baseline over the window, with at least minSamples canary   |
 * |                      | trials, not confidently beyond the rollback band                         |
 * | TOO_FEW (-1e9)       | both sides have traffic, the canary has fewer than minSamples trials     |
 * | NO_DATA (-2e9)       | the canary has no traffic in the window (or the query found no series)   |
 * | NO_BASELINE (-2.5e9) | the canary has traffic, the baseline none (after a switch to 100 %)      |
 *
 * "Confident" is the engine's rule with a test Argo's query languages can compute: the canary's
 * share of the window's events, conditional on the total, is tested against its share of the
 * traffic with the Chernoff (KL) bound of the binomial tail, P <= exp(-E * KL(q || pi)), which
 * holds at ANY sample size (no normal approximation to fail on 1 error in 3 requests). A look
 * rejects when that bound is at most alphaPerLook = alpha / looks, the policy's per-rollout
 * false-rollback budget split over every measurement the rollout can take (Bonferroni), and the
 * difference is beyond the rollback band, as the engine requires both (src/analysis/gate.ts
 * countVerdict). So strong evidence fails below minSamples, as in the engine, and noise cannot
 * roll back a healthy canary more often than alpha (the union bound; overlapping windows make it
 * conservative). Percentile latency gates have no counts to test: they fail on the point
 * difference once minSamples are in (a warning says so).
 *
 * Argo evaluates the conditions with expr against `result` (utils/evaluate/evaluate.go
 * EvalCondition): CloudWatch hands over the MetricDataResults (exactly one query here has
 * ReturnData, Values newest first: metricproviders/cloudwatch/cloudwatch.go line 94), Prometheus
 * the vector's sample values as []float64 (metricproviders/prometheus/prometheus.go lines
 * 175-184). A measurement is Failed when failureCondition is true, Successful when only
 * successCondition is true, Inconclusive otherwise (evaluate.go lines 36-57). Indexing an empty
 * list is an evaluation error, so every condition starts with a length check that && and ||
 * short-circuit past. NaN compares false, so it is never a pass and never a fail unless missing
 * data rolls back, where NaN counts as no data on both providers.
 */
import { effectiveBands } from "../../src/analysis/gate.js";
import { FLOOR_RATE_MULTIPLE } from "../../src/analysis/sequential.js";
import type { ComparisonGate, LatencyGate } from "../../src/policy/types.js";

/** Verdict value of a confident regression. */
export const FAIL_VALUE = 1_000_000_000;
/** Verdict value when the canary has fewer than minSamples trials (and no confident regression). */
export const TOO_FEW_VALUE = -1_000_000_000;
/** Verdict value when the canary has no traffic in the window (or neither side has). */
export const NO_DATA_VALUE = -2_000_000_000;
/**
 * Verdict value when the canary has traffic and the baseline none: missing data everywhere,
 * except for the background guard of a Rollout with a bake step, where the stable takes no
 * traffic by design once all of it is on the new version (the bake's own verdict then compares
 * with the previous version's lookback).
 */
export const NO_BASELINE_VALUE = -2_500_000_000;
/** NO_BASELINE lies below this, NO_DATA above it. */
const NO_BASELINE_BELOW = -2_250_000_000;
/** Real differences (points or ms) live strictly between these. */
const REAL_CEILING = 1_000_000;
const REAL_FLOOR = -1_000_000;
const NO_DATA_BELOW = -1_500_000_000;

/** @deprecated the old name of TOO_FEW_VALUE, kept for callers of 0.x. */
export const CLOUDWATCH_NO_VERDICT = TOO_FEW_VALUE;

export type ProviderKind = "cloudWatch" | "prometheus";

/** The rendering parameters of one gate's query. */
export interface QueryParams {
  /** -ln(alphaPerLook): the Chernoff bound's threshold. */
  logThreshold: number;
}

/* ----------------------------------------------------------------------------------------------
 * Conditions
 * -------------------------------------------------------------------------------------------- */

function nonEmpty(kind: ProviderKind): string {
  return kind === "cloudWatch" ? "len(result) > 0 && len(result[0].Values) > 0" : "len(result) > 0";
}

/** The judged value: result[0].Values[0] (CloudWatch, newest point first) or result[0]. */
export function valueOf(kind: ProviderKind): string {
  return kind === "cloudWatch" ? "result[0].Values[0]" : "result[0]";
}

export interface MetricConditions {
  successCondition: string;
  failureCondition: string;
}

/**
 * Conditions of a step's verdict metric: pass with minSamples in and the difference within the
 * hold band; fail on a confident regression; everything else (hold band, too few samples, no
 * data, NaN) inconclusive, which the verdict metric's inconclusiveLimit absorbs until maxHold.
 * With onMissingData "rollback", no data (and NaN) fails instead; too few samples still holds.
 */
export function verdictConditions(gate: ComparisonGate, kind: ProviderKind): MetricConditions {
  const ne = nonEmpty(kind);
  const v = valueOf(kind);
  return {
    successCondition: `${ne} && ${v} > ${REAL_FLOOR} && ${v} <= ${num(gate.holdBand)}`,
    failureCondition: failure(gate, kind),
  };
}

/**
 * Condition of the background guard: only a confident regression (or, with onMissingData
 * "rollback", no data) fails it. There is no successCondition, so everything else counts as a
 * successful measurement: the guard only ever rolls back, it never promotes. With `bakeStep`
 * (the Rollout ends with a setWeight 100 bake) a baseline without traffic (NO_BASELINE) does not
 * fail it: during the bake the stable takes none by design, and the bake's verdict judges.
 */
export function guardCondition(gate: ComparisonGate, kind: ProviderKind, bakeStep = false): string {
  return failure(gate, kind, bakeStep);
}

/**
 * Condition of the bake's comparison (render.ts BakeTiming): the guard's, without the idle
 * baseline allowance, since the bake's window reaches the previous version's lookback.
 */
export function bakeCondition(gate: ComparisonGate, kind: ProviderKind): string {
  return failure(gate, kind, false);
}

/** Name of the bake's freshness metric of a gate. */
export const freshMetricName = (gate: string) => `${gate}-fresh`;

/**
 * Conditions of the bake's freshness metric, whose query returns the new version's trials over
 * the last few minutes: more than 0 is Successful; none (or no answer) is Inconclusive, or Failed
 * with onMissingData "rollback". NaN compares false: never a pass.
 */
export function freshConditions(gate: ComparisonGate, kind: ProviderKind): MetricConditions {
  const ne = nonEmpty(kind);
  const v = valueOf(kind);
  return {
    successCondition: `${ne} && ${v} > 0`,
    // Never empty: without a failureCondition Argo fails every measurement whose successCondition
    // is false (utils/evaluate/evaluate.go lines 40-42); "false" leaves them Inconclusive.
    failureCondition: gate.onMissingData === "rollback" ? `!(${ne}) || isNaN(${v}) || ${v} <= 0` : "false",
  };
}

/** What the freshness conditions say about the new version's trials (undefined: an empty result). */
export function freshPhase(gate: ComparisonGate, trials: number | undefined): MeasurementPhase {
  if (trials !== undefined && trials > 0) return "Successful";
  return gate.onMissingData === "rollback" ? "Failed" : "Inconclusive";
}

function failure(gate: ComparisonGate, kind: ProviderKind, idleBaselineOk = false): string {
  const ne = nonEmpty(kind);
  const v = valueOf(kind);
  if (gate.onMissingData !== "rollback") return `${ne} && ${v} > ${REAL_CEILING}`;
  const noData = idleBaselineOk ? `(${v} < ${NO_DATA_BELOW} && ${v} > ${NO_BASELINE_BELOW})` : `${v} < ${NO_DATA_BELOW}`;
  return `!(${ne}) || isNaN(${v}) || ${noData} || ${v} > ${REAL_CEILING}`;
}

export type MeasurementPhase = "Successful" | "Failed" | "Inconclusive";

/**
 * What the rendered conditions say about a verdict value, in TypeScript (the simulator's reading;
 * the tests check it against the real expr engine on the rendered strings). `undefined` is an
 * empty result.
 */
export function phaseOfValue(gate: ComparisonGate, value: number | undefined, role: "verdict" | "guard" | "bake", bakeStep = false): MeasurementPhase {
  const idle = role === "guard" && bakeStep && value !== undefined && value < NO_BASELINE_BELOW;
  const noData = value === undefined || Number.isNaN(value) || (value < NO_DATA_BELOW && !idle);
  const failed = gate.onMissingData === "rollback" ? noData || (value as number) > REAL_CEILING : !noData && (value as number) > REAL_CEILING;
  if (failed) return "Failed";
  if (role !== "verdict") return "Successful";
  return value !== undefined && value > REAL_FLOOR && value <= gate.holdBand ? "Successful" : "Inconclusive";
}

/* ----------------------------------------------------------------------------------------------
 * The verdict value, in TypeScript: what both queries compute, for the simulator and the tests.
 * -------------------------------------------------------------------------------------------- */

/** Window totals of one count gate: trials and events per side. */
export interface WindowCounts {
  canaryTotal: number;
  canaryEvents: number;
  baselineTotal: number;
  baselineEvents: number;
}

const EPS = 1e-9;
/** EPS as a plain decimal, for metric math and PromQL. */
const EPS_TEXT = "0.000000001";

/** E * KL(q || pi) of the canary's share of events (the Chernoff exponent). */
export function chernoffExponent(c: WindowCounts): number {
  const e = c.canaryEvents + c.baselineEvents;
  const pi = c.canaryTotal / (c.canaryTotal + c.baselineTotal + EPS);
  const expected = e * pi;
  return c.canaryEvents * Math.log((c.canaryEvents + EPS) / (expected + EPS)) + c.baselineEvents * Math.log((c.baselineEvents + EPS) / (e - expected + EPS));
}

/**
 * The bands in force over a window, in points: the engine's effectiveBands (src/analysis/gate.ts)
 * on the baseline's rate in the window. Absolute bands as they are; a relative band
 * (holdBandRelative / rollbackBandRelative, e.g. 0.3 for "30%") is
 * max(min(floor, FLOOR_RATE_MULTIPLE x rate), share x rate): the floor, except that it never
 * exceeds 5 times the rate (so a floor set for a 0.1 % base cannot hide a 10x regression at 0.01 %).
 */
export function windowBands(gate: ComparisonGate, baselineRate: number): { holdBand: number; rollbackBand: number } {
  return effectiveBands(gate, baselineRate);
}

/**
 * The verdict value of a count gate (errorRate, latency threshold, metric) over a window. With a
 * relative hold band the judged value is the difference less the band's excess over its floor
 * (difference - (holdBand in force - holdBand floor)), so the success condition's fixed
 * `<= holdBand` is the band in force: canary - baseline <= max(floor, share x baseline rate).
 */
export function countVerdictValue(gate: ComparisonGate, c: WindowCounts, p: QueryParams): number {
  if (c.canaryTotal <= 0) return NO_DATA_VALUE;
  if (c.baselineTotal <= 0) return NO_BASELINE_VALUE;
  const sign = gate.worseWhen === "higher" ? 1 : -1;
  const diff = sign * 100 * (c.canaryEvents / c.canaryTotal - c.baselineEvents / c.baselineTotal);
  const bands = windowBands(gate, c.baselineEvents / c.baselineTotal);
  const e = c.canaryEvents + c.baselineEvents;
  const expected = (e * c.canaryTotal) / (c.canaryTotal + c.baselineTotal + EPS);
  const worse = sign > 0 ? c.canaryEvents > expected : c.canaryEvents < expected;
  if (worse && chernoffExponent(c) >= p.logThreshold && diff > bands.rollbackBand) return FAIL_VALUE;
  if (c.canaryTotal < Math.max(1, gate.minSamples)) return TOO_FEW_VALUE;
  return diff - (bands.holdBand - gate.holdBand);
}

/** One minute of a percentile latency gate: the percentile (ms) and the request count per side. */
export interface PercentileMinute {
  canaryMs?: number;
  baselineMs?: number;
  canaryCount: number;
  baselineCount: number;
}

/**
 * The verdict value of a percentile latency gate: the mean over the window's minutes (with both
 * percentiles) of canary minus baseline, in ms; FAIL beyond the rollback band once minSamples
 * canary requests are in (no counts behind a percentile, so no test).
 */
export function percentileVerdictValue(gate: ComparisonGate, minutes: PercentileMinute[]): number {
  let cn = 0;
  let sn = 0;
  let dsum = 0;
  let dn = 0;
  for (const m of minutes) {
    cn += m.canaryCount;
    sn += m.baselineCount;
    if (m.canaryMs !== undefined && m.baselineMs !== undefined) {
      dsum += m.canaryMs - m.baselineMs;
      dn++;
    }
  }
  if (cn <= 0) return NO_DATA_VALUE;
  if (sn <= 0) return NO_BASELINE_VALUE;
  if (dn <= 0) return NO_DATA_VALUE;
  if (cn < Math.max(1, gate.minSamples)) return TOO_FEW_VALUE;
  const diff = dsum / dn;
  return diff > gate.rollbackBand ? FAIL_VALUE : diff;
}

/* ----------------------------------------------------------------------------------------------
 * CloudWatch: GetMetricData over the canary and stable target groups.
 * -------------------------------------------------------------------------------------------- */

/** Template args every rendered template declares (so any of them can be combined in one step). */
export const ARG = {
  window: "window",
  canaryHash: "canary-hash",
  stableHash: "stable-hash",
  loadBalancer: "load-balancer",
  canaryTargetGroup: "canary-target-group",
  stableTargetGroup: "stable-target-group",
} as const;

const arg = (name: string) => `{{args.${name}}}`;

export interface CloudWatchQuery {
  id: string;
  expression?: string;
  metricStat?: {
    metric: { namespace: string; metricName: string; dimensions: Array<{ name: string; value: string }> };
    period: number;
    stat: string;
  };
  returnData: boolean;
}

type Side = "canary" | "stable";
const SIDES: Side[] = ["canary", "stable"];
const p = (side: Side) => (side === "canary" ? "c" : "s");

function albStat(id: string, side: Side, metricName: string, stat: string): CloudWatchQuery {
  return {
    id,
    metricStat: {
      metric: {
        namespace: "AWS/ApplicationELB",
        metricName,
        dimensions: [
          { name: "LoadBalancer", value: arg(ARG.loadBalancer) },
          { name: "TargetGroup", value: arg(side === "canary" ? ARG.canaryTargetGroup : ARG.stableTargetGroup) },
        ],
      },
      period: 60,
      stat,
    },
    returnData: false,
  };
}

const expr = (id: string, expression: string, returnData = false): CloudWatchQuery => ({ id, expression, returnData });

/**
 * The count-gate verdict over cumulative sums cn/ce/sn/se (RUNNING_SUM makes the newest point,
 * Values[0], the window's total). No expression divides by zero or takes the log of zero: the
 * denominators and logs carry the same epsilon as countVerdictValue.
 */
function cwCountVerdict(gate: ComparisonGate, q: QueryParams): CloudWatchQuery[] {
  const sign = gate.worseWhen === "higher" ? 1 : -1;
  const out: CloudWatchQuery[] = [
    expr("cd", "IF(cn > 0, cn, 1)"),
    expr("sd", "IF(sn > 0, sn, 1)"),
    expr("ev", "ce + se"),
    expr("ex", `ev * cn / (cn + sn + ${EPS_TEXT})`),
    expr("kl", `ce * LOG((ce + ${EPS_TEXT}) / (ex + ${EPS_TEXT})) + se * LOG((se + ${EPS_TEXT}) / (ev - ex + ${EPS_TEXT}))`),
    expr("diff", `${sign > 0 ? "" : "-"}100 * (ce / cd - se / sd)`),
  ];
  // Relative bands (effectiveBands): max(min(floor, 5 x rate), share x rate) on the baseline's rate
  // in the window, in points.
  const relative = (id: string, floor: number, share: number | undefined): string => {
    if (share === undefined) return num(floor);
    const cap = `${num(FLOOR_RATE_MULTIPLE * 100)} * se / sd`;
    out.push(expr(`${id}f`, `IF(${cap} < ${num(floor)}, ${cap}, ${num(floor)})`));
    out.push(expr(id, `IF(${num(share * 100)} * se / sd > ${id}f, ${num(share * 100)} * se / sd, ${id}f)`));
    return id;
  };
  const rollback = relative("rb", gate.rollbackBand, gate.rollbackBandRelative);
  const judged = gate.holdBandRelative === undefined ? "diff" : `diff - (${relative("hb", gate.holdBand, gate.holdBandRelative)} - ${num(gate.holdBand)})`;
  const worse = sign > 0 ? "ce > ex" : "ce < ex";
  out.push(
    expr(
      "verdict",
      `IF(cn <= 0, ${NO_DATA_VALUE}, IF(sn <= 0, ${NO_BASELINE_VALUE}, IF(${worse} AND kl >= ${num(q.logThreshold)} AND diff > ${rollback}, ${FAIL_VALUE}, IF(cn >= ${Math.max(1, gate.minSamples)}, ${judged}, ${TOO_FEW_VALUE}))))`,
      true,
    ),
  );
  return out;
}

function cwErrorRate(gate: ComparisonGate, q: QueryParams): CloudWatchQuery[] {
  const out: CloudWatchQuery[] = [];
  for (const side of SIDES) {
    const s = p(side);
    out.push(albStat(`${s}req`, side, "RequestCount", "Sum"));
    out.push(albStat(`${s}5xx`, side, "HTTPCode_Target_5XX_Count", "Sum"));
    out.push(albStat(`${s}conn`, side, "TargetConnectionErrorCount", "Sum"));
    out.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}req, 0))`));
    out.push(expr(`${s}e`, `RUNNING_SUM(FILL(${s}5xx, 0) + FILL(${s}conn, 0))`));
  }
  return [...out, ...cwCountVerdict(gate, q)];
}

function cwLatency(gate: LatencyGate, q: QueryParams): CloudWatchQuery[] {
  const out: CloudWatchQuery[] = [];
  if (gate.mode === "threshold") {
    // PR(:t) is the percentage of requests at or below t seconds; the rest are slow.
    const seconds = num(gate.thresholdMs! / 1000);
    for (const side of SIDES) {
      const s = p(side);
      out.push(albStat(`${s}cnt`, side, "TargetResponseTime", "SampleCount"));
      out.push(albStat(`${s}fast`, side, "TargetResponseTime", `PR(:${seconds})`));
      out.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}cnt, 0))`));
      out.push(expr(`${s}e`, `RUNNING_SUM(FILL((100 - ${s}fast) * ${s}cnt / 100, 0))`));
    }
    return [...out, ...cwCountVerdict(gate, q)];
  }
  // Percentile mode: mean over the window of the per-minute differences of the percentile, in ms
  // (the engine's statistic for this weaker mode). No counts, so no test: the point difference
  // fails once minSamples are in.
  for (const side of SIDES) {
    const s = p(side);
    out.push(albStat(`${s}cnt`, side, "TargetResponseTime", "SampleCount"));
    out.push(albStat(`${s}pct`, side, "TargetResponseTime", `p${num(gate.percentile)}`));
  }
  out.push(expr("cn", "RUNNING_SUM(FILL(ccnt, 0))"));
  out.push(expr("sn", "RUNNING_SUM(FILL(scnt, 0))"));
  out.push(expr("d", "1000 * (cpct - spct)"));
  out.push(expr("dsum", "RUNNING_SUM(FILL(d, 0))"));
  out.push(expr("dn", "RUNNING_SUM(FILL(d * 0 + 1, 0))"));
  out.push(expr("diff", "dsum / IF(dn > 0, dn, 1)"));
  out.push(
    expr(
      "verdict",
      `IF(cn <= 0, ${NO_DATA_VALUE}, IF(sn <= 0, ${NO_BASELINE_VALUE}, IF(dn <= 0, ${NO_DATA_VALUE}, IF(cn < ${Math.max(1, gate.minSamples)}, ${TOO_FEW_VALUE}, IF(diff > ${num(gate.rollbackBand)}, ${FAIL_VALUE}, diff)))))`,
      true,
    ),
  );
  return out;
}

function cwMetric(gate: Extract<ComparisonGate, { type: "metric" }>, q: QueryParams): CloudWatchQuery[] {
  const out: CloudWatchQuery[] = [];
  for (const side of SIDES) {
    const s = p(side);
    const dimensions = [
      ...Object.entries(gate.dimensions).map(([name, value]) => ({ name, value })),
      { name: gate.variantDimension, value: arg(side === "canary" ? ARG.canaryHash : ARG.stableHash) },
    ];
    const stat = (id: string, metricName: string): CloudWatchQuery => ({
      id,
      metricStat: { metric: { namespace: gate.namespace, metricName, dimensions }, period: 60, stat: "Sum" },
      returnData: false,
    });
    out.push(stat(`${s}tot`, gate.total));
    out.push(stat(`${s}ev`, gate.events));
    out.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}tot, 0))`));
    out.push(expr(`${s}e`, `RUNNING_SUM(FILL(${s}ev, 0))`));
  }
  return [...out, ...cwCountVerdict(gate, q)];
}

/** The new version's trials over the metric's window (the bake's freshness check), one returned series. */
export function cloudWatchFreshQueries(gate: ComparisonGate): CloudWatchQuery[] {
  let trials: CloudWatchQuery;
  if (gate.type === "errorRate") trials = albStat("ctrials", "canary", "RequestCount", "Sum");
  else if (gate.type === "latency") trials = albStat("ctrials", "canary", "TargetResponseTime", "SampleCount");
  else {
    const dimensions = [...Object.entries(gate.dimensions).map(([name, value]) => ({ name, value })), { name: gate.variantDimension, value: arg(ARG.canaryHash) }];
    trials = { id: "ctrials", metricStat: { metric: { namespace: gate.namespace, metricName: gate.total, dimensions }, period: 60, stat: "Sum" }, returnData: false };
  }
  return [trials, expr("fresh", "RUNNING_SUM(FILL(ctrials, 0))", true)];
}

export function cloudWatchQueries(gate: ComparisonGate, q: QueryParams): CloudWatchQuery[] {
  switch (gate.type) {
    case "errorRate":
      return cwErrorRate(gate, q);
    case "latency":
      return cwLatency(gate, q);
    case "metric":
      return cwMetric(gate, q);
  }
}

/* ----------------------------------------------------------------------------------------------
 * Prometheus: PromQL over the canary and stable pods' request metrics.
 * -------------------------------------------------------------------------------------------- */

/** Names in the user's Prometheus: which series and labels hold requests, status and latency. */
export interface PromNames {
  requestsMetric: string;
  statusLabel: string;
  errorStatusRegex: string;
  durationMetric: string;
  podHashLabel: string;
  selector: string;
  /**
   * Upper bounds (seconds) of durationMetric's histogram buckets, as the application declares
   * them. A latency threshold must be one of them: `le="0.3"` on a histogram without that bucket
   * matches no series, and the gate would never see data.
   */
  latencyBuckets?: number[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Problems with user-supplied Prometheus names, as [field, message]. */
export function checkPromNames(n: PromNames): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const field of ["requestsMetric", "durationMetric"] as const) {
    if (!METRIC_NAME.test(n[field])) out.push([field, `"${n[field]}" is not a Prometheus metric name (letters, digits, _ and :)`]);
  }
  for (const field of ["statusLabel", "podHashLabel"] as const) {
    if (!LABEL_NAME.test(n[field])) out.push([field, `"${n[field]}" is not a Prometheus label name (letters, digits and _)`]);
  }
  if (n.latencyBuckets !== undefined) {
    if (!Array.isArray(n.latencyBuckets) || n.latencyBuckets.length === 0 || n.latencyBuckets.some((b) => typeof b !== "number" || !(b > 0) || !Number.isFinite(b))) {
      out.push(["latencyBuckets", `must be the histogram's finite bucket upper bounds in seconds, e.g. [0.05, 0.1, 0.25, 0.5, 1, 2.5]; got ${JSON.stringify(n.latencyBuckets)}`]);
    }
  }
  return out;
}

/**
 * A latency threshold gate's problem with the declared buckets, or undefined. Thresholds are
 * compared in whole milliseconds, so 0.3 s and 300 ms are the same bound.
 */
export function latencyBucketProblem(gate: LatencyGate, n: PromNames): string | undefined {
  if (gate.mode !== "threshold" || gate.thresholdMs === undefined) return undefined;
  const buckets = n.latencyBuckets;
  if (!buckets || buckets.length === 0) {
    return `thresholdMs ${gate.thresholdMs} is read from the histogram bucket le="${num(gate.thresholdMs / 1000)}", which exists only if ${n.durationMetric} declares that bound; set prometheus.latencyBuckets to the histogram's bucket bounds in seconds (e.g. [0.1, 0.25, 0.5, 1]) so it can be checked, or use a percentile latency gate`;
  }
  const ms = buckets.map((b) => Math.round(b * 1000));
  if (ms.includes(Math.round(gate.thresholdMs))) return undefined;
  const below = Math.max(...ms.filter((b) => b < gate.thresholdMs!), -Infinity);
  const above = Math.min(...ms.filter((b) => b > gate.thresholdMs!), Infinity);
  const near = [below, above].filter(Number.isFinite).map((b) => `${b}`).join(" or ");
  return `thresholdMs ${gate.thresholdMs} is not a bucket bound of ${n.durationMetric} (buckets ${buckets.map((b) => `${b}s`).join(", ")}): le="${num(gate.thresholdMs / 1000)}" matches no series, so the gate would never see data; use ${near} ms, or add the bound to the histogram and to latencyBuckets`;
}

const quote = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

function matchers(n: PromNames, side: Side, extra: string[] = []): string {
  const parts = [`${n.podHashLabel}=${quote(arg(side === "canary" ? ARG.canaryHash : ARG.stableHash))}`, ...extra];
  if (n.selector.trim()) parts.push(n.selector.trim());
  return `{${parts.join(", ")}}`;
}

const inc = (metric: string, sel: string) => `sum(increase(${metric}${sel}[${arg(ARG.window)}]))`;
/** A counter that may not exist yet (no errors so far) counts as zero rather than emptying the result. */
const incOrZero = (metric: string, sel: string) => `(${inc(metric, sel)} or on() vector(0))`;

/**
 * The count-gate verdict in PromQL: a priority chain of `or on()`, so exactly one of FAIL, the
 * difference, TOO_FEW or NO_DATA comes back (a one-element vector, never an empty one).
 */
function promCountVerdict(gate: ComparisonGate, q: QueryParams, cn: string, ce: string, sn: string, se: string): string {
  const sign = gate.worseWhen === "higher" ? 1 : -1;
  const ev = `(${ce} + ${se})`;
  const ex = `(${ev} * ${cn} / (${cn} + ${sn} + ${EPS_TEXT}))`;
  const kl = `(${ce} * ln((${ce} + ${EPS_TEXT}) / (${ex} + ${EPS_TEXT})) + ${se} * ln((${se} + ${EPS_TEXT}) / (${ev} - ${ex} + ${EPS_TEXT})))`;
  const diff = `(${sign > 0 ? "" : "-"}100 * (${ce} / ${cn} - ${se} / ${sn}))`;
  const worse = sign > 0 ? `(${ce} > ${ex})` : `(${ce} < ${ex})`;
  const both = `on() (${cn} > 0) and on() (${sn} > 0)`;
  // Relative bands (effectiveBands): max(min(floor, 5 x rate), share x rate) in points, as
  // clamp_min(share x rate, scalar(clamp_max(5 x rate, floor))). scalar() of the one-element vector;
  // the branches that read it are guarded by both sides having traffic.
  const rate = (x: number) => `(${num(x * 100)} * ${se} / ${sn})`;
  const inForce = (floor: number, share: number) => `clamp_min(${rate(share)}, scalar(clamp_max(${rate(FLOOR_RATE_MULTIPLE)}, ${num(floor)})))`;
  const rollback = gate.rollbackBandRelative === undefined ? num(gate.rollbackBand) : inForce(gate.rollbackBand, gate.rollbackBandRelative);
  const value = gate.holdBandRelative === undefined ? diff : `(${diff} - (${inForce(gate.holdBand, gate.holdBandRelative)} - ${num(gate.holdBand)}))`;
  const fail = `(vector(${FAIL_VALUE}) and on() ${worse} and on() (${kl} >= ${num(q.logThreshold)}) and on() (${diff} > ${rollback}) and ${both})`;
  const judged = `(${value} and on() (${cn} >= ${Math.max(1, gate.minSamples)}) and ${both})`;
  const tooFew = `(vector(${TOO_FEW_VALUE}) and ${both})`;
  const noBaseline = `(vector(${NO_BASELINE_VALUE}) and on() (${cn} > 0))`;
  return `${fail} or on() ${judged} or on() ${tooFew} or on() ${noBaseline} or on() vector(${NO_DATA_VALUE})`;
}

/** The new version's trials over a fixed range ending now (the bake's freshness check); 0 when none. */
export function prometheusFreshQuery(gate: ComparisonGate, n: PromNames, range: string): string {
  const sel = (extra: string[] = []) => matchers(n, "canary", extra);
  const over = (metric: string, s: string) => `(sum(increase(${metric}${s}[${range}])) or on() vector(0))`;
  if (gate.type === "errorRate") return over(n.requestsMetric, sel());
  if (gate.type === "latency") return over(`${n.durationMetric}_count`, sel());
  return over(gate.total, sel(Object.entries(gate.dimensions).map(([k, v]) => `${k}=${quote(v)}`)));
}

export function prometheusQuery(gate: ComparisonGate, n: PromNames, q: QueryParams): string {
  switch (gate.type) {
    case "errorRate": {
      const tot = (side: Side) => inc(n.requestsMetric, matchers(n, side));
      const err = (side: Side) => incOrZero(n.requestsMetric, matchers(n, side, [`${n.statusLabel}=~${quote(n.errorStatusRegex)}`]));
      return promCountVerdict(gate, q, tot("canary"), err("canary"), tot("stable"), err("stable"));
    }
    case "latency": {
      const count = (side: Side) => inc(`${n.durationMetric}_count`, matchers(n, side));
      if (gate.mode === "threshold") {
        // The bucket bound as exporters write it: Go clients "1", Python clients "1.0".
        const seconds = num(gate.thresholdMs! / 1000);
        const le = Number.isInteger(gate.thresholdMs! / 1000) ? `le=~${quote(`${seconds}|${seconds}.0`)}` : `le=${quote(seconds)}`;
        const fast = (side: Side) => inc(`${n.durationMetric}_bucket`, matchers(n, side, [le]));
        const slow = (side: Side) => `(${count(side)} - ${fast(side)})`;
        return promCountVerdict(gate, q, count("canary"), slow("canary"), count("stable"), slow("stable"));
      }
      const quantile = num(gate.percentile / 100);
      const pct = (side: Side) =>
        `histogram_quantile(${quantile}, sum by (le) (rate(${n.durationMetric}_bucket${matchers(n, side)}[${arg(ARG.window)}])))`;
      const diff = `(1000 * (${pct("canary")} - ${pct("stable")}))`;
      const both = `on() (${count("canary")} > 0) and on() (${count("stable")} > 0)`;
      const enough = `on() (${count("canary")} >= ${Math.max(1, gate.minSamples)})`;
      return (
        `(vector(${FAIL_VALUE}) and on() (${diff} > ${num(gate.rollbackBand)}) and ${enough} and ${both}) or on() ` +
        `(${diff} and ${enough} and ${both}) or on() (vector(${TOO_FEW_VALUE}) and ${both}) or on() ` +
        `(vector(${NO_BASELINE_VALUE}) and on() (${count("canary")} > 0)) or on() vector(${NO_DATA_VALUE})`
      );
    }
    case "metric": {
      const dims = Object.entries(gate.dimensions).map(([k, v]) => `${k}=${quote(v)}`);
      const tot = (side: Side) => inc(gate.total, matchers(n, side, dims));
      const ev = (side: Side) => incOrZero(gate.events, matchers(n, side, dims));
      return promCountVerdict(gate, q, tot("canary"), ev("canary"), tot("stable"), ev("stable"));
    }
  }
}

/** A plain decimal expr-lang, CloudWatch metric math and PromQL all read (no exponent forms). */
export function num(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(10).replace(/0+$/, "").replace(/\.$/, "");
}
