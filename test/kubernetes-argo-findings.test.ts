/**
 * The eight findings of issue 17, each as a test of the RENDERED objects at run time: the
 * rendered CloudWatch queries evaluated by the metric-math model (test/support/metric-math.ts)
 * on simulated ALB minutes, the rendered conditions judged by the real expr engine, and what
 * Argo's controller does with the phases by the model in components/kubernetes/argo-analysis.ts
 * (its comments cite the controller source lines). Each test failed on the render before this
 * change (checked by running this file against the previous render.ts and conditions.ts).
 */
import { beforeAll, describe, expect, test } from "vitest";
import { AnalysisRunModel, backgroundRunReaction, metricFromSpec, parseGoDuration, stepRunReaction } from "../components/kubernetes/argo-analysis.js";
import { ArgoRolloutController, type Measure } from "../components/kubernetes/argo-sim.js";
import type { CloudWatchQuery } from "../components/kubernetes/conditions.js";
import { ArgoMappingError, renderKubernetes, type K8sObject, type MetricProvider, type RenderInput } from "../components/kubernetes/index.js";
import type { PolicyInput } from "../src/policy/index.js";
import type { ComparisonGate } from "../src/policy/types.js";
import { runSimulation } from "../src/sim/simulator.js";
import type { Scenario } from "../src/sim/types.js";
import { evaluateAll, exprEngineBinary, phaseFunction, type ArgoPhase } from "./support/expr-engine.js";

// Install (when missing) and build the expr evaluator once, outside any test's timeout.
beforeAll(() => void exprEngineBinary(), 600_000);
import { getMetricData, type CwMinute, type SideMinute } from "./support/metric-math.js";

const cloudWatch: MetricProvider = { kind: "cloudWatch", loadBalancer: "app/lb/1", stableTargetGroup: "targetgroup/stable/1", canaryTargetGroup: "targetgroup/canary/1" };
const prometheus: MetricProvider = {
  kind: "prometheus",
  address: "http://prometheus:9090",
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: "",
  latencyBuckets: [0.1, 0.25, 0.5, 1],
};
const render = (policy: PolicyInput, extra: Partial<RenderInput> = {}) => renderKubernetes({ name: "checkout", image: "x", policy, provider: cloudWatch, ...extra });

type Metric = Record<string, unknown> & { name: string; successCondition?: string; failureCondition?: string };
const metrics = (t: K8sObject) => t.spec.metrics as Metric[];
const verdictTemplates = (r: { analysisTemplates: K8sObject[] }) => r.analysisTemplates.filter((t) => t.metadata.name.includes("-gate-"));
const guardTemplate = (r: { analysisTemplates: K8sObject[] }) => r.analysisTemplates.find((t) => t.metadata.name.endsWith("-guard"))!;
const queriesOf = (m: Metric) => (m.provider as { cloudWatch: { metricDataQueries: CloudWatchQuery[] } }).cloudWatch.metricDataQueries;

/** The rendered CloudWatch query and conditions of a metric, evaluated on one window of minutes. */
function judge(m: Metric, minutes: CwMinute[]): ArgoPhase {
  const [series] = getMetricData(queriesOf(m), minutes);
  const newest = series!.values[0];
  return phaseFunction(m, "cloudWatch")(newest);
}

const minutesOf = (n: number, canary: SideMinute, stable: SideMinute): CwMinute[] => Array.from({ length: n }, () => ({ canary, stable }));

/**
 * The simulator's measurements, read the way Argo reads the rendered strings: the metric-math
 * model on the rendered queries, the real expr engine on the rendered conditions.
 */
function renderedMeasure(): Measure {
  const readers = new Map<string, (v: number | undefined) => ArgoPhase>();
  return ({ metric, gate, minutes }) => {
    const m = metric as Metric;
    const key = `${m.successCondition}|${m.failureCondition}`;
    if (!readers.has(key)) readers.set(key, phaseFunction(m, "cloudWatch"));
    const side = (x: { total: number; events: number } | undefined): SideMinute | undefined => (x && x.total > 0 ? sideMinute(gate, x) : undefined);
    const cw = minutes.map((w) => ({ ...(side(w.canary) ? { canary: side(w.canary) } : {}), ...(side(w.baseline) ? { stable: side(w.baseline) } : {}) }));
    const [series] = getMetricData(queriesOf(m), cw);
    return readers.get(key)!(series!.values[0]);
  };
}

