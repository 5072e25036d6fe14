/**
 * Pure rendering of a resolved RolloutPolicy to Argo Rollouts objects: a `Rollout`, one
 * `AnalysisTemplate` per comparison gate (the step verdict), one guard `AnalysisTemplate` (the
 * background rollback check), the two Services and the ALB Ingress.
 *
 * No Pulumi here: the component resolves its inputs and hands plain values to `renderKubernetes`,
 * and tests call it directly. What Argo cannot express is either an `ArgoMappingError` (naming the
 * policy field and the fix) or a warning returned in `warnings` (the component also logs it).
 */
import type { PolicyIssue } from "../../src/policy/errors.js";
import { parsePolicy } from "../../src/policy/resolve.js";
import type { PolicyInput } from "../../src/policy/schema.js";
import { isComparisonGate, type ComparisonGate, type RolloutPolicy } from "../../src/policy/types.js";
import {
  ARG,
  checkPromNames,
  cloudWatchQueries,
  guardCondition,
  prometheusQuery,
  verdictConditions,
  type CloudWatchQuery,
  type PromNames,
  type ProviderKind,
} from "./conditions.js";

export const ARGO_API_VERSION = "argoproj.io/v1alpha1";

/**
 * One mapping problem or approximation, located like a policy issue: a policy field path
 * (`gates[2]`, `strategy.steps[0].percent`) or a component arg (`args.prometheus`).
 */
export type MappingIssue = PolicyIssue;

