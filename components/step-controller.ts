import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch/index.js";
import * as dynamodb from "@pulumi/aws/dynamodb/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import * as lambda from "@pulumi/aws/lambda/index.js";
import * as sns from "@pulumi/aws/sns/index.js";
import * as sqs from "@pulumi/aws/sqs/index.js";
import { parsePolicy } from "../src/policy/resolve.js";
import { checkEnvironmentSize, checkScheduleExpression } from "./aws-limits.js";
import {
  ArgsError,
  check,
  checked,
  checkInteger,
  checkNonEmpty,
  defaultControllerBundlePath,
  parseArn,
  plain,
  requireExactlyOne,
  withTags,
} from "./internal.js";
// The same default as src/aws/account-freeze.ts (not imported: it would load the SSM client into Pulumi programs).
const DEFAULT_ACCOUNT_FREEZE_PARAMETER = "/rollgate/account-freeze";

export interface StepControllerArgs {
  /**
   * Service name the controller reports under (logs, metrics, events, the state table's keys).
   * @default the component name
   */
  serviceName?: pulumi.Input<string>;
  /** The validated RolloutPolicy as JSON (ProgressiveService passes its merged policy here). */
  policyJson: pulumi.Input<string>;
  /**
   * ARN of the listener whose default action the controller owns (listener mode). Exactly one of
   * listenerArn or ruleArn.
   * @default undefined
   */
  listenerArn?: pulumi.Input<string>;
  /**
   * ARN of the listener rule the controller owns (rule mode on a shared listener). Exactly one of
   * listenerArn or ruleArn.
   * @default undefined
   */
  ruleArn?: pulumi.Input<string>;
  /** ARN of the load balancer (the controller reads its metrics). */
  loadBalancerArn: pulumi.Input<string>;
  /** ARN of the blue slot's target group. */
  blueTargetGroupArn: pulumi.Input<string>;
  /** ARN of the green slot's target group. */
  greenTargetGroupArn: pulumi.Input<string>;
  /** ARNs of the gate alarms; their state changes to ALARM invoke the controller at once. At least one. */
  gateAlarmArns: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Names of alarms whose ALARM sets the global freeze (the error-budget burn alarms), in the load
   * balancer's account and region. Their state changes reach the controller too.
   * @default []
   */
  freezeAlarmNames?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * ARN of the EventBridge bus that receives every decision as an event.
   * @default the account's default bus (in the load balancer's region)
   */
  eventBusArn?: pulumi.Input<string>;
  /**
   * ARN of the ECS cluster of the slot services, when the controller owns the slots' contents.
   * Set all three ecs* fields or none.
   * @default undefined
   */
  ecsClusterArn?: pulumi.Input<string>;
  /**
   * ARN of the blue slot's ECS service.
   * @default undefined
   */
  ecsBlueServiceArn?: pulumi.Input<string>;
  /**
   * ARN of the green slot's ECS service.
   * @default undefined
   */
  ecsGreenServiceArn?: pulumi.Input<string>;
  /**
   * Ring name -> listener rule ARN of the policy's audience rings (WeightedRouting's
   * ringRuleArns). The controller may modify these rules too.
   * @default {}
   */
  ringRuleArns?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Lambda functions the policy's lifecycle hooks invoke (the policy's hookFunctions values).
   * The controller may invoke exactly these, asynchronously. Pass plain ARNs so the component can
   * configure each function's asynchronous invocation (see manageHookInvokeConfig).
   * @default []
   */
  hookFunctionArns?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Configure each hook function's asynchronous invocation (one FunctionEventInvokeConfig per
   * function): no retries, events older than the hook's longest timeout dropped, and its on-success
   * and on-failure destinations set to the controller, which is how a hook's answer comes back.
   * A function has one such configuration: set this to false when its configuration is managed
   * elsewhere, and set those two destinations to the controller's functionArn there.
   * @default true
   */
  manageHookInvokeConfig?: pulumi.Input<boolean>;
  /**
   * Names of the hook functions' execution roles. Lambda delivers a destination record with the
   * hook function's own role, so that role needs lambda:InvokeFunction on the controller; the
   * component attaches its hook-result policy (output hookResultPolicyArn) to each role named here.
   * Without it, attach hookResultPolicyArn to those roles yourself, or no answer ever arrives and
   * every hook times out.
   * @default []
   */
  hookRoleNames?: pulumi.Input<string>[];
  /**
   * How often the controller evaluates the current step (an EventBridge schedule expression).
   * @default "rate(1 minute)"
   */
  scheduleExpression?: pulumi.Input<string>;
  /**
   * Retention of the controller's log group, in days.
   * @default 30
   */
  logRetentionDays?: pulumi.Input<number>;
  /**
   * Lambda memory in MB.
   * @default 256
   */
  memorySize?: pulumi.Input<number>;
  /**
   * Lambda timeout in seconds (10..900). An invocation reads the listener, the table and the
   * signals, decides, writes, and retries lost conditional writes; lifecycle hooks do not run in
   * it (they are invoked asynchronously and answer later), so a hook's timeout does not bear on it.
   * @default 60
   */
  timeoutSeconds?: pulumi.Input<number>;
  /**
   * Target-group stickiness of the service's forward action in seconds (1..604800), 0 for off.
   * The controller owns the forward action (Pulumi ignores it after creation) and converges its
   * stickiness to this value, so changing it takes effect at the next tick, also mid-rollout.
   * @default 0
   */
  stickinessSeconds?: pulumi.Input<number>;
  /**
   * Turn on DynamoDB deletion protection of the state table, which holds the rollout's state and
   * its audit trail. Turn it off (and `pulumi up`) before destroying the stack.
   * @default true
   */
  stateTableDeletionProtection?: pulumi.Input<boolean>;
  /**
   * Path of the esbuild bundle of the controller (built by `npm run build`). Shipped as `index.mjs`.
   * @default "<rollgate package>/dist/lambda/controller.mjs"
   */
  codePath?: pulumi.Input<string>;
  /**
   * Alarm actions (e.g. your on-call SNS topic ARNs) for the controller's own alarms (errors,
   * throttles, and the dead-man's switch that fires when it stops running), in addition to its
   * notification topic.
   * @default []
   */
  alarmActions?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Name of the SSM parameter holding the account-wide freeze, which every rollgate controller of
   * the account and region reads (and may set: operators through the function URL, error-budget
   * alarms). Use the same name in every stack of the account.
   * @default "/rollgate/account-freeze"
   */
  accountFreezeParameter?: pulumi.Input<string>;
  /**
   * Dead-man's switch: minutes without a completed tick after which the heartbeat alarm fires
   * (missing data is breaching, so a controller that is not invoked at all pages too). At least
   * twice the schedule's interval, at most 1440.
   * @default 5 for a schedule of rate(1 minute) or rate(2 minutes); 3 intervals for a slower rate; 15 for a cron schedule
   */
  heartbeatMinutes?: pulumi.Input<number>;
  /**
   * Asynchronous invocations (ticks, alarm events) older than this are dropped by Lambda and sent to
   * the failed-invocations queue instead of running late: a stale tick or alarm event must not act.
   * 60 to 21600 seconds.
   * @default 300
   */
  maxEventAgeSeconds?: pulumi.Input<number>;
  /**
   * Retries Lambda makes of a failed asynchronous invocation before sending it to the
   * failed-invocations queue. 0 to 2.
   * @default 2
   */
  maxRetryAttempts?: pulumi.Input<number>;
  /**
   * Extra tags.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The controller's timeout: the given one, or 60 s. Hooks run outside it (asynchronously). */
