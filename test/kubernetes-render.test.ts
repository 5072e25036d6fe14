/**
 * The policy rendered to Argo Rollouts objects: every Rollout and AnalysisTemplate validated with
 * ajv against the real CRD schemas (vendor/argo-rollouts), the mapping errors and
 * warnings, and the analysis conditions evaluated on empty and real results.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import {
  ArgoMappingError,
  FAIL_VALUE,
  NO_BASELINE_VALUE,
  NO_DATA_VALUE,
  TOO_FEW_VALUE,
  argoDuration,
  freshPhase,
  phaseOfValue,
  renderKubernetes,
  toStrictJsonSchema,
  type K8sObject,
  type MetricProvider,
  type RenderInput,
} from "../components/kubernetes/index.js";
import { isComparisonGate, type PolicyInput } from "../src/policy/index.js";
import { evaluateAll, evaluateArgo, exprEngineBinary, type ArgoResult } from "./support/expr-engine.js";

// Install (when missing) and build the expr evaluator once, outside any test's timeout.
beforeAll(() => void exprEngineBinary(), 600_000);

const REPO = resolve(import.meta.dirname, "..");
const SCHEMAS = resolve(REPO, "vendor/argo-rollouts");
const SHARED_POLICY = parse(readFileSync(resolve(REPO, "stacks/shared/policy.yaml"), "utf8")) as PolicyInput;

/* ------------------------------------------------------------------------------------------------
 * CRD validation
 * ---------------------------------------------------------------------------------------------- */

interface Crd {
  group: string;
  version: string;
  kind: string;
  validate: ValidateFunction;
}
const crds = new Map<string, Crd>();