/** The policy uses something Argo Rollouts cannot express; every such problem at once. */
export class ArgoMappingError extends Error {
  override readonly name = "ArgoMappingError";
  constructor(readonly issues: MappingIssue[]) {
    super(
      `the rollout policy cannot be rendered to Argo Rollouts (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n"),
    );
  }
}

export interface CloudWatchProvider {
  kind: "cloudWatch";
  /** `LoadBalancer` dimension value of the ALB, e.g. `app/k8s-shop-checkout/0123456789abcdef`. */
  loadBalancer: string;
  /** `TargetGroup` dimension value of the stable Service's target group, e.g. `targetgroup/k8s-shop-checkout-stable/abc`. */
  stableTargetGroup: string;
  /** `TargetGroup` dimension value of the canary Service's target group. */
  canaryTargetGroup: string;
}

export interface PrometheusProvider extends PromNames {
  kind: "prometheus";
  address: string;
}

export type MetricProvider = CloudWatchProvider | PrometheusProvider;

export const PROMETHEUS_DEFAULTS: Omit<PrometheusProvider, "kind" | "address"> = {
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: "",
};

/** Plain inputs of the render. Only `name`, `policy` and `image` are required. */
export interface RenderInput {
  /** Base name of every object (Kubernetes names derive from it). */
  name: string;
  /** A RolloutPolicy as written, or one already resolved by parsePolicy. */
  policy: PolicyInput | RolloutPolicy;
  image: string;
  namespace?: string;
  containerPort?: number;
  servicePort?: number;
  replicas?: number;
  cpu?: string;
  memory?: string;
  env?: Record<string, string>;
  ingress?: { host?: string; path?: string; internetFacing?: boolean; className?: string; annotations?: Record<string, string> };
  /** Required when the policy has comparison gates. */
  provider?: MetricProvider;
  /** Interval of the guard's measurements (and of verdict retries). */
  analysisInterval?: string;
  /** Failed guard measurements tolerated before the rollout aborts. */
  guardFailureLimit?: number;
  /** Existing AnalysisTemplates added to every step (canary) or to prePromotionAnalysis (blue-green). */
  analysisTemplates?: string[];
  /** Drop alarm gates with a warning instead of refusing the policy. */
  ignoreAlarmGates?: boolean;
  /** Drop audience-ring steps with a warning instead of refusing the policy. */
  ignoreRingSteps?: boolean;
}

/** A Kubernetes object as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

export interface RenderedKubernetes {
  policy: RolloutPolicy;
  rollout: K8sObject;
  /** Verdict templates (one per comparison gate in use), then the guard template. */
  analysisTemplates: K8sObject[];
  /** canary: [stable, canary]; blue-green: [active, preview]. */
  services: K8sObject[];
  ingress: K8sObject;
  warnings: MappingIssue[];
}

/** What the policy needs from Argo, decided from the policy alone (before any value is known). */
export interface ArgoPlan {
  policy: RolloutPolicy;
  strategy: "canary" | "blueGreen";
  /** Comparison gates that some step checks, in policy order. */
  gates: ComparisonGate[];
  /** Kubernetes names of the AnalysisTemplates to create, in render order. */
  templateNames: string[];
  serviceNames: string[];
  warnings: MappingIssue[];
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** What Go's time.ParseDuration (and so Argo's interval fields) accepts, without a sign. */
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
/** Longest base name: Service names are DNS labels (63) and get `-preview` or `-gate-<gate>` appended. */
const MAX_NAME = 40;

export const templateName = (name: string, gate: string) => `${name}-gate-${gate}`;
export const guardTemplateName = (name: string) => `${name}-guard`;

/**
 * Checks that Argo can express the policy and lists what it expresses only approximately. Throws
 * ArgoMappingError with every blocking problem; returns the plan with warnings otherwise.
 */
export function planKubernetes(
  name: string,
  policyIn: PolicyInput | RolloutPolicy,
  providerKind: ProviderKind | undefined,
  options: { ignoreAlarmGates?: boolean; ignoreRingSteps?: boolean } = {},
): ArgoPlan {
  const parsed = isResolved(policyIn) ? policyIn : parsePolicy(policyIn);
  const errors: MappingIssue[] = [];
  const warnings: MappingIssue[] = [];
  if (!DNS_LABEL.test(name) || name.length > MAX_NAME) {
    errors.push({
      path: "name",
      message: `"${name}" must be lowercase letters, digits and dashes, start with a letter and be at most ${MAX_NAME} characters (it names the Services and the Rollout)`,
    });
  }
  // Ring steps route an audience by ALB rule, which Argo's ALB routing cannot do. With
  // ignoreRingSteps they are dropped (each with a warning) and the ladder starts at its first
  // percentage step; otherwise each is an error below.
  const ringSteps = parsed.steps.filter((s) => s.ring !== undefined);
  const policy: RolloutPolicy =
    options.ignoreRingSteps && ringSteps.length > 0
      ? { ...parsed, steps: parsed.steps.filter((s) => s.ring === undefined).map((s, index) => ({ ...s, index, rings: [] })) }
      : parsed;
  // Paths name the steps as the user wrote them, before ring steps were dropped.
  const droppedRingSteps = policy === parsed ? 0 : ringSteps.length;
  if (options.ignoreRingSteps) {
    for (const step of ringSteps) {
      warnings.push({
        path: `strategy.steps[${step.index}].ring`,
        message: `audience ring "${step.ring}" dropped because ignoreRingSteps is set: Argo's ALB traffic routing has no header or source routes, so the Kubernetes ladder starts at its first percentage step`,
      });
    }
  }
  const source = policy.source;
  const used = new Set(policy.steps.flatMap((s) => s.gates));

  policy.gates.forEach((gate, i) => {
    if (gate.type === "alarm") {
      const message = `gate "${gate.name}" (type alarm): Argo Rollouts cannot read CloudWatch alarm state`;
      if (options.ignoreAlarmGates) warnings.push({ path: `gates[${i}]`, message: `${message}; dropped because ignoreAlarmGates is set` });
      else
        errors.push({
          path: `gates[${i}]`,
          message: `${message}; express the alarm's metric as an errorRate, latency or metric gate, remove the gate, or set ignoreAlarmGates: true to drop it with a warning`,
        });
    } else if (gate.type === "metric" && providerKind === "prometheus") {
      Object.keys(gate.dimensions).forEach((k) => {
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) {
          errors.push({ path: `gates[${i}].dimensions.${k}`, message: "is not a Prometheus label name (letters, digits and _); rename the label" });
        }
      });
      for (const field of ["events", "total"] as const) {
        if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(gate[field])) {
          errors.push({ path: `gates[${i}].${field}`, message: `"${gate[field]}" is not a Prometheus metric name; use the counter's name` });
        }
      }
      warnings.push({
        path: `gates[${i}].namespace`,
        message: `is ignored by the Prometheus provider: events and total are read as the counters ${gate.events} and ${gate.total}, split by the pod-template-hash label`,
      });
    }
  });
  const gates = policy.gates.filter((g): g is ComparisonGate => isComparisonGate(g) && used.has(g.name));

  if (gates.length > 0 && !providerKind) {
    errors.push({
      path: "args.cloudWatch",
      message: `the policy has comparison gates (${gates.map((g) => g.name).join(", ")}); set exactly one of cloudWatch or prometheus so Argo can measure them`,
    });
  }

  policy.steps.forEach((step, i) => {
    if (step.ring !== undefined) {
      errors.push({
        path: `strategy.steps[${i}].ring`,
        message: `audience ring "${step.ring}" cannot be expressed: Argo's ALB traffic routing has no header or source routes (setHeaderRoute is not supported for ALB); remove the ring steps for the Kubernetes flavour, or set ignoreRingSteps: true to drop them with a warning`,
      });
    }
  });
  (policy.hooks ?? []).forEach((hook, i) => {
    errors.push({
      path: `hooks[${i}]`,
      message: `hook "${hook.name}" calls a Lambda function, which Argo cannot do; express the check as an AnalysisTemplate (a web or job metric) and list it in analysisTemplates`,
    });
  });
  const promotion = policy.promotion ?? { bakeMs: 0, scaleDown: true };
  if (promotion.bakeMs > 0) {
    warnings.push({
      path: "promotion.bake",
      message: `maps to scaleDownDelaySeconds (${Math.ceil(promotion.bakeMs / 1000)}): the old ReplicaSet stays warm for the bake so an undo is fast, but no gate guards the bake (Argo's analysis ends at promotion)`,
    });
  }
  if (!promotion.scaleDown) {
    warnings.push({ path: "promotion.scaleDown", message: "false cannot be expressed: Argo always scales the old ReplicaSet down after scaleDownDelaySeconds" });
  }

  const strategy = policy.strategy === "blueGreen" ? "blueGreen" : "canary";
  if (strategy === "blueGreen") {
    const step = policy.steps[0]!;
    if (step.percent > 0) {
      errors.push({
        path: "strategy.testPercent",
        message: `Argo blue-green sends no live traffic to the preview Service, so a ${step.percent} % test share cannot be expressed; set testPercent to 0 (a dark bake) or use a canary strategy`,
      });
    }
  } else {
    const stepPath = (i: number) =>
      source.strategy?.type === "canary" ? `strategy.steps[${i + droppedRingSteps}].percent` : `strategy.${source.strategy?.type === "linear" ? "stepPercent" : "startPercent"}`;
    let previous = 0;
    policy.steps.forEach((step, i) => {
      const weight = argoWeight(step.percent);
      if (weight !== step.percent) {
        warnings.push({
          path: stepPath(i),
          message: `${step.percent} % rounds up to ${weight} %: Argo's setWeight is a whole percentage${weight === previous ? ` (the same weight as the step before, which adds a hold at ${weight} %)` : ""}`,
        });
      }
      previous = weight;
    });
  }

  if (gates.length > 0) {
    warnings.push({
      path: "analysis.alpha",
      message: `the anytime-valid sequential test (alpha ${policy.alpha}) is not expressed: Argo compares each measurement with the fixed bands; the guard needs failureLimit+1 failing measurements and the step verdict is one measurement over the step's hold`,
    });
    const onTimeout = policy.steps.some((s) => s.onTimeout === "rollback") ? "rollback" : "pause";
    warnings.push({
      path: "timeouts.onTimeout",
      message:
        onTimeout === "rollback"
          ? `"rollback" cannot be expressed: Argo has no step timeout (maxHold); an undecided verdict at the end of a hold pauses the Rollout (Inconclusive) until an operator promotes or aborts it`
          : `maxHold is not expressed: Argo has no step timeout; an undecided verdict at the end of a hold pauses the Rollout (Inconclusive), which is onTimeout "pause" without the wait`,
    });
  }
  if (source.onDrift !== undefined) {
    warnings.push({ path: "onDrift", message: "is ignored: Argo Rollouts owns the ALB weights on Kubernetes and reconciles them itself" });
  }
  if (source.weightTotal !== undefined) {
    warnings.push({ path: "weightTotal", message: "is ignored: Argo sets whole percentages (setWeight)" });
  }
  if (errors.length > 0) throw new ArgoMappingError(errors);

  const templateNames = gates.length > 0 ? [...gates.map((g) => templateName(name, g.name)), guardTemplateName(name)] : [];
  const serviceNames = strategy === "canary" ? [`${name}-stable`, `${name}-canary`] : [`${name}-active`, `${name}-preview`];
  return { policy, strategy, gates, templateNames, serviceNames, warnings };
}

