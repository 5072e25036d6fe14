/**
 * Argo Rollouts AnalysisTemplates that ask `rollgate analysis-server` for the verdict (Argo's `web`
 * metric provider), and the server's own Deployment, Service and ServiceAccount.
 *
 * With the server, the step verdict and the background guard are the engine's: the anytime-valid
 * sequential test, minSamples, the hold and rollback bands, onMissingData, all computed by
 * src/analysis from the per-minute counts. Argo only maps the answer:
 *
 *   verdict  | step verdict (after the hold, every       | guard (every interval, all rollout)
 *            | interval until the step's maxHold)         |
 *   pass     | Successful at once: the step advances      | Successful
 *            | (consecutiveSuccessLimit 1)                |
 *   hold     | measured again next interval; at maxHold   | Successful: no rollback, keeps measuring
 *            | still no pass: Inconclusive, the Rollout   |
 *            | pauses (the engine's onTimeout "pause")    |
 *   rollback | Failed: the Rollout aborts (failureLimit 0)| Failed (failureLimit 0: the engine rolls
 *            |                                            | back on the first rollback verdict)
 *
 * The step verdict's count (measurements from the end of the hold to maxHold) is a template arg,
 * so one template per gate serves steps of different lengths. consecutiveSuccessLimit needs Argo
 * Rollouts 1.8 or later.
 * A hold never turns protection off: it pauses (or keeps) the step, and the guard keeps measuring.
 * A metrics outage is a hold (the server answers 200 "hold" with the reason); only the server
 * itself being unreachable is a measurement Error, and Argo aborts after consecutiveErrorLimit of
 * those in a row, which fails safe (back to stable).
 *
 * No Pulumi here: pure functions over plain values, like render.ts.
 */
import { parsePolicy } from "../../src/policy/resolve.js";
import type { ComparisonGate, RolloutPolicy } from "../../src/policy/types.js";
import type { PolicyIssue } from "../../src/policy/errors.js";

const ARGO_API_VERSION = "argoproj.io/v1alpha1";

/** A Kubernetes object as plain JSON (the shape render.ts uses). */
export interface WebK8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Template args of the web templates (Argo fills the hashes from the ReplicaSets). */
export const WEB_ARG = {
  canaryHash: "canary-hash",
  stableHash: "stable-hash",
  window: "window",
  stepIndex: "step-index",
  /** Step verdict measurements: one at the end of the hold, then one per interval until maxHold. */
  verdictCount: "verdict-count",
  /** The step's canary weight and the previous step's: the server finds the step's start from them. Empty for the guard. */
  weight: "weight",
  previousWeight: "previous-weight",
} as const;

/** What the verdict's jsonPath selects, and the conditions on it. */
export const VERDICT_JSON_PATH = "{$.verdict}";
export const WEB_SUCCESS_CONDITION = 'result == "pass"';
export const WEB_FAILURE_CONDITION = 'result == "rollback"';

/** Prometheus names, as the threshold rendering takes them (render.ts PrometheusProvider without address). */
export interface WebPrometheusNames {
  requestsMetric?: string;
  statusLabel?: string;
  errorStatusRegex?: string;
  durationMetric?: string;
  podHashLabel?: string;
  selector?: string;
}

/** Where the server reads the metrics of this service. */
export type WebBackend =
  | { kind: "prometheus"; names?: WebPrometheusNames }
  | { kind: "cloudWatch"; loadBalancerArn: string; canaryTargetGroupArn: string; stableTargetGroupArn: string };

