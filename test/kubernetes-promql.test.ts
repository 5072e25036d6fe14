/**
 * Every rendered PromQL query run against a real Prometheus (Debian's package, on 127.0.0.1,
 * test/support/prometheus.ts) loaded with synthetic canary and stable series, and its answer
 * judged by the rendered conditions in the real expr engine: healthy, 5 % errors, no 5xx series at
 * all, all requests failing below minSamples, no canary series, and a latency threshold.
 * The answer must also agree with countVerdictValue, the TypeScript twin the simulator and the
 * render-time noise check use.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countVerdictValue, FAIL_VALUE, NO_BASELINE_VALUE, NO_DATA_VALUE, TOO_FEW_VALUE } from "../components/kubernetes/conditions.js";
import { analysisTiming, planKubernetes, renderKubernetes, type MetricProvider } from "../components/kubernetes/index.js";
import type { PolicyInput } from "../src/policy/index.js";
import type { ComparisonGate } from "../src/policy/types.js";
import { evaluateArgo, exprEngineBinary } from "./support/expr-engine.js";

beforeAll(() => void exprEngineBinary(), 600_000);
import { latencySeries, requestSeries, startPrometheus, steadyMinutes, type PrometheusServer, type Series } from "./support/prometheus.js";

const prometheus: MetricProvider = {
  kind: "prometheus",
  address: "http://prometheus:9090",
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: 'service="checkout"',
  latencyBuckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5],
};
const POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }] },
  gates: [
    { type: "errorRate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 },
    { type: "latency", thresholdMs: 250, holdBand: 1, rollbackBand: 3, minSamples: 200 },
    { type: "latency", name: "p99", percentile: 99, holdBand: 50, rollbackBand: 200, minSamples: 200 },
    { type: "metric", name: "checkout-failures", namespace: "Checkout", events: "checkout_failed_total", total: "checkout_attempted_total", worseWhen: "higher", holdBand: 0.5, rollbackBand: 2, minSamples: 100 },
  ],
  timeouts: { maxHold: "40m", onTimeout: "pause" },
};
const rendered = renderKubernetes({ name: "checkout", image: "x", policy: POLICY, provider: prometheus });
const query = analysisTiming(planKubernetes("checkout", POLICY, "prometheus"), { analysisInterval: "1m", metricDelay: "1m" }).query;
const metricOf = (gate: string) => (rendered.analysisTemplates.find((t) => t.metadata.name === `checkout-gate-${gate}`)!.spec.metrics as Array<Record<string, unknown>>)[0]!;
const gateOf = (name: string) => rendered.policy.gates.find((g) => g.name === name) as ComparisonGate;

// Whole minutes, 30 minutes ago: every window is 20 minutes of data ending 5 minutes ago.
const START = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
const MINUTES = 20;
const AT = START + MINUTES * 60_000 + 5 * 60_000;
const WINDOW = "25m";
const labels = { service: "checkout" };

interface Case {
  name: string;
  canary: string;
  stable: string;
  gate: "error-rate" | "latency" | "p99" | "checkout-failures";
  counts: { canaryTotal: number; canaryEvents: number; baselineTotal: number; baselineEvents: number };
  kind: "fail" | "pass" | "hold" | "too-few" | "no-data";
}

const series: Series[] = [];
const cases: Case[] = [];
function requests(name: string, gateKind: Case["kind"], canary: { perMinute: number; errorRate: number } | undefined, stable: { perMinute: number; errorRate: number }, errorsBorn = true): void {
  const c = `c${cases.length}`;
  const s = `s${cases.length}`;
  if (canary) series.push(...requestSeries({ hash: c, start: START, minutes: steadyMinutes(MINUTES, canary.perMinute, canary.errorRate), labels, errorsBornOnFirstError: errorsBorn }));
  series.push(...requestSeries({ hash: s, start: START, minutes: steadyMinutes(MINUTES, stable.perMinute, stable.errorRate), labels }));
  const ce = canary ? Math.round(canary.perMinute * canary.errorRate) * MINUTES : 0;
  cases.push({
    name,
    canary: c,
    stable: s,
    gate: "error-rate",
    counts: { canaryTotal: (canary?.perMinute ?? 0) * MINUTES, canaryEvents: ce, baselineTotal: stable.perMinute * MINUTES, baselineEvents: Math.round(stable.perMinute * stable.errorRate) * MINUTES },
    kind: gateKind,
  });
}
requests("healthy: identical 0.1 % errors", "pass", { perMinute: 1000, errorRate: 0.001 }, { perMinute: 1000, errorRate: 0.001 });
requests("5 % errors on the canary", "fail", { perMinute: 100, errorRate: 0.05 }, { perMinute: 1000, errorRate: 0.001 });
requests("no 5xx series at all on either side", "pass", { perMinute: 100, errorRate: 0 }, { perMinute: 1000, errorRate: 0 });
requests("all canary requests failing, 140 of them, below minSamples 200", "fail", { perMinute: 7, errorRate: 1 }, { perMinute: 1000, errorRate: 0.001 });
requests("a healthy canary below minSamples", "too-few", { perMinute: 7, errorRate: 0 }, { perMinute: 1000, errorRate: 0.001 });
requests("no canary series (the target is not scraped)", "no-data", undefined, { perMinute: 1000, errorRate: 0.001 });
{
  // Latency: 3 % of canary requests slower than 250 ms against 1 % of the stable's: 2 points,
  // between the bands (1 and 3), it holds; 20 % slow fails.
  for (const [name, slowShare, kind] of [
    ["latency: 2 points slower, between the bands", 0.03, "hold"],
    ["latency: 20 % slow on the canary", 0.2, "fail"],
  ] as const) {
    const c = `c${cases.length}`;
    const s = `s${cases.length}`;
    series.push(...latencySeries({ hash: c, start: START, thresholdSeconds: 0.25, labels, minutes: Array.from({ length: MINUTES }, () => ({ count: 100, slow: Math.round(100 * slowShare) })) }));
    series.push(...latencySeries({ hash: s, start: START, thresholdSeconds: 0.25, labels, minutes: Array.from({ length: MINUTES }, () => ({ count: 1000, slow: 10 })) }));
    cases.push({ name, canary: c, stable: s, gate: "latency", counts: { canaryTotal: 100 * MINUTES, canaryEvents: Math.round(100 * slowShare) * MINUTES, baselineTotal: 1000 * MINUTES, baselineEvents: 10 * MINUTES }, kind });
  }
}

/** A plain cumulative counter of one ReplicaSet, one point a minute from 0 at START. */
function counter(name: string, hash: string, perMinute: number): Series {
  return { name, labels: { ...labels, rollouts_pod_template_hash: hash }, points: Array.from({ length: MINUTES + 1 }, (_, i) => [START + i * 60_000, i * perMinute] as [number, number]) };
}
for (const [name, failedPerMinute, kind] of [
  ["metric gate: as many failed checkouts as the stable", 2, "pass"],
  ["metric gate: 10 % failed checkouts on the canary", 10, "fail"],
] as const) {
  const c = `c${cases.length}`;
  const s = `s${cases.length}`;
  series.push(counter("checkout_attempted_total", c, 100), counter("checkout_failed_total", c, failedPerMinute));
  series.push(counter("checkout_attempted_total", s, 1000), counter("checkout_failed_total", s, 20));
  cases.push({ name, canary: c, stable: s, gate: "checkout-failures", counts: { canaryTotal: 100 * MINUTES, canaryEvents: failedPerMinute * MINUTES, baselineTotal: 1000 * MINUTES, baselineEvents: 20 * MINUTES }, kind });
}

