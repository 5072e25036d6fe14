/**
 * The building blocks under Pulumi's mock runtime: BlueGreenTargetGroups, WeightedRouting (both
 * modes), HealthGates (every alarm definition) and StepController (every IAM statement, the
 * environment contract, the triggers). Options (ignoreChanges) are captured by a transformation;
 * mocks cannot prove parentage, so nothing here claims it.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { controllerEnvironment, createMocks, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");

const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const RULE = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const TG_BLUE = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/svc-blue/aaaaaaaaaaaaaaaa`;
const TG_GREEN = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/svc-green/bbbbbbbbbbbbbbbb`;
const opts = () => ({ transformations: [recordingTransformation(mocks)] });

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

async function evaluate(make: () => pulumi.ComponentResource): Promise<RecordedResource[]> {
  mocks.reset();
  const c = make();
  await valueOf(c.urn);
  await settle();
  return [...mocks.resources];
}
const ofType = (rs: RecordedResource[], type: string) => rs.filter((r) => r.type === type);
const named = (rs: RecordedResource[], name: string, type?: string) => {
  const found = rs.filter((r) => r.name === name && !r.type.startsWith("rollgate:") && (type === undefined || r.type === type));
  expect(found, name).toHaveLength(1);
  return found[0]!;
};

describe("BlueGreenTargetGroups", () => {
  test("two target groups, one shared health check, tagged with slot and version; version tags left to the controller", async () => {
    const rs = await evaluate(() => new C.BlueGreenTargetGroups("svc", { vpcId: "vpc-1", port: 8080, healthCheckPath: "/healthz", blueVersion: "1.0.0", tags: { team: "t" } }, opts()));
    expect(rs.map((r) => r.type)).toEqual(["rollgate:index:BlueGreenTargetGroups", "aws:lb/targetGroup:TargetGroup", "aws:lb/targetGroup:TargetGroup"]);
    const blue = named(rs, "svc-blue");
    const green = named(rs, "svc-green");
    const hc = { enabled: true, path: "/healthz", matcher: "200-399", interval: 15, healthyThreshold: 3, unhealthyThreshold: 3, protocol: "HTTP" };
    expect(blue.inputs.healthCheck).toEqual(hc);
    expect(green.inputs.healthCheck).toEqual(hc);
    expect([blue.inputs.port, blue.inputs.protocol, blue.inputs.targetType, blue.inputs.vpcId, blue.inputs.deregistrationDelay]).toEqual([8080, "HTTP", "ip", "vpc-1", 30]);
    expect(blue.inputs.tags).toEqual({ "rollgate:managed-by": "rollgate", team: "t", "rollgate:slot": "blue", "rollgate:version": "1.0.0" });
    expect(green.inputs.tags).toEqual({ "rollgate:managed-by": "rollgate", team: "t", "rollgate:slot": "green", "rollgate:version": "none" });
    for (const tg of [blue, green]) expect(tg.ignoreChanges).toEqual(['tags["rollgate:version"]', 'tagsAll["rollgate:version"]']);
  });

  test("ignoreVersionTagChanges: false leaves the tags to Pulumi", async () => {
    const rs = await evaluate(() => new C.BlueGreenTargetGroups("own", { vpcId: "vpc-1", ignoreVersionTagChanges: false }, opts()));
    expect(named(rs, "own-blue").ignoreChanges).toEqual([]);
  });
});

describe("WeightedRouting", () => {
  test("rule mode: a listener rule on the shared listener, host and path conditions, forward 999/0, the whole action under ignoreChanges", async () => {
    const rs = await evaluate(
      () =>
        new C.WeightedRouting(
          "svc",
          { blueTargetGroupArn: TG_BLUE, greenTargetGroupArn: TG_GREEN, listenerArn: LISTENER, priority: 42, hostHeaders: ["a.example.com"], pathPatterns: ["/api/*"] },
          opts(),
        ),
    );
    expect(rs.map((r) => r.type)).toEqual(["rollgate:index:WeightedRouting", "aws:lb/listenerRule:ListenerRule"]);
    const rule = named(rs, "svc-rule");
    expect(rule.inputs.listenerArn).toBe(LISTENER);
    expect(rule.inputs.priority).toBe(42);
    expect(rule.inputs.conditions).toEqual([{ hostHeader: { values: ["a.example.com"] } }, { pathPattern: { values: ["/api/*"] } }]);
    expect(rule.inputs.actions).toEqual([{ type: "forward", forward: { targetGroups: [{ arn: TG_BLUE, weight: 999 }, { arn: TG_GREEN, weight: 0 }] } }]);
    // The whole action list, not just the weights (pulumi-aws#5798: the provider resends the list).
    expect(rule.ignoreChanges).toEqual(["actions"]);
  });

  test("listener mode: an HTTPS listener of its own, weights from weightTotal, stickiness, the whole default action under ignoreChanges", async () => {
    const rs = await evaluate(
      () =>
        new C.WeightedRouting(
          "own",
          { blueTargetGroupArn: TG_BLUE, greenTargetGroupArn: TG_GREEN, loadBalancerArn: LB, certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/x", weightTotal: 100, stickinessSeconds: 300 },
          opts(),
        ),
    );
    const listener = named(rs, "own-listener");
    expect([listener.inputs.loadBalancerArn, listener.inputs.port, listener.inputs.protocol, listener.inputs.sslPolicy]).toEqual([LB, 443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"]);
    expect(listener.inputs.defaultActions).toEqual([
      { type: "forward", forward: { targetGroups: [{ arn: TG_BLUE, weight: 100 }, { arn: TG_GREEN, weight: 0 }], stickiness: { enabled: true, duration: 300 } } },
    ]);
    expect(listener.ignoreChanges).toEqual(["defaultActions"]);
  });

  test("ignoreWeightChanges: false hands the weights back to Pulumi", async () => {
    const rs = await evaluate(() => new C.WeightedRouting("pulumi-owned", { blueTargetGroupArn: TG_BLUE, greenTargetGroupArn: TG_GREEN, loadBalancerArn: LB, ignoreWeightChanges: false }, opts()));
    expect(named(rs, "pulumi-owned-listener").ignoreChanges).toEqual([]);
  });
});

describe("HealthGates", () => {
  let rs: RecordedResource[];
  let gates: import("../components/index.js").HealthGates;
  beforeAll(async () => {
    rs = await evaluate(() => {
      gates = new C.HealthGates(
        "svc",
        {
          loadBalancerArn: LB,
          blueTargetGroupArnSuffix: "targetgroup/svc-blue/aaaa",
          greenTargetGroupArnSuffix: "targetgroup/svc-green/bbbb",
          alarmNamePrefix: "checkout-prod",
          sloTarget: 99.9,
          additionalAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:checkout-conversion-drop`],
          alarmActions: ["arn:aws:sns:eu-west-1:123456789012:pager"],
        },
        opts(),
      );
      return gates;
    });
  });
  const dims = (slot: "blue" | "green") => ({ LoadBalancer: "app/shared/50dc6c495c0c9188", TargetGroup: slot === "blue" ? "targetgroup/svc-blue/aaaa" : "targetgroup/svc-green/bbbb" });

  test("counts: 6 per-slot alarms, 1 comparison, 4 burn windows, 3 composites", () => {
    expect(ofType(rs, "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.inputs.name).sort()).toEqual(
      [
        "checkout-prod-blue-5xx-rate",
        "checkout-prod-blue-latency",
        "checkout-prod-blue-unhealthy-hosts",
        "checkout-prod-green-5xx-rate",
        "checkout-prod-green-latency",
        "checkout-prod-green-unhealthy-hosts",
        "checkout-prod-canary-vs-stable",
        "checkout-prod-burn-fast-1h",
        "checkout-prod-burn-fast-5m",
        "checkout-prod-burn-slow-6h",
        "checkout-prod-burn-slow-30m",
      ].sort(),
    );
    expect(ofType(rs, "aws:cloudwatch/compositeAlarm:CompositeAlarm").map((r) => r.inputs.alarmName)).toEqual(["checkout-prod-burn-fast", "checkout-prod-burn-slow", "checkout-prod-health"]);
  });

  test.each(["blue", "green"] as const)("%s 5xx rate: metric math over the slot's target group, guarded by a minimum request count, missing data stays missing", (slot) => {
    const a = named(rs, `svc-${slot}-5xx-rate`);
    const metric = (id: string, metricName: string) => ({ id, returnData: false, metric: { namespace: "AWS/ApplicationELB", metricName, stat: "Sum", period: 60, dimensions: dims(slot) } });
    expect(a.inputs.metricQueries).toEqual([
      metric("req", "RequestCount"),
      metric("err", "HTTPCode_Target_5XX_Count"),
      metric("conn", "TargetConnectionErrorCount"),
      { id: "rate", expression: "IF(req >= 10, 100 * (FILL(err, 0) + FILL(conn, 0)) / req)", label: `${slot} failed-request %`, returnData: true },
    ]);
    expect([a.inputs.comparisonOperator, a.inputs.threshold, a.inputs.evaluationPeriods, a.inputs.datapointsToAlarm, a.inputs.treatMissingData]).toEqual(["GreaterThanThreshold", 5, 5, 3, "missing"]);
  });

  test.each(["blue", "green"] as const)("%s latency: p99 in seconds, low sample counts ignored, missing data stays missing", (slot) => {
    const a = named(rs, `svc-${slot}-latency`);
    expect(a.inputs).toMatchObject({
      namespace: "AWS/ApplicationELB",
      metricName: "TargetResponseTime",
      dimensions: dims(slot),
      extendedStatistic: "p99",
      period: 60,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 1,
      evaluateLowSampleCountPercentiles: "ignore",
      treatMissingData: "missing",
    });
    expect(a.inputs.statistic).toBeUndefined();
  });

  test.each(["blue", "green"] as const)("%s unhealthy hosts: Maximum >= 1", (slot) => {
    const a = named(rs, `svc-${slot}-unhealthy-hosts`);
    expect(a.inputs).toMatchObject({ metricName: "UnHealthyHostCount", dimensions: dims(slot), statistic: "Maximum", comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "missing" });
  });

  test("canary vs stable: the absolute gap between the slots' rates, so it does not depend on which slot is the canary", () => {
    const a = named(rs, "svc-canary-vs-stable");
    const queries = a.inputs.metricQueries as { id: string; expression?: string; returnData: boolean; metric?: { dimensions: unknown } }[];
    expect(queries.map((q) => q.id)).toEqual(["b_req", "b_err", "b_conn", "g_req", "g_err", "g_conn", "b_rate", "g_rate", "gap"]);
    expect(queries.filter((q) => q.returnData).map((q) => q.expression)).toEqual(["IF(FILL(b_req, 0) >= 10 AND FILL(g_req, 0) >= 10, ABS(b_rate - g_rate))"]);
    expect(queries[0]!.metric!.dimensions).toEqual(dims("blue"));
    expect(queries[3]!.metric!.dimensions).toEqual(dims("green"));
    expect(queries[6]!.expression).toBe("IF(b_req >= 10, 100 * (FILL(b_err, 0) + FILL(b_conn, 0)) / b_req)");
    expect([a.inputs.threshold, a.inputs.treatMissingData]).toEqual([2, "missing"]);
  });

  test("burn rate: 14.4x over 1h and 5m, 6x over 6h and 30m of a 99.9 % SLO, both slots together, no data = no burn", () => {
    const expect1 = (name: string, period: number, threshold: number) => {
      const a = named(rs, name);
      expect(a.inputs.metricQueries.filter((q: { metric?: unknown }) => q.metric).every((q: { metric: { period: number } }) => q.metric.period === period)).toBe(true);
      expect([a.inputs.threshold, a.inputs.evaluationPeriods, a.inputs.treatMissingData]).toEqual([threshold, 1, "notBreaching"]);
    };
    expect1("svc-burn-fast-1h", 3600, 1.44);
    expect1("svc-burn-fast-5m", 300, 1.44);
    expect1("svc-burn-slow-6h", 21600, 0.6);
    expect1("svc-burn-slow-30m", 1800, 0.6);
    expect(named(rs, "svc-burn-fast").inputs.alarmRule).toBe('ALARM("checkout-prod-burn-fast-1h") AND ALARM("checkout-prod-burn-fast-5m")');
    expect(named(rs, "svc-burn-slow").inputs.alarmRule).toBe('ALARM("checkout-prod-burn-slow-6h") AND ALARM("checkout-prod-burn-slow-30m")');
  });

  test("composite health alarm over every alarm, with the actions; outputs name the gate and freeze alarms", async () => {
    const health = named(rs, "svc-health");
    expect(health.inputs.alarmRule).toBe(
      [
        "checkout-prod-blue-5xx-rate",
        "checkout-prod-blue-latency",
        "checkout-prod-blue-unhealthy-hosts",
        "checkout-prod-green-5xx-rate",
        "checkout-prod-green-latency",
        "checkout-prod-green-unhealthy-hosts",
        "checkout-prod-canary-vs-stable",
        "checkout-prod-burn-fast",
        "checkout-prod-burn-slow",
        "checkout-conversion-drop",
      ]
        .map((n) => `ALARM("${n}")`)
        .join(" OR "),
    );
    expect(health.inputs.alarmActions).toEqual(["arn:aws:sns:eu-west-1:123456789012:pager"]);
    expect(await valueOf(gates.gateAlarmNames)).toEqual([
      "checkout-prod-blue-5xx-rate",
      "checkout-prod-blue-latency",
      "checkout-prod-blue-unhealthy-hosts",
      "checkout-prod-green-5xx-rate",
      "checkout-prod-green-latency",
      "checkout-prod-green-unhealthy-hosts",
      "checkout-prod-canary-vs-stable",
      "checkout-conversion-drop",
    ]);
    expect((await valueOf(gates.gateAlarmArns)).at(-1)).toBe(`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:checkout-conversion-drop`);
    expect(await valueOf(gates.freezeAlarmNames)).toEqual(["checkout-prod-burn-fast", "checkout-prod-burn-slow"]);
  });

  test("without sloTarget there are no burn-rate alarms and no freeze alarms", async () => {
    let g!: import("../components/index.js").HealthGates;
    const r = await evaluate(() => (g = new C.HealthGates("noslo", { loadBalancerArn: LB, blueTargetGroupArnSuffix: "targetgroup/b/1", greenTargetGroupArnSuffix: "targetgroup/g/2" }, opts())));
    expect(ofType(r, "aws:cloudwatch/metricAlarm:MetricAlarm")).toHaveLength(7);
    expect(ofType(r, "aws:cloudwatch/compositeAlarm:CompositeAlarm")).toHaveLength(1);
    expect(await valueOf(g.freezeAlarmNames)).toEqual([]);
    // The default prefix is <name>-<stack>.
    expect(named(r, "noslo-blue-latency").inputs.name).toBe("noslo-dev-blue-latency");
  });
});

describe("StepController", () => {
  const baseArgs = {
    policyJson: JSON.stringify({ profile: "standard" }),
    loadBalancerArn: LB,
    blueTargetGroupArn: TG_BLUE,
    greenTargetGroupArn: TG_GREEN,
    gateAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a1`, `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a2`],
    freezeAlarmNames: ["burn-fast", "burn-slow"],
    codePath: "dist/lambda/controller.mjs",
  };
  let rs: RecordedResource[];
  beforeAll(async () => {
    rs = await evaluate(
      () =>
        new C.StepController(
          "ctl",
          {
            ...baseArgs,
            serviceName: "checkout",
            ruleArn: RULE,
            ecsClusterArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/main`,
            ecsBlueServiceArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-blue`,
            ecsGreenServiceArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-green`,
          },
          opts(),
        ),
    );
  });
  const state = (name: string, type?: string) => named(rs, name, type).state;
  const RULE_T = "aws:cloudwatch/eventRule:EventRule";

  test("exact resource types and counts", () => {
    const counts: Record<string, number> = {};
    for (const r of rs) counts[r.type] = (counts[r.type] ?? 0) + 1;
    expect(counts).toEqual({
      "rollgate:index:StepController": 1,
      "aws:dynamodb/table:Table": 1,
      "aws:sns/topic:Topic": 1,
      "aws:cloudwatch/logGroup:LogGroup": 1,
      "aws:iam/role:Role": 1,
      "aws:iam/rolePolicy:RolePolicy": 1,
      "aws:iam/policy:Policy": 1,
      "aws:lambda/functionUrl:FunctionUrl": 1,
      "aws:dynamodb/resourcePolicy:ResourcePolicy": 1,
      "aws:lambda/function:Function": 1,
      "aws:cloudwatch/eventRule:EventRule": 2,
      "aws:cloudwatch/eventTarget:EventTarget": 2,
      "aws:lambda/permission:Permission": 2,
      "aws:cloudwatch/metricAlarm:MetricAlarm": 4,
      "aws:sqs/queue:Queue": 1,
      "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 1,
    });
  });

  test("async invocations: maximum event age, retries and an on-failure queue the role may send to; alarms on the queue and on missing ticks", () => {
    expect(named(rs, "ctl-async").inputs).toEqual({
      functionName: state("ctl-function").name,
      maximumEventAgeInSeconds: 300,
      maximumRetryAttempts: 2,
      destinationConfig: { onFailure: { destination: state("ctl-failed").arn } },
    });
    expect(named(rs, "ctl-failed").inputs).toMatchObject({ messageRetentionSeconds: 1_209_600, sqsManagedSseEnabled: true });
    const heartbeat = named(rs, "ctl-heartbeat").inputs;
    expect(heartbeat).toMatchObject({
      namespace: "Rollgate",
      metricName: "TicksCompleted",
      dimensions: { service: "checkout" },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      comparisonOperator: "LessThanThreshold",
      threshold: 1,
      treatMissingData: "breaching",
    });
    // Routed like the other operational alarms.
    expect(heartbeat.alarmActions).toEqual(named(rs, "ctl-errors").inputs.alarmActions);
    expect(named(rs, "ctl-failed-invocations").inputs).toMatchObject({ namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: state("ctl-failed").name }, threshold: 0 });
    expect(named(rs, "ctl-failed-invocations").inputs.alarmActions).toEqual(named(rs, "ctl-errors").inputs.alarmActions);
  });

  test.each([
    [{ scheduleExpression: "rate(5 minutes)" }, 15],
    [{ scheduleExpression: "cron(0/2 * * * ? *)" }, 15],
    [{ scheduleExpression: "rate(1 minute)", heartbeatMinutes: 3 }, 3],
  ])("heartbeat window for %o is %i minutes", async (extra, minutes) => {
    const r = await evaluate(() => new C.StepController("hb", { ...baseArgs, listenerArn: LISTENER, ...extra }, opts()));
    expect(named(r, "hb-heartbeat").inputs).toMatchObject({ evaluationPeriods: minutes, datapointsToAlarm: minutes });
  });

  test.each([
    [{ heartbeatMinutes: 1 }, /heartbeatMinutes must be a whole number from 2 to 1440 minutes, got 1/],
    [{ scheduleExpression: "rate(5 minutes)", heartbeatMinutes: 8 }, /heartbeatMinutes \(8\) must be at least twice the schedule's interval \(5 minutes\)/],
    [{ maxEventAgeSeconds: 30 }, /maxEventAgeSeconds must be a whole number from 60 to 21600/],
    [{ maxRetryAttempts: 3 }, /maxRetryAttempts must be a whole number from 0 to 2/],
  ])("refuses %o naming the field", (extra, message) => {
    expect(() => C.validateStepControllerArgs({ ...baseArgs, listenerArn: LISTENER, ...extra })).toThrow(message);
  });

  test("every IAM statement: exact actions and resources, no wildcard actions", () => {
    const doc = JSON.parse(named(rs, "ctl-policy").inputs.policy);
    expect(doc).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Sid: "ShiftTraffic", Effect: "Allow", Action: ["elasticloadbalancing:ModifyRule"], Resource: RULE },
        {
          Sid: "ReadTraffic",
          Effect: "Allow",
          Action: ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetHealth"],
          Resource: "*",
        },
        { Sid: "ReadSignals", Effect: "Allow", Action: ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"], Resource: "*" },
        { Sid: "StateRead", Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:Query"], Resource: state("ctl-state").arn },
        { Sid: "StateWrite", Effect: "Allow", Action: ["dynamodb:PutItem"], Resource: state("ctl-state").arn },
        {
          Sid: "StateUpdate",
          Effect: "Allow",
          Action: ["dynamodb:UpdateItem"],
          Resource: state("ctl-state").arn,
          Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["service#*", "global"] } },
        },
        { Sid: "Notify", Effect: "Allow", Action: ["sns:Publish"], Resource: state("ctl-notifications").arn },
        { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${state("ctl-logs").arn}:*` },
        { Sid: "Events", Effect: "Allow", Action: ["events:PutEvents"], Resource: `arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/default` },
        { Sid: "AccountFreeze", Effect: "Allow", Action: ["ssm:GetParameter", "ssm:PutParameter"], Resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/rollgate/account-freeze` },
        { Sid: "FailedInvocations", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: state("ctl-failed").arn },
        {
          Sid: "SlotServices",
          Effect: "Allow",
          Action: ["ecs:DescribeServices", "ecs:UpdateService"],
          Resource: [`arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-blue`, `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-green`],
        },
      ],
    });
    for (const s of doc.Statement) for (const a of s.Action) expect(a).not.toMatch(/\*/);
    expect(named(rs, "ctl-policy").inputs.role).toBe("ctl-role-id");
    expect(JSON.parse(named(rs, "ctl-role").inputs.assumeRolePolicy).Statement).toEqual([{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }]);
  });

  test("listener mode with an event bus and no ECS: ModifyListener on the listener only, PutEvents on that bus, no ECS statement", async () => {
    const r = await evaluate(() => new C.StepController("lst", { ...baseArgs, listenerArn: LISTENER, eventBusArn: `arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/releases` }, opts()));
    const doc = JSON.parse(named(r, "lst-policy").inputs.policy) as { Statement: { Sid: string; Action: string[]; Resource: unknown }[] };
    expect(doc.Statement.map((s) => s.Sid)).toEqual(["ShiftTraffic", "ReadTraffic", "ReadSignals", "StateRead", "StateWrite", "StateUpdate", "Notify", "Logs", "Events", "AccountFreeze", "FailedInvocations"]);
    expect(doc.Statement[0]).toEqual({ Sid: "ShiftTraffic", Effect: "Allow", Action: ["elasticloadbalancing:ModifyListener"], Resource: LISTENER });
    expect(doc.Statement[8]!.Resource).toBe(`arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/releases`);
    const env = named(r, "lst-function").inputs.environment.variables;
    expect(env.ROLLGATE_LISTENER_ARN).toBe(LISTENER);
    expect(env.ROLLGATE_RULE_ARN).toBeUndefined();
    expect(env.ROLLGATE_EVENT_BUS).toBe(`arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/releases`);
    expect(env.ROLLGATE_ECS_CLUSTER_ARN).toBeUndefined();
  });

  test("the Lambda: esbuild bundle as index.mjs, nodejs22.x, index.handler, JSON logs to its own group, the environment contract", async () => {
    const fn = named(rs, "ctl-function");
    expect([fn.inputs.runtime, fn.inputs.handler, fn.inputs.role]).toEqual(["nodejs22.x", "index.handler", state("ctl-role").arn]);
    expect(fn.inputs.loggingConfig).toEqual({ logFormat: "JSON", logGroup: state("ctl-logs").name });
    // AssetArchive keeps its assets behind a promise.
    const assets = (await fn.inputs.code.assets) as Record<string, { path?: Promise<string>; text?: Promise<string> }>;
    expect(Object.keys(assets)).toEqual(["index.mjs", "rollgate-config.json"]);
    expect(await assets["index.mjs"]!.path).toBe("dist/lambda/controller.mjs");
    // The large settings travel in a file inside the archive, not in the 4 KB environment.
    expect(JSON.parse(await assets["rollgate-config.json"]!.text!)).toEqual({ ROLLGATE_POLICY: baseArgs.policyJson, ROLLGATE_FREEZE_ALARMS: "burn-fast,burn-slow" });
    expect(fn.dependsOn).toEqual(["ctl-policy"]);
    expect(fn.inputs.environment.variables).toEqual({
      ROLLGATE_SERVICE: "checkout",
      ROLLGATE_CONFIG_FILE: "rollgate-config.json",
      ROLLGATE_TABLE: state("ctl-state").name,
      ROLLGATE_RULE_ARN: RULE,
      ROLLGATE_BLUE_TARGET_GROUP_ARN: TG_BLUE,
      ROLLGATE_GREEN_TARGET_GROUP_ARN: TG_GREEN,
      ROLLGATE_LOAD_BALANCER_ARN: LB,
      ROLLGATE_TOPIC_ARN: state("ctl-notifications").arn,
      ROLLGATE_ACCOUNT_FREEZE_PARAMETER: "/rollgate/account-freeze",
      ROLLGATE_ECS_CLUSTER_ARN: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/main`,
      ROLLGATE_ECS_BLUE_SERVICE: `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-blue`,
      ROLLGATE_ECS_GREEN_SERVICE: `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-green`,
    });
    // The controller's own parser accepts exactly this environment.
    const { parseControllerEnv } = await import("../src/controller/config.js");
    const parsed = parseControllerEnv(await controllerEnvironment(fn));
    expect([parsed.ruleArn, parsed.ecs?.blueService, parsed.freezeAlarms]).toEqual([RULE, `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/checkout-blue`, ["burn-fast", "burn-slow"]]);
  });

  test("state table: pk/sk strings, TTL on expiresAt, on-demand, point-in-time recovery, encryption", () => {
    expect(named(rs, "ctl-state").inputs).toMatchObject({
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
    });
    expect(named(rs, "ctl-logs").inputs.retentionInDays).toBe(30);
  });

  test("triggers: a 1-minute schedule, and ALARM state changes of exactly the gate and freeze alarms, each allowed to invoke the function", () => {
    expect(named(rs, "ctl-tick", RULE_T).inputs.scheduleExpression).toBe("rate(1 minute)");
    expect(JSON.parse(named(rs, "ctl-alarms", RULE_T).inputs.eventPattern)).toEqual({
      source: ["aws.cloudwatch"],
      "detail-type": ["CloudWatch Alarm State Change"],
      // The gate alarms, then the freeze alarms (the controller freezes on their ALARM events).
      resources: [...baseArgs.gateAlarmArns, `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:burn-fast`, `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:burn-slow`],
      detail: { state: { value: ["ALARM"] } },
    });
    const fnArn = state("ctl-function").arn;
    const targets = ofType(rs, "aws:cloudwatch/eventTarget:EventTarget");
    expect(targets.map((t) => [t.name, t.inputs.arn, t.inputs.rule])).toEqual([
      ["ctl-tick", fnArn, state("ctl-tick", RULE_T).name],
      ["ctl-alarms", fnArn, state("ctl-alarms", RULE_T).name],
    ]);
    const perms = ofType(rs, "aws:lambda/permission:Permission");
    expect(perms.map((p) => [p.inputs.action, p.inputs.principal, p.inputs.sourceArn])).toEqual([
      ["lambda:InvokeFunction", "events.amazonaws.com", state("ctl-tick", RULE_T).arn],
      ["lambda:InvokeFunction", "events.amazonaws.com", state("ctl-alarms", RULE_T).arn],
    ]);
  });

  test("its own alarms: Errors > 0 and Throttles > 0 per minute, notifying its topic", () => {
    for (const [name, metric] of [
      ["ctl-errors", "Errors"],
      ["ctl-throttles", "Throttles"],
    ] as const) {
      expect(named(rs, name).inputs).toMatchObject({
        namespace: "AWS/Lambda",
        metricName: metric,
        dimensions: { FunctionName: state("ctl-function").name },
        statistic: "Sum",
        period: 60,
        comparisonOperator: "GreaterThanThreshold",
        threshold: 0,
        treatMissingData: "notBreaching",
        alarmActions: [state("ctl-notifications").arn],
      });
    }
  });
});

describe("EcsSlots", () => {
  const slotArgs = {
    clusterArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/main`,
    image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/checkout:2.0.0`,
    version: "2.0.0",
    blueTargetGroupArn: TG_BLUE,
    greenTargetGroupArn: TG_GREEN,
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupIds: ["sg-tasks"],
    containerPort: 8080,
    environment: { LOG_LEVEL: "info" },
  };

  test("one Fargate service per slot, task definition and desired count under ignoreChanges, the idle slot empty", async () => {
    const rs = await evaluate(() => new C.EcsSlots("app", slotArgs, opts()));
    expect(rs.map((r) => r.type).sort()).toEqual(
      [
        "rollgate:index:EcsSlots",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws:ecs/service:Service",
        "aws:ecs/service:Service",
      ].sort(),
    );
    const td = named(rs, "app-task");
    expect(td.inputs).toMatchObject({ family: "app-dev", requiresCompatibilities: ["FARGATE"], networkMode: "awsvpc", cpu: "256", memory: "512", skipDestroy: true });
    expect(JSON.parse(td.inputs.containerDefinitions)).toEqual([
      {
        name: "app",
        image: slotArgs.image,
        essential: true,
        portMappings: [{ containerPort: 8080, protocol: "tcp" }],
        environment: [
          { name: "LOG_LEVEL", value: "info" },
          { name: "ROLLGATE_VERSION", value: "2.0.0" },
        ],
        dockerLabels: { "rollgate.version": "2.0.0" },
        logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": named(rs, "app-tasks").state.name, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "2.0.0" } },
      },
    ]);
    for (const [slot, tg, count] of [
      ["blue", TG_BLUE, 2],
      ["green", TG_GREEN, 0],
    ] as const) {
      const svc = named(rs, `app-${slot}`, "aws:ecs/service:Service");
      expect(svc.inputs).toMatchObject({
        cluster: slotArgs.clusterArn,
        launchType: "FARGATE",
        taskDefinition: td.state.arn,
        desiredCount: count,
        deploymentController: { type: "ECS" },
        networkConfiguration: { subnets: ["subnet-a", "subnet-b"], securityGroups: ["sg-tasks"], assignPublicIp: false },
        loadBalancers: [{ targetGroupArn: tg, containerName: "app", containerPort: 8080 }],
        waitForSteadyState: false,
      });
      expect(svc.ignoreChanges).toEqual(["taskDefinition", "desiredCount"]);
    }
  });

  test("the execution role may write its log group and pull from the image's ECR repository only", async () => {
    const rs = await evaluate(() => new C.EcsSlots("ecr", slotArgs, opts()));
    const logArn = named(rs, "ecr-tasks").state.arn;
    expect(JSON.parse(named(rs, "ecr-execution", "aws:iam/rolePolicy:RolePolicy").inputs.policy)).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logArn}:*` },
        { Sid: "EcrAuth", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
        {
          Sid: "EcrPull",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
          Resource: `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/checkout`,
        },
      ],
    });
    expect(JSON.parse(named(rs, "ecr-execution", "aws:iam/role:Role").inputs.assumeRolePolicy).Statement[0].Principal).toEqual({ Service: "ecs-tasks.amazonaws.com" });
  });

  test("a public image needs no ECR statements; a given execution role means no role is created", async () => {
    const pub = await evaluate(() => new C.EcsSlots("pub", { ...slotArgs, image: "public.ecr.aws/nginx/nginx:1.27" }, opts()));
    expect(JSON.parse(named(pub, "pub-execution", "aws:iam/rolePolicy:RolePolicy").inputs.policy).Statement.map((s: { Sid: string }) => s.Sid)).toEqual(["Logs"]);
    const own = await evaluate(() => new C.EcsSlots("own", { ...slotArgs, executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/exec` }, opts()));
    expect(own.filter((r) => r.type.startsWith("aws:iam/"))).toEqual([]);
    expect(named(own, "own-task").inputs.executionRoleArn).toBe(`arn:aws:iam::${ACCOUNT}:role/exec`);
  });
});