export interface WebTemplatesInput {
  /** Base name of the service (templates are `<name>-gate-<gate>` and `<name>-guard`). */
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** The resolved policy the Rollout follows (render.ts's plan.policy). */
  policy: RolloutPolicy;
  /** Comparison gates some step checks, in policy order. */
  gates: ComparisonGate[];
  /** Base URL of the analysis server, e.g. `http://rollgate-analysis.argo-rollouts.svc:8080`. */
  serverUrl: string;
  backend: WebBackend;
  /** Interval of the guard's measurements and of the step verdict's after the hold. @default "1m" */
  interval?: string;
  /** Seconds Argo waits for an answer (the server answers hold within its backend timeout, 8 s by default). @default 10 */
  timeoutSeconds?: number;
  /** Measurement errors in a row (server unreachable) before Argo fails the run (and aborts). @default 4 (Argo's default) */
  consecutiveErrorLimit?: number;
  /** Names of the verdict templates (render.ts may make one per gate and timing group). @default one `<name>-gate-<gate>` per gate */
  verdictTemplates?: Array<{ name: string; gate: string }>;
}

export const webTemplateName = (name: string, gate: string) => `${name}-gate-${gate}`;
export const webGuardTemplateName = (name: string) => `${name}-guard`;

/**
 * Problems with the web provider's inputs, as policy-style issues (path + message). Empty when
 * they are fine.
 */
export function checkWebInputs(input: Pick<WebTemplatesInput, "serverUrl" | "backend" | "timeoutSeconds" | "consecutiveErrorLimit" | "policy">, path = "args.analysisServer"): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  if (!/^https?:\/\/[^/\s]+(\/[^\s]*)?$/.test(input.serverUrl)) {
    issues.push({ path: `${path}.url`, message: `"${input.serverUrl}" must be an http(s) URL of the analysis server, e.g. http://rollgate-analysis.argo-rollouts.svc:8080` });
  }
  if (input.timeoutSeconds !== undefined && !(Number.isInteger(input.timeoutSeconds) && input.timeoutSeconds >= 1 && input.timeoutSeconds <= 300)) {
    issues.push({ path: `${path}.timeoutSeconds`, message: `${input.timeoutSeconds} must be a whole number of seconds from 1 to 300` });
  }
  if (input.consecutiveErrorLimit !== undefined && !(Number.isInteger(input.consecutiveErrorLimit) && input.consecutiveErrorLimit >= 0)) {
    issues.push({ path: `${path}.consecutiveErrorLimit`, message: `${input.consecutiveErrorLimit} must be a whole number, 0 or more` });
  }
  if (input.backend.kind === "cloudWatch") {
    const tg = /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
    const lb = /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer\/app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
    if (!lb.test(input.backend.loadBalancerArn)) issues.push({ path: `${path}.cloudWatch.loadBalancerArn`, message: `"${input.backend.loadBalancerArn}" is not an application load balancer ARN` });
    for (const f of ["canaryTargetGroupArn", "stableTargetGroupArn"] as const) {
      if (!tg.test(input.backend[f])) issues.push({ path: `${path}.cloudWatch.${f}`, message: `"${input.backend[f]}" is not a target group ARN` });
    }
  }
  if (JSON.stringify(input.policy.source).includes("{{")) {
    issues.push({ path: "policy", message: 'contains "{{", which Argo would read as a template argument in the request body; remove it' });
  }
  return issues;
}

/**
 * The source policy's step index of each rendered step: render.ts may drop ring steps
 * (ignoreRingSteps), and the server parses the source policy, where they still count.
 */
function sourceStepIndexes(policy: RolloutPolicy): number[] {
  const source = parsePolicy(policy.source);
  const kept = source.steps.filter((s) => s.ring === undefined).map((s) => s.index);
  return kept.length === policy.steps.length ? kept : policy.steps.map((s) => s.index);
}

/** Measurements of a step verdict: at the end of the hold, then every interval until maxHold. */
export function verdictCount(holdMs: number, maxHoldMs: number, intervalMs: number): number {
  return Math.max(1, Math.floor(Math.max(0, maxHoldMs - holdMs) / intervalMs) + 1);
}

/**
 * Args a step (or the guard) passes to a web template. `window` is the step's hold (the guard:
 * the shortest hold); `verdictCount` is ignored by the guard but every declared arg needs a value.
 */
export function webAnalysisArgs(
  policy: RolloutPolicy,
  renderedStepIndex: number,
  window: string,
  count = 1,
  weights?: { current: number; previous: number },
): Array<Record<string, unknown>> {
  return [
    { name: WEB_ARG.canaryHash, valueFrom: { podTemplateHashValue: "Latest" } },
    { name: WEB_ARG.stableHash, valueFrom: { podTemplateHashValue: "Stable" } },
    { name: WEB_ARG.window, value: window },
    { name: WEB_ARG.stepIndex, value: String(sourceStepIndexes(policy)[renderedStepIndex] ?? renderedStepIndex) },
    { name: WEB_ARG.verdictCount, value: String(count) },
    { name: WEB_ARG.weight, value: weights ? String(weights.current) : "" },
    { name: WEB_ARG.previousWeight, value: weights ? String(weights.previous) : "" },
  ];
}

/** The request body Argo sends (args substituted by Argo at run time). */
export function verdictRequestBody(input: Pick<WebTemplatesInput, "name" | "policy" | "backend">, gate: ComparisonGate): Record<string, unknown> {
  const backend =
    input.backend.kind === "prometheus"
      ? { prometheus: { ...(input.backend.names ?? {}) } }
      : {
          cloudWatch: {
            loadBalancerArn: input.backend.loadBalancerArn,
            canaryTargetGroupArn: input.backend.canaryTargetGroupArn,
            stableTargetGroupArn: input.backend.stableTargetGroupArn,
          },
        };
  return {
    service: input.name,
    gate: gate.name,
    policy: input.policy.source,
    canaryHash: `{{args.${WEB_ARG.canaryHash}}}`,
    stableHash: `{{args.${WEB_ARG.stableHash}}}`,
    window: `{{args.${WEB_ARG.window}}}`,
    stepIndex: `{{args.${WEB_ARG.stepIndex}}}`,
    weight: `{{args.${WEB_ARG.weight}}}`,
    previousWeight: `{{args.${WEB_ARG.previousWeight}}}`,
    ...backend,
  };
}

