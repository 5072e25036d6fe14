/**
 * Every AWS limit the components can reach fails at preview with an error naming the field, before
 * AWS (which moto does not imitate here) refuses the request at `pulumi up`. Limits are from AWS's
 * documentation, listed in components/aws-limits.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks } from "../components/mocks.js";
import { environmentBytes, percentileSamplesNeeded, scheduleExpressionProblem } from "../components/aws-limits.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");
beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const TG_B = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/b/1`;
const TG_G = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/g/2`;
type RoutingArgs = import("../components/index.js").WeightedRoutingArgs;
const rule = (over: Partial<RoutingArgs>): RoutingArgs => ({ blueTargetGroupArn: TG_B, greenTargetGroupArn: TG_G, listenerArn: LISTENER, priority: 100, hostHeaders: ["checkout.example.com"], ...over });
const gates = (over: Record<string, unknown>) =>
  ({ loadBalancerArn: LB, blueTargetGroupArnSuffix: "targetgroup/b/1", greenTargetGroupArnSuffix: "targetgroup/g/2", ...over }) as import("../components/index.js").HealthGatesArgs;
const controller = (over: Record<string, unknown>) =>
  ({
    policyJson: "{}",
    listenerArn: LISTENER,
    loadBalancerArn: LB,
    blueTargetGroupArn: TG_B,
    greenTargetGroupArn: TG_G,
    gateAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a`],
    ...over,
  }) as import("../components/index.js").StepControllerArgs;

let n = 0;
const ring = (over: Record<string, unknown>) => ({ name: "beta", ...over }) as import("../components/index.js").WeightedRoutingRing;

const cases: [string, () => unknown, RegExp][] = [
  // ---- listener rule conditions
  ["4 host headers in one condition", () => new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["a.example.com", "b.example.com", "c.example.com", "d.example.com"] })), /WeightedRouting: hostHeaders has 4 values; an ALB host-header condition allows at most 3/],
  ["4 path patterns in one condition", () => new C.WeightedRouting(`r${n++}`, rule({ pathPatterns: ["/a", "/b", "/c", "/d"] })), /WeightedRouting: pathPatterns has 4 values; an ALB path-pattern condition allows at most 3/],
  [
    "6 condition values in one rule (3 hosts + 3 paths)",
    () => new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["a.example.com", "b.example.com", "c.example.com"], pathPatterns: ["/a", "/b", "/c"] })),
    /WeightedRouting: the service rule has 6 condition values in total \(hostHeaders: 3, pathPatterns: 3\); an ALB rule allows at most 5/,
  ],
  [
    "a ring rule that copies the service's host/path and goes over 5 values",
    () =>
      new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["a.example.com", "b.example.com"], pathPatterns: ["/a", "/b"], rings: [ring({ headers: [{ name: "x-beta", values: ["1", "yes"] }] })] })),
    /WeightedRouting: the rule of rings\[0\] \("beta"\) has 6 condition values in total \(hostHeaders: 2, pathPatterns: 2, rings\[0\]\.headers\[0\]: 2\); an ALB rule allows at most 5/,
  ],
  [
    "a ring rule with more than 5 wildcards (the cookie match adds two)",
    () => new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["*.example.com"], pathPatterns: ["/api/*"], rings: [ring({ cookie: { name: "beta", value: "1" }, headers: [{ name: "x-a", values: ["*x*"] }] })] })),
    /WeightedRouting: the rule of rings\[0\] \("beta"\) uses 6 wildcards \(\* or \?\) in its conditions; an ALB rule allows at most 5/,
  ],
  ["a ring with two source-ip lists is fine, but 4 CIDRs is over 3", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ sourceIps: ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"] })] })), /WeightedRouting: rings\[0\]\.sourceIps has 4 values; an ALB source-ip condition allows at most 3/],
  ["a source range that is not a CIDR block", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ sourceIps: ["10.0.0.*"] })] })), /WeightedRouting: rings\[0\]\.sourceIps\[0\] "10\.0\.0\.\*" must be a CIDR block/],
  ["a host without a dot", () => new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["localhost"] })), /WeightedRouting: hostHeaders\[0\] "localhost" must contain a "\." and only letters after the last "\."/],
  ["a host with a character ALB refuses", () => new C.WeightedRouting(`r${n++}`, rule({ hostHeaders: ["shop/x.example.com"] })), /WeightedRouting: hostHeaders\[0\] "shop\/x\.example\.com" may contain only/],
  ["a path longer than 128 characters", () => new C.WeightedRouting(`r${n++}`, rule({ pathPatterns: [`/${"a".repeat(128)}`] })), /WeightedRouting: pathPatterns\[0\] is 129 characters; ALB allows at most 128/],
  ["a path with a space", () => new C.WeightedRouting(`r${n++}`, rule({ pathPatterns: ["/a b"] })), /WeightedRouting: pathPatterns\[0\] "\/a b" may contain only/],
  ["a ring header name longer than 40 characters", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ headers: [{ name: `x-${"a".repeat(40)}`, values: ["1"] }] })] })), /WeightedRouting: rings\[0\]\.headers\[0\]: header name "x-a+" must be 1\.\.40 characters/],
  ["a ring header name with a wildcard", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ headers: [{ name: "x-*", values: ["1"] }] })] })), /WeightedRouting: rings\[0\]\.headers\[0\]: header name "x-\*" must be 1\.\.40 characters of letters, digits and .* \(no wildcards\)/],
  ["a ring matching the Host header", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ headers: [{ name: "Host", values: ["a.example.com"] }] })] })), /WeightedRouting: rings\[0\]\.headers\[0\]: an http-header condition cannot match Host; use hostHeaders/],
  ["a ring header value with a control character", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ headers: [{ name: "x-a", values: ["a\u0001"] }] })] })), /WeightedRouting: rings\[0\]\.headers\[0\]\[0\] "a\\u0001" must be visible ASCII/],
  ["a cookie match longer than 128 characters", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ cookie: { name: "c", value: "v".repeat(130) } })] })), /WeightedRouting: rings\[0\]\.cookie\[0\] is 134 characters; ALB allows at most 128/],
  ["two rings with the same name", () => new C.WeightedRouting(`r${n++}`, rule({ rings: [ring({ sourceIps: ["10.0.0.0/8"] }), ring({ sourceIps: ["10.1.0.0/16"] })] })), /WeightedRouting: rings\[1\]\.name "beta" is used twice/],
  ["a priority above 50000", () => new C.WeightedRouting(`r${n++}`, rule({ priority: 50001 })), /WeightedRouting: priority must be a whole number from 1 to 50000, got 50001/],
  // ---- CloudWatch alarms
  ["an alarm period that is not a multiple of a minute", () => new C.HealthGates(`g${n++}`, gates({ periodSeconds: 30 })), /HealthGates: periodSeconds must be a multiple of 60 seconds up to 86400 \(ALB metrics are published per minute\), got 30/],
  ["a latency period that is not a multiple of a minute", () => new C.HealthGates(`g${n++}`, gates({ latencyPeriodSeconds: 90 })), /HealthGates: latencyPeriodSeconds must be a multiple of 60 seconds/],
  ["evaluation periods x period above one day", () => new C.HealthGates(`g${n++}`, gates({ periodSeconds: 3600, evaluationPeriods: 25, datapointsToAlarm: 3 })), /HealthGates: evaluationPeriods x periodSeconds: 25 evaluation periods of 3600 s is 90000 s; CloudWatch evaluates at most one day/],
  ["latency period x evaluation periods above one day", () => new C.HealthGates(`g${n++}`, gates({ latencyPeriodSeconds: 21600, evaluationPeriods: 5 })), /HealthGates: evaluationPeriods x latencyPeriodSeconds: 5 evaluation periods of 21600 s is 108000 s/],
  ["an alarm action that is not an ARN", () => new C.HealthGates(`g${n++}`, gates({ alarmActions: ["oncall"] })), /HealthGates: alarmActions\[0\] must be an alarm action ARN/],
  // ---- Lambda and EventBridge
  ["a controller timeout below 10 s", () => new C.StepController(`c${n++}`, controller({ timeoutSeconds: 5 })), /StepController: timeoutSeconds must be a whole number from 10 to 900 seconds/],
  ["a controller timeout above Lambda's 900 s", () => new C.StepController(`c${n++}`, controller({ timeoutSeconds: 901 })), /StepController: timeoutSeconds must be a whole number from 10 to 900/],
  ["rate(1 minutes), which EventBridge rejects", () => new C.StepController(`c${n++}`, controller({ scheduleExpression: "rate(1 minutes)" })), /StepController: scheduleExpression "rate\(1 minutes\)" is not an EventBridge schedule expression: use the singular for 1: "rate\(1 minute\)"/],
  ["rate(5 minute)", () => new C.StepController(`c${n++}`, controller({ scheduleExpression: "rate(5 minute)" })), /StepController: scheduleExpression "rate\(5 minute\)" .*use the plural above 1: "rate\(5 minutes\)"/],
  ["rate(0 minutes)", () => new C.StepController(`c${n++}`, controller({ scheduleExpression: "rate(0 minutes)" })), /StepController: scheduleExpression "rate\(0 minutes\)" .*positive whole number/],
  ["a five-field (Unix) cron", () => new C.StepController(`c${n++}`, controller({ scheduleExpression: "cron(* * * * *)" })), /StepController: scheduleExpression "cron\(\* \* \* \* \*\)" .*has 6 fields/],
  ["a cron with both day fields set", () => new C.StepController(`c${n++}`, controller({ scheduleExpression: "cron(0/5 * * * MON *)" })), /StepController: scheduleExpression .*one of day-of-month and day-of-week must be "\?"/],
  ["stickiness above 7 days", () => new C.StepController(`c${n++}`, controller({ stickinessSeconds: 604801 })), /StepController: stickinessSeconds must be a whole number from 1 to 604800/],
  ["deletion protection that is not a boolean", () => new C.StepController(`c${n++}`, controller({ stateTableDeletionProtection: "yes" })), /StepController: stateTableDeletionProtection must be true or false/],
];

describe("AWS limits are preview errors naming the field", () => {
  test.each(cases)("%s", (_label, make, message) => {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error, "no error was thrown").toBeInstanceOf(pulumi.ResourceError);
    expect((error as Error).message).toMatch(message);
  });

  test("limits that hold are accepted: 3 hosts + 2 paths, a cookie ring with 5 wildcards, p99 at 1,000 samples", () => {
    expect(() => C.validateWeightedRoutingArgs(rule({ hostHeaders: ["a.example.com", "b.example.com", "*.example.com"], pathPatterns: ["/a", "/b"] }))).not.toThrow();
    expect(() => C.validateWeightedRoutingArgs(rule({ hostHeaders: ["*.example.com"], pathPatterns: ["/api/*"], rings: [ring({ cookie: { name: "beta", value: "1" } })] }))).not.toThrow();
    expect(percentileSamplesNeeded(99)).toBe(1000);
    expect(percentileSamplesNeeded(50)).toBe(20);
    expect(percentileSamplesNeeded(99.9)).toBe(10000);
  });

  test.each(["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(2 days)", "cron(0/5 * * * ? *)", "cron(0 12 ? * MON-FRI *)", "cron(15 10 L * ? 2030)"])("schedule %s is accepted", (expr) => {
    expect(scheduleExpressionProblem(expr)).toBeUndefined();
  });

  test("a hook's timeout no longer bears on the controller's: a 15-minute hook with the default 60 s controller is accepted", async () => {
    const { controllerTimeoutFor, validateStepControllerArgs } = await import("../components/step-controller.js");
    const withHook = JSON.stringify({ profile: "standard", hookFunctions: { s: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:s` }, hooks: [{ name: "s", function: "s", at: ["beforePromote"], timeout: "15m" }] });
    expect(() => validateStepControllerArgs(controller({ timeoutSeconds: 60, policyJson: withHook }))).not.toThrow();
    expect(controllerTimeoutFor(undefined)).toBe(60);
    expect(controllerTimeoutFor(120)).toBe(120);
  });

  test("environment size counts keys and values in UTF-8 bytes", () => {
    expect(environmentBytes({ AB: "cd", É: "é" })).toBe(4 + 4);
  });
});

describe("valid but unprotective settings are preview warnings", () => {
  test("a latency period too short for p99 at minRequestsPerPeriod, and no alarm actions, are warned about", () => {
    const warnings = C.healthGatesWarnings(gates({ minRequestsPerPeriod: 10 }));
    expect(warnings.join("\n")).toMatch(/latencyPeriodSeconds 60: a slot at minRequestsPerPeriod \(10 per 60 s\) gets 10 samples per latency period, and CloudWatch evaluates p99 only with 1000 or more .* Set latencyPeriodSeconds to 6000/);
    expect(warnings.join("\n")).toMatch(/alarmActions is empty, so the composite health alarm pages nobody/);
    expect(C.healthGatesWarnings(gates({ minRequestsPerPeriod: 1000, alarmActions: ["arn:aws:sns:eu-west-1:123456789012:oncall"] }))).toEqual([]);
  });
});