beforeAll(() => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // The formats the CRDs use, enforced as the API server does (an int32 beyond 2^31 is rejected).
  ajv.addFormat("int32", { type: "number", validate: (x: number) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (x: number) => Number.isSafeInteger(x) });
  ajv.addFormat("date-time", { type: "string", validate: (x: string) => !Number.isNaN(Date.parse(x)) });
  for (const file of ["rollout-crd.yaml", "analysis-template-crd.yaml"]) {
    const doc = parse(readFileSync(resolve(SCHEMAS, file), "utf8"));
    const version = doc.spec.versions[0];
    crds.set(doc.spec.names.kind, {
      group: doc.spec.group,
      version: version.name,
      kind: doc.spec.names.kind,
      validate: ajv.compile(toStrictJsonSchema(version.schema.openAPIV3Schema) as object),
    });
  }
});

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Every schema error of an Argo object, as readable lines; empty when valid. */
function schemaErrors(obj: K8sObject): string[] {
  const crd = crds.get(obj.kind);
  if (!crd) return [`no CRD for kind ${obj.kind}`];
  const out: string[] = [];
  if (obj.apiVersion !== `${crd.group}/${crd.version}`) out.push(`apiVersion ${obj.apiVersion}, want ${crd.group}/${crd.version}`);
  if (!DNS_SUBDOMAIN.test(obj.metadata?.name ?? "") || obj.metadata.name.length > 253) out.push(`metadata.name "${obj.metadata?.name}" is not a DNS subdomain`);
  if (obj.metadata.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(obj.metadata.namespace)) out.push("metadata.namespace is not a DNS label");
  if (!crd.validate(obj)) out.push(...(crd.validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
  return out;
}

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/**
 * The checks Argo's controller adds on top of the schema (analysisutil.ValidateMetric): count at
 * least failureLimit and inconclusiveLimit, an interval when count > 1, parseable durations,
 * exactly one provider, unique metric names in every analysis run a step or the background creates.
 */
function argoMetricErrors(r: { rollout: K8sObject; analysisTemplates: K8sObject[] }): string[] {
  const out: string[] = [];
  const metricsByTemplate = new Map<string, Array<Record<string, unknown>>>();
  for (const t of r.analysisTemplates) {
    const metrics = t.spec.metrics as Array<Record<string, unknown>>;
    metricsByTemplate.set(t.metadata.name, metrics);
    for (const m of metrics) {
      const count = (m.count as number | undefined) ?? 0;
      if (count > 0 && count < ((m.failureLimit as number | undefined) ?? 0)) out.push(`${m.name}: count must be >= failureLimit`);
      if (count > 0 && count < ((m.inconclusiveLimit as number | undefined) ?? 0)) out.push(`${m.name}: count must be >= inconclusiveLimit`);
      if (count > 1 && !m.interval) out.push(`${m.name}: interval must be specified when count > 1`);
      if (m.interval !== undefined && !GO_DURATION.test(m.interval as string)) out.push(`${m.name}: invalid interval ${m.interval}`);
      if (Object.keys(m.provider as object).length !== 1) out.push(`${m.name}: exactly one provider`);
    }
  }
  const strategy = r.rollout.spec.strategy as { canary?: { steps: Steps; analysis?: { templates: Array<{ templateName: string }> } } };
  const runs = [
    ...(strategy.canary?.steps ?? []).filter((s) => s.analysis).map((s) => (s.analysis as { templates: Array<{ templateName: string }> }).templates),
    ...(strategy.canary?.analysis ? [strategy.canary.analysis.templates] : []),
  ];
  for (const templates of runs) {
    const names = templates.flatMap((t) => (metricsByTemplate.get(t.templateName) ?? []).map((m) => m.name as string));
    if (new Set(names).size !== names.length) out.push(`duplicate metric names in one run: ${names.join(", ")}`);
    for (const t of templates) if (!metricsByTemplate.has(t.templateName) && !t.templateName.endsWith("-smoke")) out.push(`unknown template ${t.templateName}`);
  }
  for (const s of strategy.canary?.steps ?? []) {
    const duration = (s.pause as { duration?: string } | undefined)?.duration;
    if (duration !== undefined && !GO_DURATION.test(duration)) out.push(`pause duration ${duration} is not a Go duration`);
  }
  return out;
}

function expectValid(r: { rollout: K8sObject; analysisTemplates: K8sObject[] }): void {
  for (const obj of [r.rollout, ...r.analysisTemplates]) {
    expect(schemaErrors(obj), `${obj.kind} ${obj.metadata.name}`).toEqual([]);
  }
  expect(argoMetricErrors(r)).toEqual([]);
}

const cloudWatch: MetricProvider = {
  kind: "cloudWatch",
  loadBalancer: "app/k8s-shop-checkout/0123456789abcdef",
  stableTargetGroup: "targetgroup/k8s-shop-checkout-stable/0123456789abcdef",
  canaryTargetGroup: "targetgroup/k8s-shop-checkout-canary/0123456789abcdef",
};
const prometheus: MetricProvider = {
  kind: "prometheus",
  address: "http://prometheus-server.monitoring:80",
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: 'namespace="shop"',
  latencyBuckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5],
};
// The shared policy starts with an internal ring step; the Kubernetes example drops it with
// ignoreRingSteps, and so do these tests whenever they render that file.
const render = (policy: PolicyInput, extra: Partial<RenderInput> = {}) =>
  renderKubernetes({
    name: "checkout",
    image: "ghcr.io/acme/checkout:1.4.2",
    namespace: "shop",
    policy,
    provider: cloudWatch,
    ...(policy === SHARED_POLICY ? { ignoreRingSteps: true } : {}),
    ...extra,
  });

const metricGate = {
  type: "metric",
  name: "conversion",
  namespace: "Checkout",
  events: "CheckoutCompleted",
  total: "CheckoutStarted",
  worseWhen: "lower",
  dimensions: { Service: "checkout" },
  minSamples: 50,
} as const;

describe("rendered objects pass the Argo Rollouts CRD schemas", () => {
  const cases: Array<[string, PolicyInput, Partial<RenderInput>]> = [
    ["low profile, CloudWatch", { profile: "low" }, {}],
    ["standard profile, CloudWatch", { profile: "standard" }, {}],
    ["high profile, CloudWatch", { profile: "high" }, {}],
    ["low profile, Prometheus", { profile: "low" }, { provider: prometheus }],
    ["standard profile, Prometheus", { profile: "standard" }, { provider: prometheus }],
    ["high profile, Prometheus", { profile: "high" }, { provider: prometheus }],
    ["shared policy file, CloudWatch", SHARED_POLICY, {}],
    ["shared policy file, Prometheus", SHARED_POLICY, { provider: prometheus }],
    ["custom metric gate (worse when lower), CloudWatch", { profile: "standard", gates: [metricGate] }, {}],
    ["custom metric gate (worse when lower), Prometheus", { profile: "standard", gates: [metricGate] }, { provider: prometheus }],
    [
      "manual approval on every step, missing data rolls back",
      {
        strategy: { type: "canary", steps: [{ percent: 10, hold: "5m", approval: true }, { percent: 50, hold: "1h30m", approval: true }] },
        gates: [{ type: "errorRate", onMissingData: "rollback" }],
      },
      {},
    ],
    ["linear shorthand, latency threshold gate", { strategy: { type: "linear", stepPercent: 20, hold: "2m" }, gates: [{ type: "latency", thresholdMs: 250 }] }, { provider: prometheus }],
    ["exponential shorthand, per-step gates", { strategy: { type: "exponential", startPercent: 2, hold: "90s" }, gates: [{ type: "errorRate" }, { type: "latency" }] }, {}],
    ["blue-green, dark bake, auto-promotion", { strategy: { type: "blueGreen", bake: "30m" } }, { provider: undefined }],
    ["blue-green with approval and a smoke-test template", { strategy: { type: "blueGreen", bake: "15m", approval: true } }, { provider: undefined, analysisTemplates: ["checkout-smoke"] }],
    ["no gates at all", { strategy: { type: "canary", steps: [{ percent: 25, hold: "1m" }] } }, { provider: undefined }],
    ["blue-green with a test share and a guarded bake, CloudWatch", { strategy: { type: "blueGreen", bake: "15m", testPercent: 5 }, promotion: { bake: "30m" }, gates: [{ type: "errorRate" }, { type: "latency", thresholdMs: 500 }] }, {}],
    ["blue-green with a test share and a guarded bake, Prometheus", { strategy: { type: "blueGreen", bake: "15m", testPercent: 5, approval: true }, promotion: { bake: "30m" }, gates: [{ type: "errorRate", onMissingData: "rollback" }, { type: "latency" }] }, { provider: prometheus }],
    ["standard profile with a guarded bake and onTimeout rollback, CloudWatch", { profile: "standard", promotion: { bake: "1h" }, timeouts: { onTimeout: "rollback" } }, {}],
  ];
  test.each(cases)("%s", (_name, policy, extra) => {
    const r = render(policy, extra);
    expect(r.rollout.kind).toBe("Rollout");
    expectValid(r);
  });

  test("negative: the validator catches a misspelled field under strategy.canary", () => {
    const r = render({ profile: "standard" });
    const bad = structuredClone(r.rollout);
    const canary = (bad.spec.strategy as { canary: Record<string, unknown> }).canary;
    canary.stableSerivce = canary.stableService;
    delete canary.stableService;
    expect(schemaErrors(bad).join("\n")).toMatch(/\/spec\/strategy\/canary must NOT have additional properties.*stableSerivce/);
  });

  test("negative: Argo's own metric checks catch a bad combination", () => {
    const r = render({ profile: "standard" });
    const bad = structuredClone(r);
    const metric = (bad.analysisTemplates[0]!.spec.metrics as Array<Record<string, unknown>>)[0]!;
    metric.count = 3;
    delete metric.interval;
    metric.inconclusiveLimit = 5;
    (bad.analysisTemplates[1]!.spec.metrics as Array<Record<string, unknown>>)[0]!.name = "error-rate";
    expect(argoMetricErrors(bad)).toEqual([
      "error-rate: count must be >= inconclusiveLimit",
      "error-rate: interval must be specified when count > 1",
      "duplicate metric names in one run: error-rate, error-rate",
      "duplicate metric names in one run: error-rate, error-rate",
      "duplicate metric names in one run: error-rate, error-rate",
      "duplicate metric names in one run: error-rate, error-rate",
    ]);
  });

  test("negative: the validator catches wrong types, int-or-string misuse and missing required fields", () => {
    const r = render({ profile: "standard" });
    const wrongType = structuredClone(r.rollout);
    const canary = (wrongType.spec.strategy as { canary: { steps: Array<Record<string, unknown>>; trafficRouting: { alb: Record<string, unknown> } } }).canary;
    canary.steps[0] = { setWeight: "1" };
    expect(schemaErrors(wrongType).join("\n")).toMatch(/\/spec\/strategy\/canary\/steps\/0\/setWeight must be integer/);

    const noPort = structuredClone(r.rollout);
    delete (noPort.spec.strategy as typeof wrongType.spec.strategy & { canary: { trafficRouting: { alb: Record<string, unknown> } } }).canary.trafficRouting.alb.servicePort;
    expect(schemaErrors(noPort).join("\n")).toMatch(/alb must have required property 'servicePort'/);

    const template = structuredClone(r.analysisTemplates[0]!);
    (template.spec.metrics as Array<Record<string, unknown>>)[0]!.count = true;
    expect(schemaErrors(template).join("\n")).toMatch(/\/spec\/metrics\/0\/count must be integer/);

    const tooBig = structuredClone(r.rollout);
    tooBig.spec.replicas = 2 ** 31;
    expect(schemaErrors(tooBig).join("\n")).toMatch(/\/spec\/replicas must match format "int32"/);

    const wrongKind = { ...structuredClone(r.rollout), apiVersion: "argoproj.io/v1" };
    expect(schemaErrors(wrongKind)).toContain("apiVersion argoproj.io/v1, want argoproj.io/v1alpha1");
    const badName = structuredClone(r.rollout);
    badName.metadata.name = "Checkout_Service";
    expect(schemaErrors(badName).join("\n")).toMatch(/metadata.name .* is not a DNS subdomain/);
  });
});

/* ------------------------------------------------------------------------------------------------
 * What the Rollout says
 * ---------------------------------------------------------------------------------------------- */

type Steps = Array<Record<string, unknown>>;
const canaryOf = (r: { rollout: K8sObject }) => (r.rollout.spec.strategy as { canary: Record<string, unknown> & { steps: Steps } }).canary;

describe("the canary strategy maps the policy's steps", () => {
  test("shared policy: setWeight, pause for the hold, the step's analysis, then an indefinite pause for approval", () => {
    const r = render(SHARED_POLICY);
    const steps = canaryOf(r).steps;
    const analysis = (templates: string[]) => ({
      analysis: { templates: templates.map((t) => ({ templateName: t })), args: expect.arrayContaining([{ name: "window", value: "40m" }]) },
    });
    const gates = ["checkout-gate-error-rate", "checkout-gate-latency", "checkout-gate-checkout-failures"];
    // No pause step for the hold: the verdict metrics wait it out (initialDelay) and then keep
    // measuring until they pass or maxHold, with the background guard acting throughout.
    expect(steps).toEqual([
      { setWeight: 1 }, analysis(gates),
      { setWeight: 5 }, analysis(gates),
      { setWeight: 25 }, analysis(gates),
      { setWeight: 50 }, analysis(gates), { pause: {} },
    ]);
    expect(canaryOf(r).trafficRouting).toEqual({ alb: { ingress: "checkout", servicePort: 80, rootService: "checkout-stable" } });
    expect(canaryOf(r).stableService).toBe("checkout-stable");
    expect(canaryOf(r).canaryService).toBe("checkout-canary");
    expect(r.analysisTemplates.map((t) => t.metadata.name)).toEqual([...gates, "checkout-guard"]);
    expect(canaryOf(r).analysis).toMatchObject({ templates: [{ templateName: "checkout-guard" }], startingStep: 1 });
    expect(r.services.map((s) => s.metadata.name)).toEqual(["checkout-stable", "checkout-canary"]);
    expect(r.ingress.spec).toMatchObject({
      ingressClassName: "alb",
      rules: [{ http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "checkout-stable", port: { name: "use-annotation" } } } }] } }],
    });
  });

  test("CloudWatch args carry the stable and canary target groups; pod hashes come from Argo", () => {
    const args = (canaryOf(render(SHARED_POLICY)).steps[1]!.analysis as { args: unknown[] }).args;
    expect(args).toEqual([
      // The verdict's window is the step's maxHold (40m): waiting longer gathers more samples.
      { name: "window", value: "40m" },
      { name: "canary-hash", valueFrom: { podTemplateHashValue: "Latest" } },
      { name: "stable-hash", valueFrom: { podTemplateHashValue: "Stable" } },
      { name: "load-balancer", value: cloudWatch.loadBalancer },
      { name: "canary-target-group", value: cloudWatch.canaryTargetGroup },
      { name: "stable-target-group", value: cloudWatch.stableTargetGroup },
    ]);
  });

  test("a step checks only its own gates; a step without comparison gates has no analysis", () => {
    const r = render({
      strategy: { type: "canary", steps: [{ percent: 5, hold: "5m", gates: [] }, { percent: 20, hold: "5m", gates: ["latency"] }] },
      gates: [{ type: "errorRate" }, { type: "latency" }],
    });
    expect(canaryOf(r).steps).toEqual([
      { setWeight: 5 }, { pause: { duration: "5m" } },
      { setWeight: 20 }, expect.objectContaining({ analysis: expect.objectContaining({ templates: [{ templateName: "checkout-gate-latency" }] }) }),
    ]);
  });

  test("high profile: 0.1 % rounds up to 1 % with a warning naming the step", () => {
    const r = render({ profile: "high", timeouts: { onTimeout: "rollback" } });
    expect(canaryOf(r).steps.filter((s) => "setWeight" in s)).toEqual([1, 1, 5, 25, 50].map((setWeight) => ({ setWeight })));
    expect(r.warnings).toContainEqual({ path: "strategy.steps[0].percent", message: expect.stringContaining("0.1 % rounds up to 1 %") });
    // onTimeout rollback is expressed now (failureLimit -1: count reached without a pass fails).
    expect(r.warnings.map((w) => w.path)).not.toContain("timeouts.onTimeout");
    expect(r.warnings).toContainEqual({ path: "analysis.alpha", message: expect.stringContaining("anytime-valid") });
  });

  test("blue-green: active and preview Services, auto-promotion after the bake, or an operator's promotion", () => {
    const auto = render({ strategy: { type: "blueGreen", bake: "30m" } }, { provider: undefined });
    expect(auto.rollout.spec.strategy).toEqual({
      blueGreen: { activeService: "checkout-active", previewService: "checkout-preview", autoPromotionEnabled: true, autoPromotionSeconds: 1800 },
    });
    expect(auto.services.map((s) => s.metadata.name)).toEqual(["checkout-active", "checkout-preview"]);
    expect(auto.analysisTemplates).toEqual([]);
    const manual = render({ strategy: { type: "blueGreen", bake: "15m", approval: true } }, { provider: undefined, analysisTemplates: ["checkout-smoke"] });
    expect(manual.rollout.spec.strategy).toMatchObject({
      blueGreen: { autoPromotionEnabled: false, prePromotionAnalysis: { templates: [{ templateName: "checkout-smoke" }] } },
    });
  });

  test("durations are Go/PromQL durations without days", () => {
    expect([60_000, 90_000, 3_600_000, 5_400_000, 172_800_000, 1_500].map(argoDuration)).toEqual(["1m", "90s", "1h", "90m", "48h", "2s"]);
  });
});