function webProvider(input: WebTemplatesInput, gate: ComparisonGate): Record<string, unknown> {
  return {
    web: {
      url: `${input.serverUrl.replace(/\/+$/, "")}/v1/verdict`,
      method: "POST",
      timeoutSeconds: input.timeoutSeconds ?? 10,
      jsonPath: VERDICT_JSON_PATH,
      jsonBody: verdictRequestBody(input, gate),
    },
  };
}

/** One verdict template per gate, then the guard: the web provider's counterpart of render.ts's templates. */
export function renderWebAnalysisTemplates(input: WebTemplatesInput): WebK8sObject[] {
  const meta = (name: string) => ({ name, namespace: input.namespace, labels: input.labels });
  // Argo's reference validation (validation_references.go, setArgValuePlaceHolder) resolves a
  // non-background template with "dummy-value" for every arg that has no value; a count of
  // "dummy-value" reads as 0, so the Rollout would be InvalidSpec ("runs indefinitely"). A numeric
  // default keeps validation happy; the Rollout's step args override it at run time.
  const args = Object.values(WEB_ARG).map((name) => (name === WEB_ARG.verdictCount ? { name, value: "1" } : { name }));
  const errors = { consecutiveErrorLimit: input.consecutiveErrorLimit ?? 4 };
  const names = input.verdictTemplates ?? input.gates.map((g) => ({ name: webTemplateName(input.name, g.name), gate: g.name }));
  const verdicts = names.map(({ name, gate: gateName }) => ({ name, gate: input.gates.find((g) => g.name === gateName)! })).map(({ name, gate }) => ({
    apiVersion: ARGO_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: meta(name),
    spec: {
      args,
      metrics: [
        {
          name: gate.name,
          // From the end of the hold: the first pass advances, a rollback aborts, holds are measured
          // again each interval; no pass by maxHold is Inconclusive (the Rollout pauses).
          // The step's analysis starts with the step: the first verdict comes when the hold ends.
          initialDelay: `{{args.${WEB_ARG.window}}}`,
          interval: input.interval ?? "1m",
          count: `{{args.${WEB_ARG.verdictCount}}}`,
          consecutiveSuccessLimit: 1,
          failureLimit: 0,
          inconclusiveLimit: `{{args.${WEB_ARG.verdictCount}}}`,
          ...errors,
          successCondition: WEB_SUCCESS_CONDITION,
          failureCondition: WEB_FAILURE_CONDITION,
          provider: webProvider(input, gate),
        },
      ],
    },
  }));
  const guard = {
    apiVersion: ARGO_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: meta(webGuardTemplateName(input.name)),
    spec: {
      args,
      metrics: input.gates.map((gate) => ({
        name: `${gate.name}-guard`,
        // No count: every interval until the rollout ends. Only a rollback verdict fails it.
        interval: input.interval ?? "1m",
        failureLimit: 0,
        ...errors,
        failureCondition: WEB_FAILURE_CONDITION,
        provider: webProvider(input, gate),
      })),
    },
  };
  return [...verdicts, guard];
}

/* ----------------------------------------------------------------------------------------------
 * Wiring into render.ts: the analysis server in place of the threshold conditions.
 * -------------------------------------------------------------------------------------------- */

/** The analysis server a rendered service asks, and what it reads for this service. */
export interface AnalysisServerTarget {
  /** Base URL of the server as Argo's controller reaches it, e.g. http://rollgate-analysis.argo-rollouts.svc:8080. */
  url: string;
  /** Prometheus names of this service's metrics (the server's --prometheus-url says where). Default backend. */
  prometheus?: WebPrometheusNames;
  /** Read CloudWatch instead (EKS behind an ALB): the ALB and the two target groups, by ARN. */
  cloudWatch?: { loadBalancerArn: string; canaryTargetGroupArn: string; stableTargetGroupArn: string };
  /** @default 10 */
  timeoutSeconds?: number;
  /** @default 4 */
  consecutiveErrorLimit?: number;
}

export function serverBackend(t: AnalysisServerTarget): WebBackend {
  return t.cloudWatch ? { kind: "cloudWatch", ...t.cloudWatch } : { kind: "prometheus", ...(t.prometheus ? { names: t.prometheus } : {}) };
}

