/**
 * The web-provider AnalysisTemplates (components/kubernetes/web-provider.ts) end to end: rendered
 * objects valid against the Argo Rollouts CRD schema; Argo's arg substitution applied to the
 * rendered jsonBody; the request sent to a real analysis server reading a real Prometheus; the
 * answer's jsonPath value judged by the rendered conditions in a real expr engine (Argo's
 * EvaluateResult). pass/hold/rollback must map to Successful/Inconclusive/Failed for the step
 * verdict and Successful/Successful/Failed for the guard.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Ajv, type ValidateFunction } from "ajv";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  checkWebInputs,
  renderAnalysisServer,
  renderWebAnalysisTemplates,
  verdictCount,
  webAnalysisArgs,
  WEB_FAILURE_CONDITION,
  WEB_SUCCESS_CONDITION,
  type WebK8sObject,
} from "../components/kubernetes/web-provider.js";
import { loadArgoCrds, toStrictJsonSchema } from "../components/kubernetes/crds.js";
import { createAnalysisServer } from "../src/analysis-server/index.js";
import { parsePolicy, type PolicyInput } from "../src/policy/index.js";
import { isComparisonGate, type ComparisonGate } from "../src/policy/types.js";
import { evaluateAll, type ArgoPhase } from "./support/expr-engine.js";
import { requestSeries, startPrometheus, steadyMinutes, type PrometheusServer } from "./support/prometheus.js";

const MIN = 60_000;
const END = Math.floor(Date.now() / MIN) * MIN - 5 * MIN;
const NOW = END + 45_000;

const POLICY_INPUT: PolicyInput = {
  strategy: {
    type: "canary",
    steps: [
      { percent: 10, hold: "10m" },
      { percent: 50, hold: "10m" },
    ],
  },
  gates: [
    { type: "errorRate", name: "errors", minSamples: 500, holdBand: 0.1, rollbackBand: 0.25 },
    { type: "latency", name: "slow", thresholdMs: 500 },
  ],
};
const policy = parsePolicy(POLICY_INPUT);
const gates = policy.gates.filter(isComparisonGate) as ComparisonGate[];

let prom: PrometheusServer;
let server: Server;
let serverUrl: string;

beforeAll(async () => {
  const start = END - 30 * MIN;
  prom = await startPrometheus({
    series: [
      ...requestSeries({ hash: "stable7", start: END - 60 * MIN, minutes: steadyMinutes(60, 10_800, 0.001), pods: 2 }),
      ...requestSeries({ hash: "good7", start, minutes: steadyMinutes(30, 1_200, 0.001), zeroAtStart: false }),
      ...requestSeries({ hash: "bad7", start, minutes: steadyMinutes(30, 1_200, 0.2), zeroAtStart: false }),
      // 0.3 points worse: beyond the hold band, inside the rollback band -> hold.
      ...requestSeries({ hash: "meh7", start, minutes: steadyMinutes(30, 1_200, 0.0025), zeroAtStart: false }),
    ],
  });
  server = createAnalysisServer({ prometheusUrl: prom.url, now: () => NOW, log: () => {} });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 180_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await prom?.close();
});

const render = (url = serverUrl) =>
  renderWebAnalysisTemplates({
    name: "checkout",
    namespace: "shop",
    labels: { "app.kubernetes.io/name": "checkout" },
    policy,
    gates,
    serverUrl: url,
    backend: { kind: "prometheus" },
  });

/**
 * What Argo does before calling the provider (utils/analysis/factory.go ResolveMetricArgs): the
 * metric is marshalled to JSON and every {{args.NAME}} replaced by the value, JSON-string-escaped.
 */
function resolveArgs(metric: unknown, args: Record<string, string>): Record<string, unknown> {
  let text = JSON.stringify(metric);
  text = text.replace(/\{\{args\.([a-zA-Z0-9_-]+)\}\}/g, (whole, name: string) => {
    if (!(name in args)) throw new Error(`argument "${name}" was not supplied`);
    return JSON.stringify(args[name]).slice(1, -1);
  });
  return JSON.parse(text);
}

interface WebMetric {
  name: string;
  successCondition?: string;
  failureCondition?: string;
  provider: { web: { url: string; method: string; jsonPath: string; jsonBody: unknown; timeoutSeconds: number } };
}

