/**
 * A service's AWS world in moto: an ALB with two slot target groups, a weighted listener (and a
 * listener rule), gate alarms, the state table and an SNS topic; plus a fake clock, per-command
 * call counters and fault injection on the real SDK clients.
 */
import { PutMetricAlarmCommand, PutMetricDataCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateClusterCommand, CreateServiceCommand, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { createClients, type AwsClients } from "../../src/aws/clients.js";
import { loadBalancerDimension, targetGroupDimension } from "../../src/aws/arn.js";
import type { ControllerConfig } from "../../src/controller/config.js";
import { createControllerFromClients, type ControllerOverrides } from "../../src/controller/wiring.js";
import type { MotoServer } from "../../src/local/moto-server.js";
import { parsePolicy, type PolicyInput } from "../../src/policy/index.js";

/** A whole minute (moto keeps any timestamp; real CloudWatch would refuse one this old). */
export const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
export const MIN = 60_000;

export const TEST_POLICY: PolicyInput = {
  strategy: {
    type: "canary",
    steps: [
      { percent: 10, hold: "1m" },
      { percent: 50, hold: "1m" },
    ],
  },
  gates: [
    { type: "alarm", name: "alarms", alarms: ["__ALARM__"] },
    { type: "errorRate", minSamples: 100, holdBand: 0.5, rollbackBand: 2 },
  ],
};

export interface World {
  name: string;
  clients: AwsClients;
  config: ControllerConfig;
  alarmName: string;
  freezeAlarm: string;
  lbArn: string;
  listenerArn: string;
  ruleArn: string;
  blueTg: string;
  greenTg: string;
  topicArn: string;
  clock: { now: number; advance(ms: number): void; fn: () => number };
  calls: string[];
  /** Fails the nth (1-based) call of `command` from now on with `error`. */
  failNth(command: string, nth: number, error: () => Error): void;
  clearFaults(): void;
}

let subnetCache: { subnets: string[]; vpc: string } | undefined;
async function defaultSubnets(moto: MotoServer): Promise<{ subnets: string[]; vpc: string }> {
  if (subnetCache) return subnetCache;
  // No EC2 client in the dependencies: moto's default VPC is read through the Query API directly.
  const res = await fetch(moto.endpoint, {
    method: "POST",
    body: new URLSearchParams({ Action: "DescribeSubnets", Version: "2016-11-15" }),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
    },
  });
  const xml = await res.text();
  const subnets = [...xml.matchAll(/<subnetId>([^<]+)<\/subnetId>/g)].map((m) => m[1]!);
  const vpc = xml.match(/<vpcId>([^<]+)<\/vpcId>/)?.[1];
  if (subnets.length < 2 || !vpc) throw new Error(`moto returned no default subnets: ${xml.slice(0, 300)}`);
  subnetCache = { subnets, vpc };
  return subnetCache;
}

export interface WorldOptions {
  name: string;
  policy?: PolicyInput;
  mode?: "listener" | "rule";
  ecs?: boolean;
  stickiness?: boolean;
}

/** Instruments every client: records command names, and throws injected faults before the SDK retries. */
function instrument(clients: AwsClients) {
  const calls: string[] = [];
  const faults: Array<{ command: string; nth: number; seen: number; error: () => Error }> = [];
  const stacks = [clients.elbv2, clients.cloudwatch, clients.dynamodb, clients.eventbridge, clients.sns, clients.ecs];
  for (const client of stacks) {
    (client.middlewareStack as { add: (mw: unknown, opts: unknown) => void }).add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const name = context.commandName ?? "unknown";
        calls.push(name);
        for (const f of faults) {
          if (f.command === name) {
            f.seen += 1;
            if (f.seen === f.nth) throw f.error();
          }
        }
        return next(args);
      },
      { step: "initialize", name: `rollgateTestCounter${Math.random()}` },
    );
  }
  return {
    calls,
    failNth(command: string, nth: number, error: () => Error) {
      faults.push({ command, nth, seen: 0, error });
    },
    clearFaults() {
      faults.length = 0;
    },
  };
}

let worlds = 0;

