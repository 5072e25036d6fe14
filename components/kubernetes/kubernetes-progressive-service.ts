/**
 * KubernetesProgressiveService: the rollgate policy on Kubernetes, rendered to Argo Rollouts
 * instead of the rollgate controller (Argo plays the controller's part). Traffic goes through the
 * AWS Load Balancer Controller: an ALB Ingress whose weights Argo sets.
 */
import { createRequire } from "node:module";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PolicyError } from "../../src/policy/errors.js";
import type { PolicyInput } from "../../src/policy/schema.js";
import { defaultCrdDirectory, loadArgoCrds } from "./crds.js";
import {
  ARGO_API_VERSION,
  ArgoMappingError,
  PROMETHEUS_DEFAULTS,
  planKubernetes,
  renderKubernetes,
  type ArgoPlan,
  type MetricProvider,
  type RenderedKubernetes,
} from "./render.js";
import type { PolicyArgument } from "../policy-argument.js";
import { renderAnalysisServer, type AnalysisServerTarget, type WebK8sObject } from "./web-provider.js";

/** Deploy `rollgate analysis-server` with the service (ServiceAccount, Deployment, Service). */
export interface KubernetesAnalysisServerDeployArgs {
  /**
   * The image built from rollgate's Dockerfile and pushed to your registry (docs/kubernetes.md).
   * @default none (required)
   */
  image: pulumi.Input<string>;
  /**
   * Namespace of the server.
   * @default the service's namespace
   */
  namespace?: pulumi.Input<string>;
  /**
   * Name of the Deployment, Service and ServiceAccount.
   * @default "<name>-analysis"
   */
  name?: string;
  /**
   * Prometheus base URL the server reads, e.g. "http://prometheus-server.monitoring".
   * @default none (Prometheus requests then hold, saying so)
   */
  prometheusUrl?: pulumi.Input<string>;
  /**
   * AWS region for CloudWatch reads.
   * @default the pod's environment (IRSA sets AWS_REGION)
   */
  awsRegion?: pulumi.Input<string>;
  /**
   * ServiceAccount annotations, e.g. the IRSA role for cloudwatch:GetMetricData.
   * @default none
   */
  serviceAccountAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Replicas (the server is stateless).
   * @default 2
   */
  replicas?: pulumi.Input<number>;
}

/** Ask `rollgate analysis-server` for the gates' verdicts (Argo's web provider). */
/**
 * Prometheus names of a service's metrics, for the analysis server. A named interface rather than
 * an inline object type: Pulumi's component schema analyzer accepts only named object types.
 */
export interface KubernetesAnalysisServerPrometheusArgs {
  /** @default "http_requests_total" */
  requestsMetric?: string;
  /** @default "code" */
  statusLabel?: string;
  /** @default "5.." */
  errorStatusRegex?: string;
  /** @default "http_request_duration_seconds" */
  durationMetric?: string;
  /** @default "rollouts_pod_template_hash" */
  podHashLabel?: string;
  /** Extra label selector. @default none */
  selector?: string;
}

/** The ALB and the two target groups the analysis server reads from CloudWatch, by ARN. */
export interface KubernetesAnalysisServerCloudWatchArgs {
  loadBalancerArn: string;
  canaryTargetGroupArn: string;
  stableTargetGroupArn: string;
}

export interface KubernetesAnalysisServerArgs {
  /**
   * Base URL of a server that already runs, e.g. "http://rollgate-analysis.argo-rollouts.svc:8080".
   * Exactly one of url or deploy.
   * @default none
   */
  url?: pulumi.Input<string>;
  /**
   * Deploy a server with this service. Exactly one of url or deploy.
   * @default none
   */
  deploy?: KubernetesAnalysisServerDeployArgs;
  /**
   * Prometheus names of this service's metrics (the server reads Prometheus unless cloudWatch is set).
   * @default the prometheus defaults (http_requests_total, code, 5.., http_request_duration_seconds, rollouts_pod_template_hash)
   */
  prometheus?: pulumi.Input<KubernetesAnalysisServerPrometheusArgs>;
  /**
   * Read CloudWatch instead (EKS behind an ALB): the ALB and the two target groups, by ARN.
   * @default none
   */
  cloudWatch?: pulumi.Input<KubernetesAnalysisServerCloudWatchArgs>;
  /**
   * Seconds Argo waits for an answer.
   * @default 10
   */
  timeoutSeconds?: pulumi.Input<number>;
  /**
   * Measurement errors in a row (the server unreachable) before Argo fails the analysis and aborts.
   * @default 4
   */
  consecutiveErrorLimit?: pulumi.Input<number>;
}

