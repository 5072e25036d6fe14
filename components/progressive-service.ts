import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch/index.js";
import * as lambda from "@pulumi/aws/lambda/index.js";
import type { RolloutPolicy } from "../src/policy/index.js";
import { parsePolicy } from "../src/policy/resolve.js";
import { policyWarnings } from "../src/policy/warnings.js";
import { BlueGreenTargetGroups } from "./blue-green-target-groups.js";
import { renderDashboard } from "./dashboard.js";
import { EcsSlots, VERSION_PATTERN } from "./ecs-slots.js";
import { HealthGates } from "./health-gates.js";
import { ArgsError, check, checked, checkInteger, forbid, loadBalancerArnSuffix, parseArn, plain, requireExactlyOne } from "./internal.js";
import { checkReleaseAllowed, readServicePolicy, withHealthGate } from "./service-policy.js";
import { StepController } from "./step-controller.js";
import { WeightedRouting } from "./weighted-routing.js";
import type { PolicyArgument } from "./policy-argument.js";

export interface ProgressiveServiceArgs {
  /**
   * Service name: the controller's ROLLGATE_SERVICE, the dashboard title, the metrics dimension.
   * @default the component name
   */
  serviceName?: pulumi.Input<string>;
  /**
   * Release label of `image` (e.g. "2.4.1"). A new version is deployed into the idle slot and a
   * rollout starts; the same version again changes nothing.
   */
  version: pulumi.Input<string>;
  /**
   * The RolloutPolicy as an object (what you would write in YAML). Exactly one of policy or
   * policyDocument. Validated at preview: a bad policy fails `pulumi preview` naming the field.
   * @default undefined
   */
  policy?: pulumi.Input<PolicyArgument>;
  /**
   * The RolloutPolicy as YAML or JSON text (e.g. the contents of policy.yaml). Exactly one of
   * policy or policyDocument.
   * @default undefined
   */
  policyDocument?: pulumi.Input<string>;

  /** VPC of the load balancer and the tasks. */
  vpcId: pulumi.Input<string>;
  /** ARN of the Application Load Balancer in front of the service. */
  loadBalancerArn: pulumi.Input<string>;
  /**
   * A shared listener on loadBalancerArn: the service gets a listener rule on it (set priority and
   * hostHeaders and/or pathPatterns). Without it the service gets a listener of its own.
   * @default undefined (a listener of its own)
   */
  listenerArn?: pulumi.Input<string>;
  /**
   * With listenerArn: the rule's priority (1..50000, unique on the listener).
   * @default undefined (required with listenerArn)
   */
  priority?: pulumi.Input<number>;
  /**
   * With listenerArn: host headers the rule matches.
   * @default []
   */
  hostHeaders?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * With listenerArn: path patterns the rule matches.
   * @default []
   */
  pathPatterns?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Without listenerArn: the port of the service's own listener.
   * @default 80 (443 with certificateArn)
   */
  listenerPort?: pulumi.Input<number>;
  /**
   * Without listenerArn: an ACM certificate, making the listener HTTPS.
   * @default undefined (HTTP)
   */
  certificateArn?: pulumi.Input<string>;
  /**
   * Health check path of both target groups.
   * @default "/"
   */
  healthCheckPath?: pulumi.Input<string>;
  /**
   * Healthy HTTP codes.
   * @default "200-399"
   */
  healthCheckMatcher?: pulumi.Input<string>;
  /**
   * Draining time of a deregistered target, in seconds.
   * @default 30
   */
  deregistrationDelaySeconds?: pulumi.Input<number>;
  /**
   * Target-group stickiness in seconds (0 = off).
   * @default 0
   */
  stickinessSeconds?: pulumi.Input<number>;

