/**
 * KubernetesProgressiveService and the example stack under Pulumi's mock runtime: the exact
 * Kubernetes objects (kinds, counts, names), their inputs validated against the Argo Rollouts CRD
 * schemas, Output-valued args flowing through, and bad args rejected with the field path. Mocks
 * cannot prove parentage, dependsOn ordering, or what a cluster accepts beyond the CRD schemas.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/index.js";
import { Ajv, type ValidateFunction } from "ajv";
import { beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import type { PolicyInput } from "../src/policy/index.js";

type KubernetesModule = typeof import("../components/kubernetes/index.js");
let mod: KubernetesModule;
const recorded: MockResourceArgs[] = [];
const REPO = resolve(import.meta.dirname, "..");
const SCHEMAS = resolve(REPO, "vendor/argo-rollouts");
const SHARED_POLICY = parse(readFileSync(resolve(REPO, "stacks/shared/policy.yaml"), "utf8")) as PolicyInput;

const TYPES = {
  service: "kubernetes:core/v1:Service",
  ingress: "kubernetes:networking.k8s.io/v1:Ingress",
  template: "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate",
  rollout: "kubernetes:argoproj.io/v1alpha1:Rollout",
  crd: "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
} as const;

const validators = new Map<string, ValidateFunction>();

beforeAll(async () => {
  pulumi.runtime.setMocks(
    {
      newResource(args: MockResourceArgs) {
        recorded.push(args);
        return { id: `${args.name}-id`, state: { ...args.inputs } };
      },
      call(args) {
        return args.inputs;
      },
    },
    "rollgate",
    "test",
    false,
  );
  mod = await import("../components/kubernetes/index.js");
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("int32", { type: "number", validate: (x: number) => Number.isInteger(x) && Math.abs(x) < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (x: number) => Number.isSafeInteger(x) });
  ajv.addFormat("date-time", { type: "string", validate: (x: string) => !Number.isNaN(Date.parse(x)) });
  for (const file of ["rollout-crd.yaml", "analysis-template-crd.yaml"]) {
    const doc = parse(readFileSync(resolve(SCHEMAS, file), "utf8"));
    validators.set(doc.spec.names.kind, ajv.compile(mod.toStrictJsonSchema(doc.spec.versions[0].schema.openAPIV3Schema) as object));
  }
});

function value<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise(): Promise<T> }).promise();
}

type Service = InstanceType<KubernetesModule["KubernetesProgressiveService"]>;
/** Waits until the children are registered (their names are the component's outputs). */
async function settle(svc: Service): Promise<void> {
  await Promise.all([value(svc.rolloutName), value(svc.serviceNames), value(svc.analysisTemplateNames), value(svc.ingressName)]);
  await new Promise((r) => setTimeout(r, 20));
}

function childrenOf(prefix: string): MockResourceArgs[] {
  return recorded.filter((r) => r.name === prefix || r.name.startsWith(`${prefix}-`));
}
function byType(prefix: string, type: string): MockResourceArgs[] {
  return childrenOf(prefix).filter((r) => r.type === type);
}
/** Registration order is asynchronous: compare recorded names as sorted lists. */
function names(prefix: string, type: string): string[] {
  return byType(prefix, type).map((r) => r.name).sort();
}
const COMPONENT = "rollgate:index:KubernetesProgressiveService";
function kinds(prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of childrenOf(prefix)) out[r.type] = (out[r.type] ?? 0) + 1;
  return out;
}

/** The recorded inputs of an Argo object, validated against its CRD schema. */
function expectSchemaValid(r: MockResourceArgs): void {
  const kind = r.inputs.kind as string;
  expect(r.inputs.apiVersion).toBe("argoproj.io/v1alpha1");
  const validate = validators.get(kind)!;
  const obj = { apiVersion: r.inputs.apiVersion, kind, metadata: r.inputs.metadata, spec: r.inputs.spec };
  const ok = validate(obj);
  expect(ok ? [] : validate.errors, `${kind} ${r.name}`).toEqual([]);
}

const cloudWatch = {
  loadBalancer: "app/k8s-shop-cart/0123456789abcdef",
  stableTargetGroup: "targetgroup/k8s-shop-cart-stable/0123456789abcdef",
  canaryTargetGroup: "targetgroup/k8s-shop-cart-canary/0123456789abcdef",
};