/** CloudWatch metric provider: GetMetricData over the ALB target groups of the two Services. */
export interface KubernetesCloudWatchArgs {
  /**
   * `LoadBalancer` dimension value of the ALB the Ingress creates, e.g. `app/k8s-shop-checkout-1a2b3c/0123456789abcdef`
   * (the part of its ARN after `loadbalancer/`).
   * @default none (required)
   */
  loadBalancer: pulumi.Input<string>;
  /**
   * `TargetGroup` dimension value of the stable Service's target group, e.g. `targetgroup/k8s-shop-checkout-stable/0123456789abcdef`.
   * The AWS Load Balancer Controller creates it; read it after the first deploy (`aws elbv2 describe-target-groups`).
   * @default none (required)
   */
  stableTargetGroup: pulumi.Input<string>;
  /**
   * `TargetGroup` dimension value of the canary Service's target group.
   * @default none (required)
   */
  canaryTargetGroup: pulumi.Input<string>;
}

/** Prometheus metric provider: PromQL over the canary and stable pods' request metrics. */
export interface KubernetesPrometheusArgs {
  /**
   * Prometheus server URL as Argo Rollouts' controller reaches it.
   * @default none (required), e.g. "http://prometheus-server.monitoring:80"
   */
  address: pulumi.Input<string>;
  /**
   * Counter of requests, labelled with the status code.
   * @default "http_requests_total"
   */
  requestsMetric?: pulumi.Input<string>;
  /**
   * Label holding the HTTP status code on requestsMetric.
   * @default "code"
   */
  statusLabel?: pulumi.Input<string>;
  /**
   * Regular expression of failed status codes.
   * @default "5.."
   */
  errorStatusRegex?: pulumi.Input<string>;
  /**
   * Latency histogram base name (`<name>_bucket` and `<name>_count` are read), in seconds.
   * @default "http_request_duration_seconds"
   */
  durationMetric?: pulumi.Input<string>;
  /**
   * Label your scrape config copies the pods' `rollouts-pod-template-hash` label into; it tells
   * canary pods from stable pods.
   * @default "rollouts_pod_template_hash"
   */
  podHashLabel?: pulumi.Input<string>;
  /**
   * Extra label matchers added to every selector, e.g. `namespace="shop", app="checkout"`.
   * @default "" (none)
   */
  selector?: pulumi.Input<string>;
  /**
   * Upper bounds (seconds) of durationMetric's histogram buckets. Required by a latency gate with
   * thresholdMs: the threshold must be one of them, or `le="<threshold>"` matches no series and the
   * gate never sees data (the render refuses such a threshold).
   * @default none
   */
  latencyBuckets?: pulumi.Input<pulumi.Input<number>[]>;
}