  /** ARN of the ECS cluster that runs the two slot services (Fargate). */
  clusterArn: pulumi.Input<string>;
  /** Container image of `version`. */
  image: pulumi.Input<string>;
  /** Subnets of the tasks. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Security groups of the tasks (must admit the load balancer on containerPort). */
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Name of the container.
   * @default "app"
   */
  containerName?: pulumi.Input<string>;
  /**
   * Port the container listens on (also the target groups' port).
   * @default 80
   */
  containerPort?: pulumi.Input<number>;
  /**
   * Fargate CPU units.
   * @default 256
   */
  cpu?: pulumi.Input<number>;
  /**
   * Fargate memory (MiB).
   * @default 512
   */
  memory?: pulumi.Input<number>;
  /**
   * Tasks of the stable slot at creation (the controller sizes the idle slot like the stable one).
   * @default 2
   */
  desiredCount?: pulumi.Input<number>;
  /**
   * Public IPs for the tasks (public subnets without NAT only).
   * @default false
   */
  assignPublicIp?: pulumi.Input<boolean>;
  /**
   * Container environment (ROLLGATE_VERSION is added).
   * @default {}
   */
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Task execution role.
   * @default a role limited to the image's ECR repository and the task log group
   */
  executionRoleArn?: pulumi.Input<string>;
  /**
   * Application role of the tasks.
   * @default undefined
   */
  taskRoleArn?: pulumi.Input<string>;

  /**
   * Per-slot alarm: failed-request share in percent.
   * @default 5
   */
  errorRateThresholdPercent?: pulumi.Input<number>;
  /**
   * Per-slot alarm: latency percentile.
   * @default 99
   */
  latencyPercentile?: pulumi.Input<number>;
  /**
   * Per-slot alarm: latency threshold in milliseconds.
   * @default 1000
   */
  latencyThresholdMs?: pulumi.Input<number>;
  /**
   * Comparison alarm: percentage points between the slots' failed-request shares.
   * @default 2
   */
  comparisonThresholdPercent?: pulumi.Input<number>;
  /**
   * Requests per minute a slot needs before its error rate counts.
   * @default 10
   */
  minRequestsPerPeriod?: pulumi.Input<number>;
  /**
   * Period of the per-slot latency (percentile) alarms, in seconds (a multiple of 60). CloudWatch
   * evaluates p99 only over at least 1,000 samples in a period (10 / (1 - p)); a preview warning
   * says when minRequestsPerPeriod cannot fill it.
   * @default 60
   */
  latencyPeriodSeconds?: pulumi.Input<number>;
  /**
   * Alarm actions (your on-call SNS topic ARNs) for the composite `health` alarm, the burn-rate
   * alarms and the controller's own alarms (errors, throttles, dead-man's switch).
   * @default [] (a preview warning says the health alarm pages nobody)
   */
  alarmActions?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Availability SLO in percent for the burn-rate alarms that freeze rollouts. 0 turns them off.
   * @default 99.9
   */
  sloTarget?: pulumi.Input<number>;
  /**
   * Your own alarms (business KPIs), by ARN: added to the `health` gate and the composite alarm.
   * @default []
   */
  additionalAlarmArns?: pulumi.Input<pulumi.Input<string>[]>;