/** Argo's web provider: POST the jsonBody, take the value at jsonPath ({$.verdict}). */
async function measure(metric: WebMetric): Promise<{ status: number; value: unknown; body: Record<string, unknown> }> {
  const web = metric.provider.web;
  const res = await fetch(web.url, { method: web.method, headers: { "content-type": "application/json" }, body: JSON.stringify(web.jsonBody), signal: AbortSignal.timeout(web.timeoutSeconds * 1000) });
  const body = (await res.json()) as Record<string, unknown>;
  expect(web.jsonPath).toBe("{$.verdict}");
  return { status: res.status, value: body.verdict, body };
}

const argsFor = (canary: string, stepIndex: number, weights?: { current: number; previous: number }) =>
  Object.fromEntries(
    webAnalysisArgs(policy, stepIndex, "10m", 31, weights).map((a) => [a.name as string, a.value !== undefined ? String(a.value) : (a.valueFrom as { podTemplateHashValue: string }).podTemplateHashValue === "Latest" ? canary : "stable7"]),
  );

describe("rendered web-provider templates", () => {
  test("are valid AnalysisTemplates per the Argo Rollouts CRD schema", () => {
    const crd = loadArgoCrds().find((c) => c.spec.names.kind === "AnalysisTemplate")!;
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addFormat("int32", { type: "number", validate: (x: number) => Number.isInteger(x) && Math.abs(x) < 2 ** 31 });
    ajv.addFormat("int64", { type: "number", validate: (x: number) => Number.isSafeInteger(x) });
    ajv.addFormat("date-time", { type: "string", validate: (x: string) => !Number.isNaN(Date.parse(x)) });
    const validate: ValidateFunction = ajv.compile(toStrictJsonSchema(crd.spec.versions[0]!.schema.openAPIV3Schema) as object);
    const templates = render("http://rollgate-analysis.argo-rollouts.svc:8080");
    expect(templates.map((t) => t.metadata.name)).toEqual(["checkout-gate-errors", "checkout-gate-slow", "checkout-guard"]);
    for (const t of templates) {
      const ok = validate(t);
      expect(ok ? [] : validate.errors).toEqual([]);
    }
    const metric = (templates[0]!.spec!.metrics as WebMetric[])[0]!;
    expect(metric.provider.web.url).toBe("http://rollgate-analysis.argo-rollouts.svc:8080/v1/verdict");
    expect(metric).toMatchObject({
      count: "{{args.verdict-count}}",
      inconclusiveLimit: "{{args.verdict-count}}",
      consecutiveSuccessLimit: 1,
      failureLimit: 0,
      successCondition: WEB_SUCCESS_CONDITION,
      failureCondition: WEB_FAILURE_CONDITION,
    });
    // Steps of 10m holding up to 40m: measured at 10, 11, ..., 40 minutes.
    expect(verdictCount(10 * 60_000, 40 * 60_000, 60_000)).toBe(31);
    expect(verdictCount(10 * 60_000, 10 * 60_000, 60_000)).toBe(1);
    const guard = templates[2]!.spec!.metrics as Array<WebMetric & { failureLimit: number }>;
    expect(guard.map((m) => [m.name, m.successCondition, m.failureCondition, m.failureLimit])).toEqual([
      ["errors-guard", undefined, WEB_FAILURE_CONDITION, 0],
      ["slow-guard", undefined, WEB_FAILURE_CONDITION, 0],
    ]);
  });

  test("bad inputs are named", () => {
    const issues = checkWebInputs({ serverUrl: "rollgate-analysis:8080", backend: { kind: "cloudWatch", loadBalancerArn: "x", canaryTargetGroupArn: "y", stableTargetGroupArn: "z" }, timeoutSeconds: 0, consecutiveErrorLimit: -1, policy });
    expect(issues.map((i) => i.path)).toEqual([
      "args.analysisServer.url",
      "args.analysisServer.timeoutSeconds",
      "args.analysisServer.consecutiveErrorLimit",
      "args.analysisServer.cloudWatch.loadBalancerArn",
      "args.analysisServer.cloudWatch.canaryTargetGroupArn",
      "args.analysisServer.cloudWatch.stableTargetGroupArn",
    ]);
  });

  test("the server Deployment: probes that never depend on Prometheus, limits, a non-root read-only pod", () => {
    const { objects, url } = renderAnalysisServer({ namespace: "argo-rollouts", image: "registry.example/rollgate:0.1.0", prometheusUrl: "http://prometheus-server.monitoring" });
    expect(url).toBe("http://rollgate-analysis.argo-rollouts.svc:8080");
    expect(objects.map((o) => o.kind)).toEqual(["ServiceAccount", "Deployment", "Service"]);
    const pod = ((objects[1]!.spec!.template as WebK8sObject).spec as { containers: Array<Record<string, any>>; serviceAccountName: string });
    const c = pod.containers[0]!;
    expect(pod.serviceAccountName).toBe("rollgate-analysis");
    expect(c.args).toEqual(["analysis-server", "--port", "8080", "--host", "0.0.0.0", "--prometheus-url", "http://prometheus-server.monitoring"]);
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.resources.limits.memory).toBe("256Mi");
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });
});

