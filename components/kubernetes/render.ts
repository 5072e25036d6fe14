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
  bakeCondition,
  checkPromNames,
  cloudWatchFreshQueries,
  cloudWatchQueries,
  freshConditions,
  freshMetricName,
  prometheusFreshQuery,
  guardCondition,
  latencyBucketProblem,
  prometheusQuery,
  verdictConditions,
  type CloudWatchQuery,
  type PromNames,
  type ProviderKind,
  type QueryParams,
} from "./conditions.js";
import { parseGoDuration } from "./argo-analysis.js";
import { detectionFigures, noiseFigures, NOISE_ERROR_RATE, type DetectionFigures, type NoiseFigures } from "./argo-sim.js";
import { checkServerTarget, renderWebAnalysisTemplates, serverBackend, serverGuardArgs, serverStepArgs, type AnalysisServerTarget } from "./web-provider.js";

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
  /** Required when the policy has comparison gates (or analysisServer). */
  provider?: MetricProvider;
  /**
   * Ask `rollgate analysis-server` for the verdicts (Argo's web provider) instead of rendering
   * threshold conditions: the engine's sequential test, bands and minSamples (web-provider.ts).
   * Exclusive with provider.
   */
  analysisServer?: AnalysisServerTarget;
  /** Interval of the guard's and the verdicts' measurements. @default "1m" */
  analysisInterval?: string;
  /**
   * How late the provider's data is (Go duration): no measurement is taken before it has passed
   * plus one period, and no window is shorter than it plus two periods.
   * @default "3m" for CloudWatch (ALB metrics land 1-3 minutes late), "1m" for Prometheus
   */
  metricDelay?: string;
  /** Failed guard measurements tolerated before the rollout aborts. @default 0 */
  guardFailureLimit?: number;
  /**
   * Mean requests per second the service serves (both versions together). When set, the render
   * simulates the rendered rules on identical versions at this rate and refuses the policy when
   * more than maxFalseRollbackRate of healthy rollouts would roll back.
   */
  expectedRps?: number;
  /** Highest acceptable false-rollback rate at expectedRps. @default 0.01 */
  maxFalseRollbackRate?: number;
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
  /** With expectedRps: the simulated outcomes of healthy rollouts under the rendered rules. */
  noise?: NoiseFigures;
  /** With expectedRps and an errorRate gate: bad canaries caught by the rendered rules and by the AWS flavour. */
  detection?: DetectionFigures;
  /** When the render warns that detection trails the AWS flavour: the rps from which it does not (detectionMatch). */
  detectionMatchRps?: number;
}

/** What the policy needs from Argo, decided from the policy alone (before any value is known). */
export interface ArgoPlan {
  policy: RolloutPolicy;
  strategy: "canary" | "blueGreen";
  /** A blue-green policy with a test share, rendered as a full-size canary (see planKubernetes). */
  blueGreenTest: boolean;
  /** Comparison gates that some step checks, in policy order. */
  gates: ComparisonGate[];
  /** Kubernetes names of the AnalysisTemplates to create, in render order. */
  templateNames: string[];
  /** Verdict templates: one per gate and timing group that checks it, in render order. */
  verdictTemplates: Array<{ name: string; gate: string; group: number }>;
  groups: TimingGroup[];
  serviceNames: string[];
  warnings: MappingIssue[];
  /** The guarded post-promotion bake: a last setWeight 100 step whose analysis judges these gates. */
  bake?: { templateName: string; gates: ComparisonGate[] };
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** What Go's time.ParseDuration (and so Argo's interval fields) accepts, without a sign. */
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
/** Longest base name: Service names are DNS labels (63) and get `-preview` or `-gate-<gate>` appended. */
const MAX_NAME = 40;

export const templateName = (name: string, gate: string) => `${name}-gate-${gate}`;
export const guardTemplateName = (name: string) => `${name}-guard`;
export const bakeTemplateName = (name: string) => `${name}-bake`;

/**
 * Checks that Argo can express the policy and lists what it expresses only approximately. Throws
 * ArgoMappingError with every blocking problem; returns the plan with warnings otherwise.
 */