/** The ALB Ingress (AWS Load Balancer Controller) in front of the Services. */
export interface KubernetesIngressArgs {
  /**
   * Host the rule matches.
   * @default none (any host)
   */
  host?: pulumi.Input<string>;
  /**
   * Path prefix the rule matches.
   * @default "/"
   */
  path?: pulumi.Input<string>;
  /**
   * Internet-facing ALB instead of an internal one.
   * @default false
   */
  internetFacing?: pulumi.Input<boolean>;
  /**
   * IngressClass of the AWS Load Balancer Controller.
   * @default "alb"
   */
  className?: pulumi.Input<string>;
  /**
   * Extra Ingress annotations (certificates, group name, ...). They override the defaults
   * (`scheme`, `target-type: ip`).
   * @default {}
   */
  annotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export interface KubernetesProgressiveServiceArgs {
  /**
   * The RolloutPolicy (as in a policy file). A plain value, not an Output: the set of
   * AnalysisTemplates follows from it, and a bad policy must fail at preview.
   * @default none (required)
   */
  policy: PolicyArgument;
  /**
   * Container image of the service. A new image starts a new rollout.
   * @default none (required)
   */
  image: pulumi.Input<string>;
  /**
   * Namespace of every object.
   * @default "default"
   */
  namespace?: pulumi.Input<string>;
  /**
   * Port the container listens on (named `http`).
   * @default 8080
   */
  containerPort?: pulumi.Input<number>;
  /**
   * Port of the Services and of the ALB's target.
   * @default 80
   */
  servicePort?: pulumi.Input<number>;
  /**
   * Pods of the stable version (the canary is scaled by Argo).
   * @default 2
   */
  replicas?: pulumi.Input<number>;
  /**
   * CPU request of the container.
   * @default "250m"
   */
  cpu?: pulumi.Input<string>;
  /**
   * Memory request and limit of the container.
   * @default "256Mi"
   */
  memory?: pulumi.Input<string>;
  /**
   * Environment variables of the container. `ROLLOUTS_POD_TEMPLATE_HASH` is always added: report
   * it as the metric gate's variant dimension.
   * @default {}
   */
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * The ALB Ingress.
   * @default an internal ALB on "/" with ingressClassName "alb"
   */
  ingress?: KubernetesIngressArgs;
  /**
   * Measure comparison gates with CloudWatch. Exactly one of cloudWatch or prometheus is required
   * when the policy has comparison gates.
   * @default none
   */
  cloudWatch?: KubernetesCloudWatchArgs;
  /**
   * Measure comparison gates with Prometheus. Exactly one of cloudWatch or prometheus is required
   * when the policy has comparison gates.
   * @default none
   */
  prometheus?: KubernetesPrometheusArgs;
  /**
   * Ask rollgate's analysis server for the verdicts (the engine's sequential test) instead of
   * rendering threshold conditions. Exclusive with cloudWatch and prometheus.
   * @default none
   */
  analysisServer?: KubernetesAnalysisServerArgs;
  /**
   * Interval of the background guard's and the step verdicts' measurements (Argo retries an errored
   * measurement after 10 s whatever this is).
   * @default "1m"
   */
  analysisInterval?: pulumi.Input<string>;
  /**
   * How late the metric provider's data arrives (Go duration). No measurement is taken before it
   * has passed plus one period, and no window is shorter than it plus two periods.
   * @default "3m" with cloudWatch (ALB metrics land 1-3 minutes late), "1m" with prometheus
   */
  metricDelay?: pulumi.Input<string>;
  /**
   * Failing guard measurements tolerated before Argo aborts the rollout (Argo's failureLimit).
   * Each failing measurement is already a confident regression (see docs/kubernetes.md).
   * @default 0
   */
  guardFailureLimit?: pulumi.Input<number>;
  /**
   * The service's mean requests per second (both versions). When set, the render simulates
   * healthy rollouts under the rendered rules at this rate: more false rollbacks than
   * maxFalseRollbackRate is a preview error, many rollouts pausing at maxHold a warning.
   * @default none (a warning says the false-rollback rate is unknown)
   */
  expectedRps?: pulumi.Input<number>;
  /**
   * Highest acceptable share of healthy rollouts rolled back at expectedRps.
   * @default 0.01
   */
  maxFalseRollbackRate?: pulumi.Input<number>;
  /**
   * Names of existing AnalysisTemplates (e.g. a smoke-test Job) added to every canary step's
   * analysis, or run as prePromotionAnalysis of a blue-green rollout.
   * @default []
   */
  analysisTemplates?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Drop alarm gates (Argo cannot read CloudWatch alarm state) with a warning instead of failing.
   * Plain value: it decides what is created.
   * @default false
   */
  ignoreAlarmGates?: boolean;
  /**
   * Drop audience-ring steps (Argo's ALB routing has no header or source routes) with a warning
   * instead of failing, so one policy file can serve the AWS and the Kubernetes flavour.
   * Plain value: it decides what is rendered.
   * @default false
   */
  ignoreRingSteps?: boolean;
  /**
   * Create the Argo Rollouts CRDs from the YAML files in crdDirectory. Leave off when Argo Rollouts
   * is installed (its Helm chart installs them). Plain value: it decides what is created.
   * @default false
   */
  installCrds?: boolean;
  /**
   * Folder holding the CRD files read when installCrds is set.
   * @default "<rollgate package>/vendor/argo-rollouts" (the CRDs of Argo Rollouts v1.9.1+, shipped in the package)
   */
  crdDirectory?: string;
}

const requireHere = createRequire(import.meta.url);

/**
 * @pulumi/kubernetes is an optional peer dependency: loaded when the first Kubernetes component
 * is created, so AWS-only users can import rollgate without installing it.
 */
function loadKubernetes(): typeof k8s {
  try {
    return requireHere("@pulumi/kubernetes") as typeof k8s;
  } catch (e) {
    if ((e as { code?: string }).code === "MODULE_NOT_FOUND" && String((e as Error).message).includes("@pulumi/kubernetes")) {
      throw new Error("KubernetesProgressiveService needs the @pulumi/kubernetes package (an optional peer dependency of rollgate); install it in your Pulumi project: npm install @pulumi/kubernetes");
    }
    throw e;
  }
}

export class KubernetesProgressiveService extends pulumi.ComponentResource {
  /** Kubernetes name of the Rollout. */
  public readonly rolloutName: pulumi.Output<string>;
  /** Names of the Services: [stable, canary] or, for blue-green, [active, preview]. */
  public readonly serviceNames: pulumi.Output<string[]>;
  /** Names of the AnalysisTemplates created: one per comparison gate, then the guard. */
  public readonly analysisTemplateNames: pulumi.Output<string[]>;
  /** Name of the ALB Ingress. */
  public readonly ingressName: pulumi.Output<string>;
  /** What the policy maps to only approximately, as `path: message` lines (also logged). */
  public readonly warnings: pulumi.Output<string[]>;
  /** URL of the analysis server the templates call (with analysisServer). */
  public readonly analysisServerUrl: pulumi.Output<string | undefined>;