/* ------------------------------------------------------------------------------------------------
 * What Argo cannot express
 * ---------------------------------------------------------------------------------------------- */

function mappingIssues(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArgoMappingError) return e.issues;
    throw e;
  }
  throw new Error("expected an ArgoMappingError");
}

describe("policy features Argo cannot express", () => {
  const alarm = { type: "alarm" as const, name: "slo", alarms: ["checkout-5xx"] };
  test.each<[string, PolicyInput, Partial<RenderInput>, string, RegExp]>([
    ["an alarm gate", { profile: "standard", gates: [{ type: "errorRate" }, alarm] }, {}, "gates[1]", /cannot read CloudWatch alarm state.*ignoreAlarmGates: true/],
    ["a Prometheus latency threshold without declared buckets", { profile: "low", gates: [{ type: "latency", thresholdMs: 300 }] }, { provider: { ...prometheus, latencyBuckets: undefined } as MetricProvider }, "gates[0].thresholdMs", /set prometheus.latencyBuckets/],
    ["a Prometheus latency threshold that is not a bucket bound", { profile: "low", gates: [{ type: "latency", thresholdMs: 300 }] }, { provider: prometheus }, "gates[0].thresholdMs", /not a bucket bound.*use 250 or 500 ms/],
    ["a metric delay that is not a Go duration", { profile: "low" }, { metricDelay: "3 minutes" }, "args.metricDelay", /Go duration/],
    ["an expected rps that is not a rate", { profile: "low" }, { expectedRps: 0 }, "args.expectedRps", /above 0/],
    ["comparison gates without a metric provider", { profile: "low" }, { provider: undefined }, "args.cloudWatch", /exactly one of cloudWatch or prometheus/],
    ["a Prometheus metric gate with a dimension that is not a label name", { profile: "low", gates: [{ ...metricGate, dimensions: { "service-name": "x" } }] }, { provider: prometheus }, "gates[0].dimensions.service-name", /not a Prometheus label name/],
    ["a Prometheus metric gate whose counter is not a metric name", { profile: "low", gates: [{ ...metricGate, events: "checkout.completed" }] }, { provider: prometheus }, "gates[0].events", /not a Prometheus metric name/],
    ["a Prometheus address that is not a URL", { profile: "low" }, { provider: { ...prometheus, address: "prometheus:9090" } as MetricProvider }, "args.prometheus.address", /http\(s\) URL/],
    ["a Prometheus label that is not a label name", { profile: "low" }, { provider: { ...prometheus, statusLabel: "status-code" } as MetricProvider }, "args.prometheus.statusLabel", /not a Prometheus label name/],
    [
      "an audience ring step",
      {
        strategy: { type: "canary", steps: [{ ring: "staff", hold: "10m" }, { percent: 10, hold: "10m" }] },
        rings: [{ name: "staff", match: { headers: [{ name: "x-staff", values: ["1"] }] } }],
        gates: [{ type: "errorRate" }],
      },
      {},
      "strategy.steps[0].ring",
      /no header or source routes/,
    ],
    [
      "a Lambda hook",
      {
        profile: "low",
        hookFunctions: { smoke: "arn:aws:lambda:eu-west-1:123456789012:function:smoke" },
        hooks: [{ name: "smoke", function: "smoke", at: ["beforePromote"] }],
      },
      {},
      "hooks[0]",
      /express the check as an AnalysisTemplate/,
    ],
    ["an analysis interval that is not a Go duration", { profile: "low" }, { analysisInterval: "1 minute" }, "args.analysisInterval", /Go duration/],
    ["a negative guard failure limit", { profile: "low" }, { guardFailureLimit: -1 }, "args.guardFailureLimit", /0 or more/],
    ["a name that is not a DNS label", { profile: "low" }, { name: "Checkout" }, "name", /lowercase letters/],
  ])("%s is an error naming the field", (_name, policy, extra, path, message) => {
    const issues = mappingIssues(() => render(policy, extra));
    expect(issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  test("every blocking problem is reported at once", () => {
    const issues = mappingIssues(() => render({ profile: "low", gates: [{ type: "errorRate" }, alarm] }, { provider: undefined }));
    expect(issues.map((i) => i.path)).toEqual(["gates[1]", "args.cloudWatch"]);
  });

  test("ring steps are refused by default, and ignoreRingSteps drops them with a warning naming the step as written", () => {
    const ringed: PolicyInput = {
      rings: [{ name: "internal", match: { headers: [{ name: "x-ring", values: ["internal"] }] } }],
      strategy: { type: "canary", steps: [{ ring: "internal", hold: "30m" }, { percent: 0.5, hold: "10m" }, { percent: 20, hold: "10m" }] },
      gates: [{ type: "errorRate" }],
    };
    expect(() => render(ringed)).toThrow(/strategy\.steps\[0\]\.ring: audience ring "internal" cannot be expressed.*ignoreRingSteps: true/);
    const r = render(ringed, { ignoreRingSteps: true });
    expect(canaryOf(r).steps.filter((s) => "setWeight" in s)).toEqual([{ setWeight: 1 }, { setWeight: 20 }]);
    expect(r.warnings).toContainEqual({ path: "strategy.steps[0].ring", message: expect.stringContaining("dropped because ignoreRingSteps is set") });
    // The rounding warning names the 0.5 % step where the user wrote it: steps[1], not steps[0].
    expect(r.warnings).toContainEqual({ path: "strategy.steps[1].percent", message: expect.stringContaining("0.5 % rounds up to 1 %") });
  });

  test("ignoreAlarmGates drops an alarm gate with a warning instead", () => {
    const r = render({ strategy: { type: "blueGreen", bake: "10m" }, gates: [alarm] }, { provider: undefined, ignoreAlarmGates: true });
    expect(r.warnings).toEqual([{ path: "gates[0]", message: expect.stringContaining("dropped because ignoreAlarmGates is set") }]);
  });

  test("onDrift and weightTotal are ignored with a warning; a clean policy has only the documented approximations", () => {
    const r = render({ profile: "low", onDrift: "rollback", weightTotal: 100 });
    expect(r.warnings.map((w) => w.path)).toEqual(["analysis.alpha", "timeouts.onTimeout", "onDrift", "weightTotal", "args.expectedRps"]);
  });

  test("a post-promotion bake without comparison gates keeps the old ReplicaSet warm (scaleDownDelaySeconds) with a warning that nothing guards it", () => {
    const r = render({ strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }] }, promotion: { bake: "15m", scaleDown: false } }, { provider: undefined });
    expect(canaryOf(r).scaleDownDelaySeconds).toBe(900);
    expect(r.warnings.map((w) => w.path)).toEqual(expect.arrayContaining(["promotion.bake", "promotion.scaleDown"]));
    expect(r.warnings.find((w) => w.path === "promotion.bake")!.message).toMatch(/no gate guards the bake: the policy has no comparison gates/);
    expectValid(r);
    const bg = render({ strategy: { type: "blueGreen", bake: "10m" }, promotion: { bake: "5m" } }, { provider: undefined });
    expect(bg.rollout.spec.strategy).toMatchObject({ blueGreen: { scaleDownDelaySeconds: 300 } });
    expectValid(bg);
  });

  test("a bad policy is the policy's own error", () => {
    expect(() => render({ profile: "standard", gates: [{ type: "errorRate", holdBand: 2, rollbackBand: 1 }] })).toThrow(/gates\[0\]\.holdBand/);
  });
});