/** Argo setWeight is an integer percentage: round up, so a canary step never becomes 0 %. */
export function argoWeight(percent: number): number {
  return Math.min(100, Math.ceil(percent - 1e-9));
}

/**
 * A duration Go's time.ParseDuration, Argo and PromQL all read: one unit, no days ("48h", "10m",
 * "90s"). Sub-second remainders round up to the next second.
 */
export function argoDuration(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function isResolved(p: PolicyInput | RolloutPolicy): p is RolloutPolicy {
  return typeof p === "object" && p !== null && Array.isArray((p as RolloutPolicy).steps) && "source" in p && "weightTotal" in p;
}

/** Renders every object. Throws ArgoMappingError for what Argo cannot express. */
export function renderKubernetes(input: RenderInput): RenderedKubernetes {
  const plan = planKubernetes(input.name, input.policy, input.provider?.kind, { ignoreAlarmGates: input.ignoreAlarmGates, ignoreRingSteps: input.ignoreRingSteps });
  const errors: MappingIssue[] = [];
  if (input.provider?.kind === "prometheus") {
    for (const [field, message] of checkPromNames(input.provider)) errors.push({ path: `args.prometheus.${field}`, message });
    if (!/^https?:\/\/[^/\s]+/.test(input.provider.address)) {
      errors.push({ path: "args.prometheus.address", message: `"${input.provider.address}" must be an http(s) URL, e.g. http://prometheus-server.monitoring:80` });
    }
  }
  if (input.analysisInterval !== undefined && !GO_DURATION.test(input.analysisInterval)) {
    errors.push({ path: "args.analysisInterval", message: `"${input.analysisInterval}" must be a Go duration such as "30s", "1m" or "1m30s"` });
  }
  if (input.guardFailureLimit !== undefined && !(Number.isInteger(input.guardFailureLimit) && input.guardFailureLimit >= 0)) {
    errors.push({ path: "args.guardFailureLimit", message: `${input.guardFailureLimit} must be a whole number, 0 or more` });
  }
  if (errors.length > 0) throw new ArgoMappingError(errors);

  const v = withDefaults(input);
  const labels = { "app.kubernetes.io/name": v.name, "app.kubernetes.io/managed-by": "rollgate" };
  const meta = (name: string) => ({ name, namespace: v.namespace, labels });
  const selector = { "app.kubernetes.io/name": v.name };

  const templates = plan.gates.length > 0 ? renderAnalysisTemplates(plan, v, meta) : [];
  const services = plan.serviceNames.map((svc) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(svc),
    spec: { type: "ClusterIP", selector, ports: [{ name: "http", port: v.servicePort, targetPort: "http", protocol: "TCP" }] },
  }));
  const [first, second] = plan.serviceNames as [string, string];
  const backend =
    plan.strategy === "canary"
      ? // Argo writes the weighted forward action into the annotation named after the root service.
        { service: { name: first, port: { name: "use-annotation" } } }
      : { service: { name: first, port: { number: v.servicePort } } };
  const ingress: K8sObject = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      ...meta(v.name),
      annotations: {
        "alb.ingress.kubernetes.io/scheme": v.ingress.internetFacing ? "internet-facing" : "internal",
        "alb.ingress.kubernetes.io/target-type": "ip",
        ...v.ingress.annotations,
      },
    },
    spec: {
      ingressClassName: v.ingress.className,
      rules: [
        {
          ...(v.ingress.host ? { host: v.ingress.host } : {}),
          http: { paths: [{ path: v.ingress.path, pathType: "Prefix", backend }] },
        },
      ],
    },
  };

  const podTemplate = {
    metadata: { labels: { ...labels } },
    spec: {
      containers: [
        {
          name: "app",
          image: v.image,
          ports: [{ name: "http", containerPort: v.containerPort, protocol: "TCP" }],
          env: [
            ...Object.entries(v.env).map(([name, value]) => ({ name, value })),
            // The metric gate's variant dimension: the app reports its pod-template-hash, which
            // Argo passes to the analysis as the canary's and the stable's identity.
            { name: "ROLLOUTS_POD_TEMPLATE_HASH", valueFrom: { fieldRef: { fieldPath: "metadata.labels['rollouts-pod-template-hash']" } } },
          ],
          resources: { requests: { cpu: v.cpu, memory: v.memory }, limits: { memory: v.memory } },
        },
      ],
    },
  };

  const argsFor = (window: string) => analysisArgs(window, v.provider);
  const extra = v.analysisTemplates.map((templateName) => ({ templateName }));
  const bakeMs = plan.policy.promotion?.bakeMs ?? 0;
  // The post-promotion bake keeps the old ReplicaSet (and, for blue-green, its pods) warm.
  const scaleDownDelay = bakeMs > 0 ? { scaleDownDelaySeconds: Math.ceil(bakeMs / 1000) } : {};
  let strategy: Record<string, unknown>;
  if (plan.strategy === "canary") {
    const steps: Array<Record<string, unknown>> = [];
    for (const step of plan.policy.steps) {
      const window = argoDuration(step.holdMs);
      steps.push({ setWeight: argoWeight(step.percent) });
      steps.push({ pause: { duration: window } });
      const stepTemplates = [
        ...plan.gates.filter((g) => step.gates.includes(g.name)).map((g) => ({ templateName: templateName(v.name, g.name) })),
        ...extra,
      ];
      if (stepTemplates.length > 0) steps.push({ analysis: { templates: stepTemplates, args: argsFor(window) } });
      // Manual approval: an indefinite pause, lifted by `kubectl argo rollouts promote`.
      if (step.approval) steps.push({ pause: {} });
    }
    const guardWindow = argoDuration(Math.min(...plan.policy.steps.map((s) => s.holdMs)));
    strategy = {
      canary: {
        stableService: first,
        canaryService: second,
        trafficRouting: { alb: { ingress: v.name, servicePort: v.servicePort, rootService: first } },
        ...scaleDownDelay,
        ...(plan.gates.length > 0
          ? { analysis: { templates: [{ templateName: guardTemplateName(v.name) }], startingStep: 1, args: argsFor(guardWindow) } }
          : {}),
        steps,
      },
    };
  } else {
    const step = plan.policy.steps[0]!;
    strategy = {
      blueGreen: {
        activeService: first,
        previewService: second,
        // Approval: no auto-promotion, an operator promotes. Otherwise promote after the bake.
        autoPromotionEnabled: !step.approval,
        ...scaleDownDelay,
        ...(step.approval ? {} : { autoPromotionSeconds: Math.ceil(step.holdMs / 1000) }),
        ...(extra.length > 0 ? { prePromotionAnalysis: { templates: extra, args: argsFor(argoDuration(step.holdMs)) } } : {}),
      },
    };
  }

  const rollout: K8sObject = {
    apiVersion: ARGO_API_VERSION,
    kind: "Rollout",
    metadata: meta(v.name),
    spec: {
      replicas: v.replicas,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selector },
      template: podTemplate,
      strategy,
    },
  };
  return { policy: plan.policy, rollout, analysisTemplates: templates, services, ingress, warnings: plan.warnings };
}