  constructor(name: string, args: KubernetesProgressiveServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:KubernetesProgressiveService", name, {}, opts);
    const k8s = loadKubernetes();

    const plan = this.plan(name, args);
    for (const w of plan.warnings) pulumi.log.warn(`${w.path}: ${w.message}`, this);

    const crds = args.installCrds ? this.installCrds(name, args.crdDirectory) : [];
    const server = args.analysisServer ? this.analysisServer(name, args) : undefined;

    const rendered: pulumi.Output<RenderedKubernetes> = pulumi
      .output({
        image: args.image,
        namespace: args.namespace,
        containerPort: args.containerPort,
        servicePort: args.servicePort,
        replicas: args.replicas,
        cpu: args.cpu,
        memory: args.memory,
        env: args.env,
        ingress: args.ingress,
        cloudWatch: args.cloudWatch,
        prometheus: args.prometheus,
        analysisInterval: args.analysisInterval,
        metricDelay: args.metricDelay,
        guardFailureLimit: args.guardFailureLimit,
        expectedRps: args.expectedRps,
        maxFalseRollbackRate: args.maxFalseRollbackRate,
        analysisTemplates: args.analysisTemplates,
        analysisServer: server?.target,
      })
      .apply((a) => {
        let provider: MetricProvider | undefined;
        if (a.cloudWatch) provider = { kind: "cloudWatch", ...a.cloudWatch };
        else if (a.prometheus) provider = { kind: "prometheus", ...PROMETHEUS_DEFAULTS, ...stripUndefined(a.prometheus) };
        try {
          const r = renderKubernetes({
            ...stripUndefined({ ...a, cloudWatch: undefined, prometheus: undefined, analysisServer: undefined }),
            ...(a.analysisServer ? { analysisServer: stripUndefined(a.analysisServer) as AnalysisServerTarget } : {}),
            name,
            policy: plan.policy,
            ...(provider ? { provider } : {}),
            ignoreAlarmGates: args.ignoreAlarmGates ?? false,
            ignoreRingSteps: args.ignoreRingSteps ?? false,
          });
          // The noise check needs the resolved args: its warnings are logged here; the plan's (on
          // the policy as written, with its step paths) were logged at construction.
          const noise = r.warnings.filter((w) => w.path === "args.expectedRps");
          for (const w of noise) pulumi.log.warn(`${w.path}: ${w.message}`, this);
          return { ...r, warnings: [...plan.warnings, ...noise] };
        } catch (e) {
          throw new pulumi.ResourceError(e instanceof Error ? e.message : String(e), this);
        }
      });

    const child = { parent: this, dependsOn: crds };
    const services = plan.serviceNames.map(
      (svc, i) =>
        new k8s.core.v1.Service(
          svc,
          {
            metadata: rendered.apply((r) => r.services[i]!.metadata),
            spec: rendered.apply((r) => r.services[i]!.spec as k8s.types.input.core.v1.ServiceSpec),
          },
          child,
        ),
    );
    const ingress = new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: rendered.apply((r) => r.ingress.metadata),
        spec: rendered.apply((r) => r.ingress.spec as k8s.types.input.networking.v1.IngressSpec),
      },
      { parent: this, dependsOn: services },
    );
    const templates = plan.templateNames.map(
      (templateName, i) =>
        new k8s.apiextensions.CustomResource(
          templateName,
          {
            apiVersion: ARGO_API_VERSION,
            kind: "AnalysisTemplate",
            metadata: rendered.apply((r) => r.analysisTemplates[i]!.metadata),
            spec: rendered.apply((r) => r.analysisTemplates[i]!.spec),
          },
          child,
        ),
    );
    const rollout = new k8s.apiextensions.CustomResource(
      `${name}-rollout`,
      {
        apiVersion: ARGO_API_VERSION,
        kind: "Rollout",
        metadata: rendered.apply((r) => r.rollout.metadata),
        spec: rendered.apply((r) => r.rollout.spec),
      },
      // The templates, Services and Ingress must exist before Argo reconciles the first step.
      { parent: this, dependsOn: [...crds, ...templates, ...services, ingress] },
    );