export function controllerTimeoutFor(given: number | undefined): number {
  return given ?? 60;
}

/** A Lambda function ARN's name and qualifier (a version or alias), or undefined when it is not one. */
export function parseLambdaArn(arn: string): { functionName: string; qualifier?: string } | undefined {
  const m = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9-_]{1,64})(?::([A-Za-z0-9-_$]+))?$/.exec(arn);
  return m ? { functionName: m[1]!, ...(m[2] ? { qualifier: m[2] } : {}) } : undefined;
}

/** The longest timeout (s) of the policy's hooks on each function ARN; empty when the policy does not parse. */
export function hookTimeoutsByFunction(policyJson: string | undefined): Record<string, number> {
  if (policyJson === undefined) return {};
  try {
    const out: Record<string, number> = {};
    for (const h of parsePolicy(JSON.parse(policyJson)).hooks) out[h.functionArn] = Math.max(out[h.functionArn] ?? 0, Math.ceil(h.timeoutMs / 1000));
    return out;
  } catch {
    return {};
  }
}

/** The controller's configuration file in its code archive (ROLLGATE_CONFIG_FILE). */
export const CONFIG_FILE = "rollgate-config.json";

const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Plain-value checks of StepControllerArgs; throws ArgsError naming the field. */
export function validateStepControllerArgs(args: StepControllerArgs): "listener" | "rule" {
  const c = "StepController";
  for (const f of ["policyJson", "loadBalancerArn", "blueTargetGroupArn", "greenTargetGroupArn", "gateAlarmArns"] as const) {
    if (args[f] === undefined) throw new ArgsError(`${c}: ${f} is required`);
  }
  requireExactlyOne(
    c,
    { listenerArn: args.listenerArn, ruleArn: args.ruleArn },
    "pass the listener (listener mode) or the rule (a rule on a shared listener) the controller may modify",
  );
  const policy = plain(args.policyJson);
  if (policy !== undefined) {
    try {
      JSON.parse(policy);
    } catch {
      throw new ArgsError(`${c}: policyJson must be JSON (a RolloutPolicy; ProgressiveService builds it for you)`);
    }
  }
  const ecs = { ecsClusterArn: args.ecsClusterArn, ecsBlueServiceArn: args.ecsBlueServiceArn, ecsGreenServiceArn: args.ecsGreenServiceArn };
  const ecsSet = Object.entries(ecs).filter(([, v]) => v !== undefined);
  if (ecsSet.length !== 0 && ecsSet.length !== 3) {
    const missing = Object.keys(ecs).filter((k) => ecs[k as keyof typeof ecs] === undefined);
    throw new ArgsError(`${c}: set all of ecsClusterArn, ecsBlueServiceArn and ecsGreenServiceArn or none; missing ${missing.join(", ")}`);
  }
  const alarms = plain(args.gateAlarmArns);
  if (alarms !== undefined && alarms.length === 0) {
    throw new ArgsError(`${c}: gateAlarmArns must name at least one alarm (an empty list would match every alarm in the account)`);
  }
  const schedule = plain(args.scheduleExpression);
  checkNonEmpty(c, "scheduleExpression", schedule, 'a schedule expression such as "rate(1 minute)"');
  checkScheduleExpression(c, "scheduleExpression", schedule);
  const retention = plain(args.logRetentionDays);
  if (retention !== undefined && !RETENTION_DAYS.includes(retention)) {
    throw new ArgsError(`${c}: logRetentionDays must be one of CloudWatch's values (${RETENTION_DAYS.join(", ")}), got ${JSON.stringify(retention)}`);
  }
  const parameter = plain(args.accountFreezeParameter);
  if (parameter !== undefined && !/^\/[A-Za-z0-9_.\-/]{1,1010}$/.test(parameter)) {
    throw new ArgsError(`${c}: accountFreezeParameter must be an SSM parameter name starting with "/" (letters, digits, _ . - /), e.g. "/rollgate/account-freeze", got ${JSON.stringify(parameter)}`);
  }
  checkInteger(c, "memorySize", plain(args.memorySize), 128, 10240, " MB");
  checkInteger(c, "timeoutSeconds", plain(args.timeoutSeconds), 10, 900, " seconds (an invocation makes several AWS calls with retries; Lambda allows at most 900)");
  checkInteger(c, "maxEventAgeSeconds", plain(args.maxEventAgeSeconds), 60, 21600, " seconds (Lambda's limits)");
  checkInteger(c, "maxRetryAttempts", plain(args.maxRetryAttempts), 0, 2, " (Lambda's limits)");
  const heartbeat = plain(args.heartbeatMinutes);
  checkInteger(c, "heartbeatMinutes", heartbeat, 2, 1440, " minutes");
  const interval = schedule === undefined ? 1 : scheduleIntervalMinutes(schedule);
  if (heartbeat !== undefined && interval !== undefined && heartbeat < 2 * interval) {
    throw new ArgsError(`${c}: heartbeatMinutes (${heartbeat}) must be at least twice the schedule's interval (${interval} minutes), or the heartbeat alarm fires between healthy ticks`);
  }
  const stick = plain(args.stickinessSeconds);
  if (stick !== 0) checkInteger(c, "stickinessSeconds", stick, 1, 604800, " (or 0 for off)");
  const manage = plain(args.manageHookInvokeConfig);
  if (manage !== undefined && typeof manage !== "boolean") throw new ArgsError(`${c}: manageHookInvokeConfig must be true or false`);
  args.hookRoleNames?.forEach((r, i) => {
    const v = plain(r);
    if (v !== undefined && !/^[\w+=,.@-]{1,64}$/.test(v)) {
      throw new ArgsError(`${c}: hookRoleNames[${i}] must be an IAM role name (1 to 64 of letters, digits and +=,.@_-; the name, not the ARN), got ${JSON.stringify(v)}`);
    }
  });
  const hookArns = plain(args.hookFunctionArns);
  hookArns?.forEach((a, i) => {
    const v = plain(a);
    if (v !== undefined && !parseLambdaArn(v)) {
      throw new ArgsError(`${c}: hookFunctionArns[${i}] must be a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]), got ${JSON.stringify(v)}`);
    }
  });
  const protect = plain(args.stateTableDeletionProtection);
  if (protect !== undefined && typeof protect !== "boolean") throw new ArgsError(`${c}: stateTableDeletionProtection must be true or false`);
  const actions = plain(args.alarmActions);
  actions?.forEach((a, i) => {
    const v = plain(a);
    if (v !== undefined && !/^arn:aws[a-z-]*:(sns|lambda|ssm|autoscaling|ec2|swf|automate|ssm-incidents):/.test(v)) {
      throw new ArgsError(`${c}: alarmActions[${i}] must be an alarm action ARN (usually an SNS topic, arn:aws:sns:<region>:<account>:<topic>), got ${JSON.stringify(v)}`);
    }
  });
  return args.listenerArn !== undefined ? "listener" : "rule";
}