export async function createWorld(moto: MotoServer, options: WorldOptions): Promise<World> {
  const name = options.name;
  // ELB names are limited to 32 characters; a counter keeps them short and unique in one moto.
  const short = `w${++worlds}-${process.pid}`;
  const clients = createClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials, maxAttempts: 1 });
  const { subnets, vpc } = await defaultSubnets(moto);
  const lb = await clients.elbv2.send(new CreateLoadBalancerCommand({ Name: `lb-${short}`, Subnets: subnets.slice(0, 2) }));
  const lbArn = lb.LoadBalancers![0]!.LoadBalancerArn!;
  const tg = async (slot: string) =>
    (await clients.elbv2.send(new CreateTargetGroupCommand({ Name: `${short}-${slot}`, Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" }))).TargetGroups![0]!.TargetGroupArn!;
  const blueTg = await tg("blue");
  const greenTg = await tg("green");
  const stickiness = options.stickiness ? { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 300 } } : {};
  const listener = await clients.elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: lbArn,
      Protocol: "HTTP",
      Port: 80,
      DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: blueTg, Weight: 999 }, { TargetGroupArn: greenTg, Weight: 0 }], ...stickiness } }],
    }),
  );
  const listenerArn = listener.Listeners![0]!.ListenerArn!;
  const rule = await clients.elbv2.send(
    new CreateRuleCommand({
      ListenerArn: listenerArn,
      Priority: 10,
      Conditions: [{ Field: "path-pattern", PathPatternConfig: { Values: ["/api/*"] } }],
      Actions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: blueTg, Weight: 999 }, { TargetGroupArn: greenTg, Weight: 0 }], ...stickiness } }],
    }),
  );
  const ruleArn = rule.Rules![0]!.RuleArn!;

  const alarmName = `${name}-canary-5xx`;
  const freezeAlarm = `${name}-error-budget`;
  for (const alarm of [alarmName, freezeAlarm]) {
    await clients.cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: alarm,
        Namespace: "AWS/ApplicationELB",
        MetricName: "HTTPCode_Target_5XX_Count",
        Statistic: "Sum",
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 10,
        ComparisonOperator: "GreaterThanThreshold",
      }),
    );
    await clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarm, StateValue: "OK", StateReason: "test setup" }));
  }
  const table = `rollgate-${name}`;
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
    }),
  );
  const topicArn = (await clients.sns.send(new CreateTopicCommand({ Name: `${name}-events` }))).TopicArn!;

  let ecs: ControllerConfig["ecs"];
  if (options.ecs) {
    const cluster = (await clients.ecs.send(new CreateClusterCommand({ clusterName: `${name}-cluster` }))).cluster!.clusterArn!;
    await clients.ecs.send(new RegisterTaskDefinitionCommand({ family: `${name}-app`, containerDefinitions: [{ name: "app", image: "app:v1", memory: 128 }] }));
    await clients.ecs.send(new CreateServiceCommand({ cluster, serviceName: `${name}-blue`, taskDefinition: `${name}-app`, desiredCount: 3 }));
    await clients.ecs.send(new CreateServiceCommand({ cluster, serviceName: `${name}-green`, taskDefinition: `${name}-app`, desiredCount: 0 }));
    ecs = { clusterArn: cluster, blueService: `${name}-blue`, greenService: `${name}-green`, readyTimeoutMs: 10 * MIN };
  }

  const policyInput = JSON.parse(JSON.stringify(options.policy ?? TEST_POLICY).replaceAll("__ALARM__", alarmName)) as PolicyInput;
  const config: ControllerConfig = {
    service: name,
    policy: parsePolicy(policyInput),
    table,
    ...(options.mode === "rule" ? { ruleArn } : { listenerArn }),
    blueTargetGroupArn: blueTg,
    greenTargetGroupArn: greenTg,
    loadBalancerArn: lbArn,
    topicArn,
    eventBus: "default",
    historyTtlDays: 90,
    freezeAlarms: [freezeAlarm],
    ...(ecs ? { ecs } : {}),
  };
  const clock = {
    now: T0,
    advance(ms: number) {
      clock.now += ms;
    },
    fn: () => clock.now,
  };
  const inst = instrument(clients);
  return {
    name,
    clients,
    config,
    alarmName,
    freezeAlarm,
    lbArn,
    listenerArn,
    ruleArn,
    blueTg,
    greenTg,
    topicArn,
    clock,
    calls: inst.calls,
    failNth: inst.failNth,
    clearFaults: inst.clearFaults,
  };
}

/** The controller over the world's real (instrumented) moto clients and its fake clock. */
export function controllerFor(world: World, overrides: ControllerOverrides = {}) {
  let n = 0;
  return createControllerFromClients(world.config, world.clients, {
    clock: world.clock.fn,
    newRolloutId: (version) => `${version}-rollout-${++n}`,
    ...overrides,
  });
}

/** One minute of ALB metrics per slot target group, as CloudWatch would publish them. */
export async function putTraffic(world: World, minuteStart: number, perSlot: Partial<Record<"blue" | "green", { requests: number; errors: number }>>): Promise<void> {
  const data = Object.entries(perSlot).flatMap(([slot, v]) => {
    const dims = [
      { Name: "TargetGroup", Value: targetGroupDimension(slot === "blue" ? world.blueTg : world.greenTg) },
      { Name: "LoadBalancer", Value: loadBalancerDimension(world.lbArn) },
    ];
    const at = new Date(minuteStart + 30_000);
    return [
      { MetricName: "RequestCount", Dimensions: dims, Timestamp: at, Value: v.requests, Unit: "Count" as const },
      ...(v.errors > 0 ? [{ MetricName: "HTTPCode_Target_5XX_Count", Dimensions: dims, Timestamp: at, Value: v.errors, Unit: "Count" as const }] : []),
    ];
  });
  await world.clients.cloudwatch.send(new PutMetricDataCommand({ Namespace: "AWS/ApplicationELB", MetricData: data }));
}

export const tickEvent = { version: "0", id: "tick-1", "detail-type": "Scheduled Event", source: "aws.events", account: "123456789012", time: "2026-01-01T00:00:00Z", region: "us-east-1", resources: [], detail: {} };

export function alarmEvent(alarmName: string, value: "OK" | "ALARM" | "INSUFFICIENT_DATA" = "ALARM") {
  return {
    version: "0",
    id: `alarm-${alarmName}`,
    "detail-type": "CloudWatch Alarm State Change",
    source: "aws.cloudwatch",
    account: "123456789012",
    time: "2026-01-01T00:00:00Z",
    region: "us-east-1",
    resources: [],
    detail: { alarmName, state: { value, reason: "test", timestamp: "2026-01-01T00:00:00Z" }, previousState: { value: "OK" } },
  };
}
