/**
 * Argo Rollouts success/failure conditions and the metric queries behind them, one place for
 * the "missing data never passes" rule.
 *
 * Argo evaluates `successCondition` and `failureCondition` with expr-lang/expr against `result`:
 * - CloudWatch: `result` is the list of GetMetricData results with ReturnData true, each a struct
 *   with `Values` (newest first). We return exactly one series.
 * - Prometheus: `result` is the list of sample values of the instant vector (an empty list when
 *   the query matched nothing).
 *
 * A measurement is Failed when failureCondition is true, Successful when only successCondition is
 * true, Inconclusive when neither is. Indexing an empty list is an evaluation *error* in expr, and
 * `all()` over an empty list is true, so every condition starts with a length guard: `&&` and `||`
 * short-circuit, so the index is never reached on an empty result.
 */
import type { ComparisonGate, ErrorRateGate, LatencyGate, MetricGate } from "../../src/policy/types.js";

/**
 * Value a CloudWatch query returns when the canary has fewer than minSamples (or a side has no
 * traffic): no difference in percentage points or milliseconds gets near it, so the conditions can
 * tell "too few samples" from a real difference without a second series.
 */
export const CLOUDWATCH_NO_VERDICT = -1_000_000_000;
/** Anything above this is a real value; the sentinel is far below it. */
const CLOUDWATCH_REAL_FLOOR = -1_000_000;

export type ProviderKind = "cloudWatch" | "prometheus";

/** "There is a value to judge": the guard every condition starts with. */
export function hasValue(kind: ProviderKind): string {
  return kind === "cloudWatch"
    ? `len(result) > 0 && len(result[0].Values) > 0 && result[0].Values[0] > ${CLOUDWATCH_REAL_FLOOR}`
    : "len(result) > 0";
}

/** The judged value: the canary-minus-baseline difference in the gate's unit. */
export function valueOf(kind: ProviderKind): string {
  return kind === "cloudWatch" ? "result[0].Values[0]" : "result[0]";
}

export interface MetricConditions {
  successCondition: string;
  failureCondition: string;
}

/**
 * Conditions of a step's verdict metric: pass within the hold band, fail beyond the rollback band,
 * and everything else (hold band, too few samples, no data) inconclusive, which pauses the Rollout
 * for an operator. With onMissingData "rollback", no value at all is a failure instead.
 */
export function verdictConditions(gate: ComparisonGate, kind: ProviderKind): MetricConditions {
  const has = hasValue(kind);
  const v = valueOf(kind);
  return {
    successCondition: `(${has}) && ${v} <= ${num(gate.holdBand)}`,
    failureCondition:
      gate.onMissingData === "rollback" ? `!(${has}) || ${v} > ${num(gate.rollbackBand)}` : `(${has}) && ${v} > ${num(gate.rollbackBand)}`,
  };
}

/**
 * Condition of the background guard metric: only a confident regression (enough samples, beyond
 * the rollback band) fails it. There is no successCondition, so Argo counts every other
 * measurement, including an empty one, as successful: the guard only ever fires rollbacks, it never
 * promotes anything (promotion needs the step verdicts, which demand data).
 */
export function guardCondition(gate: ComparisonGate, kind: ProviderKind): string {
  return `(${hasValue(kind)}) && ${valueOf(kind)} > ${num(gate.rollbackBand)}`;
}

function num(x: number): string {
  // expr-lang reads plain decimals; avoid exponent forms such as 1e-7.
  return Number.isInteger(x) ? String(x) : x.toFixed(10).replace(/0+$/, "");
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
 * The last query: cumulative canary-minus-baseline difference over the window, or the sentinel when
 * the canary has fewer than minSamples. RUNNING_SUM makes the newest point (Values[0]: GetMetricData
 * returns newest first) the total over the whole window.
 */
function cwVerdict(minSamples: number, guard: string, difference: string): CloudWatchQuery {
  return expr("verdict", `IF(cn >= ${Math.max(1, minSamples)} AND ${guard}, ${difference}, ${CLOUDWATCH_NO_VERDICT})`, true);
}

function cwErrorRate(gate: ErrorRateGate): CloudWatchQuery[] {
  const q: CloudWatchQuery[] = [];
  for (const side of SIDES) {
    const s = p(side);
    q.push(albStat(`${s}req`, side, "RequestCount", "Sum"));
    q.push(albStat(`${s}5xx`, side, "HTTPCode_Target_5XX_Count", "Sum"));
    q.push(albStat(`${s}conn`, side, "TargetConnectionErrorCount", "Sum"));
    q.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}req, 0))`));
    q.push(expr(`${s}e`, `RUNNING_SUM(FILL(${s}5xx, 0) + FILL(${s}conn, 0))`));
  }
  q.push(cwVerdict(gate.minSamples, "sn > 0", "100 * (ce / cn - se / sn)"));
  return q;
}

function cwLatency(gate: LatencyGate): CloudWatchQuery[] {
  const q: CloudWatchQuery[] = [];
  if (gate.mode === "threshold") {
    // PR(:t) is the percentage of requests at or below t seconds; the rest are slow.
    const seconds = num(gate.thresholdMs! / 1000);
    for (const side of SIDES) {
      const s = p(side);
      q.push(albStat(`${s}cnt`, side, "TargetResponseTime", "SampleCount"));
      q.push(albStat(`${s}fast`, side, "TargetResponseTime", `PR(:${seconds})`));
      q.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}cnt, 0))`));
      q.push(expr(`${s}slow`, `RUNNING_SUM(FILL((100 - ${s}fast) * ${s}cnt / 100, 0))`));
    }
    q.push(cwVerdict(gate.minSamples, "sn > 0", "100 * (cslow / cn - sslow / sn)"));
    return q;
  }
  // Percentile mode: mean over the window of the per-minute differences of the percentile, in ms
  // (the same statistic the engine uses for this weaker mode).
  for (const side of SIDES) {
    const s = p(side);
    q.push(albStat(`${s}cnt`, side, "TargetResponseTime", "SampleCount"));
    q.push(albStat(`${s}pct`, side, "TargetResponseTime", `p${num(gate.percentile)}`));
  }
  q.push(expr("cn", "RUNNING_SUM(FILL(ccnt, 0))"));
  q.push(expr("d", "1000 * (cpct - spct)"));
  q.push(expr("dsum", "RUNNING_SUM(FILL(d, 0))"));
  q.push(expr("dn", "RUNNING_SUM(FILL(d * 0 + 1, 0))"));
  q.push(cwVerdict(gate.minSamples, "dn > 0", "dsum / dn"));
  return q;
}