  /**
   * How often the controller evaluates the step.
   * @default "rate(1 minute)"
   */
  scheduleExpression?: pulumi.Input<string>;
  /**
   * EventBridge bus for decision events.
   * @default the account's default bus
   */
  eventBusArn?: pulumi.Input<string>;
  /**
   * Log retention (days) of the controller and the tasks.
   * @default 30
   */
  logRetentionDays?: pulumi.Input<number>;
  /**
   * The controller Lambda's timeout in seconds (10..900). Lifecycle hooks run asynchronously,
   * outside it, however long their timeout.
   * @default 60
   */
  controllerTimeoutSeconds?: pulumi.Input<number>;
  /**
   * Names of the execution roles of the policy's hook functions: each gets the controller's
   * hook-result policy (Lambda delivers a hook's answer to the controller with the hook's role).
   * Without it, attach the output hookResultPolicyArn to those roles yourself.
   * @default []
   */
  hookRoleNames?: pulumi.Input<string>[];
  /**
   * Configure each hook function's asynchronous invocation (destinations to the controller, no
   * retries). Set to false when it is managed elsewhere (see StepController.manageHookInvokeConfig).
   * @default true
   */
  manageHookInvokeConfig?: pulumi.Input<boolean>;
  /**
   * DynamoDB deletion protection of the controller's state table (rollout state and audit trail).
   * @default true
   */
  stateTableDeletionProtection?: pulumi.Input<boolean>;
  /**
   * Protect the two target groups, so a change that would replace them (containerPort, vpcId)
   * fails at preview: the controller owns the forward action, so Pulumi could not swap a new
   * target group in. See docs/components.md, "What `pulumi up` may change while a rollout is live".
   * @default true
   */
  protectTargetGroups?: boolean;
  /**
   * Path of the controller bundle.
   * @default "<rollgate package>/dist/lambda/controller.mjs"
   */
  controllerCodePath?: pulumi.Input<string>;
  /**
   * Before releasing a new version, ask the controller (`{"command":"status"}`, at preview) whether
   * a rollout is in flight, and refuse to deploy over it. Turn off only if the controller cannot be
   * invoked by whoever runs pulumi.
   * @default true
   */
  checkLiveSlot?: pulumi.Input<boolean>;
  /**
   * Tags of every resource.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** What the controller accepts as ROLLGATE_SERVICE. */
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Plain-value checks of ProgressiveServiceArgs that are not left to the parts; throws ArgsError. */
export function validateProgressiveServiceArgs(args: ProgressiveServiceArgs): RolloutPolicy | undefined {
  const c = "ProgressiveService";
  for (const f of ["version", "vpcId", "loadBalancerArn", "clusterArn", "image", "subnetIds", "securityGroupIds"] as const) {
    if (args[f] === undefined || args[f] === null) throw new ArgsError(`${c}: ${f} is required`);
  }
  requireExactlyOne(c, { policy: args.policy, policyDocument: args.policyDocument }, "pass the policy as an object (policy) or as YAML/JSON text (policyDocument)");
  const serviceName = plain(args.serviceName);
  if (serviceName !== undefined && !SERVICE_NAME_PATTERN.test(serviceName)) {
    throw new ArgsError(`${c}: serviceName must be letters, digits, ".", "_" or "-" (up to 128), starting with a letter or digit, got ${JSON.stringify(serviceName)}`);
  }
  const version = plain(args.version);
  if (version !== undefined && (typeof version !== "string" || !VERSION_PATTERN.test(version))) {
    throw new ArgsError(`${c}: version must be a release label of letters, digits, ".", "_", "+", ":" or "-" (up to 128), e.g. v2 or 1.4.0, got ${JSON.stringify(version)}`);
  }
  const lbArn = plain(args.loadBalancerArn);
  if (lbArn !== undefined) {
    try {
      loadBalancerArnSuffix(lbArn);
    } catch (e) {
      throw new ArgsError(`${c}: ${(e as Error).message}`);
    }
  }
  if (args.listenerArn !== undefined) {
    forbid(c, { listenerPort: args.listenerPort, certificateArn: args.certificateArn }, "applies only to a listener of the service's own; with listenerArn the service gets a rule on that shared listener");
    const listener = plain(args.listenerArn);
    if (listener !== undefined && !/^arn:[^:]+:elasticloadbalancing:[^:]+:\d{12}:listener\/app\//.test(listener)) {
      throw new ArgsError(`${c}: listenerArn must be an ALB listener ARN (arn:aws:elasticloadbalancing:<region>:<account>:listener/app/...), got ${JSON.stringify(listener)}`);
    }
  } else {
    forbid(c, { priority: args.priority, hostHeaders: args.hostHeaders, pathPatterns: args.pathPatterns }, "applies only to a rule on a shared listener (listenerArn is not set)");
  }
  const slo = plain(args.sloTarget);
  if (slo !== undefined && slo !== 0 && !(typeof slo === "number" && slo > 0 && slo < 100)) {
    throw new ArgsError(`${c}: sloTarget is an availability in percent above 0 and below 100 (e.g. 99.9), or 0 for no burn-rate alarms, got ${JSON.stringify(slo)}`);
  }
  const policy = plain(args.policy);
  const doc = plain(args.policyDocument);
  const resolved =
    args.policy !== undefined && policy !== undefined ? readServicePolicy(policy, undefined) : args.policyDocument !== undefined && doc !== undefined ? readServicePolicy(undefined, doc) : undefined;
  checkInteger(c, "controllerTimeoutSeconds", plain(args.controllerTimeoutSeconds), 10, 900, " seconds");
  return resolved;
}

/**
 * A service released progressively: two slots of ECS Fargate tasks behind weighted ALB routing,
 * health-gate alarms, a step controller and a dashboard, all from one validated policy. A new
 * `version` becomes a task definition revision and a `start` command; the controller deploys it
 * to the idle slot and walks the weights. pulumi up never changes what a slot runs.
 */
export class ProgressiveService extends pulumi.ComponentResource {
  public readonly blueTargetGroupArn: pulumi.Output<string>;
  public readonly greenTargetGroupArn: pulumi.Output<string>;
  /** The listener rule (shared listener) or listener (own) the controller steers. */
  public readonly trafficArn: pulumi.Output<string>;
  public readonly controllerFunctionName: pulumi.Output<string>;
  /** The controller's function URL (AWS_IAM): `rollgate <command> --url` signs commands to it. */
  public readonly controllerFunctionUrl: pulumi.Output<string>;
  /** Managed policy to attach to operator roles: call the controller, read its state, no table writes. */
  public readonly operatorPolicyArn: pulumi.Output<string>;
  /** With hooks: the managed policy each hook function's execution role needs to deliver its answer. */
  public readonly hookResultPolicyArn: pulumi.Output<string | undefined>;
  public readonly stateTableName: pulumi.Output<string>;
  public readonly notificationTopicArn: pulumi.Output<string>;
  public readonly taskDefinitionArn: pulumi.Output<string>;
  public readonly blueServiceArn: pulumi.Output<string>;
  public readonly greenServiceArn: pulumi.Output<string>;
  /** The policy the controller runs (yours plus the `health` gate), as JSON. */
  public readonly policyJson: pulumi.Output<string>;
  public readonly healthAlarmName: pulumi.Output<string>;
  public readonly dashboardName: pulumi.Output<string>;
  /** The version whose release this update requested. */
  public readonly releaseVersion: pulumi.Output<string>;
  /**
   * The start command sent to the controller (unchanged input = no invocation). Fails, and with it
   * the preview, when the release would touch a slot that serves a rollout.
   */
  public readonly releaseCommand: pulumi.Output<string>;