    this.rolloutName = rollout.metadata.name;
    this.serviceNames = pulumi.all(services.map((s) => s.metadata.name));
    this.analysisTemplateNames = pulumi.all(templates.map((t) => t.metadata.name));
    this.ingressName = ingress.metadata.name;
    this.warnings = rendered.apply((r) => r.warnings.map((w) => `${w.path}: ${w.message}`));
    this.analysisServerUrl = server ? server.target.apply((t) => t.url) : pulumi.output(undefined);
    this.registerOutputs({
      rolloutName: this.rolloutName,
      serviceNames: this.serviceNames,
      analysisTemplateNames: this.analysisTemplateNames,
      ingressName: this.ingressName,
      warnings: this.warnings,
      analysisServerUrl: this.analysisServerUrl,
    });
  }

  /** The server's target (URL and backend), deploying the server first when asked. */
  private analysisServer(name: string, args: KubernetesProgressiveServiceArgs): { target: pulumi.Output<AnalysisServerTarget> } {
    const a = args.analysisServer!;
    if ((a.url === undefined) === (a.deploy === undefined)) {
      throw new pulumi.ResourceError("analysisServer: set exactly one of url (a server that runs) or deploy (deploy one with this service)", this);
    }
    let url: pulumi.Output<string>;
    if (a.deploy) {
      const k8s = loadKubernetes();
      const d = a.deploy;
      const serverName = d.name ?? `${name}-analysis`;
      const objects = pulumi
        .output({ image: d.image, namespace: d.namespace ?? args.namespace ?? "default", prometheusUrl: d.prometheusUrl, awsRegion: d.awsRegion, annotations: d.serviceAccountAnnotations, replicas: d.replicas })
        .apply((v) =>
          renderAnalysisServer({
            name: serverName,
            namespace: v.namespace,
            image: v.image,
            ...(v.prometheusUrl ? { prometheusUrl: v.prometheusUrl } : {}),
            ...(v.awsRegion ? { awsRegion: v.awsRegion } : {}),
            ...(v.annotations ? { serviceAccountAnnotations: v.annotations } : {}),
            ...(v.replicas !== undefined ? { replicas: v.replicas } : {}),
          }),
        );
      const pick = (kind: string) => objects.apply((o) => o.objects.find((x) => x.kind === kind)! as WebK8sObject);
      const sa = new k8s.core.v1.ServiceAccount(`${serverName}-sa`, { metadata: pick("ServiceAccount").apply((o) => o.metadata), automountServiceAccountToken: false }, { parent: this });
      const deployment = new k8s.apps.v1.Deployment(
        `${serverName}-deployment`,
        { metadata: pick("Deployment").apply((o) => o.metadata), spec: pick("Deployment").apply((o) => o.spec as unknown as k8s.types.input.apps.v1.DeploymentSpec) },
        { parent: this, dependsOn: [sa] },
      );
      const service = new k8s.core.v1.Service(
        `${serverName}-service`,
        { metadata: pick("Service").apply((o) => o.metadata), spec: pick("Service").apply((o) => o.spec as unknown as k8s.types.input.core.v1.ServiceSpec) },
        { parent: this, dependsOn: [deployment] },
      );
      url = pulumi.all([service.metadata.name, objects]).apply(([, o]) => o.url);
    } else {
      url = pulumi.output(a.url!);
    }
    const target = pulumi
      .output({ url, prometheus: a.prometheus, cloudWatch: a.cloudWatch, timeoutSeconds: a.timeoutSeconds, consecutiveErrorLimit: a.consecutiveErrorLimit })
      .apply((t) => stripUndefined(t) as AnalysisServerTarget);
    return { target };
  }

  /** Synchronous checks of plain args, so a bad policy or a missing provider fails at preview. */
  private plan(name: string, args: KubernetesProgressiveServiceArgs): ArgoPlan {
    if (args.cloudWatch && args.prometheus) {
      throw new pulumi.ResourceError("set exactly one of cloudWatch or prometheus (the metric provider of the analysis), not both", this);
    }
    if (args.analysisServer && (args.cloudWatch || args.prometheus)) {
      throw new pulumi.ResourceError("set either analysisServer (the server's verdicts) or cloudWatch/prometheus (threshold conditions), not both", this);
    }
    if (args.policy === undefined) {
      throw new pulumi.ResourceError("policy is required: a RolloutPolicy such as { profile: \"standard\" }", this);
    }
    if (pulumi.Output.isInstance(args.policy) || args.policy instanceof Promise) {
      throw new pulumi.ResourceError(
        "policy must be a plain value, not an Output or a Promise: the AnalysisTemplates to create follow from it; read the policy file synchronously (e.g. yaml.parse(readFileSync(...)))",
        this,
      );
    }
    try {
      const serverKind = args.analysisServer ? (args.analysisServer.cloudWatch ? "cloudWatch" : "prometheus") : undefined;
      const plan = planKubernetes(name, args.policy, args.cloudWatch ? "cloudWatch" : args.prometheus ? "prometheus" : serverKind, {
        ignoreAlarmGates: args.ignoreAlarmGates ?? false,
        ignoreRingSteps: args.ignoreRingSteps ?? false,
        analysisServer: serverKind !== undefined,
      });
      // With the server the anytime-valid test is expressed: the threshold rendering's caveat does not apply.
      return serverKind ? { ...plan, warnings: plan.warnings.filter((w) => w.path !== "analysis.alpha") } : plan;
    } catch (e) {
      if (e instanceof PolicyError || e instanceof ArgoMappingError) throw new pulumi.ResourceError(e.message, this);
      throw e;
    }
  }

  private installCrds(name: string, directory: string | undefined): k8s.apiextensions.v1.CustomResourceDefinition[] {
    const k8s = loadKubernetes();
    let docs;
    try {
      docs = loadArgoCrds(directory ?? defaultCrdDirectory());
    } catch (e) {
      throw new pulumi.ResourceError(e instanceof Error ? e.message : String(e), this);
    }
    return docs.map(
      (doc) =>
        new k8s.apiextensions.v1.CustomResourceDefinition(
          `${name}-crd-${doc.spec.names.plural}`,
          {
            apiVersion: "apiextensions.k8s.io/v1",
            kind: "CustomResourceDefinition",
            metadata: doc.metadata,
            spec: doc.spec as unknown as k8s.types.input.apiextensions.v1.CustomResourceDefinitionSpec,
          },
          { parent: this },
        ),
    );
  }
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