/* ------------------------------------------------------------------------------------------------
 * The conditions, evaluated by the real expr engine (test/support/expr-engine.ts: Argo's
 * EvaluateResult over Debian's expr) on every result shape a provider can hand over.
 * ---------------------------------------------------------------------------------------------- */

interface Metric {
  name: string;
  successCondition?: string;
  failureCondition?: string;
}

const metricsOf = (t: K8sObject) => t.spec.metrics as Metric[];
const cw = (...values: number[]): ArgoResult => ({ kind: "cloudWatch", series: [{ id: "verdict", values }] });
const vec = (...values: number[]): ArgoResult => ({ kind: "vector", values });
const isGuard = (t: K8sObject) => t.metadata.name.endsWith("-guard") || t.metadata.name.endsWith("-post-promotion");

/** The result shapes of one provider for a verdict value (undefined: the empty answers). */
function shapes(kind: "cloudWatch" | "prometheus"): Array<[string, ArgoResult, "value" | "empty" | "nil" | "nan", number?]> {
  return kind === "cloudWatch"
    ? [
        ["no series", { kind: "cloudWatch", series: [] }, "empty"],
        ["a series without points", cw(), "empty"],
        ["nil", { kind: "cloudWatch", nil: true }, "nil"],
        ["NaN", cw(Number.NaN), "nan"],
        ["NO_DATA", cw(NO_DATA_VALUE, NO_DATA_VALUE), "value", NO_DATA_VALUE],
        ["NO_BASELINE", cw(NO_BASELINE_VALUE), "value", NO_BASELINE_VALUE],
        ["TOO_FEW", cw(TOO_FEW_VALUE, NO_DATA_VALUE), "value", TOO_FEW_VALUE],
        ["FAIL", cw(FAIL_VALUE, 0), "value", FAIL_VALUE],
        ["healthy (one point)", cw(0), "value", 0],
        ["healthy, newer point first", cw(-0.05, 5), "value", -0.05],
        ["a large difference without confidence", cw(10_000), "value", 10_000],
        ["+Inf", cw(Infinity), "value", Infinity],
      ]
    : [
        ["empty vector", vec(), "empty"],
        ["nil", { kind: "nil" }, "nil"],
        ["NaN", vec(Number.NaN), "nan"],
        ["NO_DATA", vec(NO_DATA_VALUE), "value", NO_DATA_VALUE],
        ["NO_BASELINE", vec(NO_BASELINE_VALUE), "value", NO_BASELINE_VALUE],
        ["TOO_FEW", vec(TOO_FEW_VALUE), "value", TOO_FEW_VALUE],
        ["FAIL", vec(FAIL_VALUE), "value", FAIL_VALUE],
        ["healthy (one sample)", vec(0), "value", 0],
        ["a large difference without confidence", vec(10_000), "value", 10_000],
        ["-Inf", vec(-Infinity), "value", -Infinity],
      ];
}