  constructor(name: string, args: ProgressiveServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:ProgressiveService", name, {}, opts);
    let plainPolicy: RolloutPolicy | undefined;
    check(this, () => {
      plainPolicy = validateProgressiveServiceArgs(args);
    });
    const policy: pulumi.Output<RolloutPolicy> =
      plainPolicy !== undefined
        ? pulumi.output(plainPolicy as RolloutPolicy)
        : pulumi
            .all([pulumi.output(args.policy), pulumi.output(args.policyDocument)])
            .apply(([p, d]) =>
              checked(this, () => {
                const resolved = readServicePolicy(p, d);
                if (resolved.rings.length > 0) {
                  throw new ArgsError("ProgressiveService: a policy with rings must be a plain value (not an Output): each ring gets a listener rule, and their number must be known when the program runs");
                }
                return resolved;
              }),
            );
    const serviceName = args.serviceName ?? name;
    const childOpts = { parent: this };
    const tags = pulumi.all([pulumi.output(args.tags ?? {}), serviceName]).apply(([t, s]) => ({ "rollgate:service": s, ...(t as Record<string, string>) }));
    const weightTotal = plainPolicy !== undefined ? plainPolicy.weightTotal : policy.apply((p) => p.weightTotal);

    const targetGroups = new BlueGreenTargetGroups(
      `${name}-tg`,
      {
        vpcId: args.vpcId,
        port: args.containerPort ?? 80,
        healthCheckPath: args.healthCheckPath ?? "/",
        healthCheckMatcher: args.healthCheckMatcher ?? "200-399",
        deregistrationDelaySeconds: args.deregistrationDelaySeconds ?? 30,
        // The blue slot serves the first version; green is empty until the first release.
        blueVersion: args.version,
        greenVersion: "none",
        protect: args.protectTargetGroups ?? true,
        tags,
      },
      childOpts,
    );

    const routing = new WeightedRouting(
      `${name}-routing`,
      {
        blueTargetGroupArn: targetGroups.blueArn,
        greenTargetGroupArn: targetGroups.greenArn,
        weightTotal,
        stickinessSeconds: args.stickinessSeconds ?? 0,
        // Audience rings need their rules to exist, so the policy must be known here.
        ...(plainPolicy !== undefined && plainPolicy.rings.length > 0
          ? {
              rings: plainPolicy.rings.map((r) => ({
                name: r.name,
                headers: r.match.headers,
                ...(r.match.cookie ? { cookie: r.match.cookie } : {}),
                sourceIps: r.match.sourceIps,
              })),
            }
          : {}),
        ...(args.listenerArn !== undefined
          ? {
              listenerArn: args.listenerArn,
              ...(args.priority !== undefined ? { priority: args.priority } : {}),
              ...(args.hostHeaders !== undefined ? { hostHeaders: args.hostHeaders } : {}),
              ...(args.pathPatterns !== undefined ? { pathPatterns: args.pathPatterns } : {}),
            }
          : {
              loadBalancerArn: args.loadBalancerArn,
              ...(args.listenerPort !== undefined ? { port: args.listenerPort } : {}),
              ...(args.certificateArn !== undefined ? { certificateArn: args.certificateArn } : {}),
            }),
        tags,
      },
      childOpts,
    );

    const slots = new EcsSlots(
      `${name}-slots`,
      {
        clusterArn: args.clusterArn,
        image: args.image,
        version: args.version,
        blueTargetGroupArn: targetGroups.blueArn,
        greenTargetGroupArn: targetGroups.greenArn,
        subnetIds: args.subnetIds,
        securityGroupIds: args.securityGroupIds,
        containerName: args.containerName ?? "app",
        containerPort: args.containerPort ?? 80,
        cpu: args.cpu ?? 256,
        memory: args.memory ?? 512,
        desiredCount: args.desiredCount ?? 2,
        assignPublicIp: args.assignPublicIp ?? false,
        environment: args.environment ?? {},
        ...(args.executionRoleArn !== undefined ? { executionRoleArn: args.executionRoleArn } : {}),
        ...(args.taskRoleArn !== undefined ? { taskRoleArn: args.taskRoleArn } : {}),
        logRetentionDays: args.logRetentionDays ?? 30,
        tags,
      },
      // The target groups must be attached to the listener before a service can register into them.
      { parent: this, dependsOn: [routing] },
    );

    // 0 turns the burn-rate alarms off; an Output is passed through as is.
    const sloTarget: pulumi.Input<number> | undefined = args.sloTarget === undefined ? 99.9 : plain(args.sloTarget) === 0 ? undefined : args.sloTarget;
    const gates = new HealthGates(
      `${name}-gates`,
      {
        loadBalancerArn: args.loadBalancerArn,
        blueTargetGroupArnSuffix: targetGroups.blueArnSuffix,
        greenTargetGroupArnSuffix: targetGroups.greenArnSuffix,
        // A plain prefix keeps the alarm names (and so the health gate) known at preview.
        alarmNamePrefix: typeof serviceName === "string" ? `${serviceName}-${pulumi.getStack()}` : pulumi.output(serviceName).apply((n) => `${n}-${pulumi.getStack()}`),
        errorRateThresholdPercent: args.errorRateThresholdPercent ?? 5,
        latencyPercentile: args.latencyPercentile ?? 99,
        latencyThresholdMs: args.latencyThresholdMs ?? 1000,
        comparisonThresholdPercent: args.comparisonThresholdPercent ?? 2,
        minRequestsPerPeriod: args.minRequestsPerPeriod ?? 10,
        ...(args.latencyPeriodSeconds !== undefined ? { latencyPeriodSeconds: args.latencyPeriodSeconds } : {}),
        ...(args.alarmActions !== undefined ? { alarmActions: args.alarmActions } : {}),
        ...(sloTarget !== undefined ? { sloTarget } : {}),
        additionalAlarmArns: args.additionalAlarmArns ?? [],
        tags,
      },
      childOpts,
    );

    const policyJson = pulumi.all([policy, gates.gateAlarmNames]).apply(([p, alarms]) =>
      checked(this, () => {
        const merged = withHealthGate(p, alarms);
        // Valid but unprotective (no gates on a step, bands that never trigger, ...): warned at preview.
        for (const w of policyWarnings(parsePolicy(merged))) pulumi.log.warn(`policy ${w.path}: ${w.message}`, this);
        return JSON.stringify(merged);
      }),
    );

    const controller = new StepController(
      `${name}-controller`,
      {
        serviceName,
        policyJson,
        ...(args.listenerArn !== undefined ? { ruleArn: routing.ruleArn.apply((r) => r!) } : { listenerArn: routing.listenerArn }),
        loadBalancerArn: args.loadBalancerArn,
        blueTargetGroupArn: targetGroups.blueArn,
        greenTargetGroupArn: targetGroups.greenArn,
        gateAlarmArns: gates.gateAlarmArns,
        freezeAlarmNames: gates.freezeAlarmNames,
        ...(plainPolicy !== undefined && plainPolicy.rings.length > 0 ? { ringRuleArns: routing.ringRuleArns } : {}),
        // Plain when the policy is, so the hook functions' destinations are configured at preview.
        hookFunctionArns: plainPolicy !== undefined ? [...new Set(plainPolicy.hooks.map((h) => h.functionArn))] : policy.apply((p) => [...new Set(p.hooks.map((h) => h.functionArn))]),
        ...(args.eventBusArn !== undefined ? { eventBusArn: args.eventBusArn } : {}),
        ecsClusterArn: args.clusterArn,
        ecsBlueServiceArn: slots.blueServiceArn,
        ecsGreenServiceArn: slots.greenServiceArn,
        scheduleExpression: args.scheduleExpression ?? "rate(1 minute)",
        logRetentionDays: args.logRetentionDays ?? 30,
        // The controller owns the forward action after creation, stickiness included.
        stickinessSeconds: args.stickinessSeconds ?? 0,
        ...(args.controllerTimeoutSeconds !== undefined ? { timeoutSeconds: args.controllerTimeoutSeconds } : {}),
        ...(args.hookRoleNames !== undefined ? { hookRoleNames: args.hookRoleNames } : {}),
        ...(args.manageHookInvokeConfig !== undefined ? { manageHookInvokeConfig: args.manageHookInvokeConfig } : {}),
        ...(args.stateTableDeletionProtection !== undefined ? { stateTableDeletionProtection: args.stateTableDeletionProtection } : {}),
        ...(args.alarmActions !== undefined ? { alarmActions: args.alarmActions } : {}),
        ...(args.controllerCodePath !== undefined ? { codePath: args.controllerCodePath } : {}),
        tags,
      },
      childOpts,
    );

    const region = pulumi.output(args.loadBalancerArn).apply((arn) => parseArn(arn)?.region ?? "");
    const lbDim = pulumi.output(args.loadBalancerArn).apply((arn) => checked(this, () => loadBalancerArnSuffix(arn)));
    const dashboard = new cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        dashboardName: pulumi.output(serviceName).apply((s) => `rollgate-${s}-${pulumi.getStack()}`),
        dashboardBody: pulumi
          .all([
            pulumi.all([serviceName, region, lbDim, targetGroups.blueArnSuffix, targetGroups.greenArnSuffix]),
            pulumi.all([gates.gateAlarmArns, gates.healthAlarmArn, controller.logGroupName, controller.functionName, pulumi.output(args.latencyPercentile ?? 99)]),
          ])
          .apply(([[service, reg, lbd, blue, green], [gateArns, healthArn, logGroup, fn, pct]]) =>
            JSON.stringify(
              renderDashboard({
                service,
                region: reg,
                loadBalancer: lbd,
                blueTargetGroup: blue,
                greenTargetGroup: green,
                alarmArns: [...gateArns, healthArn],
                controllerLogGroup: logGroup,
                controllerFunction: fn,
                metricsNamespace: "Rollgate",
                latencyPercentile: pct,
              }),
            ),
          ),
      },
      childOpts,
    );