/** Minutes between ticks of a rate() schedule; undefined for cron() (no fixed interval). */
export function scheduleIntervalMinutes(schedule: string): number | undefined {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(schedule);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2]!.startsWith("minute") ? n : m[2]!.startsWith("hour") ? n * 60 : n * 1440;
}

/** The dead-man's switch window: heartbeatMinutes, or one derived from the schedule. */
export function defaultHeartbeatMinutes(schedule: string): number {
  const interval = scheduleIntervalMinutes(schedule);
  if (interval === undefined) return 15;
  return Math.min(1440, Math.max(5, 3 * interval));
}

export interface IamStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
  Principal?: string | Record<string, string | string[]>;
}

export interface ControllerPolicyTargets {
  /** The listener or rule ARN the controller may modify. */
  trafficArn: string;
  mode: "listener" | "rule";
  blueTargetGroupArn: string;
  greenTargetGroupArn: string;
  tableArn: string;
  topicArn: string;
  logGroupArn: string;
  /** The bus decisions go to: the given one, or the account's default bus. */
  eventBusArn: string;
  ecsServiceArns?: [string, string];
  /** Listener rules of the audience rings. */
  ringRuleArns?: string[];
  /** Lifecycle hook functions. */
  hookFunctionArns?: string[];
  /** ARN of the account-wide freeze parameter. */
  accountFreezeParameterArn?: string;
  /** The on-failure destination of asynchronous invocations (an SQS queue). */
  failedInvocationsQueueArn?: string;
}