describe("every rendered condition, judged by the real expr engine", () => {
  const policies: Array<[string, PolicyInput]> = [
    ["low", { profile: "low" }],
    ["standard", { profile: "standard" }],
    ["high", { profile: "high" }],
    ["shared policy file", SHARED_POLICY],
    ["metric gate, worse when lower", { profile: "standard", gates: [metricGate] }],
    ["missing data rolls back", { profile: "low", gates: [{ type: "errorRate", onMissingData: "rollback" }, { type: "latency", thresholdMs: 250, onMissingData: "rollback" }] }],
    ["blue-green with a test share", { strategy: { type: "blueGreen", bake: "20m", testPercent: 5 }, promotion: { bake: "15m" }, gates: [{ type: "errorRate" }] }],
    [
      "blue-green with a test share and a bake, missing data rolls back",
      { strategy: { type: "blueGreen", bake: "20m", testPercent: 5 }, promotion: { bake: "30m" }, gates: [{ type: "errorRate", onMissingData: "rollback" }, { type: "latency", thresholdMs: 250 }] },
    ],
  ];
  const cases = policies.flatMap(([label, policy]) => [cloudWatch, prometheus].map((provider) => [label, provider.kind, policy, provider] as const));

  test.each(cases)("%s, %s: missing data never passes, a failing canary always fails, the TypeScript reading agrees", (_label, kind, policy, provider) => {
    const r = render(policy, { provider });
    const gates = new Map(r.policy.gates.filter(isComparisonGate).map((g) => [g.name, g]));
    const rows: Array<{ template: K8sObject; metric: Metric; shape: string; result: ArgoResult; what: string; value?: number }> = [];
    for (const template of r.analysisTemplates) {
      for (const metric of metricsOf(template)) {
        for (const [shape, result, what, value] of shapes(kind)) rows.push({ template, metric, shape, result, what, ...(value !== undefined ? { value } : {}) });
      }
    }
    expect(rows.length).toBeGreaterThan(0);
    const evaluations = evaluateAll(rows.map((row) => ({ conditions: row.metric, result: row.result })));
    rows.forEach((row, i) => {
      const got = evaluations[i]!;
      const at = `${row.template.metadata.name}/${row.metric.name} on ${row.shape}: ${got.phase} ${got.error ?? ""}`;
      const gate = gates.get(row.metric.name.replace(/-(guard|fresh)$/, ""))!;
      const bakeTemplate = row.template.metadata.name.endsWith("-bake");
      const role = bakeTemplate ? "bake" : isGuard(row.template) ? "guard" : "verdict";
      if (bakeTemplate && row.metric.name.endsWith("-fresh")) {
        // The freshness metric reads a count of the new version's trials: only a positive count passes.
        if (row.what === "nil") return expect(got.phase, at).toBe("Error");
        const trials = row.what === "value" ? row.value : row.what === "nan" ? Number.NaN : undefined;
        expect(got.phase, at).toBe(freshPhase(gate, trials));
        expect(got.phase === "Successful", `fresh only with trials: ${at}`).toBe(trials !== undefined && trials > 0);
        return;
      }
      // A nil result does not compile with len() in expr 1.8.9: a provider fault (Error), never a pass.
      if (row.what === "nil") {
        expect(got.phase, at).toBe("Error");
        return;
      }
      expect(got.phase, at).not.toBe("Error");
      // A Rollout with a bake step: its guard tolerates a baseline without traffic (after the switch).
      const bakeStep = r.analysisTemplates.some((t) => t.metadata.name.endsWith("-bake"));
      const idleBaseline = row.value === NO_BASELINE_VALUE && role === "guard" && bakeStep;
      const noData = row.what === "empty" || row.what === "nan" || row.value === NO_DATA_VALUE || (row.value === NO_BASELINE_VALUE && !idleBaseline);
      if (idleBaseline) expect(got.phase, `an idle baseline during the bake does not fail the guard: ${at}`).toBe("Successful");
      if (noData || row.value === TOO_FEW_VALUE) expect(got.phase, `missing data never passes: ${at}`).not.toBe(role === "verdict" ? "Successful" : "never");
      if (role === "bake") {
        // The bake's comparison only fails (its freshness metric keeps missing data from passing).
        expect(phaseOfValue(gate, row.what === "value" ? row.value : row.what === "nan" ? Number.NaN : undefined, "bake"), `phaseOfValue: ${at}`).toBe(got.phase);
        if (row.value === FAIL_VALUE || row.value === Infinity) expect(got.phase, at).toBe("Failed");
        if (noData) expect(got.phase, at).toBe(gate.onMissingData === "rollback" ? "Failed" : "Successful");
        return;
      }
      if (row.value === FAIL_VALUE || row.value === Infinity) expect(got.phase, `a failing canary always fails: ${at}`).toBe("Failed");
      if (row.value === TOO_FEW_VALUE) expect(got.phase, `too few samples holds: ${at}`).toBe(role === "verdict" ? "Inconclusive" : "Successful");
      if (noData) expect(got.phase, at).toBe(gate.onMissingData === "rollback" ? "Failed" : role === "verdict" ? "Inconclusive" : "Successful");
      if (row.value === 0 || row.value === -0.05) expect(got.phase, at).toBe("Successful");
      if (row.value === 10_000) expect(got.phase, `no confidence, no rollback: ${at}`).toBe(role === "verdict" ? "Inconclusive" : "Successful");
      // The simulator reads the value with phaseOfValue: it must say what the engine says.
      const value = row.what === "value" ? row.value : row.what === "nan" ? Number.NaN : undefined;
      expect(phaseOfValue(gate, value, role, bakeStep), `phaseOfValue: ${at}`).toBe(got.phase);
    });
  });

  test("the TypeScript reading matches the engine on any value, any bands (fast-check)", () => {
    const values = fc.oneof(
      fc.double({ min: -100, max: 100, noNaN: true }),
      fc.constantFrom(FAIL_VALUE, TOO_FEW_VALUE, NO_DATA_VALUE, Number.NaN, Infinity, -Infinity, 0, 1_000_000, -1_000_000, -1_500_000_000),
    );
    const samples = fc.sample(
      fc.record({
        value: values,
        holdBand: fc.double({ min: 0, max: 5, noNaN: true }),
        gap: fc.double({ min: 0.001, max: 5, noNaN: true }),
        missing: fc.constantFrom("hold" as const, "rollback" as const),
        kind: fc.constantFrom("cloudWatch" as const, "prometheus" as const),
      }),
      { seed: 20261203, numRuns: 300 },
    );
    const rows = samples.map((x) => {
      const holdBand = Math.round(x.holdBand * 1000) / 1000;
      const rollbackBand = Math.round((holdBand + x.gap) * 1000) / 1000;
      const r = render({ profile: "low", gates: [{ type: "errorRate", holdBand, rollbackBand, onMissingData: x.missing }] }, { provider: x.kind === "cloudWatch" ? cloudWatch : prometheus });
      const gate = r.policy.gates.find(isComparisonGate)!;
      const verdict = metricsOf(r.analysisTemplates[0]!)[0]!;
      const guard = metricsOf(r.analysisTemplates.at(-1)!)[0]!;
      return { x, gate, verdict, guard, result: x.kind === "cloudWatch" ? cw(x.value) : vec(x.value) };
    });
    const evaluations = evaluateAll(rows.flatMap((row) => [{ conditions: row.verdict, result: row.result }, { conditions: row.guard, result: row.result }]));
    rows.forEach((row, i) => {
      expect(phaseOfValue(row.gate, row.x.value, "verdict"), `verdict ${JSON.stringify(row.x)}`).toBe(evaluations[2 * i]!.phase);
      expect(phaseOfValue(row.gate, row.x.value, "guard"), `guard ${JSON.stringify(row.x)}`).toBe(evaluations[2 * i + 1]!.phase);
    });
  });

  test("the naive form Argo's docs show would pass on an empty result: the engine tells the difference", () => {
    // Without the length check, an empty Prometheus vector makes result[0] an evaluation error
    // (Argo: measurement Error) and a bare failureCondition passes vacuously.
    expect(evaluateArgo({ successCondition: "result[0] <= 0.1" }, vec()).phase).toBe("Error");
    expect(evaluateArgo({ failureCondition: "len(result) > 0 && result[0] > 0.25" }, vec()).phase).toBe("Successful");
  });
});