    // The start command names the release and its task definition revision; nothing else goes
    // into it, so the same version (same revision) leaves the input unchanged: no invocation.
    const startInput = pulumi
      .all([args.version, slots.taskDefinitionArn])
      .apply(([version, taskDefinitionArn]) => JSON.stringify({ command: "start", release: { version, taskDefinitionArn } }));
    const checkLiveSlot = plain(args.checkLiveSlot) ?? true;
    let guardedInput: pulumi.Output<string> = startInput;
    if (checkLiveSlot) {
      // Read at preview: a data source, not a resource, so it runs on every preview and up.
      const status = lambda.getInvocationOutput(
        { functionName: controller.functionName, input: JSON.stringify({ command: "status" }) },
        { parent: this },
      );
      // The status comes from the deployed controller (old configuration): a live rollout also
      // refuses a changed serviceName, loadBalancerArn or listenerArn.
      guardedInput = pulumi
        .all([startInput, status.result, args.version, policy, controller.functionName, pulumi.all([serviceName, args.loadBalancerArn, args.listenerArn])])
        .apply(([input, result, version, p, fn, [service, lbArn, listenerArn]]) =>
          checked(this, () => {
            checkReleaseAllowed(result, version, { controllerFunction: fn, steps: p.steps.length, wanted: { serviceName: service, loadBalancerArn: lbArn, ...(listenerArn !== undefined ? { listenerArn } : {}) } });
            return input;
          }),
        );
    }
    this.releaseCommand = guardedInput;
    new lambda.Invocation(
      `${name}-release`,
      // triggers re-invoke on a new version or revision whatever the provider's update semantics of input.
      { functionName: controller.functionName, input: guardedInput, triggers: { version: args.version, taskDefinitionArn: slots.taskDefinitionArn } },
      // Only once the slot services, the routing and the controller exist can a release start.
      { parent: this, dependsOn: [slots, routing, controller, gates] },
    );