/*
 * The post-promotion bake: 10 minutes of the test share (canary 5 %), then the switch (the stable,
 * the previous version, keeps its pods but takes no traffic), 10 minutes at 100 % on the canary.
 * Judged half a minute after the last scrape, as a bake measurement is.
 */
const BAKE_POLICY: PolicyInput = { ...POLICY, promotion: { bake: "30m" } };
const baked = renderKubernetes({ name: "checkout", image: "x", policy: BAKE_POLICY, provider: prometheus });
const bakeQuery = analysisTiming(planKubernetes("checkout", BAKE_POLICY, "prometheus"), { analysisInterval: "1m", metricDelay: "1m" }).query;
const bakeMetric = (name: string) => (baked.analysisTemplates.find((t) => t.metadata.name === "checkout-bake")!.spec.metrics as Array<Record<string, unknown>>).find((m) => m.name === name)!;
const BAKE_AT = START + MINUTES * 60_000 + 30_000;
interface BakeCase {
  name: string;
  canary: string;
  stable: string;
  counts: { canaryTotal: number; canaryEvents: number; baselineTotal: number; baselineEvents: number };
  /** The comparison's phase, and the freshness metric's. */
  comparison: "Successful" | "Failed";
  fresh: "Successful" | "Inconclusive";
}
const bakeCases: BakeCase[] = [];
function bake(name: string, canaryAfter: number | undefined, comparison: BakeCase["comparison"], fresh: BakeCase["fresh"]): void {
  const c = `bc${bakeCases.length}`;
  const st = `bs${bakeCases.length}`;
  // The canary's series end at the switch when its metrics stop arriving (canaryAfter undefined).
  const canaryMinutes = [...steadyMinutes(10, 50, 0.002), ...(canaryAfter === undefined ? [] : steadyMinutes(10, 1000, canaryAfter))];
  const stableMinutes = [...steadyMinutes(10, 950, 0.002), ...steadyMinutes(10, 0, 0)];
  series.push(...requestSeries({ hash: c, start: START, labels, minutes: canaryMinutes }));
  series.push(...requestSeries({ hash: st, start: START, labels, minutes: stableMinutes }));
  const sum = (ms: Array<{ total: number; errors: number }>, k: "total" | "errors") => ms.reduce((a, m) => a + m[k], 0);
  bakeCases.push({
    name,
    canary: c,
    stable: st,
    counts: { canaryTotal: sum(canaryMinutes, "total"), canaryEvents: sum(canaryMinutes, "errors"), baselineTotal: sum(stableMinutes, "total"), baselineEvents: sum(stableMinutes, "errors") },
    comparison,
    fresh,
  });
}
bake("bake, healthy at full traffic: compared with the previous version's lookback, not failed", 0.002, "Successful", "Successful");
bake("bake, 2 % errors after the switch against the previous version's 0.2 %: fails", 0.02, "Failed", "Successful");
bake("bake, the new version's metrics stop at the switch: the comparison sees only the minutes before it, the freshness metric does not pass", undefined, "Successful", "Inconclusive");