/** The controller's least-privilege policy: every write is scoped to its own resources. */
export function controllerPolicyStatements(t: ControllerPolicyTargets): IamStatement[] {
  const statements: IamStatement[] = [
    {
      Sid: "ShiftTraffic",
      Effect: "Allow",
      Action: [t.mode === "listener" ? "elasticloadbalancing:ModifyListener" : "elasticloadbalancing:ModifyRule"],
      Resource: t.trafficArn,
    },
    {
      // Describe* calls of ELBv2 support no resource-level permissions: "*" is the only valid resource.
      Sid: "ReadTraffic",
      Effect: "Allow",
      Action: [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetHealth",
      ],
      Resource: "*",
    },
    {
      // Read-only. GetMetricData has no resource-level permissions; DescribeAlarms is read-only
      // and the policy may name alarms created outside this stack (KPI alarms).
      Sid: "ReadSignals",
      Effect: "Allow",
      Action: ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"],
      Resource: "*",
    },
    { Sid: "StateRead", Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:Query"], Resource: t.tableArn },
    {
      // Conditional puts (attribute_not_exists for history, version = :v for state) are the code's;
      // IAM has no condition key for a ConditionExpression, so it cannot require them. It can keep
      // the role from updating or deleting: no DeleteItem, BatchWriteItem or PartiQL at all.
      Sid: "StateWrite",
      Effect: "Allow",
      Action: ["dynamodb:PutItem"],
      Resource: t.tableArn,
    },
    {
      // UpdateItem (markApplied) only on state partitions, never on history#... partitions.
      Sid: "StateUpdate",
      Effect: "Allow",
      Action: ["dynamodb:UpdateItem"],
      Resource: t.tableArn,
      Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [...STATE_PARTITIONS] } },
    },
    { Sid: "Notify", Effect: "Allow", Action: ["sns:Publish"], Resource: t.topicArn },
    {
      Sid: "Logs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${t.logGroupArn.replace(/:\*$/, "")}:*`,
    },
  ];
  statements.push({ Sid: "Events", Effect: "Allow", Action: ["events:PutEvents"], Resource: t.eventBusArn });
  if (t.accountFreezeParameterArn) {
    statements.push({ Sid: "AccountFreeze", Effect: "Allow", Action: ["ssm:GetParameter", "ssm:PutParameter"], Resource: t.accountFreezeParameterArn });
  }
  if (t.failedInvocationsQueueArn) {
    // Lambda sends failed asynchronous invocations to the destination with the function's role.
    statements.push({ Sid: "FailedInvocations", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: t.failedInvocationsQueueArn });
  }
  if (t.ringRuleArns?.length) {
    statements.push({ Sid: "ShiftRings", Effect: "Allow", Action: ["elasticloadbalancing:ModifyRule"], Resource: [...t.ringRuleArns] });
  }
  if (t.hookFunctionArns?.length) {
    statements.push({ Sid: "Hooks", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [...t.hookFunctionArns] });
  }
  if (t.ecsServiceArns !== undefined) {
    statements.push({
      Sid: "SlotServices",
      Effect: "Allow",
      Action: ["ecs:DescribeServices", "ecs:UpdateService"],
      Resource: [...t.ecsServiceArns],
    });
  }
  return statements;
}

/**
 * What a hook function's execution role needs: Lambda sends the hook's destination record (its
 * answer) to the controller with that role. Only the controller function, nothing else.
 */
export function hookResultPolicyStatements(controllerArn: string): IamStatement[] {
  return [{ Sid: "DeliverHookResults", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: controllerArn }];
}

/** Partition keys of state items (history lives under history#...). */
export const STATE_PARTITIONS = ["service#*", "global"] as const;
/** Every DynamoDB action that writes an item. */
export const ITEM_WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"];

/**
 * The table's resource-based policy: nobody but the controller's role writes an item (an
 * operator's or an admin's identity policy cannot grant it past an explicit deny), and nobody,
 * the controller's role included, updates or deletes a history item. DynamoDB's TTL deletes
 * expired history regardless (retention); changing this policy is itself an auditable CloudTrail event.
 */
export function tableResourcePolicyStatements(t: { tableArn: string; controllerRoleArn: string }): IamStatement[] {
  return [
    {
      Sid: "OnlyTheControllerWrites",
      Effect: "Deny",
      Principal: "*",
      Action: [...ITEM_WRITE_ACTIONS],
      Resource: t.tableArn,
      Condition: { ArnNotEquals: { "aws:PrincipalArn": t.controllerRoleArn } },
    },
    {
      Sid: "HistoryIsAppendOnly",
      Effect: "Deny",
      Principal: "*",
      Action: ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"],
      Resource: t.tableArn,
      Condition: { "ForAnyValue:StringLike": { "dynamodb:LeadingKeys": ["history#*"] } },
    },
  ];
}

/**
 * What an operator needs and nothing more: call the controller through its function URL (AWS
 * verifies the caller; the controller's access policy decides), read its configuration and URL,
 * read the table and the metrics. No item writes: the controller is the only writer.
 */
export function operatorPolicyStatements(t: { functionArn: string; tableArn: string }): IamStatement[] {
  return [
    { Sid: "CallTheController", Effect: "Allow", Action: ["lambda:InvokeFunctionUrl"], Resource: t.functionArn, Condition: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } } },
    // Since October 2025 a function URL call needs InvokeFunction too; only through the URL, so a
    // direct invoke (which carries no verified identity) stays out of operators' reach.
    { Sid: "CallTheControllerViaUrl", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: t.functionArn, Condition: { Bool: { "lambda:InvokedViaFunctionUrl": "true" } } },
    { Sid: "ReadTheController", Effect: "Allow", Action: ["lambda:GetFunctionConfiguration", "lambda:GetFunctionUrlConfig"], Resource: t.functionArn },
    { Sid: "ReadState", Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"], Resource: t.tableArn },
    // GetMetricData has no resource-level permissions (rollgate report draws the gates' metrics).
    { Sid: "ReadMetrics", Effect: "Allow", Action: ["cloudwatch:GetMetricData"], Resource: "*" },
  ];
}