    this.blueTargetGroupArn = targetGroups.blueArn;
    this.greenTargetGroupArn = targetGroups.greenArn;
    this.trafficArn = args.listenerArn !== undefined ? routing.ruleArn.apply((r) => r ?? "") : routing.listenerArn;
    this.controllerFunctionName = controller.functionName;
    this.controllerFunctionUrl = controller.functionUrl;
    this.operatorPolicyArn = controller.operatorPolicyArn;
    this.hookResultPolicyArn = controller.hookResultPolicyArn;
    this.stateTableName = controller.tableName;
    this.notificationTopicArn = controller.topicArn;
    this.taskDefinitionArn = slots.taskDefinitionArn;
    this.blueServiceArn = slots.blueServiceArn;
    this.greenServiceArn = slots.greenServiceArn;
    this.policyJson = policyJson;
    this.healthAlarmName = gates.healthAlarmName;
    this.dashboardName = dashboard.dashboardName;
    this.releaseVersion = pulumi.output(args.version);
    this.registerOutputs({
      blueTargetGroupArn: this.blueTargetGroupArn,
      greenTargetGroupArn: this.greenTargetGroupArn,
      trafficArn: this.trafficArn,
      controllerFunctionName: this.controllerFunctionName,
      controllerFunctionUrl: this.controllerFunctionUrl,
      operatorPolicyArn: this.operatorPolicyArn,
      hookResultPolicyArn: this.hookResultPolicyArn,
      stateTableName: this.stateTableName,
      notificationTopicArn: this.notificationTopicArn,
      taskDefinitionArn: this.taskDefinitionArn,
      blueServiceArn: this.blueServiceArn,
      greenServiceArn: this.greenServiceArn,
      policyJson: this.policyJson,
      healthAlarmName: this.healthAlarmName,
      dashboardName: this.dashboardName,
      releaseVersion: this.releaseVersion,
      // releaseCommand is not registered: its refusal must fail the Invocation (the preview), once.
    });
  }
}