function cwMetric(gate: MetricGate): CloudWatchQuery[] {
  const q: CloudWatchQuery[] = [];
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
    q.push(stat(`${s}tot`, gate.total));
    q.push(stat(`${s}ev`, gate.events));
    q.push(expr(`${s}n`, `RUNNING_SUM(FILL(${s}tot, 0))`));
    q.push(expr(`${s}e`, `RUNNING_SUM(FILL(${s}ev, 0))`));
  }
  const diff = gate.worseWhen === "higher" ? "100 * (ce / cn - se / sn)" : "100 * (se / sn - ce / cn)";
  q.push(cwVerdict(gate.minSamples, "sn > 0", diff));
  return q;
}

export function cloudWatchQueries(gate: ComparisonGate): CloudWatchQuery[] {
  switch (gate.type) {
    case "errorRate":
      return cwErrorRate(gate);
    case "latency":
      return cwLatency(gate);
    case "metric":
      return cwMetric(gate);
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
  return out;
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

/** `value and on() (canary total >= minSamples) and on() (baseline total > 0)`: empty unless judgeable. */
function guarded(value: string, canaryTotal: string, stableTotal: string, minSamples: number): string {
  return `(${value}) and on() (${canaryTotal} >= ${Math.max(1, minSamples)}) and on() (${stableTotal} > 0)`;
}

export function prometheusQuery(gate: ComparisonGate, n: PromNames): string {
  switch (gate.type) {
    case "errorRate": {
      const tot = (side: Side) => inc(n.requestsMetric, matchers(n, side));
      const err = (side: Side) => incOrZero(n.requestsMetric, matchers(n, side, [`${n.statusLabel}=~${quote(n.errorStatusRegex)}`]));
      return guarded(`100 * (${err("canary")} / ${tot("canary")} - ${err("stable")} / ${tot("stable")})`, tot("canary"), tot("stable"), gate.minSamples);
    }
    case "latency": {
      const count = (side: Side) => inc(`${n.durationMetric}_count`, matchers(n, side));
      if (gate.mode === "threshold") {
        // The bucket bound as exporters write it: Go clients "1", Python clients "1.0".
        const seconds = num(gate.thresholdMs! / 1000);
        const le = Number.isInteger(gate.thresholdMs! / 1000) ? `le=~${quote(`${seconds}|${seconds}.0`)}` : `le=${quote(seconds)}`;
        const fast = (side: Side) => inc(`${n.durationMetric}_bucket`, matchers(n, side, [le]));
        const slowShare = (side: Side) => `(1 - ${fast(side)} / ${count(side)})`;
        return guarded(`100 * (${slowShare("canary")} - ${slowShare("stable")})`, count("canary"), count("stable"), gate.minSamples);
      }
      const q = num(gate.percentile / 100);
      const pct = (side: Side) =>
        `histogram_quantile(${q}, sum by (le) (rate(${n.durationMetric}_bucket${matchers(n, side)}[${arg(ARG.window)}])))`;
      return guarded(`1000 * (${pct("canary")} - ${pct("stable")})`, count("canary"), count("stable"), gate.minSamples);
    }
    case "metric": {
      const dims = Object.entries(gate.dimensions).map(([k, v]) => `${k}=${quote(v)}`);
      const tot = (side: Side) => inc(gate.total, matchers(n, side, dims));
      const ev = (side: Side) => incOrZero(gate.events, matchers(n, side, dims));
      const share = (side: Side) => `${ev(side)} / ${tot(side)}`;
      const diff = gate.worseWhen === "higher" ? `${share("canary")} - ${share("stable")}` : `${share("stable")} - ${share("canary")}`;
      return guarded(`100 * (${diff})`, tot("canary"), tot("stable"), gate.minSamples);
    }
  }
}