describe("queries", () => {
  test("CloudWatch: one returned series, the Chernoff test and the bands in metric math over the two target groups", () => {
    const r = render({ profile: "standard" });
    const queries = (metricsOf(r.analysisTemplates[0]!)[0] as unknown as { provider: { cloudWatch: { interval: string; metricDataQueries: Array<Record<string, unknown>> } } }).provider.cloudWatch;
    expect(queries.interval).toBe("{{args.window}}");
    const returned = queries.metricDataQueries.filter((q) => q.returnData);
    expect(returned).toHaveLength(1);
    expect(returned[0]!.expression).toMatch(
      new RegExp(`^IF\\(cn <= 0, ${NO_DATA_VALUE}, IF\\(sn <= 0, ${NO_BASELINE_VALUE}, IF\\(ce > ex AND kl >= [0-9.]+ AND diff > rb, ${FAIL_VALUE}, IF\\(cn >= 200, diff - \\(hb - 0\\.1\\), ${TOO_FEW_VALUE}\\)\\)\\)\\)$`),
    );
    // The standard profile's relative bands: max(floor, share x the baseline's rate in the window).
    const byId = new Map(queries.metricDataQueries.map((q) => [q.id as string, q.expression as string | undefined]));
    expect(byId.get("rbf")).toBe("IF(500 * se / sd < 0.25, 500 * se / sd, 0.25)");
    expect(byId.get("rb")).toBe("IF(30 * se / sd > rbf, 30 * se / sd, rbf)");
    expect(byId.get("hbf")).toBe("IF(500 * se / sd < 0.1, 500 * se / sd, 0.1)");
    expect(byId.get("hb")).toBe("IF(10 * se / sd > hbf, 10 * se / sd, hbf)");
    const dims = queries.metricDataQueries
      .filter((q) => q.metricStat)
      .map((q) => (q.metricStat as { metric: { dimensions: Array<{ value: string }> } }).metric.dimensions.map((d) => d.value).join(","));
    expect(new Set(dims)).toEqual(new Set(["{{args.load-balancer}},{{args.canary-target-group}}", "{{args.load-balancer}},{{args.stable-target-group}}"]));
    // Every id an expression refers to is defined, and no exponent literal (1e-9) appears.
    const ids = new Set(queries.metricDataQueries.map((q) => q.id as string));
    for (const q of queries.metricDataQueries.filter((q) => q.expression)) {
      expect(q.expression as string).not.toMatch(/\de-?\d/);
      for (const ref of (q.expression as string).replace(/\b(IF|AND|OR|LOG|RUNNING_SUM|FILL)\b/g, "").match(/\b[a-z][a-z0-9]*\b/g) ?? []) expect(ids.has(ref), `${q.id} refers to ${ref}`).toBe(true);
    }
  });

  test("Prometheus: PromQL over the canary and stable pods, configurable names, a one-element answer in every case", () => {
    const r = render({ profile: "standard" }, { provider: { ...prometheus, requestsMetric: "checkout_requests_total", podHashLabel: "pod_template_hash" } as MetricProvider });
    const [m] = metricsOf(r.analysisTemplates[0]!) as unknown as Array<{ provider: { prometheus: { address: string; query: string } } }>;
    expect(m!.provider.prometheus.address).toBe(prometheus.address);
    const q = m!.provider.prometheus.query;
    expect(q).toContain('sum(increase(checkout_requests_total{pod_template_hash="{{args.canary-hash}}", namespace="shop"}[{{args.window}}]))');
    expect(q).toContain('checkout_requests_total{pod_template_hash="{{args.stable-hash}}", code=~"5..", namespace="shop"}');
    expect(q).toContain("or on() vector(0)");
    expect(q).toMatch(new RegExp(`or on\\(\\) vector\\(${NO_DATA_VALUE}\\)$`));
    expect(q).toContain(">= 200)");
    const latency = (metricsOf(r.analysisTemplates[1]!)[0] as unknown as { provider: { prometheus: { query: string } } }).provider.prometheus.query;
    expect(latency).toContain("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{pod_template_hash=");
    const threshold = (ms: number) =>
      (metricsOf(render({ profile: "low", gates: [{ type: "latency", thresholdMs: ms }] }, { provider: prometheus }).analysisTemplates[0]!)[0] as unknown as { provider: { prometheus: { query: string } } }).provider.prometheus.query;
    expect(threshold(500)).toContain('le="0.5"');
    expect(threshold(1000)).toContain('le=~"1|1.0"');
  });
});

