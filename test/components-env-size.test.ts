/**
 * Lambda caps a function's environment at 4 KB. The service of the finding (4 rings, lifecycle
 * hooks, 8 KPI alarms) made 4,177 bytes with the policy in ROLLGATE_POLICY, and `pulumi up` failed.
 * The policy, ring rules and freeze alarms now travel in a file inside the function's code
 * archive: the service previews, its environment is checked and small, and the controller's own
 * parser loads the policy from the file as the Lambda would (LAMBDA_TASK_ROOT = the archive root).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { controllerEnvironment, createMocks, settle, valueOf, type RecordedResource } from "../components/mocks.js";
import { environmentBytes, LAMBDA } from "../components/aws-limits.js";
import { ConfigError, parseControllerEnv } from "../src/controller/config.js";

const mocks = createMocks();
let rs: RecordedResource[];
const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const KPI = Array.from({ length: 8 }, (_, i) => `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:checkout-kpi-${["orders-per-minute-below-forecast", "payment-authorisation-failures", "basket-additions-drop", "search-latency-p95-regression", "login-failures-above-baseline", "refund-requests-spike", "coupon-redemption-errors", "stock-sync-lag-minutes"][i]}`);

const policy = {
  profile: "standard",
  gates: [
    { type: "errorRate" },
    { type: "latency", thresholdMs: 800 },
    { type: "metric", name: "checkout-conversion", namespace: "Checkout/Business", events: "CheckoutFailed", total: "CheckoutAttempted", worseWhen: "higher", dimensions: { Environment: "production" } },
  ],
  rings: [
    { name: "employees", match: { headers: [{ name: "x-employee", values: ["true"] }] } },
    { name: "beta-testers", match: { cookie: { name: "beta", value: "1" } } },
    { name: "office-network", match: { sourceIps: ["203.0.113.0/24", "198.51.100.0/24"] } },
    { name: "partner-api", match: { headers: [{ name: "x-partner-id", values: ["acme", "globex"] }] } },
  ],
  strategy: {
    type: "canary",
    steps: [
      { ring: "employees", hold: "10m" },
      { ring: "beta-testers", hold: "10m" },
      { ring: "office-network", hold: "10m" },
      { ring: "partner-api", hold: "10m" },
      { percent: 1, hold: "10m" },
      { percent: 5, hold: "10m" },
      { percent: 25, hold: "10m" },
      { percent: 50, hold: "10m", approval: true },
    ],
  },
  hookFunctions: {
    smoke: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:checkout-smoke-tests`,
    load: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:checkout-load-probe`,
    notify: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:checkout-release-notes`,
  },
  hooks: [
    { name: "smoke-tests", function: "smoke", at: ["beforeStep", "beforePromote"], steps: [1, 2, 3, 4, 5], timeout: "5m" },
    { name: "load-probe", function: "load", at: ["afterStep"], steps: [5, 6, 7], timeout: "10m" },
    { name: "release-notes", function: "notify", at: ["afterRollback"], timeout: "1m" },
  ],
};

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "prod", true);
  const C = await import("../components/index.js");
  mocks.reset();
  const svc = new C.ProgressiveService("checkout", {
    serviceName: "checkout-service",
    version: "2.4.1",
    policy,
    vpcId: "vpc-0123456789abcdef0",
    loadBalancerArn: LB,
    listenerArn: LISTENER,
    priority: 200,
    hostHeaders: ["checkout.example.com"],
    pathPatterns: ["/checkout/*"],
    clusterArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/production-main`,
    image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/checkout:2.4.1`,
    subnetIds: ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    securityGroupIds: ["sg-0123456789abcdef0"],
    additionalAlarmArns: KPI,
    eventBusArn: `arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/release-decisions`,
    stickinessSeconds: 600,
    alarmActions: [`arn:aws:sns:eu-west-1:${ACCOUNT}:checkout-oncall`],
  });
  await valueOf(svc.policyJson);
  await settle();
  rs = [...mocks.resources];
});

describe("the 4-ring, hooks, 8-KPI-alarm service", () => {
  test("previews, and its environment stays far below Lambda's 4 KB", () => {
    const fn = rs.find((r) => r.type === "aws:lambda/function:Function")!;
    const env = fn.inputs.environment.variables as Record<string, string>;
    expect(env.ROLLGATE_POLICY).toBeUndefined();
    expect(environmentBytes(env)).toBeLessThan(LAMBDA.environmentBytes / 2);
  });

  test("the same settings in the environment would not fit (the finding), so the case is real", async () => {
    const fn = rs.find((r) => r.type === "aws:lambda/function:Function")!;
    expect(environmentBytes(await controllerEnvironment(fn))).toBeGreaterThan(LAMBDA.environmentBytes);
  });

  test("its controller loads the policy from the file in its code archive", async () => {
    const fn = rs.find((r) => r.type === "aws:lambda/function:Function")!;
    const env = fn.inputs.environment.variables as Record<string, string>;
    const assets = (await fn.inputs.code.assets) as Record<string, { text?: Promise<string> }>;
    const root = mkdtempSync(join(tmpdir(), "rollgate-task-root-"));
    writeFileSync(join(root, env.ROLLGATE_CONFIG_FILE!), await assets[env.ROLLGATE_CONFIG_FILE!]!.text!);
    const config = parseControllerEnv({ ...env, LAMBDA_TASK_ROOT: root });
    expect(config.policy.rings.map((r) => r.name)).toEqual(["employees", "beta-testers", "office-network", "partner-api"]);
    expect(config.policy.hooks.map((h) => h.name)).toEqual(["smoke-tests", "load-probe", "release-notes"]);
    const health = config.policy.gates.find((g) => g.name === "health");
    expect(health?.type === "alarm" && health.alarms.filter((a) => a.startsWith("checkout-kpi-"))).toHaveLength(8);
    expect(Object.keys(config.ringRules ?? {})).toEqual(["employees", "beta-testers", "office-network", "partner-api"]);
    expect(config.freezeAlarms).toEqual(["checkout-service-prod-burn-fast", "checkout-service-prod-burn-slow"]);
  });

  test("a missing or malformed configuration file fails naming ROLLGATE_CONFIG_FILE", () => {
    const root = mkdtempSync(join(tmpdir(), "rollgate-task-root-"));
    expect(() => parseControllerEnv({ ROLLGATE_CONFIG_FILE: "rollgate-config.json", LAMBDA_TASK_ROOT: root })).toThrow(ConfigError);
    expect(() => parseControllerEnv({ ROLLGATE_CONFIG_FILE: "rollgate-config.json", LAMBDA_TASK_ROOT: root })).toThrow(/^ROLLGATE_CONFIG_FILE: cannot read/);
    writeFileSync(join(root, "bad.json"), JSON.stringify({ ROLLGATE_POLICY: { profile: "standard" } }));
    expect(() => parseControllerEnv({ ROLLGATE_CONFIG_FILE: "bad.json", LAMBDA_TASK_ROOT: root })).toThrow(/ROLLGATE_CONFIG_FILE: .*"ROLLGATE_POLICY" must be a string/);
  });
});
