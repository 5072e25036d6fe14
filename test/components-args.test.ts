/**
 * Bad arguments fail at construction (that is, at `pulumi preview`) with a ResourceError that
 * names the field and the fix. Plain values are checked synchronously, so every case here throws
 * from the constructor under the mock runtime.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks } from "../components/mocks.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");
beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
const TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1";
const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/main";

const service = (over: Record<string, unknown>) => {
  const args: Record<string, unknown> = {
    version: "v1",
    policy: { profile: "standard" },
    vpcId: "vpc-1",
    loadBalancerArn: LB,
    listenerArn: LISTENER,
    priority: 10,
    hostHeaders: ["a.example.com"],
    clusterArn: CLUSTER,
    image: "nginx:1.27",
    subnetIds: ["subnet-1"],
    securityGroupIds: ["sg-1"],
    ...over,
  };
  for (const [k, v] of Object.entries(args)) if (v === undefined) delete args[k];
  return args as unknown as import("../components/index.js").ProgressiveServiceArgs;
};
const gates = (over: Record<string, unknown>) =>
  ({ loadBalancerArn: LB, blueTargetGroupArnSuffix: "targetgroup/b/1", greenTargetGroupArnSuffix: "targetgroup/g/2", ...over }) as import("../components/index.js").HealthGatesArgs;
const controller = (over: Record<string, unknown>) =>
  ({
    policyJson: "{}",
    listenerArn: LISTENER,
    loadBalancerArn: LB,
    blueTargetGroupArn: TG,
    greenTargetGroupArn: TG,
    gateAlarmArns: ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a"],
    ...over,
  }) as import("../components/index.js").StepControllerArgs;
const slots = (over: Record<string, unknown>) =>
  ({
    clusterArn: CLUSTER,
    image: "nginx:1.27",
    version: "v1",
    blueTargetGroupArn: TG,
    greenTargetGroupArn: TG,
    subnetIds: ["subnet-1"],
    securityGroupIds: ["sg-1"],
    ...over,
  }) as import("../components/index.js").EcsSlotsArgs;

let n = 0;
const cases: [string, () => unknown, string | RegExp][] = [
  [
    "ProgressiveService without a policy",
    () => new C.ProgressiveService(`s${n++}`, service({ policy: undefined })),
    "ProgressiveService: exactly 1 of [policy] or [policyDocument] must be provided, but none was given; pass the policy as an object (policy) or as YAML/JSON text (policyDocument)",
  ],
  [
    "ProgressiveService with both policy forms",
    () => new C.ProgressiveService(`s${n++}`, service({ policyDocument: "profile: low" })),
    "ProgressiveService: exactly 1 of [policy] or [policyDocument] must be provided, but policy and policyDocument were given; pass the policy as an object (policy) or as YAML/JSON text (policyDocument)",
  ],
  [
    "a step at 100 %",
    () =>
      new C.ProgressiveService(
        `s${n++}`,
        service({ policy: { strategy: { type: "canary", steps: [{ percent: 5, hold: "5m" }, { percent: 50, hold: "5m" }, { percent: 100, hold: "5m" }] } } }),
      ),
    "ProgressiveService: invalid rollout policy (1 problem):\n  - policy.strategy.steps[2].percent: must be below 100: promotion to 100 % follows the last step automatically; remove this step",
  ],
  [
    "a typo in a policy field",
    () => new C.ProgressiveService(`s${n++}`, service({ policy: { profile: "standard", stratgy: {} } })),
    'ProgressiveService: invalid rollout policy (1 problem):\n  - policy.stratgy: unknown field; did you mean "strategy"?',
  ],
  [
    "policyDocument that is not YAML",
    () => new C.ProgressiveService(`s${n++}`, service({ policy: undefined, policyDocument: "profile: [standard" })),
    /^ProgressiveService: policyDocument is not valid YAML or JSON: /,
  ],
  [
    "a hold shorter than a minute in a YAML policy",
    () => new C.ProgressiveService(`s${n++}`, service({ policy: undefined, policyDocument: "strategy:\n  type: canary\n  steps:\n    - { percent: 5, hold: 30s }\n" })),
    "ProgressiveService: invalid rollout policy (1 problem):\n  - policy.strategy.steps[0].hold: must be at least 1m: CloudWatch metrics arrive per minute, so a shorter hold gathers no evidence",
  ],
  [
    "a user gate named health",
    () => new C.ProgressiveService(`s${n++}`, service({ policy: { profile: "standard", gates: [{ type: "alarm", name: "health", alarms: ["x"] }] } })),
    'ProgressiveService: invalid rollout policy:\n  - policy.gates[0].name: "health" is reserved for the alarm gate ProgressiveService adds (its health alarms); rename this gate',
  ],
  [
    "a version with a space",
    () => new C.ProgressiveService(`s${n++}`, service({ version: "1.0 beta" })),
    'ProgressiveService: version must be a release label of letters, digits, ".", "_", "+", ":" or "-" (up to 128), e.g. v2 or 1.4.0, got "1.0 beta"',
  ],
  [
    "a service name the controller would reject",
    () => new C.ProgressiveService(`s${n++}`, service({ serviceName: "check out" })),
    'ProgressiveService: serviceName must be letters, digits, ".", "_" or "-" (up to 128), starting with a letter or digit, got "check out"',
  ],
  [
    "a Network Load Balancer",
    () => new C.ProgressiveService(`s${n++}`, service({ loadBalancerArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/x/1" })),
    'ProgressiveService: loadBalancerArn must be an Application Load Balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>), got "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/x/1"',
  ],
  [
    "listenerPort with a shared listener",
    () => new C.ProgressiveService(`s${n++}`, service({ listenerPort: 8080 })),
    "ProgressiveService: listenerPort applies only to a listener of the service's own; with listenerArn the service gets a rule on that shared listener; remove listenerPort",
  ],
  [
    "priority without a shared listener",
    () => new C.ProgressiveService(`s${n++}`, service({ listenerArn: undefined, hostHeaders: undefined })),
    "ProgressiveService: priority applies only to a rule on a shared listener (listenerArn is not set); remove priority",
  ],
  [
    "an SLO of 100 %",
    () => new C.ProgressiveService(`s${n++}`, service({ sloTarget: 100 })),
    "ProgressiveService: sloTarget is an availability in percent above 0 and below 100 (e.g. 99.9), or 0 for no burn-rate alarms, got 100",
  ],
  [
    "WeightedRouting with both a load balancer and a listener",
    () => new C.WeightedRouting(`r${n++}`, { blueTargetGroupArn: TG, greenTargetGroupArn: TG, loadBalancerArn: LB, listenerArn: LISTENER, priority: 1, hostHeaders: ["a"] }),
    "WeightedRouting: exactly 1 of [loadBalancerArn] or [listenerArn] must be provided, but loadBalancerArn and listenerArn were given; set loadBalancerArn to create a listener of its own, or listenerArn to add a rule to a shared listener",
  ],
  [
    "a rule without a priority",
    () => new C.WeightedRouting(`r${n++}`, { blueTargetGroupArn: TG, greenTargetGroupArn: TG, listenerArn: LISTENER, hostHeaders: ["a"] }),
    "WeightedRouting: priority is required with listenerArn (a rule on a shared listener needs a unique priority 1..50000)",
  ],
  [
    "a rule without conditions",
    () => new C.WeightedRouting(`r${n++}`, { blueTargetGroupArn: TG, greenTargetGroupArn: TG, listenerArn: LISTENER, priority: 5 }),
    "WeightedRouting: a rule on a shared listener needs hostHeaders or pathPatterns (or both) to match its traffic",
  ],
  [
    "a rule priority with no room for the ring rules above it",
    () =>
      new C.WeightedRouting(`r${n++}`, {
        blueTargetGroupArn: TG,
        greenTargetGroupArn: TG,
        listenerArn: LISTENER,
        priority: 2,
        hostHeaders: ["a.example.com"],
        rings: [
          { name: "internal", headers: [{ name: "x-employee", values: ["true"] }] },
          { name: "office", sourceIps: ["203.0.113.0/24"] },
        ],
      }),
    "WeightedRouting: priority 2 leaves no room for 2 ring rule(s) above it (they take priority - 1 ... priority - 2); use a priority above 2",
  ],
  [
    "weights above what ALB allows",
    () => new C.WeightedRouting(`r${n++}`, { blueTargetGroupArn: TG, greenTargetGroupArn: TG, loadBalancerArn: LB, weightTotal: 1000 }),
    "WeightedRouting: weightTotal must be a whole number from 2 to 999 (ALB weights are 0..999), got 1000",
  ],
  [
    "an SLO the 14.4x burn alarm cannot express",
    () => new C.HealthGates(`g${n++}`, gates({ sloTarget: 90 })),
    "HealthGates: sloTarget 90 is too low for a 14.4x burn-rate alarm (14.4 x 10 % >= 100 %); use 93.1 or more",
  ],
  [
    "more datapoints than periods",
    () => new C.HealthGates(`g${n++}`, gates({ evaluationPeriods: 2, datapointsToAlarm: 3 })),
    "HealthGates: datapointsToAlarm (3) must not exceed evaluationPeriods (2)",
  ],
  ["a 90-second period", () => new C.HealthGates(`g${n++}`, gates({ periodSeconds: 90 })), "HealthGates: periodSeconds must be a multiple of 60 seconds up to 86400 (ALB metrics are published per minute), got 90"],
  [
    "a KPI alarm given by name instead of ARN",
    () => new C.HealthGates(`g${n++}`, gates({ additionalAlarmArns: ["checkout-conversion"] })),
    'HealthGates: additionalAlarmArns[0] must be CloudWatch alarm ARNs (arn:aws:cloudwatch:<region>:<account>:alarm:<name>), got "checkout-conversion"',
  ],
  [
    "a controller with no gate alarms",
    () => new C.StepController(`c${n++}`, controller({ gateAlarmArns: [] })),
    "StepController: gateAlarmArns must name at least one alarm (an empty list would match every alarm in the account)",
  ],
  [
    "a controller with half the ECS settings",
    () => new C.StepController(`c${n++}`, controller({ ecsClusterArn: CLUSTER })),
    "StepController: set all of ecsClusterArn, ecsBlueServiceArn and ecsGreenServiceArn or none; missing ecsBlueServiceArn, ecsGreenServiceArn",
  ],
  [
    "a controller that may modify a listener and a rule",
    () => new C.StepController(`c${n++}`, controller({ ruleArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/x/1/2/3" })),
    "StepController: exactly 1 of [listenerArn] or [ruleArn] must be provided, but listenerArn and ruleArn were given; pass the listener (listener mode) or the rule (a rule on a shared listener) the controller may modify",
  ],
  [
    "a log retention CloudWatch does not offer",
    () => new C.StepController(`c${n++}`, controller({ logRetentionDays: 10 })),
    /^StepController: logRetentionDays must be one of CloudWatch's values \(1, 3, 5, 7, 14, 30, .*\), got 10$/,
  ],
  [
    "Fargate memory that does not fit the CPU",
    () => new C.EcsSlots(`e${n++}`, slots({ cpu: 256, memory: 4096 })),
    "EcsSlots: memory 4096 MiB does not fit cpu 256; Fargate allows 512..2048 MiB for it",
  ],
  ["no subnets", () => new C.EcsSlots(`e${n++}`, slots({ subnetIds: [] })), "EcsSlots: subnetIds must list at least one subnet (two or more for availability)"],
  [
    "a cluster name instead of its ARN",
    () => new C.EcsSlots(`e${n++}`, slots({ clusterArn: "main" })),
    'EcsSlots: clusterArn must be an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>), got "main"',
  ],
  [
    "a health check path without a slash",
    () => new C.BlueGreenTargetGroups(`t${n++}`, { vpcId: "vpc-1", healthCheckPath: "healthz" }),
    'BlueGreenTargetGroups: healthCheckPath must start with "/", got "healthz"',
  ],
  ["port 0", () => new C.BlueGreenTargetGroups(`t${n++}`, { vpcId: "vpc-1", port: 0 }), "BlueGreenTargetGroups: port must be a whole number from 1 to 65535, got 0"],
];

describe("bad arguments are preview errors that name the field and the fix", () => {
  test("there are at least 15 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });
  test.each(cases)("%s", (_label, make, message) => {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(pulumi.ResourceError);
    const text = (error as Error).message;
    if (typeof message === "string") expect(text).toBe(message);
    else expect(text).toMatch(message);
  });

  test("the same checks are plain functions (usable without a Pulumi engine)", () => {
    expect(() => C.validateWeightedRoutingArgs({ blueTargetGroupArn: TG, greenTargetGroupArn: TG })).toThrow(C.ArgsError);
    expect(C.validateWeightedRoutingArgs({ blueTargetGroupArn: TG, greenTargetGroupArn: TG, loadBalancerArn: LB })).toBe("listener");
    expect(C.validateStepControllerArgs(controller({ listenerArn: undefined, ruleArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/x/1/2/3" }))).toBe("rule");
    expect(C.validateProgressiveServiceArgs(service({}))?.steps.map((s) => s.percent)).toEqual([1, 5, 25, 50]);
  });

  test("values only known at deploy time (Outputs) are not checked early, so previews of new stacks still work", () => {
    expect(() => C.validateWeightedRoutingArgs({ blueTargetGroupArn: TG, greenTargetGroupArn: TG, listenerArn: LISTENER, priority: pulumi.output(7), hostHeaders: pulumi.output([]) })).not.toThrow();
  });
});