let server: PrometheusServer;
beforeAll(async () => {
  server = await startPrometheus({ series });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe("rendered PromQL on a real Prometheus", () => {
  test.each(cases)("$name", async (c) => {
    const metric = metricOf(c.gate);
    const promql = ((metric.provider as { prometheus: { query: string } }).prometheus.query)
      .replaceAll("{{args.canary-hash}}", c.canary)
      .replaceAll("{{args.stable-hash}}", c.stable)
      .replaceAll("{{args.window}}", WINDOW);
    const data = (await server.query(promql, AT)) as { resultType: string; result: Array<{ value: [number, string] }> };
    expect(data.resultType).toBe("vector");
    // Exactly one element in every case: the priority chain never answers with an empty vector.
    expect(data.result).toHaveLength(1);
    const value = Number(data.result[0]!.value[1]);
    const twin = countVerdictValue(gateOf(c.gate), c.counts, query);
    if ([FAIL_VALUE, TOO_FEW_VALUE, NO_DATA_VALUE].includes(twin)) expect(value).toBe(twin);
    // increase() extrapolates to the window's edges, so a difference is close, not exact.
    else expect(value).toBeCloseTo(twin, 1);
    const phase = evaluateArgo(metric as { successCondition: string; failureCondition: string }, { kind: "vector", values: [value] }).phase;
    const expected = { fail: "Failed", pass: "Successful", hold: "Inconclusive", "too-few": "Inconclusive", "no-data": "Inconclusive" }[c.kind];
    expect(phase, `value ${value}`).toBe(expected);
  });
});

describe("the post-promotion bake's PromQL on a real Prometheus", () => {
  test.each(bakeCases)("$name", async (c) => {
    const subst = (q: string) => q.replaceAll("{{args.canary-hash}}", c.canary).replaceAll("{{args.stable-hash}}", c.stable).replaceAll("{{args.window}}", WINDOW);
    const comparison = bakeMetric("error-rate");
    const fresh = bakeMetric("error-rate-fresh");
    const promql = (m: Record<string, unknown>) => subst((m.provider as { prometheus: { query: string } }).prometheus.query);
    const [cmp, fr] = (await Promise.all([server.query(promql(comparison), BAKE_AT), server.query(promql(fresh), BAKE_AT)])) as Array<{ result: Array<{ value: [number, string] }> }>;
    expect(cmp!.result).toHaveLength(1);
    expect(fr!.result).toHaveLength(1);
    const value = Number(cmp!.result[0]!.value[1]);
    const twin = countVerdictValue(gateOf("error-rate"), c.counts, bakeQuery);
    if ([FAIL_VALUE, TOO_FEW_VALUE, NO_DATA_VALUE, NO_BASELINE_VALUE].includes(twin)) expect(value).toBe(twin);
    else expect(value).toBeCloseTo(twin, 1);
    // The previous version's lookback is the baseline: never NO_BASELINE although it takes no traffic now.
    expect(value).not.toBe(NO_BASELINE_VALUE);
    const trials = Number(fr!.result[0]!.value[1]);
    const conditions = (m: Record<string, unknown>) => m as { successCondition?: string; failureCondition?: string };
    expect(evaluateArgo(conditions(comparison), { kind: "vector", values: [value] }).phase, `value ${value}`).toBe(c.comparison);
    expect(evaluateArgo(conditions(fresh), { kind: "vector", values: [trials] }).phase, `trials ${trials}`).toBe(c.fresh);
  });

  test("the background guard over its short window reads the idle stable as NO_BASELINE after the switch", async () => {
    const c = bakeCases[0]!;
    const guard = (baked.analysisTemplates.find((t) => t.metadata.name === "checkout-guard")!.spec.metrics as Array<Record<string, unknown>>)[0]!;
    const promql = ((guard.provider as { prometheus: { query: string } }).prometheus.query).replaceAll("{{args.canary-hash}}", c.canary).replaceAll("{{args.stable-hash}}", c.stable).replaceAll("{{args.window}}", "5m");
    const data = (await server.query(promql, BAKE_AT)) as { result: Array<{ value: [number, string] }> };
    expect(Number(data.result[0]!.value[1])).toBe(NO_BASELINE_VALUE);
    expect(evaluateArgo(guard as { failureCondition: string }, { kind: "vector", values: [NO_BASELINE_VALUE] }).phase).toBe("Successful");
  });
});

describe("the percentile latency query on a real Prometheus", () => {
  test("histogram_quantile per side: a slow canary's p99 beyond the rollback band fails, the same p99 passes", async () => {
    const metric = metricOf("p99");
    const base = (metric.provider as { prometheus: { query: string } }).prometheus.query;
    const at = (c: string, s: string) => base.replaceAll("{{args.canary-hash}}", c).replaceAll("{{args.stable-hash}}", s).replaceAll("{{args.window}}", WINDOW);
    // Cases 6 and 7 loaded histograms: "latency: 20 % slow" (c7) and "2 points slower" (c6); the
    // stable sides s6/s7 have 1 % slow. With every fast request at 0.25 s and slow ones at 0.5 s,
    // the canary with 20 % slow has p99 in the 0.5 s bucket, the stables at 0.25-0.5 s.
    const slow = cases.findIndex((c) => c.name.startsWith("latency: 20 %"));
    const same = cases.findIndex((c) => c.name.startsWith("latency: 2 points"));
    const [bad, ok] = await Promise.all([server.query(at(cases[slow]!.canary, cases[slow]!.stable), AT), server.query(at(cases[same]!.stable, cases[slow]!.stable), AT)]);
    const value = (d: unknown) => Number((d as { result: Array<{ value: [number, string] }> }).result[0]!.value[1]);
    const phase = (v: number) => evaluateArgo(metric as { successCondition: string; failureCondition: string }, { kind: "vector", values: [v] }).phase;
    expect(value(bad)).toBe(FAIL_VALUE);
    expect(phase(value(bad))).toBe("Failed");
    // Two stable-like sides (both 1 % slow): the same p99, a difference of 0 ms, passes.
    expect(value(ok)).toBeCloseTo(0, 3);
    expect(phase(value(ok))).toBe("Successful");
  });
});