type Resolved = Required<Omit<RenderInput, "provider" | "policy" | "ingress">> & {
  provider?: MetricProvider;
  ingress: { host?: string; path: string; internetFacing: boolean; className: string; annotations: Record<string, string> };
};

function withDefaults(i: RenderInput): Resolved {
  return {
    name: i.name,
    image: i.image,
    namespace: i.namespace ?? "default",
    containerPort: i.containerPort ?? 8080,
    servicePort: i.servicePort ?? 80,
    replicas: i.replicas ?? 2,
    cpu: i.cpu ?? "250m",
    memory: i.memory ?? "256Mi",
    env: i.env ?? {},
    ingress: {
      ...(i.ingress?.host ? { host: i.ingress.host } : {}),
      path: i.ingress?.path ?? "/",
      internetFacing: i.ingress?.internetFacing ?? false,
      className: i.ingress?.className ?? "alb",
      annotations: i.ingress?.annotations ?? {},
    },
    ...(i.provider ? { provider: i.provider } : {}),
    analysisInterval: i.analysisInterval ?? "1m",
    guardFailureLimit: i.guardFailureLimit ?? 1,
    analysisTemplates: i.analysisTemplates ?? [],
    ignoreAlarmGates: i.ignoreAlarmGates ?? false,
    ignoreRingSteps: i.ignoreRingSteps ?? false,
  };
}