/** The ARN of an SSM parameter in the load balancer's account and region. */
export function parameterArnInRegionOf(loadBalancerArn: string, parameter: string): string {
  const p = parseArn(loadBalancerArn);
  if (!p || !p.region || !p.account) throw new ArgsError(`StepController: loadBalancerArn must be a load balancer ARN, got ${JSON.stringify(loadBalancerArn)}`);
  return `arn:${p.partition}:ssm:${p.region}:${p.account}:parameter/${parameter.replace(/^\//, "")}`;
}

/**
 * The step controller: the Lambda (an esbuild bundle, never closure serialization), its
 * least-privilege role, the tick schedule, the alarm-state rule, the DynamoDB state table, the
 * SNS notification topic, its log group, alarms on its own errors and throttles, the asynchronous
 * invocation settings (maximum event age, retries, a failed-invocations queue) and a dead-man's
 * switch alarm that fires when no tick has completed for heartbeatMinutes.
 */
export class StepController extends pulumi.ComponentResource {
  public readonly functionName: pulumi.Output<string>;
  public readonly functionArn: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;
  public readonly tableName: pulumi.Output<string>;
  public readonly tableArn: pulumi.Output<string>;
  public readonly topicArn: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  /** Names of the controller's own error and throttle alarms. */
  public readonly errorAlarmNames: pulumi.Output<string[]>;
  /** The controller's function URL (AuthType AWS_IAM): where `rollgate <command> --url` sends signed commands. */
  public readonly functionUrl: pulumi.Output<string>;
  /** ARN of the managed policy to attach to operator roles: call the function URL, read the state; no table writes. */
  public readonly operatorPolicyArn: pulumi.Output<string>;
  /** Name of the dead-man's switch alarm (no completed tick for heartbeatMinutes). */
  public readonly heartbeatAlarmName: pulumi.Output<string>;
  /** Name of the alarm on the failed-invocations queue. */
  public readonly failedInvocationsAlarmName: pulumi.Output<string>;
  /** ARN of the queue that receives failed and expired asynchronous invocations. */
  public readonly failedInvocationsQueueArn: pulumi.Output<string>;
  /**
   * With hooks: ARN of the managed policy a hook function's execution role needs so Lambda can
   * deliver the hook's answer (its destination record) to the controller. Attached to hookRoleNames.
   */
  public readonly hookResultPolicyArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: StepControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:StepController", name, {}, opts);
    let mode: "listener" | "rule" = "listener";
    check(this, () => {
      mode = validateStepControllerArgs(args);
    });
    const tags = withTags(args.tags, {});
    const childOpts = { parent: this };

    const table = new dynamodb.Table(
      `${name}-state`,
      {
        billingMode: "PAY_PER_REQUEST",
        hashKey: "pk",
        rangeKey: "sk",
        attributes: [
          { name: "pk", type: "S" },
          { name: "sk", type: "S" },
        ],
        ttl: { attributeName: "expiresAt", enabled: true },
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
        // The rollout's state and audit trail: a stray destroy or replacement must not take them.
        deletionProtectionEnabled: args.stateTableDeletionProtection ?? true,
        tags,
      },
      childOpts,
    );
    // Not SSE with the AWS-managed key: CloudWatch alarms cannot publish to such a topic.
    const topic = new sns.Topic(`${name}-notifications`, { tags }, childOpts);
    const logGroup = new cloudwatch.LogGroup(`${name}-logs`, { retentionInDays: args.logRetentionDays ?? 30, tags }, childOpts);
    // Where Lambda puts ticks and alarm events that failed all retries or grew too old to act on.
    const failedQueue = new sqs.Queue(`${name}-failed`, { messageRetentionSeconds: 1_209_600, sqsManagedSseEnabled: true, tags }, childOpts);