describe("the noise check at a declared expectedRps (rendered rules through the simulator)", { timeout: 300_000 }, () => {
  test("the standard error-rate gate at 200 rps: no false rollbacks in 300 healthy rollouts, bad canaries caught as often as on AWS, no warning", () => {
    const r = render({ profile: "standard", gates: [{ type: "errorRate" }] }, { expectedRps: 200 });
    expect(r.noise).toMatchObject({ rps: 200, runs: 300 });
    expect(r.noise!.falseRollbackRate).toBeLessThanOrEqual(0.01);
    expect(r.detection!.argo).toBeGreaterThan(0.9);
    expect(r.detection!.aws - r.detection!.argo).toBeLessThanOrEqual(0.05);
    expect(r.warnings.map((w) => w.path)).not.toContain("args.expectedRps");
  });

  test("point-estimate percentile gates that noise rolls back are refused, naming expectedRps and the measured rate", () => {
    const noisy: PolicyInput = { profile: "standard", gates: [{ type: "latency", percentile: 99, holdBand: 1, rollbackBand: 5, minSamples: 50 }] };
    const issues = mappingIssues(() => render(noisy, { expectedRps: 50 }));
    expect(issues).toEqual([{ path: "args.expectedRps", message: expect.stringMatching(/the rendered rules roll back [0-9.]+ % of healthy rollouts .* above maxFalseRollbackRate 1\.0 %/) }]);
    // Raising the ceiling knowingly renders it, with the figure returned.
    const r = render(noisy, { expectedRps: 50, maxFalseRollbackRate: 0.99 });
    expect(r.noise!.falseRollbackRate).toBeGreaterThan(0.01);
  });

  test("at low traffic the render warns that bad canaries are caught less often than on AWS, and names the rps the policy needs: rendering at that rps does not warn, just below it does", () => {
    const policy: PolicyInput = { profile: "standard", gates: [{ type: "errorRate" }] };
    const r = render(policy, { expectedRps: 20 });
    expect(r.detection!.aws - r.detection!.argo).toBeGreaterThan(0.05);
    const warning = r.warnings.find((w) => w.path === "args.expectedRps" && /of canaries failing/.test(w.message))!;
    expect(warning.message).toMatch(/at 20 rps the rendered rules roll back [0-9.]+ % of canaries failing 0\.6 % of requests \(baseline 0\.1 %\), the AWS flavour [0-9.]+ % \(simulated, 150 rollouts each\); they are within 5 points of each other from [0-9]+ rps/);
    const [, from, below] = /from ([0-9]+) rps .*; ([0-9]+) rps still gives/.exec(warning.message)!;
    expect(Number(from)).toBe(r.detectionMatchRps);
    expect(Number(below)).toBeLessThan(Number(from));
    // Precise: at the rps named the render does not warn about detection; at the probe below it, it does.
    const at = render(policy, { expectedRps: Number(from) });
    expect(at.detection!.aws - at.detection!.argo).toBeLessThanOrEqual(0.05);
    expect(at.warnings.some((w) => /of canaries failing/.test(w.message))).toBe(false);
    const under = render(policy, { expectedRps: Number(below) });
    expect(under.detection!.aws - under.detection!.argo).toBeGreaterThan(0.05);
    expect(under.warnings.some((w) => /of canaries failing/.test(w.message))).toBe(true);
  });
});