/** Args every template declares, so templates combine freely in one step. */
function templateArgs(provider: MetricProvider | undefined): Array<{ name: string }> {
  const names: string[] = [ARG.window, ARG.canaryHash, ARG.stableHash];
  if (provider?.kind === "cloudWatch") names.push(ARG.loadBalancer, ARG.canaryTargetGroup, ARG.stableTargetGroup);
  return names.map((name) => ({ name }));
}

function analysisArgs(window: string, provider: MetricProvider | undefined): Array<Record<string, unknown>> {
  const args: Array<Record<string, unknown>> = [
    { name: ARG.window, value: window },
    { name: ARG.canaryHash, valueFrom: { podTemplateHashValue: "Latest" } },
    { name: ARG.stableHash, valueFrom: { podTemplateHashValue: "Stable" } },
  ];
  if (provider?.kind === "cloudWatch") {
    args.push(
      { name: ARG.loadBalancer, value: provider.loadBalancer },
      { name: ARG.canaryTargetGroup, value: provider.canaryTargetGroup },
      { name: ARG.stableTargetGroup, value: provider.stableTargetGroup },
    );
  }
  return args;
}

function providerBlock(gate: ComparisonGate, provider: MetricProvider): Record<string, unknown> {
  if (provider.kind === "cloudWatch") {
    const queries: CloudWatchQuery[] = cloudWatchQueries(gate);
    return { cloudWatch: { interval: `{{args.${ARG.window}}}`, metricDataQueries: queries } };
  }
  return { prometheus: { address: provider.address, query: prometheusQuery(gate, provider) } };
}

