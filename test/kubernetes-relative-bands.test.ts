/**
 * Relative bands on Argo: `rollbackBand: "30%"` with a floor in points must render as
 * canary - baseline > max(floor, 30 % x the baseline's rate), not as the floor alone. At base rates
 * 0.01 %, 2 % and 5 %, the rendered CloudWatch metric math (test/support/metric-math.ts, a model) and
 * the rendered PromQL (a real Prometheus, test/support/prometheus.ts) compute the verdict value, and
 * the real expr engine judges it with the rendered conditions: a relative regression fails, a canary
 * inside the relative bands does not, and the TypeScript twin (countVerdictValue) agrees. The band
 * in force is the engine's (src/analysis/gate.ts effectiveBands): max(min(floor, 5 x rate), share x rate). The same
 * gate with the floors as absolute bands (what the render did before) fails the canaries that the
 * relative band lets through: those rows are the finding.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countVerdictValue, FAIL_VALUE, type CloudWatchQuery } from "../components/kubernetes/conditions.js";
import { analysisTiming, planKubernetes, renderKubernetes, type K8sObject, type MetricProvider } from "../components/kubernetes/index.js";
import type { PolicyInput } from "../src/policy/index.js";
import type { ComparisonGate } from "../src/policy/types.js";
import { evaluateAll, exprEngineBinary, type ArgoPhase } from "./support/expr-engine.js";
import { getMetricData } from "./support/metric-math.js";
import { requestSeries, startPrometheus, steadyMinutes, type PrometheusServer, type Series } from "./support/prometheus.js";

beforeAll(() => void exprEngineBinary(), 600_000);

const cloudWatch: MetricProvider = { kind: "cloudWatch", loadBalancer: "app/lb/1", stableTargetGroup: "targetgroup/stable/1", canaryTargetGroup: "targetgroup/canary/1" };
const prometheus: MetricProvider = {
  kind: "prometheus",
  address: "http://prometheus:9090",
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: 'service="checkout"',
};
const steps: PolicyInput["strategy"] = { type: "canary", steps: [{ percent: 10, hold: "10m" }, { percent: 50, hold: "10m" }] };
/** The standard profile's error-rate gate: hold 10 % (at least 0.1 point), roll back 30 % (at least 0.25). */
const RELATIVE: PolicyInput = {
  strategy: steps,
  gates: [{ type: "errorRate", holdBand: "10%", holdBandMin: 0.1, rollbackBand: "30%", rollbackBandMin: 0.25, minSamples: 200 }],
  timeouts: { maxHold: "40m", onTimeout: "pause" },
};
/** The same gate with its floors as absolute bands: how the render read it before. */
const FLOORS: PolicyInput = { ...RELATIVE, gates: [{ type: "errorRate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 }] };

type Kind = "fail" | "pass" | "hold";
interface Case {
  base: number;
  canary: number;
  /** What the relative bands say; and what the floors alone said. */
  relative: Kind;
  floors: Kind;
  why: string;
}
// 20 minutes of 10,000 requests a minute per side: enough that every regression here is confident.
const PER_MINUTE = 10_000;
const MINUTES = 20;
const cases: Case[] = [
  { base: 0.0001, canary: 0.0001, relative: "pass", floors: "pass", why: "0.01 %: identical" },
  { base: 0.0001, canary: 0.005, relative: "fail", floors: "fail", why: "0.01 % -> 0.5 %: beyond the 0.25-point floor (30 % of 0.01 % is far below it)" },
  {
    base: 0.0001,
    canary: 0.001,
    relative: "fail",
    floors: "pass",
    why: "0.01 % -> 0.1 %: ten times the rate; the floor in force is capped at 5 x the rate (0.05 point), as the engine's; the floor alone passed it",
  },
  { base: 0.02, canary: 0.0215, relative: "pass", floors: "hold", why: "2 % -> 2.15 %: inside the hold band in force, 0.2 points (the floor alone, 0.1, held it)" },
  { base: 0.02, canary: 0.024, relative: "hold", floors: "fail", why: "2 % -> 2.4 %: +20 %, between the bands in force (0.2 and 0.6 points); the floor alone rolled it back" },
  { base: 0.02, canary: 0.03, relative: "fail", floors: "fail", why: "2 % -> 3 %: +50 %, beyond 30 % of the baseline" },
  { base: 0.05, canary: 0.054, relative: "pass", floors: "fail", why: "5 % -> 5.4 %: inside the hold band in force, 0.5 points; the floor alone rolled it back" },
  { base: 0.05, canary: 0.06, relative: "hold", floors: "fail", why: "5 % -> 6 %: +20 %, below the 1.5-point rollback band in force; the floor alone rolled it back" },
  { base: 0.05, canary: 0.075, relative: "fail", floors: "fail", why: "5 % -> 7.5 %: +50 %" },
];

const render = (policy: PolicyInput, provider: MetricProvider) => renderKubernetes({ name: "checkout", image: "x", policy, provider });
type Metric = Record<string, unknown> & { successCondition?: string; failureCondition?: string };
const metricOf = (r: { analysisTemplates: K8sObject[] }, template: string) => (r.analysisTemplates.find((t) => t.metadata.name === template)!.spec.metrics as Metric[])[0]!;
const VERDICT = "checkout-gate-error-rate";
const GUARD = "checkout-guard";
const expected = (kind: Kind, role: "verdict" | "guard"): ArgoPhase => (kind === "fail" ? "Failed" : role === "guard" ? "Successful" : kind === "pass" ? "Successful" : "Inconclusive");
const counts = (c: Case) => {
  const errors = (rate: number) => Math.round(PER_MINUTE * rate) * MINUTES;
  return { canaryTotal: PER_MINUTE * MINUTES, canaryEvents: errors(c.canary), baselineTotal: PER_MINUTE * MINUTES, baselineEvents: errors(c.base) };
};
const queryOf = (policy: PolicyInput, kind: "cloudWatch" | "prometheus") => analysisTiming(planKubernetes("checkout", policy, kind), { analysisInterval: "1m", metricDelay: kind === "cloudWatch" ? "3m" : "1m" }).query;

describe("relative bands render as max(floor, share x baseline rate): CloudWatch metric math (model) and the real expr engine", () => {
  for (const [label, policy, pick] of [
    ["relative bands", RELATIVE, (c: Case) => c.relative],
    ["the floors alone (the previous render)", FLOORS, (c: Case) => c.floors],
  ] as const) {
    test.each(cases)(`${label}: $why`, (c) => {
      const r = render(policy, cloudWatch);
      const gate = r.policy.gates[0] as ComparisonGate;
      const minutes = Array.from({ length: MINUTES }, () => ({
        canary: { requests: PER_MINUTE, http5xx: Math.round(PER_MINUTE * c.canary) },
        stable: { requests: PER_MINUTE, http5xx: Math.round(PER_MINUTE * c.base) },
      }));
      const rows = (["verdict", "guard"] as const).map((role) => {
        const metric = metricOf(r, role === "verdict" ? VERDICT : GUARD);
        const queries = (metric.provider as { cloudWatch: { metricDataQueries: CloudWatchQuery[] } }).cloudWatch.metricDataQueries;
        const [series] = getMetricData(queries, minutes);
        return { role, metric, value: series!.values[0]! };
      });
      const twin = countVerdictValue(gate, counts(c), queryOf(policy, "cloudWatch"));
      for (const row of rows) expect(row.value, `${row.role}: metric math agrees with countVerdictValue`).toBeCloseTo(twin, 6);
      const phases = evaluateAll(rows.map((row) => ({ conditions: row.metric, result: { kind: "cloudWatch", series: [{ id: "verdict", values: [row.value] }] } })));
      rows.forEach((row, i) => expect(phases[i]!.phase, `${row.role}, value ${row.value}`).toBe(expected(pick(c), row.role)));
    });
  }
});

// Real Prometheus: one canary/stable pair of series per case, both rendered policies judged on them.
const START = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
const AT = START + MINUTES * 60_000 + 30_000;
const labels = { service: "checkout" };
const series: Series[] = cases.flatMap((c, i) => [
  ...requestSeries({ hash: `rc${i}`, start: START, labels, minutes: steadyMinutes(MINUTES, PER_MINUTE, c.canary) }),
  ...requestSeries({ hash: `rs${i}`, start: START, labels, minutes: steadyMinutes(MINUTES, PER_MINUTE, c.base) }),
]);
let server: PrometheusServer;
beforeAll(async () => {
  server = await startPrometheus({ series });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe("relative bands in PromQL on a real Prometheus, judged by the real expr engine", () => {
  for (const [label, policy, pick] of [
    ["relative bands", RELATIVE, (c: Case) => c.relative],
    ["the floors alone (the previous render)", FLOORS, (c: Case) => c.floors],
  ] as const) {
    test.each(cases.map((c, i) => ({ ...c, i })))(`${label}: $why`, async (c) => {
      const r = render(policy, prometheus);
      const gate = r.policy.gates[0] as ComparisonGate;
      const rows = await Promise.all(
        (["verdict", "guard"] as const).map(async (role) => {
          const metric = metricOf(r, role === "verdict" ? VERDICT : GUARD);
          const promql = (metric.provider as { prometheus: { query: string } }).prometheus.query
            .replaceAll("{{args.canary-hash}}", `rc${c.i}`)
            .replaceAll("{{args.stable-hash}}", `rs${c.i}`)
            .replaceAll("{{args.window}}", "25m");
          const data = (await server.query(promql, AT)) as { result: Array<{ value: [number, string] }> };
          expect(data.result).toHaveLength(1);
          return { role, metric, value: Number(data.result[0]!.value[1]) };
        }),
      );
      const twin = countVerdictValue(gate, counts(c), queryOf(policy, "prometheus"));
      for (const row of rows) {
        // increase() extrapolates to the window's edges: a difference is close, a sentinel exact.
        if (twin === FAIL_VALUE) expect(row.value).toBe(FAIL_VALUE);
        else expect(row.value, `${row.role}: PromQL agrees with countVerdictValue`).toBeCloseTo(twin, 1);
      }
      const phases = evaluateAll(rows.map((row) => ({ conditions: row.metric, result: { kind: "vector", values: [row.value] } })));
      rows.forEach((row, i) => expect(phases[i]!.phase, `${row.role}, value ${row.value}`).toBe(expected(pick(c), row.role)));
    });
  }
});
