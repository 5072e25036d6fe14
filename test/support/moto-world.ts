/**
 * A service's AWS world in moto: an ALB with two slot target groups, a weighted listener (and a
 * listener rule), gate alarms, the state table and an SNS topic; plus a fake clock, per-command
 * call counters and fault injection on the real SDK clients.
 */
import { PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import type { AwsClients } from "../../src/aws/clients.js";
import { loadBalancerDimension, targetGroupDimension } from "../../src/aws/arn.js";
import type { ControllerConfig } from "../../src/controller/config.js";
import { createControllerFromClients, type ControllerOverrides } from "../../src/controller/wiring.js";
import { provisionService, type MotoServer } from "../../src/local/moto-server.js";
import type { PolicyInput } from "../../src/policy/index.js";

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
  /** Ring name -> listener rule ARN (when the world was created with ringRules). */
  ringRuleArns: Record<string, string>;
  blueTg: string;
  greenTg: string;
  topicArn: string;
  clock: { now: number; advance(ms: number): void; fn: () => number };
  calls: string[];
  /** Fails the nth (1-based) call of `command` from now on with `error`. */
  failNth(command: string, nth: number, error: () => Error): void;
  clearFaults(): void;
}

export interface WorldOptions {
  name: string;
  policy?: PolicyInput;
  mode?: "listener" | "rule";
  ecs?: boolean;
  stickiness?: boolean;
  /** Create the policy's ring rules (see provisionService). */
  ringRules?: "plain" | "weighted";
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
  const alarmName = `${name}-canary-5xx`;
  const freezeAlarm = `${name}-error-budget`;
  const policy = JSON.parse(JSON.stringify(options.policy ?? TEST_POLICY).replaceAll("__ALARM__", alarmName)) as PolicyInput;
  const svc = await provisionService(moto, {
    name,
    // ELB names are limited to 32 characters; a counter keeps them short and unique in one moto.
    shortName: `w${++worlds}-${process.pid}`,
    policy,
    ...(options.mode ? { mode: options.mode } : {}),
    ...(options.ecs ? { ecs: true } : {}),
    ...(options.stickiness ? { stickiness: true } : {}),
    ...(options.ringRules ? { ringRules: options.ringRules } : {}),
    gateAlarms: [alarmName],
    freezeAlarms: [freezeAlarm],
    maxAttempts: 1,
  });
  if (svc.config.ecs) svc.config.ecs.readyTimeoutMs = 10 * MIN;
  const clock = {
    now: T0,
    advance(ms: number) {
      clock.now += ms;
    },
    fn: () => clock.now,
  };
  const inst = instrument(svc.clients);
  return {
    name,
    clients: svc.clients,
    config: svc.config,
    alarmName,
    freezeAlarm,
    lbArn: svc.loadBalancerArn,
    listenerArn: svc.listenerArn,
    ruleArn: svc.ruleArn,
    ringRuleArns: svc.ringRuleArns,
    blueTg: svc.blueTargetGroupArn,
    greenTg: svc.greenTargetGroupArn,
    topicArn: svc.topicArn,
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

/**
 * A single-metric alarm's "CloudWatch Alarm State Change" as EventBridge delivers it (shape from
 * the CloudWatch user guide), its state dated `at` (the world's clock when omitted: a fresh event).
 */
export function alarmEvent(alarmName: string, value: "OK" | "ALARM" | "INSUFFICIENT_DATA" = "ALARM", at: number | World) {
  const when = typeof at === "number" ? at : at.clock.now;
  return {
    version: "0",
    id: `alarm-${alarmName}-${when}`,
    "detail-type": "CloudWatch Alarm State Change",
    source: "aws.cloudwatch",
    account: "123456789012",
    time: new Date(when).toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: "us-east-1",
    resources: [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value, reason: "test", timestamp: awsTimestamp(when) },
      previousState: { value: value === "ALARM" ? "OK" : "ALARM", reason: "test", timestamp: awsTimestamp(when - 60_000) },
    },
  };
}

/** CloudWatch's state timestamp format: `2019-10-02T17:04:40.989+0000`. */
export function awsTimestamp(at: number): string {
  return new Date(at).toISOString().replace("Z", "+0000");
}