    const role = new iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags,
      },
      childOpts,
    );
    const trafficArn = (mode === "listener" ? args.listenerArn : args.ruleArn)!;
    const optionalArns = pulumi.all([args.eventBusArn, args.ecsBlueServiceArn, args.ecsGreenServiceArn]);
    const ringRules = pulumi.output(args.ringRuleArns ?? {}) as pulumi.Output<Record<string, string>>;
    const hookArns = pulumi.output(args.hookFunctionArns ?? []);
    const freezeParameter = pulumi.output(args.accountFreezeParameter ?? DEFAULT_ACCOUNT_FREEZE_PARAMETER);
    const policyDoc = pulumi
      .all([trafficArn, args.blueTargetGroupArn, args.greenTargetGroupArn, table.arn, topic.arn, logGroup.arn, args.loadBalancerArn, pulumi.all([optionalArns, ringRules, hookArns, failedQueue.arn, freezeParameter])])
      .apply(([traffic, blue, green, tableArn, topicArn, logGroupArn, lbArn, [[bus, ecsBlue, ecsGreen], rings, hooks, failedArn, parameter]]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: controllerPolicyStatements({
            trafficArn: traffic,
            mode,
            blueTargetGroupArn: blue,
            greenTargetGroupArn: green,
            tableArn,
            topicArn,
            logGroupArn,
            eventBusArn: bus ?? checked(this, () => defaultEventBusArn(lbArn)),
            ...(ecsBlue !== undefined && ecsGreen !== undefined ? { ecsServiceArns: [ecsBlue, ecsGreen] as [string, string] } : {}),
            ringRuleArns: Object.values(rings),
            hookFunctionArns: hooks,
            accountFreezeParameterArn: checked(this, () => parameterArnInRegionOf(lbArn, parameter)),
            failedInvocationsQueueArn: failedArn,
          }),
        }),
      );
    const rolePolicy = new iam.RolePolicy(`${name}-policy`, { role: role.id, policy: policyDoc }, childOpts);

    // Small, fixed-size settings go to the environment; the large ones (the policy, ring rules,
    // freeze alarms: they grow with rings, hooks and KPI alarms) go to a JSON file inside the
    // function's code archive, because Lambda caps the environment at 4 KB. The controller merges
    // the file under its environment (ROLLGATE_CONFIG_FILE).
    const fileConfig: Record<string, pulumi.Input<string>> = { ROLLGATE_POLICY: args.policyJson };
    const env: Record<string, pulumi.Input<string>> = {
      ROLLGATE_SERVICE: args.serviceName ?? name,
      ROLLGATE_CONFIG_FILE: CONFIG_FILE,
      ROLLGATE_TABLE: table.name,
      [mode === "listener" ? "ROLLGATE_LISTENER_ARN" : "ROLLGATE_RULE_ARN"]: trafficArn,
      ROLLGATE_BLUE_TARGET_GROUP_ARN: args.blueTargetGroupArn,
      ROLLGATE_GREEN_TARGET_GROUP_ARN: args.greenTargetGroupArn,
      ROLLGATE_LOAD_BALANCER_ARN: args.loadBalancerArn,
      ROLLGATE_TOPIC_ARN: topic.arn,
      ROLLGATE_ACCOUNT_FREEZE_PARAMETER: freezeParameter,
    };
    if (args.eventBusArn !== undefined) env.ROLLGATE_EVENT_BUS = args.eventBusArn;
    if (args.freezeAlarmNames !== undefined) {
      const freeze = pulumi.output(args.freezeAlarmNames).apply((n) => n.join(","));
      // An empty variable would read as "one alarm named ''"; leave it out instead.
      if ((plain(args.freezeAlarmNames)?.length ?? 1) > 0) fileConfig.ROLLGATE_FREEZE_ALARMS = freeze;
    }
    if (args.ringRuleArns !== undefined && Object.keys(plain(args.ringRuleArns) ?? { unknown: 1 }).length > 0) {
      fileConfig.ROLLGATE_RING_RULES = ringRules.apply((r) => JSON.stringify(r));
    }
    if (args.stickinessSeconds !== undefined && plain(args.stickinessSeconds) !== 0) {
      env.ROLLGATE_STICKINESS = pulumi.output(args.stickinessSeconds).apply((sec) => JSON.stringify(sec > 0 ? { enabled: true, durationSeconds: sec } : { enabled: false, durationSeconds: 1 }));
    }
    if (args.ecsClusterArn !== undefined) {
      env.ROLLGATE_ECS_CLUSTER_ARN = args.ecsClusterArn;
      env.ROLLGATE_ECS_BLUE_SERVICE = args.ecsBlueServiceArn!;
      env.ROLLGATE_ECS_GREEN_SERVICE = args.ecsGreenServiceArn!;
    }

    const codePath = args.codePath ?? defaultControllerBundlePath();
    const fn = new lambda.Function(
      `${name}-function`,
      {
        runtime: "nodejs22.x",
        handler: "index.handler",
        architectures: ["arm64"],
        code: pulumi.all([pulumi.output(codePath), pulumi.output(fileConfig)]).apply(
          ([p, config]) =>
            new pulumi.asset.AssetArchive({
              "index.mjs": new pulumi.asset.FileAsset(p),
              [CONFIG_FILE]: new pulumi.asset.StringAsset(JSON.stringify(config, null, 2)),
            }),
        ),
        role: role.arn,
        memorySize: args.memorySize ?? 256,
        timeout: pulumi.output(args.timeoutSeconds).apply((t) => controllerTimeoutFor(t)),
        // Lambda caps the environment at 4 KB (keys and values): checked before AWS refuses it.
        environment: { variables: pulumi.output(env).apply((vars) => checked(this, () => (checkEnvironmentSize("StepController", vars as Record<string, string>), vars))) },
        loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
        tags,
      },
      // The role must carry its policy before the first invocation, not just exist.
      { parent: this, dependsOn: [rolePolicy] },
    );

    // The authenticated command channel: AWS verifies each caller's SigV4 signature and IAM
    // permission, and hands the controller the caller's ARN (docs/controller.md, "Trust model").
    const url = new lambda.FunctionUrl(`${name}-url`, { functionName: fn.name, authorizationType: "AWS_IAM" }, childOpts);
    // Operators attach this; it has no table writes. The controller's role is the only writer.
    const operatorPolicy = new iam.Policy(
      `${name}-operator`,
      {
        description: "rollgate: operate this service's rollouts through the controller's function URL, and read its state",
        policy: pulumi.all([fn.arn, table.arn]).apply(([functionArn, tableArn]) => JSON.stringify({ Version: "2012-10-17", Statement: operatorPolicyStatements({ functionArn, tableArn }) })),
        tags,
      },
      childOpts,
    );
    new dynamodb.ResourcePolicy(
      `${name}-state-policy`,
      {
        resourceArn: table.arn,
        policy: pulumi.all([table.arn, role.arn]).apply(([tableArn, controllerRoleArn]) => JSON.stringify({ Version: "2012-10-17", Statement: tableResourcePolicyStatements({ tableArn, controllerRoleArn }) })),
      },
      childOpts,
    );

    const tick = new cloudwatch.EventRule(
      `${name}-tick`,
      { description: "rollgate: evaluate the current rollout step", scheduleExpression: args.scheduleExpression ?? "rate(1 minute)", tags },
      childOpts,
    );
    const alarmRule = new cloudwatch.EventRule(
      `${name}-alarms`,
      {
        description: "rollgate: a gate alarm went to ALARM; evaluate now instead of at the next tick",
        // Gate alarms (fast rollback) and freeze alarms (the controller sets the global freeze
        // only from their ALARM events).
        eventPattern: pulumi
          .all([pulumi.output(args.gateAlarmArns), pulumi.output(args.freezeAlarmNames ?? []), args.loadBalancerArn])
          .apply(([arns, freezeNames, lbArn]) =>
            checked(this, () => {
              if (arns.length === 0) throw new ArgsError("StepController: gateAlarmArns must name at least one alarm (an empty list would match every alarm in the account)");
              const freezeArns = freezeNames.map((n) => alarmArnInRegionOf(lbArn, n));
              return JSON.stringify(alarmStatePattern([...arns, ...freezeArns.filter((a) => !arns.includes(a))]));
            }),
          ),
        tags,
      },
      childOpts,
    );
    for (const [suffix, rule] of [["tick", tick], ["alarms", alarmRule]] as const) {
      new cloudwatch.EventTarget(`${name}-${suffix}`, { rule: rule.name, arn: fn.arn }, childOpts);
      new lambda.Permission(
        `${name}-${suffix}`,
        { action: "lambda:InvokeFunction", function: fn.name, principal: "events.amazonaws.com", sourceArn: rule.arn },
        childOpts,
      );
    }

    const ownActions = pulumi.all([topic.arn, pulumi.output(args.alarmActions ?? [])]).apply(([t, extra]) => [t, ...extra]);
    // Any error or throttle in a minute pages: either means rollouts are not being driven.
    // No invocations in a minute means none of either in it; the schedule invokes every minute.
    // One alarm on "any of this metric in a minute", routed to the operational actions.
    const selfAlarm = (
      suffix: string,
      metricName: string,
      alarmDescription: string,
      metric: Pick<cloudwatch.MetricAlarmArgs, "namespace" | "dimensions" | "statistic"> = { namespace: "AWS/Lambda", dimensions: { FunctionName: fn.name }, statistic: "Sum" },
    ) =>
      new cloudwatch.MetricAlarm(
        `${name}-${suffix}`,
        {
          alarmDescription,
          metricName,
          ...metric,
          period: 60,
          evaluationPeriods: 1,
          comparisonOperator: "GreaterThanThreshold",
          threshold: 0,
          treatMissingData: "notBreaching",
          alarmActions: ownActions,
          okActions: ownActions,
          tags,
        },
        childOpts,
      );
    const errorAlarm = selfAlarm("errors", "Errors", "rollgate controller invocations failed: rollouts are not being driven (and rollbacks may not fire).");
    const throttleAlarm = selfAlarm("throttles", "Throttles", "rollgate controller invocations were throttled: ticks and alarm events are being dropped.");

    // Asynchronous invocations: a tick or alarm event that cannot run within maxEventAgeSeconds is
    // not run late (it would act on a stale view); failures after the retries go to the queue.
    new lambda.FunctionEventInvokeConfig(
      `${name}-async`,
      {
        functionName: fn.name,
        maximumEventAgeInSeconds: args.maxEventAgeSeconds ?? 300,
        maximumRetryAttempts: args.maxRetryAttempts ?? 2,
        destinationConfig: { onFailure: { destination: failedQueue.arn } },
      },
      { parent: this, dependsOn: [rolePolicy] },
    );
    // Lifecycle hooks run asynchronously and answer through their Lambda destinations: each hook
    // function sends its on-success and on-failure records to the controller, without retries (a
    // retried hook would answer for the same execution twice) and never later than its timeout.
    let hookResultPolicy: iam.Policy | undefined;
    const plainHookArns = plain(args.hookFunctionArns)?.map((a) => plain(a));
    if (args.hookFunctionArns !== undefined && (plainHookArns === undefined || plainHookArns.length > 0)) {
      hookResultPolicy = new iam.Policy(
        `${name}-hook-results`,
        {
          description: "rollgate: let a lifecycle hook function's asynchronous invocation deliver its answer (destination record) to the step controller",
          policy: fn.arn.apply((functionArn) => JSON.stringify({ Version: "2012-10-17", Statement: hookResultPolicyStatements(functionArn) })),
          tags,
        },
        childOpts,
      );
      (args.hookRoleNames ?? []).forEach((role, i) => {
        const roleName = plain(role);
        new iam.RolePolicyAttachment(`${name}-hook-results-${roleName ?? i}`, { role, policyArn: hookResultPolicy!.arn }, childOpts);
      });
      const manage = plain(args.manageHookInvokeConfig) ?? true;
      if (manage && plainHookArns !== undefined && plainHookArns.every((a) => a !== undefined)) {
        // The policy may be an Output (ProgressiveService merges its health gate in): read it when resolved.
        const timeouts = pulumi.output(args.policyJson).apply(hookTimeoutsByFunction);
        for (const arn of [...new Set(plainHookArns as string[])]) {
          const parsed = parseLambdaArn(arn)!;
          new lambda.FunctionEventInvokeConfig(
            `${name}-hook-${parsed.functionName}${parsed.qualifier ? `-${parsed.qualifier.replace(/\$/g, "")}` : ""}`,
            {
              functionName: parsed.functionName,
              ...(parsed.qualifier ? { qualifier: parsed.qualifier } : {}),
              maximumRetryAttempts: 0,
              // An invocation still queued after the hook's timeout could only answer too late.
              maximumEventAgeInSeconds: timeouts.apply((t) => Math.min(21600, Math.max(60, t[arn] ?? 900))),
              destinationConfig: { onSuccess: { destination: fn.arn }, onFailure: { destination: fn.arn } },
            },
            childOpts,
          );
        }
      } else if (manage) {
        pulumi.log.warn(
          "StepController: hookFunctionArns is not known at preview, so the hook functions' asynchronous invocation (destinations to the controller, no retries) is not configured; pass plain ARNs, or configure it yourself and set manageHookInvokeConfig to false",
          this,
        );
      }
    }

    // Dead-man's switch: the controller counts completed ticks (EMF metric TicksCompleted, namespace
    // Rollgate, dimension service). No completed tick for heartbeatMinutes, or no data at all (the
    // schedule stopped, the function cannot start), fires like the other operational alarms.
    const heartbeatMinutes = pulumi.output(args.heartbeatMinutes ?? pulumi.output(args.scheduleExpression ?? "rate(1 minute)").apply(defaultHeartbeatMinutes));
    const heartbeatAlarm = new cloudwatch.MetricAlarm(
      `${name}-heartbeat`,
      {
        alarmDescription: pulumi.interpolate`rollgate controller has not completed a tick for ${heartbeatMinutes} minutes: rollouts are not being driven and rollbacks wait for an alarm event. Check the schedule, the function's errors and the failed-invocations queue.`,
        namespace: "Rollgate",
        metricName: "TicksCompleted",
        dimensions: { service: args.serviceName ?? name },
        statistic: "Sum",
        period: 60,
        evaluationPeriods: heartbeatMinutes,
        datapointsToAlarm: heartbeatMinutes,
        comparisonOperator: "LessThanThreshold",
        threshold: 1,
        treatMissingData: "breaching",
        alarmActions: ownActions,
        okActions: ownActions,
        tags,
      },
      childOpts,
    );
    const failedAlarm = selfAlarm(
      "failed-invocations",
      "ApproximateNumberOfMessagesVisible",
      "rollgate controller: ticks or alarm events failed every retry or expired; they are in the failed-invocations queue.",
      { namespace: "AWS/SQS", dimensions: { QueueName: failedQueue.name }, statistic: "Maximum" },
    );

    this.functionName = fn.name;
    this.functionArn = fn.arn;
    this.roleArn = role.arn;
    this.tableName = table.name;
    this.tableArn = table.arn;
    this.topicArn = topic.arn;
    this.logGroupName = logGroup.name;
    this.errorAlarmNames = pulumi.all([errorAlarm.name, throttleAlarm.name]);
    this.functionUrl = url.functionUrl;
    this.operatorPolicyArn = operatorPolicy.arn;
    this.heartbeatAlarmName = heartbeatAlarm.name;
    this.failedInvocationsAlarmName = failedAlarm.name;
    this.failedInvocationsQueueArn = failedQueue.arn;
    this.hookResultPolicyArn = hookResultPolicy ? hookResultPolicy.arn : pulumi.output(undefined);
    this.registerOutputs({
      hookResultPolicyArn: this.hookResultPolicyArn,
      heartbeatAlarmName: this.heartbeatAlarmName,
      failedInvocationsAlarmName: this.failedInvocationsAlarmName,
      failedInvocationsQueueArn: this.failedInvocationsQueueArn,
      functionName: this.functionName,
      functionArn: this.functionArn,
      roleArn: this.roleArn,
      tableName: this.tableName,
      tableArn: this.tableArn,
      topicArn: this.topicArn,
      logGroupName: this.logGroupName,
      errorAlarmNames: this.errorAlarmNames,
      functionUrl: this.functionUrl,
      operatorPolicyArn: this.operatorPolicyArn,
    });
  }
}