describe("conditions judged by the real expr engine against the server's real answers", () => {
  // [canary hash, verdict the server gives, step verdict phase, guard phase]
  const cases: Array<[string, string, ArgoPhase, ArgoPhase]> = [
    ["good7", "pass", "Successful", "Successful"],
    ["meh7", "hold", "Inconclusive", "Successful"],
    ["nothere7", "hold", "Inconclusive", "Successful"],
    ["bad7", "rollback", "Failed", "Failed"],
  ];

  test.each(cases)("%s: verdict %s -> step %s, guard %s", async (canary, verdict, stepPhase, guardPhase) => {
    const [verdictTemplate, , guardTemplate] = render();
    // The canary has been at 10 % for all 30 minutes: as step 1 after 1 %, the traffic says the step
    // began with the canary; the window (10m) is only the fallback.
    const stepMetric = resolveArgs((verdictTemplate!.spec!.metrics as WebMetric[])[0], argsFor(canary, 1)) as unknown as WebMetric;
    const guardMetric = resolveArgs((guardTemplate!.spec!.metrics as WebMetric[])[0], argsFor(canary, 0)) as unknown as WebMetric;
    const step = await measure(stepMetric);
    const guard = await measure(guardMetric);
    expect(step.status).toBe(200);
    expect(step.value).toBe(verdict);
    // No canary data yet: no rollout start, so no step start either.
    expect(step.body.stepStartedAt).toBe(canary === "nothere7" ? null : new Date(END - 10 * MIN).toISOString());
    const [s, g] = evaluateAll([
      { conditions: stepMetric, result: { kind: "json", json: step.value } },
      { conditions: guardMetric, result: { kind: "json", json: guard.value } },
    ]);
    expect(s!.phase).toBe(stepPhase);
    expect(g!.phase).toBe(guardPhase);
  });

  test("a metrics outage: the server answers hold, the step is Inconclusive and the guard keeps going (never Failed)", async () => {
    const [verdictTemplate, , guardTemplate] = render();
    const stepMetric = resolveArgs((verdictTemplate!.spec!.metrics as WebMetric[])[0], argsFor("bad7", 1)) as unknown as WebMetric;
    const guardMetric = resolveArgs((guardTemplate!.spec!.metrics as WebMetric[])[0], argsFor("bad7", 0)) as unknown as WebMetric;
    await prom.stop();
    try {
      const step = await measure(stepMetric);
      const guard = await measure(guardMetric);
      expect([step.value, guard.value]).toEqual(["hold", "hold"]);
      expect(String(step.body.reason)).toMatch(/unreachable/);
      const [s, g] = evaluateAll([
        { conditions: stepMetric, result: { kind: "json", json: step.value } },
        { conditions: guardMetric, result: { kind: "json", json: guard.value } },
      ]);
      expect([s!.phase, g!.phase]).toEqual(["Inconclusive", "Successful"]);
    } finally {
      await prom.start();
    }
  }, 60_000);

  test("an answer without a verdict string never passes: it is an evaluation error or Inconclusive", () => {
    const [verdictTemplate] = render();
    const metric = (verdictTemplate!.spec!.metrics as WebMetric[])[0]!;
    const phases = evaluateAll([null, "PASS", 1, true, ""].map((json) => ({ conditions: metric, result: { kind: "json", json } as const })));
    for (const p of phases) expect(["Inconclusive", "Error"]).toContain(p.phase);
  });
});