export function planKubernetes(
  name: string,
  policyIn: PolicyInput | RolloutPolicy,
  providerKind: ProviderKind | undefined,
  options: { ignoreAlarmGates?: boolean; ignoreRingSteps?: boolean; analysisServer?: boolean } = {},
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
  if (!promotion.scaleDown) {
    warnings.push({ path: "promotion.scaleDown", message: "false cannot be expressed: Argo always scales the old ReplicaSet down after scaleDownDelaySeconds" });
  }

  // Argo's blueGreen strategy sends no live traffic to the preview, so a blue-green policy with a
  // test share (the only kind the policy lets carry comparison gates) renders as a canary: the new
  // ReplicaSet scaled to full size first (setCanaryScale), the test share with the gates' analysis
  // (the pre-promotion judgement), then Argo's promotion moves all traffic at once, and
  // scaleDownDelaySeconds keeps the old ReplicaSet warm for an instant undo.
  const blueGreenTest = policy.strategy === "blueGreen" && policy.steps[0]!.percent > 0;
  const strategy = policy.strategy === "blueGreen" && !blueGreenTest ? "blueGreen" : "canary";
  if (blueGreenTest) {
    warnings.push({
      path: "strategy.testPercent",
      message: `${policy.steps[0]!.percent} %: Argo's blueGreen strategy sends no live traffic to the preview, so this renders as a canary that scales the new ReplicaSet to full size, holds the test share for the bake with the gates' analysis, then moves all traffic at once (see promotion.bake for what guards the new version after the switch)`,
    });
  }
  if (strategy === "blueGreen") {
    // The policy refuses comparison gates on a dark bake (testPercent 0): nothing to measure here.
  } else {
    const stepPath = (i: number) =>
      source.strategy?.type === "canary"
        ? `strategy.steps[${i + droppedRingSteps}].percent`
        : `strategy.${source.strategy?.type === "linear" ? "stepPercent" : source.strategy?.type === "blueGreen" ? "testPercent" : "startPercent"}`;
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
      message: `the anytime-valid sequential test is not expressed: each measurement tests the canary's share of the window's events with a Chernoff bound at alpha ${policy.alpha} split over every measurement the rollout can take (Bonferroni). It never rolls back a healthy canary more often than alpha, but needs more evidence than the AWS flavour's test; docs/kubernetes.md has the measured figures`,
    });
    if (policy.steps.some((s) => s.onTimeout === "pause")) {
      warnings.push({
        path: "timeouts.onTimeout",
        message: `"pause" pauses the Rollout for an operator (InconclusiveAnalysis) when a step is still undecided at maxHold; while that pause is set Argo does not act on the background guard (rollout/analysis.go), so promote or abort promptly`,
      });
    }
    gates.forEach((gate) => {
      if (gate.type === "latency" && gate.mode === "percentile") {
        warnings.push({
          path: `gates[${policy.gates.indexOf(gate)}]`,
          message: `latency gate "${gate.name}" compares percentiles, which carry no counts to test: it rolls back on the point difference once minSamples are in, so noise can roll back a healthy canary; prefer thresholdMs`,
        });
      }
    });
  }
  if (source.onDrift !== undefined) {
    warnings.push({ path: "onDrift", message: "is ignored: Argo Rollouts owns the ALB weights on Kubernetes and reconciles them itself" });
  }
  if (source.weightTotal !== undefined) {
    warnings.push({ path: "weightTotal", message: "is ignored: Argo sets whole percentages (setWeight)" });
  }
  if (errors.length > 0) throw new ArgoMappingError(errors);

  const bake = planBake(name, policy, strategy, gates, providerKind, options.analysisServer ?? false, warnings);
  const groups = timingGroups(policy);
  const verdictTemplates: ArgoPlan["verdictTemplates"] = [];
  for (const gate of gates) {
    groups.forEach((group, g) => {
      if (!group.steps.some((i) => policy.steps[i]!.gates.includes(gate.name))) return;
      verdictTemplates.push({ name: templateName(name, gate.name) + (groups.length > 1 ? `-${g + 1}` : ""), gate: gate.name, group: g });
    });
  }
  const templateNames = [...verdictTemplates.map((t) => t.name), ...(bake ? [bake.templateName] : []), ...(gates.length > 0 ? [guardTemplateName(name)] : [])];
  const serviceNames = strategy === "canary" ? [`${name}-stable`, `${name}-canary`] : [`${name}-active`, `${name}-preview`];
  return { policy, strategy, blueGreenTest, gates, templateNames, verdictTemplates, ...(bake ? { bake } : {}), groups, serviceNames, warnings };
}

/**
 * The post-promotion bake (promotion.bake), guarded the way Argo can guard it. Argo's own
 * blueGreen post-promotion analysis (rollout/analysis.go lines 300-348) starts once the active
 * Service selects the new ReplicaSet; Status.StableRS stays the previous one until that run is
 * Successful (rollout/sync.go lines 1307-1313), so `podTemplateHashValue: Stable` is the previous
 * version's hash and `Latest` the new one's (utils/analysis/factory.go lines 25-31, called with
 * c.stableRS and c.newRS at rollout/analysis.go line 390); the previous ReplicaSet stays at full
 * size as the stable one (rollout/bluegreen.go lines 74-86), and a Failed or Error run aborts
 * (analysis.go lines 152-171), which points the active Service back at Status.StableRS
 * (rollout/service.go lines 112-114). The policies that carry comparison gates render as canaries
 * (a dark blue-green bake cannot have them), where the same holds: the bake is a last
 * `setWeight: 100` step with its own analysis before Argo promotes; until the steps complete the
 * stable ReplicaSet is the previous version, kept at full size under traffic routing
 * (utils/replicaset/canary.go lines 389-393), and an abort sends all traffic back to it at once.
 *
 * After the switch no baseline takes traffic, so each gate compares the new version with the
 * previous version's own rate over a window that reaches back before the switch (the lookback):
 * by target group on CloudWatch (the stable target group served only the previous version) and
 * by pod-template-hash on Prometheus. Undefined when there is nothing to render.
 */