/** EventBridge pattern: the given alarms entering ALARM. */
export function alarmStatePattern(alarmArns: string[]): Record<string, unknown> {
  return {
    source: ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    resources: alarmArns,
    detail: { state: { value: ["ALARM"] } },
  };
}

/** The ARN of an alarm in the load balancer's account and region. */
export function alarmArnInRegionOf(loadBalancerArn: string, alarmName: string): string {
  const p = parseArn(loadBalancerArn);
  if (!p || !p.region || !p.account) throw new ArgsError(`StepController: loadBalancerArn must be a load balancer ARN, got ${JSON.stringify(loadBalancerArn)}`);
  return `arn:${p.partition}:cloudwatch:${p.region}:${p.account}:alarm:${alarmName}`;
}

/**
 * The default event bus of the load balancer's account and region: where the controller puts its
 * events when ROLLGATE_EVENT_BUS is unset. Derived from the ARN so no lookup is needed.
 */
export function defaultEventBusArn(loadBalancerArn: string): string {
  const p = parseArn(loadBalancerArn);
  if (!p || !p.region || !p.account) throw new ArgsError(`StepController: loadBalancerArn must be a load balancer ARN, got ${JSON.stringify(loadBalancerArn)}`);
  return `arn:${p.partition}:events:${p.region}:${p.account}:event-bus/default`;
}