function sideMinute(gate: ComparisonGate, x: { total: number; events: number }): SideMinute {
  if (gate.type === "latency" && gate.mode === "threshold") {
    return { requests: x.total, http5xx: 0, percentRank: { [String(gate.thresholdMs! / 1000)]: (100 * (x.total - x.events)) / x.total } };
  }
  return { requests: x.total, http5xx: x.events };
}

function simulate(r: ReturnType<typeof render>, scenario: Scenario, seed: number) {
  const controller = new ArgoRolloutController(r, { logThreshold: 0 }, { measure: renderedMeasure() });
  return runSimulation(controller, scenario, seed).outcome;
}

// Simulations with the real expr engine: seconds alone, far more on a loaded machine; nothing here measures time.
describe("issue 17 findings, against the rendered objects", { timeout: 300_000 }, () => {
  test("1. a canary that degrades while a step is undecided is rolled back: 'hold' never parks the Rollout in the inconclusive pause that switches the guard off", () => {
    // Gate "error-rate" cannot reach its minSamples at 10 % (it holds); the canary's latency breaks
    // at minute 15. The old mapping paused the Rollout (InconclusiveAnalysis) at the end of the
    // 10-minute hold, and rollout/analysis.go line 362 then ignores the failing latency guard.
    const policy: PolicyInput = {
      strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }, { percent: 50, hold: "10m" }] },
      gates: [
        { type: "errorRate", minSamples: 1_000_000 },
        { type: "latency", thresholdMs: 250, holdBand: 1, rollbackBand: 3, minSamples: 100 },
      ],
      timeouts: { maxHold: "60m", onTimeout: "pause" },
    };
    const r = render(policy);
    const outcomes = [1, 2, 3].map((seed) =>
      simulate(r, { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.001, canaryLatencyFactor: 5, regressionAtMinute: 15, horizonMinutes: 90, observeUntilHorizon: true, lagSeconds: [60, 180] }, seed),
    );
    for (const o of outcomes) {
      expect(o.result, o.reason).toBe("rolled-back");
      expect(o.detectionMs!, o.reason).toBeLessThan(10 * 60_000);
    }

    // The pause itself: a step run that is Inconclusive pauses, and while paused the background
    // guard's failure does nothing (the model of rollout/analysis.go lines 362 and 434-443).
    expect(stepRunReaction("Inconclusive")).toBe("pause-inconclusive");
    expect(backgroundRunReaction("Failed", true)).toBe("none");
    // So the rendered verdict must not become Inconclusive before maxHold while the data sits in
    // the hold band: feed it "hold band" measurements for the whole hold and beyond.
    const verdict = metricFromSpec(metrics(verdictTemplates(r)[0]!)[0]!);
    const run = new AnalysisRunModel("step", [verdict], 0);
    for (let t = 0; t <= 50 * 60_000; t += 10_000) run.reconcile(t, () => "Inconclusive");
    expect(run.phase).toBe("Running");
  });

  test("2. below minSamples strong evidence fails: 150 canary requests, all 5xx, minSamples 200", () => {
    const r = render({ profile: "standard", gates: [{ type: "errorRate", minSamples: 200 }] });
    // 10 minutes: the canary served 15 requests a minute, all 5xx; the stable 1,500 with 0.1 %.
    const window = minutesOf(10, { requests: 15, http5xx: 15 }, { requests: 1500, http5xx: 2 });
    expect(judge(metrics(verdictTemplates(r)[0]!)[0]!, window)).toBe("Failed");
    expect(judge(metrics(guardTemplate(r))[0]!, window)).toBe("Failed");
    // And a healthy canary with as few requests is not failed (it holds).
    const healthy = minutesOf(10, { requests: 15, http5xx: 0 }, { requests: 1500, http5xx: 2 });
    expect(judge(metrics(verdictTemplates(r)[0]!)[0]!, healthy)).toBe("Inconclusive");
    expect(judge(metrics(guardTemplate(r))[0]!, healthy)).toBe("Successful");
  });

  test("3. the guard's window is one the delayed data can fill, even when the shortest hold is 90 s; a canary breaking in a 2 h step is caught within minutes", () => {
    const policy: PolicyInput = {
      strategy: { type: "canary", steps: [{ percent: 5, hold: "90s" }, { percent: 50, hold: "2h" }] },
      gates: [{ type: "errorRate" }],
      timeouts: { maxHold: "3h", onTimeout: "pause" },
    };
    const r = render(policy);
    const analysis = (r.rollout.spec.strategy as { canary: { analysis: { args: Array<{ name: string; value?: string }> } } }).canary.analysis;
    const windowMs = parseGoDuration(analysis.args.find((a) => a.name === "window")!.value)!;
    // ALB datapoints arrive up to 3 minutes late at a 60 s period: at least two whole minutes must be in reach.
    expect(windowMs - 3 * 60_000).toBeGreaterThanOrEqual(2 * 60_000);
    // Behaviour: the canary breaks 20 minutes into the 2 h step.
    const outcomes = [11, 12, 13].map((seed) => simulate(r, { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.05, regressionAtMinute: 25, lagSeconds: [60, 180], horizonMinutes: 200 }, seed));
    for (const o of outcomes) {
      expect(o.result, o.reason).toBe("rolled-back");
      expect(o.detectionMs!, o.reason).toBeLessThan(15 * 60_000);
    }
  });

  test("4. a metrics outage holds with onMissingData: hold (it never aborts), and rolls back within a minute with onMissingData: rollback", () => {
    const hold = render({ profile: "standard", gates: [{ type: "errorRate", onMissingData: "hold" }] });
    const rollback = render({ profile: "standard", gates: [{ type: "errorRate", onMissingData: "rollback" }] });
    const outage = (spec: Metric, minutes: number) => {
      const run = new AnalysisRunModel("run", [metricFromSpec(spec)], 0);
      // Every measurement errors (the provider is down): Argo retries every 10 s.
      for (let t = 0; t <= minutes * 60_000; t += 1_000) run.reconcile(t, () => "Error");
      return run.phase;
    };
    for (const spec of [metrics(verdictTemplates(hold)[0]!)[0]!, metrics(guardTemplate(hold))[0]!]) {
      expect(outage(spec, 30), `${spec.name}: a 30-minute outage`).toBe("Running");
    }
    for (const spec of [metrics(verdictTemplates(rollback)[0]!)[0]!, metrics(guardTemplate(rollback))[0]!]) {
      expect(stepRunReaction(outage(spec, 60)), spec.name).toBe("abort");
    }
  });

  test("5. noise: identical versions are not rolled back at 50 rps (shared example policy's error-rate gate)", () => {
    const r = render({ profile: "standard", gates: [{ type: "errorRate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 }] });
    const runs = 40;
    let rolledBack = 0;
    for (let seed = 0; seed < runs; seed++) {
      if (simulate(r, { rps: 50, baselineErrorRate: 0.001, canaryErrorRate: 0.001, lagSeconds: [60, 180] }, 500 + seed).result === "rolled-back") rolledBack++;
    }
    // The old rules rolled back about a quarter of these; the policy's budget (alpha 1 %) allows
    // well under one in 40.
    expect(rolledBack).toBe(0);
  });

  test("6. onMissingData: rollback holds on too few samples, and NaN means the same on CloudWatch and Prometheus", () => {
    const policy: PolicyInput = { profile: "standard", gates: [{ type: "errorRate", onMissingData: "rollback", minSamples: 200 }] };
    const r = render(policy);
    // 50 healthy canary requests: too few samples, not missing data.
    const fewSamples = minutesOf(10, { requests: 5, http5xx: 0 }, { requests: 1500, http5xx: 2 });
    expect(judge(metrics(verdictTemplates(r)[0]!)[0]!, fewSamples)).toBe("Inconclusive");
    const cwMetric = metrics(verdictTemplates(r)[0]!)[0]!;
    const promMetric = metrics(verdictTemplates(render(policy, { provider: prometheus }))[0]!)[0]!;
    const [cw, prom] = evaluateAll([
      { conditions: cwMetric, result: { kind: "cloudWatch", series: [{ id: "verdict", values: [Number.NaN] }] } },
      { conditions: promMetric, result: { kind: "vector", values: [Number.NaN] } },
    ]);
    expect(cw!.phase).toBe(prom!.phase);
  });

  test("7. blue-green with a test share judges the gates before the switch, and a bad version never gets all traffic", () => {
    const policy: PolicyInput = { strategy: { type: "blueGreen", bake: "15m", testPercent: 5 }, promotion: { bake: "10m" }, gates: [{ type: "errorRate" }] };
    const r = render(policy);
    const steps = (r.rollout.spec.strategy as { canary: { steps: Array<Record<string, unknown>> } }).canary.steps;
    expect(steps[0]).toEqual({ setCanaryScale: { weight: 100 } });
    expect(steps).toContainEqual(expect.objectContaining({ analysis: expect.objectContaining({ templates: [{ templateName: "checkout-gate-error-rate" }] }) }));
    const bad = [21, 22].map((seed) => simulate(r, { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.05, lagSeconds: [60, 180] }, seed));
    for (const o of bad) {
      expect(o.result, o.reason).toBe("rolled-back");
      expect(o.maxCanaryShare).toBeLessThan(0.5);
    }
  });

  test("7b. blue-green post-promotion: after the switch the bake compares the new version with the previous version's lookback and aborts back to it; a healthy one is promoted after the bake", () => {
    // Before this, nothing judged the new version once it had all the traffic: a version that
    // breaks after the switch (or only at full load) was promoted at the switch.
    const policy: PolicyInput = { strategy: { type: "blueGreen", bake: "15m", testPercent: 5 }, promotion: { bake: "30m" }, gates: [{ type: "errorRate" }] };
    const r = render(policy);
    const steps = (r.rollout.spec.strategy as { canary: { steps: Array<Record<string, unknown>> } }).canary.steps;
    expect(steps.slice(-2)).toEqual([{ setWeight: 100 }, { analysis: expect.objectContaining({ templates: [{ templateName: "checkout-bake" }] }) }]);
    const switchMinute = 15;
    for (const seed of [31, 32, 33]) {
      // 2 % errors from 10 minutes after the switch, at full traffic.
      const bad = simulate(r, { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.02, regressionAtMinute: switchMinute + 10, lagSeconds: [60, 180] }, seed);
      expect(bad.result, bad.reason).toBe("rolled-back");
      expect(bad.maxCanaryShare).toBe(1);
      expect(bad.detectionMs!, bad.reason).toBeLessThan(8 * 60_000);
      const healthy = simulate(r, { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.001, lagSeconds: [60, 180] }, seed);
      expect(healthy.result, healthy.reason).toBe("promoted");
      // Promoted only once the bake (30 minutes after the switch, plus the metric delay) has passed.
      expect(healthy.minutesSimulated).toBeGreaterThanOrEqual(switchMinute + 30);
    }
  });

  test("7c. the bake never passes on missing data: when the new version's metrics stop at the switch the Rollout pauses; with onMissingData: rollback the idle baseline does not abort a healthy bake", () => {
    const policy: PolicyInput = { strategy: { type: "blueGreen", bake: "15m", testPercent: 5 }, promotion: { bake: "30m" }, gates: [{ type: "errorRate" }] };
    const r = render(policy);
    // The canary's series vanish once it has all the traffic (the minutes without a baseline): the
    // comparison still sees the minutes before the switch, so only the freshness metric can tell.
    const read = renderedMeasure();
    const blind: Measure = (input) => read({ ...input, minutes: input.minutes.map((m) => (m.baseline ? m : { start: m.start })) });
    for (const seed of [41, 42]) {
      const o = runSimulation(new ArgoRolloutController(r, { logThreshold: 0 }, { measure: blind }), { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.001, lagSeconds: [60, 180] }, seed).outcome;
      expect(o.result, o.reason).toBe("paused");
      expect(o.reason).toMatch(/Inconclusive/);
    }
    // onMissingData: rollback: the background guard reads the idle stable as NO_BASELINE during
    // the bake, which it tolerates only there (the bake's own comparison reads the lookback).
    const strict = render({ ...policy, gates: [{ type: "errorRate", onMissingData: "rollback" }] });
    for (const seed of [43, 44]) {
      const o = simulate(strict, { rps: 200, baselineErrorRate: 0.001, canaryErrorRate: 0.001, lagSeconds: [60, 180] }, seed);
      expect(o.result, o.reason).toBe("promoted");
    }
  });

  test("8. a latency threshold that is not a histogram bucket is refused at render time, naming the field and the buckets", () => {
    const policy: PolicyInput = { profile: "low", gates: [{ type: "latency", thresholdMs: 300 }] };
    let error: unknown;
    try {
      render(policy, { provider: prometheus });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgoMappingError);
    expect((error as ArgoMappingError).issues).toContainEqual({ path: "gates[0].thresholdMs", message: expect.stringMatching(/not a bucket bound.*use 250 or 500 ms/) });
    expect(() => render({ profile: "low", gates: [{ type: "latency", thresholdMs: 250 }] }, { provider: prometheus })).not.toThrow();
  });
});