/** Problems with an AnalysisServerTarget (paths under args.analysisServer). */
export function checkServerTarget(t: AnalysisServerTarget, policy: RolloutPolicy): PolicyIssue[] {
  const issues = checkWebInputs({ serverUrl: t.url, backend: serverBackend(t), timeoutSeconds: t.timeoutSeconds, consecutiveErrorLimit: t.consecutiveErrorLimit, policy });
  if (t.cloudWatch && t.prometheus) issues.push({ path: "args.analysisServer.cloudWatch", message: "set at most one of prometheus or cloudWatch (the server reads Prometheus by default)" });
  return issues;
}

/**
 * Args of step `i`'s analysis: the window (hold), the verdict count up to maxHold, and the
 * step's weight with the previous one (from which the server finds the step's start).
 */
export function serverStepArgs(policy: RolloutPolicy, i: number, intervalMs: number, weightOf: (percent: number) => number, window: (ms: number) => string): Array<Record<string, unknown>> {
  const step = policy.steps[i]!;
  const previous = i === 0 ? 0 : weightOf(policy.steps[i - 1]!.percent);
  return webAnalysisArgs(policy, i, window(step.holdMs), verdictCount(step.holdMs, step.maxHoldMs, intervalMs), { current: weightOf(step.percent), previous });
}

/** Args of the background guard: the shortest hold as its window, no step weights. */
export function serverGuardArgs(policy: RolloutPolicy, window: (ms: number) => string): Array<Record<string, unknown>> {
  return webAnalysisArgs(policy, 0, window(Math.min(...policy.steps.map((s) => s.holdMs))), 1);
}

/* ----------------------------------------------------------------------------------------------
 * The analysis server itself.
 * -------------------------------------------------------------------------------------------- */

export interface AnalysisServerDeployment {
  /** Name of the Deployment, Service and ServiceAccount. @default "rollgate-analysis" */
  name?: string;
  namespace: string;
  /** The image built from this repository's Dockerfile and pushed to your registry. */
  image: string;
  /** Prometheus base URL the server reads, e.g. http://prometheus-server.monitoring. */
  prometheusUrl?: string;
  /** AWS region for CloudWatch reads (EKS on ALB). */
  awsRegion?: string;
  /** Annotations of the ServiceAccount, e.g. { "eks.amazonaws.com/role-arn": "arn:aws:iam::...:role/rollgate-analysis" } for CloudWatch reads. */
  serviceAccountAnnotations?: Record<string, string>;
  /** @default 2 (stateless: any replica answers any request) */
  replicas?: number;
  /** @default 8080 */
  port?: number;
  /** @default "50m" */
  cpu?: string;
  /** Request and limit (the server measured 133 MB resident after start). @default "256Mi" */
  memory?: string;
  /** @default { "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "rollgate" } */
  labels?: Record<string, string>;
}

/** ServiceAccount, Deployment and Service of the analysis server. */
export function renderAnalysisServer(d: AnalysisServerDeployment): { objects: WebK8sObject[]; url: string } {
  const name = d.name ?? "rollgate-analysis";
  const port = d.port ?? 8080;
  const labels = d.labels ?? { "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "rollgate" };
  const selector = { "app.kubernetes.io/name": labels["app.kubernetes.io/name"] ?? name };
  const meta = (extra: Partial<WebK8sObject["metadata"]> = {}) => ({ name, namespace: d.namespace, labels, ...extra });
  const memory = d.memory ?? "256Mi";
  const probe = (path: string) => ({ httpGet: { path, port: "http" }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
  const args = ["analysis-server", "--port", String(port), "--host", "0.0.0.0"];
  if (d.prometheusUrl) args.push("--prometheus-url", d.prometheusUrl);
  if (d.awsRegion) args.push("--region", d.awsRegion);
  const serviceAccount: WebK8sObject = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(d.serviceAccountAnnotations ? { annotations: d.serviceAccountAnnotations } : {}),
    // The server never talks to the Kubernetes API; only IRSA's projected token (added by EKS) is needed.
    automountServiceAccountToken: false,
  };
  const deployment: WebK8sObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(),
    spec: {
      replicas: d.replicas ?? 2,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...labels, ...selector } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "analysis-server",
              image: d.image,
              args,
              ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
              // Readiness never depends on Prometheus: an outage must answer hold, not remove every replica.
              readinessProbe: probe("/readyz"),
              livenessProbe: { ...probe("/healthz"), initialDelaySeconds: 10 },
              resources: { requests: { cpu: d.cpu ?? "50m", memory }, limits: { memory } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              // The TypeScript loader caches compiled files under /tmp: the only writable path.
              volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
            },
          ],
          volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
        },
      },
    },
  };
  const service: WebK8sObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(),
    spec: { type: "ClusterIP", selector, ports: [{ name: "http", port, targetPort: "http", protocol: "TCP" }] },
  };
  return { objects: [serviceAccount, deployment, service], url: `http://${name}.${d.namespace}.svc:${port}` };
}