describe("KubernetesProgressiveService", () => {
  test("canary on the shared policy with CloudWatch: two Services, an Ingress, one template per gate plus the guard, one Rollout", async () => {
    const svc = new mod.KubernetesProgressiveService("cart", {
      policy: SHARED_POLICY,
      ignoreRingSteps: true,
      image: pulumi.output("ghcr.io/acme/cart:2.0.0"),
      namespace: "shop",
      cloudWatch,
    });
    await settle(svc);
    expect(kinds("cart")).toEqual({ [COMPONENT]: 1, [TYPES.service]: 2, [TYPES.ingress]: 1, [TYPES.template]: 4, [TYPES.rollout]: 1 });
    expect(names("cart", TYPES.service)).toEqual(["cart-canary", "cart-stable"]);
    expect(names("cart", TYPES.template)).toEqual(["cart-gate-checkout-failures", "cart-gate-error-rate", "cart-gate-latency", "cart-guard"]);
    expect(await value(svc.serviceNames)).toEqual(["cart-stable", "cart-canary"]);
    expect(await value(svc.analysisTemplateNames)).toEqual(["cart-gate-error-rate", "cart-gate-latency", "cart-gate-checkout-failures", "cart-guard"]);
    expect(await value(svc.rolloutName)).toBe("cart");
    expect(await value(svc.ingressName)).toBe("cart");

    const [rollout] = byType("cart", TYPES.rollout);
    expect(rollout!.name).toBe("cart-rollout");
    expect(rollout!.inputs.metadata).toMatchObject({ name: "cart", namespace: "shop" });
    // The Output-valued image reaches the pod template.
    expect(rollout!.inputs.spec.template.spec.containers[0].image).toBe("ghcr.io/acme/cart:2.0.0");
    expect(rollout!.inputs.spec.strategy.canary.trafficRouting).toEqual({ alb: { ingress: "cart", servicePort: 80, rootService: "cart-stable" } });
    expect(rollout!.inputs.spec.strategy.canary.steps.at(-1)).toEqual({ pause: {} });
    for (const r of [rollout!, ...byType("cart", TYPES.template)]) expectSchemaValid(r);

    const [ingress] = byType("cart", TYPES.ingress);
    expect(ingress!.inputs.metadata.annotations).toMatchObject({ "alb.ingress.kubernetes.io/scheme": "internal", "alb.ingress.kubernetes.io/target-type": "ip" });
    expect(ingress!.inputs.spec.ingressClassName).toBe("alb");
    const warnings = await value(svc.warnings);
    expect(warnings.map((w) => w.split(":")[0])).toEqual(["strategy.steps[0].ring", "analysis.alpha", "timeouts.onTimeout", "args.expectedRps"]);
  });

  test("installCrds creates the four Argo Rollouts CRDs from the shared YAML files", async () => {
    const svc = new mod.KubernetesProgressiveService("crds", { policy: { profile: "low" }, image: "nginx:1.27", cloudWatch, installCrds: true });
    await settle(svc);
    const crds = byType("crds", TYPES.crd);
    expect(names("crds", TYPES.crd)).toEqual(["crds-crd-analysisruns", "crds-crd-analysistemplates", "crds-crd-clusteranalysistemplates", "crds-crd-rollouts"]);
    expect(crds.map((r) => r.inputs.metadata.name).sort()).toEqual([
      "analysisruns.argoproj.io",
      "analysistemplates.argoproj.io",
      "clusteranalysistemplates.argoproj.io",
      "rollouts.argoproj.io",
    ]);
    const rolloutCrd = crds.find((r) => r.inputs.metadata.name === "rollouts.argoproj.io")!;
    expect(rolloutCrd.inputs.spec.group).toBe("argoproj.io");
    expect(rolloutCrd.inputs.spec.names.kind).toBe("Rollout");
    expect(rolloutCrd.inputs.spec.versions[0].schema.openAPIV3Schema.properties.spec).toBeDefined();
    expect(kinds("crds")).toEqual({ [COMPONENT]: 1, [TYPES.crd]: 4, [TYPES.service]: 2, [TYPES.ingress]: 1, [TYPES.template]: 2, [TYPES.rollout]: 1 });
  });

  test("blue-green with Prometheus: active and preview Services, no templates without comparison gates", async () => {
    const svc = new mod.KubernetesProgressiveService("bg", {
      policy: { strategy: { type: "blueGreen", bake: "20m", approval: true } },
      image: "nginx:1.27",
      prometheus: { address: "http://prometheus.monitoring:9090" },
      analysisTemplates: ["bg-smoke"],
    });
    await settle(svc);
    expect(kinds("bg")).toEqual({ [COMPONENT]: 1, [TYPES.service]: 2, [TYPES.ingress]: 1, [TYPES.rollout]: 1 });
    expect(byType("bg", TYPES.service).map((r) => r.inputs.metadata.name).sort()).toEqual(["bg-active", "bg-preview"]);
    const [rollout] = byType("bg", TYPES.rollout);
    expect(rollout!.inputs.spec.strategy.blueGreen).toMatchObject({
      activeService: "bg-active",
      previewService: "bg-preview",
      autoPromotionEnabled: false,
      prePromotionAnalysis: { templates: [{ templateName: "bg-smoke" }] },
    });
    expectSchemaValid(rollout!);
    const [ingress] = byType("bg", TYPES.ingress);
    expect(ingress!.inputs.spec.rules[0].http.paths[0].backend).toEqual({ service: { name: "bg-active", port: { number: 80 } } });
  });

  test("Prometheus canary: queries use the configured names and address", async () => {
    const svc = new mod.KubernetesProgressiveService("prom", {
      policy: { profile: "standard" },
      image: "nginx:1.27",
      prometheus: { address: pulumi.output("http://prometheus.monitoring:9090"), requestsMetric: "nginx_http_requests_total", podHashLabel: "pod_template_hash" },
    });
    await settle(svc);
    const templates = byType("prom", TYPES.template);
    expect(templates.map((r) => r.name).sort()).toEqual(["prom-gate-error-rate", "prom-gate-latency", "prom-guard"]);
    const query = templates.find((r) => r.name === "prom-gate-error-rate")!.inputs.spec.metrics[0].provider.prometheus;
    expect(query.address).toBe("http://prometheus.monitoring:9090");
    expect(query.query).toContain('nginx_http_requests_total{pod_template_hash="{{args.canary-hash}}"}');
    for (const r of [...templates, ...byType("prom", TYPES.rollout)]) expectSchemaValid(r);
  });

  test.each<[string, () => unknown, RegExp]>([
    ["an alarm gate", () => new mod.KubernetesProgressiveService("bad1", { policy: { profile: "low", gates: [{ type: "alarm", name: "slo", alarms: ["a"] }] }, image: "x", cloudWatch }), /gates\[0\]: gate "slo" \(type alarm\): Argo Rollouts cannot read CloudWatch alarm state/],
    ["both metric providers", () => new mod.KubernetesProgressiveService("bad2", { policy: { profile: "low" }, image: "x", cloudWatch, prometheus: { address: "http://p:9090" } }), /exactly one of cloudWatch or prometheus/],
    ["no metric provider for comparison gates", () => new mod.KubernetesProgressiveService("bad3", { policy: { profile: "low" }, image: "x" }), /args\.cloudWatch: the policy has comparison gates \(error-rate\)/],
    ["an invalid policy", () => new mod.KubernetesProgressiveService("bad4", { policy: { profile: "low", strategy: { type: "canary", steps: [{ percent: 120, hold: "5m" }] } }, image: "x", cloudWatch }), /strategy\.steps\[0\]\.percent: must be below 100/],
    ["a policy given as an Output", () => new mod.KubernetesProgressiveService("bad6", { policy: pulumi.output({ profile: "low" }) as unknown as PolicyInput, image: "x", cloudWatch }), /policy must be a plain value, not an Output/],
    ["a missing CRD folder", () => new mod.KubernetesProgressiveService("bad5", { policy: { profile: "low" }, image: "x", cloudWatch, installCrds: true, crdDirectory: "/nonexistent" }), /installCrds: cannot read \/nonexistent\/rollout-crd\.yaml; set crdDirectory/],
  ])("%s fails at construction with the field and the fix", (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe("example stack (stacks/kubernetes)", () => {
  test("deploys checkout with the shared policy file; every Argo object passes the CRD schemas", async () => {
    const stack = await import("../stacks/kubernetes/index.js");
    const [rolloutName, services, templates, ingress, warnings] = await Promise.all([
      value(stack.rolloutName),
      value(stack.serviceNames),
      value(stack.analysisTemplateNames),
      value(stack.ingressName),
      value(stack.policyWarnings),
    ]);
    await new Promise((r) => setTimeout(r, 20));
    expect(rolloutName).toBe("checkout");
    expect(services).toEqual(["checkout-stable", "checkout-canary"]);
    expect(templates).toEqual(["checkout-gate-error-rate", "checkout-gate-latency", "checkout-gate-checkout-failures", "checkout-guard"]);
    expect(ingress).toBe("checkout");
    // The internal ring step dropped and the pause at maxHold; with the analysis server the
    // sequential test is expressed (no analysis.alpha caveat, no threshold noise check).
    expect(warnings.map((w) => w.split(":")[0])).toEqual(["strategy.steps[0].ring", "gates[2].namespace", "timeouts.onTimeout"]);
    expect(kinds("checkout")).toEqual({
      [COMPONENT]: 1,
      [TYPES.service]: 3,
      [TYPES.ingress]: 1,
      [TYPES.template]: 4,
      [TYPES.rollout]: 1,
      "kubernetes:apps/v1:Deployment": 1,
      "kubernetes:core/v1:ServiceAccount": 1,
    });
    expect(await value(stack.analysisServerUrl)).toBe("http://checkout-analysis.shop.svc:8080");
    const [template] = byType("checkout", TYPES.template);
    expect(template!.inputs.spec.metrics[0].provider.web.url).toBe("http://checkout-analysis.shop.svc:8080/v1/verdict");

    const [rollout] = byType("checkout", TYPES.rollout);
    expect(rollout!.inputs.metadata.namespace).toBe("shop");
    expect(rollout!.inputs.spec.replicas).toBe(3);
    // The shared policy's ladder, with the approval before promotion.
    const weights = rollout!.inputs.spec.strategy.canary.steps.filter((s: Record<string, unknown>) => "setWeight" in s).map((s: { setWeight: number }) => s.setWeight);
    expect(weights).toEqual([1, 5, 25, 50]);
    for (const r of [rollout!, ...byType("checkout", TYPES.template)]) expectSchemaValid(r);
  });
});