function renderAnalysisTemplates(
  plan: ArgoPlan,
  v: Resolved,
  meta: (name: string) => K8sObject["metadata"],
): K8sObject[] {
  const provider = v.provider!;
  const args = templateArgs(provider);
  const verdicts = plan.gates.map((gate) => ({
    apiVersion: ARGO_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: meta(templateName(v.name, gate.name)),
    spec: {
      args,
      metrics: [
        {
          name: gate.name,
          // One measurement over the whole hold: pass, fail, or inconclusive (pause for a human).
          count: 1,
          interval: v.analysisInterval,
          failureLimit: 0,
          inconclusiveLimit: 0,
          ...verdictConditions(gate, provider.kind),
          provider: providerBlock(gate, provider),
        },
      ],
    },
  }));
  const guard = {
    apiVersion: ARGO_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: meta(guardTemplateName(v.name)),
    spec: {
      args,
      metrics: plan.gates.map((gate) => ({
        name: `${gate.name}-guard`,
        // No count: measures every interval until the rollout ends (then Argo terminates it as successful).
        interval: v.analysisInterval,
        failureLimit: v.guardFailureLimit,
        failureCondition: guardCondition(gate, provider.kind),
        provider: providerBlock(gate, provider),
      })),
    },
  };
  return [...verdicts, guard];
}