describe("renderKubernetes with analysisServer: the Rollout's args drive the server", () => {
  test("step args (window, verdict count to maxHold, weights) resolved into the verdict template reach the real server; the answer is judged by the real expr engine", async () => {
    const { renderKubernetes } = await import("../components/kubernetes/render.js");
    const r = renderKubernetes({ name: "checkout", policy: POLICY_INPUT, image: "app:1", namespace: "shop", analysisServer: { url: serverUrl } });
    expect(r.warnings.map((w) => w.path)).not.toContain("analysis.alpha");
    const steps = (r.rollout.spec.strategy as { canary: { steps: Array<Record<string, any>>; analysis: { args: Array<{ name: string; value?: string }> } } }).canary;
    const analysis = steps.steps.find((s) => "analysis" in s)!.analysis as { templates: Array<{ templateName: string }>; args: Array<{ name: string; value?: string; valueFrom?: unknown }> };
    const values = Object.fromEntries(analysis.args.map((a) => [a.name, a.value ?? (JSON.stringify(a.valueFrom).includes("Latest") ? "good7" : "stable7")]));
    // Step 0: 10 % after 0 %, a 10-minute hold and maxHold 40 minutes: measured at 10, 11, ... 40.
    expect(values).toMatchObject({ window: "10m", "verdict-count": "31", weight: "10", "previous-weight": "0", "step-index": "0" });
    const guardArgs = Object.fromEntries(steps.analysis.args.map((a) => [a.name, a.value ?? ""]));
    expect(guardArgs).toMatchObject({ weight: "", "previous-weight": "" });
    const template = r.analysisTemplates.find((t) => t.metadata.name === analysis.templates[0]!.templateName)!;
    const metric = resolveArgs((template.spec.metrics as WebMetric[])[0], values) as unknown as WebMetric & { initialDelay: string; count: string };
    expect([metric.initialDelay, metric.count]).toEqual(["10m", "31"]);
    const answer = await measure(metric);
    expect(answer.value).toBe("pass");
    // The canary's share says step 0 began with the canary, 30 minutes ago.
    expect(answer.body.stepStartedAt).toBe(new Date(END - 30 * MIN).toISOString());
    expect(evaluateAll([{ conditions: metric, result: { kind: "json", json: answer.value } }])[0]!.phase).toBe("Successful");
  });

  test("analysisServer with a metric provider, or a bad URL, is refused naming the field", async () => {
    const { renderKubernetes } = await import("../components/kubernetes/render.js");
    expect(() => renderKubernetes({ name: "checkout", policy: POLICY_INPUT, image: "app:1", analysisServer: { url: "nope" } })).toThrow(/args\.analysisServer\.url/);
    expect(() =>
      renderKubernetes({ name: "checkout", policy: POLICY_INPUT, image: "app:1", analysisServer: { url: serverUrl }, provider: { kind: "prometheus", address: "http://p", requestsMetric: "a", statusLabel: "code", errorStatusRegex: "5..", durationMetric: "d", podHashLabel: "h", selector: "" } }),
    ).toThrow(/args\.analysisServer: set either analysisServer/);
  });
});

test("with ring steps dropped (ignoreRingSteps), each step's request names the source policy's step, whose weight the server sees", async () => {
  const { readFileSync } = await import("node:fs");
  const { parse } = await import("yaml");
  const { renderKubernetes } = await import("../components/kubernetes/render.js");
  const { parseVerdictRequest } = await import("../src/analysis-server/request.js");
  const shared = parse(readFileSync(new URL("../stacks/shared/policy.yaml", import.meta.url), "utf8"));
  const r = renderKubernetes({ name: "checkout", policy: shared, image: "app:1", ignoreRingSteps: true, analysisServer: { url: "http://s:8080" } });
  const steps = (r.rollout.spec.strategy as { canary: { steps: Array<{ analysis?: { templates: Array<{ templateName: string }>; args: Array<{ name: string; value?: string }> } }> } }).canary.steps.filter((s) => s.analysis);
  const seen = steps.map((s) => {
    const args = Object.fromEntries(s.analysis!.args.map((a) => [a.name, a.value ?? ""]));
    const template = r.analysisTemplates.find((t) => t.metadata.name === s.analysis!.templates[0]!.templateName)!;
    const metric = resolveArgs((template.spec.metrics as WebMetric[])[0], { ...args, "canary-hash": "abc1", "stable-hash": "def2" }) as unknown as WebMetric;
    const request = parseVerdictRequest(metric.provider.web.jsonBody);
    return [request.stepIndex, request.policy.steps[request.stepIndex]!.percent, request.weights];
  });
  // Source steps 1-4 (step 0 is the internal ring), at the weights Argo sets.
  expect(seen).toEqual([
    [1, 1, { current: 1, previous: 0 }],
    [2, 5, { current: 5, previous: 1 }],
    [3, 25, { current: 25, previous: 5 }],
    [4, 50, { current: 50, previous: 25 }],
  ]);
});