function planBake(
  name: string,
  policy: RolloutPolicy,
  strategy: "canary" | "blueGreen",
  gates: ComparisonGate[],
  providerKind: ProviderKind | undefined,
  analysisServer: boolean,
  warnings: MappingIssue[],
): ArgoPlan["bake"] {
  const bakeMs = policy.promotion?.bakeMs ?? 0;
  if (!(bakeMs > 0)) return undefined;
  const seconds = Math.ceil(bakeMs / 1000);
  const unguarded = (why: string) =>
    warnings.push({
      path: "promotion.bake",
      message: `maps to scaleDownDelaySeconds (${seconds}): the previous ReplicaSet stays warm for the bake so \`kubectl argo rollouts undo\` is fast, but no gate guards the bake: ${why}`,
    });
  if (strategy === "blueGreen") {
    unguarded("a dark blue-green policy carries only alarm gates, which Argo cannot read; give the policy a testPercent and comparison gates to have the bake judged after the switch");
    return undefined;
  }
  if (analysisServer) {
    unguarded("the analysis server judges steps, not the bake after the switch; use cloudWatch or prometheus for a guarded bake");
    return undefined;
  }
  if (gates.length === 0) {
    unguarded("the policy has no comparison gates (alarm gates cannot be read by Argo)");
    return undefined;
  }
  const judged = gates.filter((g) => {
    if (providerKind === "cloudWatch" && g.type === "latency" && g.mode === "percentile") {
      warnings.push({
        path: `gates[${policy.gates.indexOf(g)}]`,
        message: `percentile latency gate "${g.name}" is not judged during the bake on CloudWatch: it pairs the two target groups' percentiles minute by minute, and after the switch the stable target group has no minutes; use thresholdMs (a count, which compares with the previous version's rate over the lookback) or Prometheus (whose histograms pool the lookback)`,
      });
      return false;
    }
    return true;
  });
  if (judged.length === 0) {
    unguarded("its only gates are percentile latency gates, which CloudWatch cannot compare after the switch");
    return undefined;
  }
  warnings.push({
    path: "promotion.bake",
    message: `renders as a last step at setWeight 100 with the bake analysis (${judged.map((g) => g.name).join(", ")}) before Argo promotes: after the switch no baseline takes traffic, so the new version is compared with the previous version's own rate over a lookback window that ends at the switch, and a regression aborts back to the previous ReplicaSet (still at full size as the stable one). Alarm gates do not guard it (Argo cannot read alarm state), and a baseline from before the switch does not cancel incidents that start during the bake`,
  });
  return { templateName: bakeTemplateName(name), gates: judged };
}

/** Steps that share hold, maxHold and onTimeout share their verdict templates. */
export interface TimingGroup {
  holdMs: number;
  maxHoldMs: number;
  onTimeout: "pause" | "rollback";
  steps: number[];
}

function timingGroups(policy: RolloutPolicy): TimingGroup[] {
  const groups: TimingGroup[] = [];
  policy.steps.forEach((step, i) => {
    const g = groups.find((x) => x.holdMs === step.holdMs && x.maxHoldMs === step.maxHoldMs && x.onTimeout === step.onTimeout);
    if (g) g.steps.push(i);
    else groups.push({ holdMs: step.holdMs, maxHoldMs: step.maxHoldMs, onTimeout: step.onTimeout, steps: [i] });
  });
  return groups;
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
  const server = input.analysisServer;
  const providerKind = input.provider?.kind ?? (server ? serverBackend(server).kind : undefined);
  const plan = planKubernetes(input.name, input.policy, providerKind, { ignoreAlarmGates: input.ignoreAlarmGates, ignoreRingSteps: input.ignoreRingSteps, analysisServer: server !== undefined });
  const errors: MappingIssue[] = [];
  if (server) {
    if (input.provider) errors.push({ path: "args.analysisServer", message: "set either analysisServer (the server's verdicts) or a metric provider (threshold conditions), not both" });
    errors.push(...checkServerTarget(server, plan.policy));
    // With the server the anytime-valid test is expressed: the threshold rendering's caveat does not apply.
    plan.warnings = plan.warnings.filter((w) => w.path !== "analysis.alpha");
    if (plan.strategy === "canary" && plan.policy.steps.some((st) => st.onTimeout === "rollback")) {
      plan.warnings.push({ path: "timeouts.onTimeout", message: '"rollback" with the analysis server: a step still undecided at maxHold pauses the Rollout (Inconclusive) instead; abort it with kubectl argo rollouts abort' });
    }
  }
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
  if (input.metricDelay !== undefined && !GO_DURATION.test(input.metricDelay)) {
    errors.push({ path: "args.metricDelay", message: `"${input.metricDelay}" must be a Go duration such as "3m" or "90s" (how late the provider's data arrives)` });
  }
  if (input.expectedRps !== undefined && !(typeof input.expectedRps === "number" && input.expectedRps > 0 && Number.isFinite(input.expectedRps))) {
    errors.push({ path: "args.expectedRps", message: `${String(input.expectedRps)} must be the service's mean requests per second, a number above 0` });
  }
  if (input.maxFalseRollbackRate !== undefined && !(typeof input.maxFalseRollbackRate === "number" && input.maxFalseRollbackRate > 0 && input.maxFalseRollbackRate < 1)) {
    errors.push({ path: "args.maxFalseRollbackRate", message: `${String(input.maxFalseRollbackRate)} must be a fraction between 0 and 1 (1 % is 0.01)` });
  }
  if (input.provider?.kind === "prometheus") {
    const prom = input.provider;
    plan.gates.forEach((gate) => {
      if (gate.type !== "latency") return;
      const problem = latencyBucketProblem(gate, prom);
      if (problem) errors.push({ path: `gates[${plan.policy.gates.indexOf(gate)}].thresholdMs`, message: problem });
    });
  }
  if (errors.length > 0) throw new ArgoMappingError(errors);

  const v = withDefaults(input);
  const labels = { "app.kubernetes.io/name": v.name, "app.kubernetes.io/managed-by": "rollgate" };
  const meta = (name: string) => ({ name, namespace: v.namespace, labels });
  const selector = { "app.kubernetes.io/name": v.name };

  const templates =
    plan.gates.length === 0
      ? []
      : server
        ? (renderWebAnalysisTemplates({
            name: v.name,
            namespace: v.namespace,
            labels,
            policy: plan.policy,
            gates: plan.gates,
            serverUrl: server.url,
            backend: serverBackend(server),
            interval: v.analysisInterval,
            ...(server.timeoutSeconds !== undefined ? { timeoutSeconds: server.timeoutSeconds } : {}),
            ...(server.consecutiveErrorLimit !== undefined ? { consecutiveErrorLimit: server.consecutiveErrorLimit } : {}),
            verdictTemplates: plan.verdictTemplates,
          }) as K8sObject[])
        : renderAnalysisTemplates(plan, v, meta);
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
  // An unguarded post-promotion bake keeps the old ReplicaSet (and, for blue-green, its pods)
  // warm for an undo. A guarded one (plan.bake) runs before Argo promotes, while the previous
  // ReplicaSet is still the stable one at full size; after it Argo's default delay (30 s) applies.
  const scaleDownDelay = bakeMs > 0 && !plan.bake ? { scaleDownDelaySeconds: Math.ceil(bakeMs / 1000) } : {};
  const verdictsOf = (stepIndex: number) => {
    const group = plan.groups.findIndex((g) => g.steps.includes(stepIndex));
    const step = plan.policy.steps[stepIndex]!;
    return plan.verdictTemplates.filter((t) => t.group === group && step.gates.includes(t.gate)).map((t) => ({ templateName: t.name }));
  };
  let strategy: Record<string, unknown>;
  if (plan.strategy === "canary") {
    const steps: Array<Record<string, unknown>> = [];
    // Blue-green with a test share: the new ReplicaSet at full size before any traffic moves.
    if (plan.blueGreenTest) steps.push({ setCanaryScale: { weight: 100 } });
    plan.policy.steps.forEach((step, i) => {
      steps.push({ setWeight: argoWeight(step.percent) });
      const verdicts = verdictsOf(i);
      if (verdicts.length > 0) {
        // No pause step: the verdict metrics wait out the hold themselves (initialDelay), then
        // measure until they pass or maxHold. A pause step here would make Argo hold the step
        // analysis back (rollout/analysis.go line 411) and gain nothing.
        const timing = analysisTiming(plan, v).groups[plan.groups.findIndex((g) => g.steps.includes(i))]!;
        const args = server ? serverStepArgs(plan.policy, i, parseGoDuration(v.analysisInterval) ?? 60_000, argoWeight, argoDuration) : argsFor(argoDuration(timing.windowMs));
        steps.push({ analysis: { templates: [...verdicts, ...extra], args } });
      } else {
        steps.push({ pause: { duration: argoDuration(step.holdMs) } });
        if (extra.length > 0) steps.push({ analysis: { templates: extra, args: argsFor(argoDuration(step.holdMs)) } });
      }
      // Manual approval: an indefinite pause, lifted by `kubectl argo rollouts promote`. The
      // background guard keeps acting during it (only the InconclusiveAnalysis pause stops it).
      if (step.approval) steps.push({ pause: {} });
    });
    if (plan.bake) {
      // The switch, then the bake's analysis; Argo promotes once it is Successful.
      steps.push({ setWeight: 100 });
      steps.push({ analysis: { templates: [{ templateName: plan.bake.templateName }], args: argsFor(argoDuration(analysisTiming(plan, v).bake!.windowMs)) } });
    }
    strategy = {
      canary: {
        stableService: first,
        canaryService: second,
        trafficRouting: { alb: { ingress: v.name, servicePort: v.servicePort, rootService: first } },
        ...scaleDownDelay,
        ...(plan.gates.length > 0
          ? {
              analysis: {
                templates: [{ templateName: guardTemplateName(v.name) }],
                startingStep: 1,
                args: server ? serverGuardArgs(plan.policy, argoDuration) : argsFor(argoDuration(analysisTiming(plan, v).guard.windowMs)),
              },
            }
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
  const rendered: RenderedKubernetes = { policy: plan.policy, rollout, analysisTemplates: templates, services, ingress, warnings: [...plan.warnings] };
  // The noise check simulates the threshold rules; the server's verdicts are the engine's (BENCHMARKS.md).
  if (plan.gates.length > 0 && plan.strategy === "canary" && !server) checkNoise(rendered, plan, v);
  return rendered;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
/** Detection gap to the AWS flavour (share of bad canaries) above which the render warns. */
export const DETECTION_GAP = 0.05;
/** Share of healthy rollouts pausing at maxHold above which the render warns (the AWS flavour's own figure at 50 rps is about 2 %). */
export const PAUSE_WARNING_RATE = 0.05;

/**
 * The noise check: the rendered rules on simulated identical versions at the declared rps
 * (src/sim traffic with CloudWatch's lag, Argo's analysis semantics from argo-analysis.ts). Too
 * many false rollbacks refuse the render; too many rollouts pausing at maxHold warn. Both say
 * what rps the policy would need.
 */
function checkNoise(rendered: RenderedKubernetes, plan: ArgoPlan, v: Resolved): void {
  if (!(v.expectedRps > 0)) {
    rendered.warnings.push({
      path: "args.expectedRps",
      message: "is not set, so the false-rollback rate of the rendered rules at your traffic is unknown; set it to the service's mean requests per second and the render simulates healthy rollouts at that rate (docs/kubernetes.md lists measured figures per rps)",
    });
    return;
  }
  const query = analysisTiming(plan, v).query;
  const at = noiseFigures(rendered, query, v.expectedRps);
  rendered.noise = at;
  const ceiling = v.maxFalseRollbackRate;
  const needed = (bad: (f: NoiseFigures) => boolean): string => {
    for (let factor = 2; factor <= 64; factor *= 2) {
      const f = noiseFigures(rendered, query, v.expectedRps * factor, 150);
      if (!bad(f)) return `at ${v.expectedRps * factor} rps it is ${pct(bad === tooManyRollbacks ? f.falseRollbackRate : f.pausedRate)}`;
    }
    return `it stays above ${pct(ceiling)} up to ${v.expectedRps * 64} rps`;
  };
  const tooManyRollbacks = (f: NoiseFigures) => f.falseRollbackRate > ceiling;
  const tooManyPauses = (f: NoiseFigures) => f.pausedRate > PAUSE_WARNING_RATE;
  const how = `simulated: ${at.runs} rollouts of identical versions with ${pct(NOISE_ERROR_RATE)} errors at ${v.expectedRps} rps`;
  if (tooManyRollbacks(at)) {
    throw new ArgoMappingError([
      {
        path: "args.expectedRps",
        message: `the rendered rules roll back ${pct(at.falseRollbackRate)} of healthy rollouts (${how}), above maxFalseRollbackRate ${pct(ceiling)}; ${needed(tooManyRollbacks)}. Widen the rollback bands, lower analysis.alpha's spending (fewer, longer steps), or raise maxFalseRollbackRate knowingly`,
      },
    ]);
  }
  const detected = detectionFigures(rendered, query, v.expectedRps);
  if (detected) {
    rendered.detection = detected;
    if (detected.aws - detected.argo > DETECTION_GAP) {
      const found = detectionMatch(rendered, query, v.expectedRps);
      let match = `the gap stays above ${points(DETECTION_GAP)} up to ${v.expectedRps * 16} rps`;
      if (found) {
        rendered.detectionMatchRps = found.rps;
        match = `they are within ${points(DETECTION_GAP)} of each other from ${found.rps} rps (${pct(found.argo)} and ${pct(found.aws)} there; ${found.below} rps still gives ${pct(found.belowFigures.argo)} and ${pct(found.belowFigures.aws)}), so the policy needs about ${found.rps} rps for the AWS flavour's detection`;
      }
      rendered.warnings.push({
        path: "args.expectedRps",
        message: `at ${v.expectedRps} rps the rendered rules roll back ${pct(detected.argo)} of canaries failing ${pct(detected.canaryErrorRate)} of requests (baseline ${pct(NOISE_ERROR_RATE)}), the AWS flavour ${pct(detected.aws)} (simulated, ${detected.runs} rollouts each); ${match}. Argo's analysis needs more evidence than the engine's test and stops judging in the InconclusiveAnalysis pause; consider the analysis server (web provider), longer holds, or higher first percentages`,
      });
    }
  }
  if (tooManyPauses(at)) {
    rendered.warnings.push({
      path: "args.expectedRps",
      message: `${pct(at.pausedRate)} of healthy rollouts would pause at maxHold, a step still undecided (too few samples, or noise inside the hold band) (${how}); ${needed(tooManyPauses)}. Lengthen maxHold, lower minSamples, or start at a higher percent`,
    });
  }
}

const points = (x: number) => `${Number((100 * x).toFixed(1))} points`;

/**
 * The lowest rps (to within about 10 %) from which the rendered rules catch bad canaries within
 * DETECTION_GAP of the AWS flavour: doubling from the declared rps to 16 times it, then bisecting
 * the last doubling. Every probe uses the same runs and seeds as the render's own figure, so
 * rendering with expectedRps at the rps found does not warn (a test holds it to that).
 */
function detectionMatch(
  rendered: RenderedKubernetes,
  query: QueryParams,
  rps: number,
): { rps: number; argo: number; aws: number; below: number; belowFigures: DetectionFigures } | undefined {
  const close = (f: DetectionFigures) => f.aws - f.argo <= DETECTION_GAP;
  let lo = rps;
  let loFigures = detectionFigures(rendered, query, lo)!;
  let hi: number | undefined;
  let hiFigures: DetectionFigures | undefined;
  for (let factor = 2; factor <= 16; factor *= 2) {
    const f = detectionFigures(rendered, query, rps * factor)!;
    if (close(f)) {
      hi = rps * factor;
      hiFigures = f;
      break;
    }
    lo = rps * factor;
    loFigures = f;
  }
  if (hi === undefined || hiFigures === undefined) return undefined;
  while (hi - lo > Math.max(1, 0.1 * lo)) {
    const mid = Math.round((lo + hi) / 2);
    if (mid <= lo || mid >= hi) break;
    const f = detectionFigures(rendered, query, mid)!;
    if (close(f)) {
      hi = mid;
      hiFigures = f;
    } else {
      lo = mid;
      loFigures = f;
    }
  }
  return { rps: hi, argo: hiFigures.argo, aws: hiFigures.aws, below: lo, belowFigures: loFigures };
}

type Resolved = Required<Omit<RenderInput, "provider" | "policy" | "ingress" | "analysisServer">> & {
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
    guardFailureLimit: i.guardFailureLimit ?? 0,
    metricDelay: i.metricDelay ?? (i.provider?.kind === "prometheus" ? "1m" : "3m"),
    expectedRps: i.expectedRps ?? 0,
    maxFalseRollbackRate: i.maxFalseRollbackRate ?? 0.01,
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

/** The new version's trials over a fixed window ending now: the bake's freshness check. */
function freshProviderBlock(gate: ComparisonGate, provider: MetricProvider, window: string): Record<string, unknown> {
  if (provider.kind === "cloudWatch") return { cloudWatch: { interval: window, metricDataQueries: cloudWatchFreshQueries(gate) } };
  return { prometheus: { address: provider.address, query: prometheusFreshQuery(gate, provider, window) } };
}

function providerBlock(gate: ComparisonGate, provider: MetricProvider, q: QueryParams): Record<string, unknown> {
  if (provider.kind === "cloudWatch") {
    const queries: CloudWatchQuery[] = cloudWatchQueries(gate, q);
    return { cloudWatch: { interval: `{{args.${ARG.window}}}`, metricDataQueries: queries } };
  }
  return { prometheus: { address: provider.address, query: prometheusQuery(gate, provider, q) } };
}

/** One CloudWatch period (the ALB's one-minute datapoints); Prometheus data is finer. */
const PERIOD_MS = 60_000;
/** Argo retries an errored measurement after 10 s (analysis/analysis.go line 30). */
const ERROR_RETRY_MS = 10_000;
/** consecutiveErrorLimit that rides out any outage: missing data holds, it never aborts. */
export const HOLD_ERROR_LIMIT = 1_000_000;
/** consecutiveErrorLimit when missing data rolls back: Argo's default, about 40-50 s of failed queries. */
export const ROLLBACK_ERROR_LIMIT = 4;

export interface VerdictTiming {
  /** initialDelay: the hold, but never before the data of one period can have arrived. */
  initialDelayMs: number;
  /** The query window: maxHold (at least initialDelay). */
  windowMs: number;
  count: number;
  failureLimit: number;
  consecutiveErrorLimit: number;
}

/**
 * The bake step's analysis (plan.bake), from the switch to 100 % until the bake has passed. Per
 * gate two metrics, each measuring every interval for `count` measurements:
 * - the comparison: fails on a confident regression against the previous version's lookback (and,
 *   with onMissingData "rollback", on no data); otherwise Successful, so at count it is Successful
 *   (analysis.go lines 615-649 with neither a success limit nor a failure);
 * - the freshness: Successful when the new version has trials in the last `freshWindowMs`,
 *   Inconclusive otherwise with inconclusiveLimit 0, so one stale measurement ends the run
 *   Inconclusive and the Rollout pauses for an operator (or, with onMissingData "rollback", Failed).
 *   The comparison's window reaches back before the switch, so without this a canary whose metrics
 *   stopped after the switch would be judged on the minutes before it: missing data would pass.
 */
export interface BakeTiming {
  /** metricDelay + 1 period: the first measurement sees minutes after the switch. */
  initialDelayMs: number;
  /** Measurements: the bake ÷ interval, so the step lasts the bake plus metricDelay. */
  count: number;
  consecutiveErrorLimit: number;
  /** The comparison's window: every measurement reaches back to the lookback before the switch. */
  windowMs: number;
  /** The previous version's minutes before the switch that the last measurement still sees. */
  lookbackMs: number;
  /** The freshness window: metricDelay + 2 periods, which delivered data always fills. */
  freshWindowMs: number;
}

export interface AnalysisTiming {
  intervalMs: number;
  delayMs: number;
  groups: VerdictTiming[];
  bake?: BakeTiming;
  guard: { initialDelayMs: number; windowMs: number; consecutiveErrorLimit: number };
  /** Measurements the rollout can take per gate (doubled for approval waits), the Bonferroni divisor. */
  looks: number;
  query: QueryParams;
}

/**
 * The numbers behind every analysis field, from the policy and the args:
 * - verdict: initialDelay = max(hold, metricDelay + 1 period) so it never judges before the hold
 *   nor before data exists; the window is maxHold, so waiting longer gathers more samples; count = measurements that fit before maxHold; consecutiveSuccessLimit 1
 *   ends it at the first pass; inconclusiveLimit = count keeps "hold" from ever pausing the
 *   Rollout before maxHold; at count without a pass the metric is Inconclusive (failureLimit 0:
 *   the Rollout pauses, onTimeout "pause") or Failed (failureLimit -1: it aborts, onTimeout
 *   "rollback"), analysis/analysis.go lines 615-649.
 * - guard: from metricDelay + 1 period, every interval, over the shortest hold but never less
 *   than metricDelay + 2 periods (a window the data can fill). (A second guard over the longest
 *   maxHold was tried: it caught no more bad canaries in the simulator at 20-200 rps, since the
 *   verdict already reads maxHold windows, and its looks raised the threshold.)
 * - consecutiveErrorLimit: onMissingData "hold" rides out any outage; "rollback" aborts after
 *   Argo's default 4 retries (errors retry every 10 s and do not count towards count).
 */
export function analysisTiming(plan: ArgoPlan, v: { analysisInterval: string; metricDelay: string }): AnalysisTiming {
  const intervalMs = parseGoDuration(v.analysisInterval) ?? 60_000;
  const delayMs = parseGoDuration(v.metricDelay) ?? 180_000;
  const rollbackOnMissing = plan.gates.some((g) => g.onMissingData === "rollback");
  const groups = plan.groups.map((g): VerdictTiming => {
    const initialDelayMs = Math.max(g.holdMs, delayMs + PERIOD_MS);
    const count = Math.max(1, Math.floor((g.maxHoldMs - initialDelayMs) / intervalMs) + 1);
    return {
      initialDelayMs,
      // maxHold, not the hold: holding longer must be able to gather minSamples. The first
      // measurement sees the step from its start (and, after the first step, earlier minutes of the
      // canary at a lower weight, as the engine's whole-rollout test does).
      windowMs: Math.max(g.maxHoldMs, initialDelayMs),
      count,
      failureLimit: g.onTimeout === "rollback" ? -1 : 0,
      consecutiveErrorLimit: rollbackOnMissing ? ROLLBACK_ERROR_LIMIT : g.onTimeout === "rollback" ? Math.max(ROLLBACK_ERROR_LIMIT, Math.ceil(g.maxHoldMs / ERROR_RETRY_MS)) : HOLD_ERROR_LIMIT,
    };
  });
  const minHold = Math.min(...plan.policy.steps.map((s) => s.holdMs));
  const guardWindow = Math.max(minHold, delayMs + 2 * PERIOD_MS);
  let bake: BakeTiming | undefined;
  if (plan.bake) {
    const last = plan.policy.steps[plan.policy.steps.length - 1]!;
    const count = Math.max(1, Math.ceil(plan.policy.promotion.bakeMs / intervalMs));
    const initialDelayMs = delayMs + PERIOD_MS;
    // The last step's hold of the previous version (it served the rest of the traffic then), and
    // never less than the delayed data can fill.
    const lookbackMs = Math.max(last.holdMs, delayMs + 2 * PERIOD_MS);
    bake = {
      initialDelayMs,
      count,
      consecutiveErrorLimit: rollbackOnMissing ? ROLLBACK_ERROR_LIMIT : HOLD_ERROR_LIMIT,
      windowMs: initialDelayMs + count * intervalMs + lookbackMs,
      lookbackMs,
      freshWindowMs: delayMs + 2 * PERIOD_MS,
    };
  }
  // Looks per gate: the guard every interval through every step's maxHold (and the bake), and
  // every verdict measurement. An approval wait has no bound, so with approvals the count is doubled.
  const planned = plan.policy.steps.reduce((sum, s) => sum + Math.ceil(s.maxHoldMs / intervalMs), 0) + (bake ? bake.count + Math.ceil(bake.initialDelayMs / intervalMs) : 0);
  const verdictLooks = plan.policy.steps.reduce((sum, _s, i) => sum + groups[plan.groups.findIndex((g) => g.steps.includes(i))]!.count, 0) + (bake?.count ?? 0);
  const looks = (plan.policy.steps.some((s) => s.approval) ? 2 : 1) * (planned + verdictLooks);
  const gateCount = Math.max(1, plan.gates.length);
  return {
    intervalMs,
    delayMs,
    groups,
    ...(bake ? { bake } : {}),
    guard: { initialDelayMs: delayMs + PERIOD_MS, windowMs: guardWindow, consecutiveErrorLimit: rollbackOnMissing ? ROLLBACK_ERROR_LIMIT : HOLD_ERROR_LIMIT },
    looks,
    query: { logThreshold: Math.log((gateCount * looks) / plan.policy.alpha) },
  };
}

function renderAnalysisTemplates(plan: ArgoPlan, v: Resolved, meta: (name: string) => K8sObject["metadata"]): K8sObject[] {
  const provider = v.provider!;
  const args = templateArgs(provider);
  const timing = analysisTiming(plan, v);
  const gateByName = new Map(plan.gates.map((g) => [g.name, g]));
  const template = (name: string, metrics: Array<Record<string, unknown>>): K8sObject => ({
    apiVersion: ARGO_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: meta(name),
    spec: { args, metrics },
  });
  const verdicts = plan.verdictTemplates.map((t) => {
    const gate = gateByName.get(t.gate)!;
    const g = timing.groups[t.group]!;
    return template(t.name, [
      {
        name: gate.name,
        interval: v.analysisInterval,
        initialDelay: argoDuration(g.initialDelayMs),
        count: g.count,
        consecutiveSuccessLimit: 1,
        inconclusiveLimit: g.count,
        failureLimit: g.failureLimit,
        consecutiveErrorLimit: g.consecutiveErrorLimit,
        ...verdictConditions(gate, provider.kind),
        provider: providerBlock(gate, provider, timing.query),
      },
    ]);
  });
  if (plan.bake && timing.bake) {
    const b = timing.bake;
    const common = { interval: v.analysisInterval, initialDelay: argoDuration(b.initialDelayMs), count: b.count, consecutiveErrorLimit: b.consecutiveErrorLimit };
    verdicts.push(
      template(
        plan.bake.templateName,
        plan.bake.gates.flatMap((gate) => [
          // A regression against the previous version's lookback aborts; at count it passes.
          { name: gate.name, ...common, failureLimit: 0, failureCondition: bakeCondition(gate, provider.kind), provider: providerBlock(gate, provider, timing.query) },
          // One measurement without the new version's data pauses (or, onMissingData "rollback", aborts).
          {
            name: freshMetricName(gate.name),
            ...common,
            failureLimit: 0,
            inconclusiveLimit: 0,
            ...freshConditions(gate, provider.kind),
            provider: freshProviderBlock(gate, provider, argoDuration(b.freshWindowMs)),
          },
        ]),
      ),
    );
  }
  if (plan.strategy === "canary") {
    const guard = template(
      guardTemplateName(v.name),
      plan.gates.map((gate) => ({
        name: `${gate.name}-guard`,
        // No count: measures every interval until the rollout ends (then Argo terminates it as successful).
        interval: v.analysisInterval,
        initialDelay: argoDuration(timing.guard.initialDelayMs),
        failureLimit: v.guardFailureLimit,
        consecutiveErrorLimit: timing.guard.consecutiveErrorLimit,
        failureCondition: guardCondition(gate, provider.kind, plan.bake !== undefined),
        provider: providerBlock(gate, provider, timing.query),
      })),
    );
    return [...verdicts, guard];
  }
  return verdicts;
}
