/**
 * What the controller refuses: malformed commands and events (against moto, checking that
 * nothing changed), and a bad Lambda environment (naming the variable). Plus controller-owned
 * ECS slot contents, against moto where it suffices.
 */
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { ConfigError, controllerEnv, parseControllerEnv } from "../src/controller/config.js";
import { InvalidPayloadError, parseTrigger } from "../src/controller/events.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { controllerFor, createWorld, MIN, type World } from "./support/moto-world.js";
import { ALARM_CONTRIBUTOR, ANOMALY_DETECTION, COMPOSITE, METRIC_MATH, MULTI_TIME_SERIES, SINGLE_METRIC } from "./fixtures/cloudwatch-alarm-events.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const WRITES = ["ModifyListenerCommand", "ModifyRuleCommand", "TransactWriteItemsCommand", "UpdateItemCommand", "PutItemCommand", "PutEventsCommand", "PublishCommand", "UpdateServiceCommand"];

describe("bad payloads are rejected naming the field, and change nothing in moto", () => {
  const cases: Array<[string, unknown, string]> = [
    ["unknown command", { command: "launch" }, "command"],
    ["missing command and source", { release: { version: "v2" } }, "command"],
    ["start without release", { command: "start" }, "release"],
    ["start with a bad version label", { command: "start", release: { version: "v 2!" } }, "release.version"],
    ["start with a non-string version", { command: "start", release: { version: 2 } }, "release.version"],
    ["start with a malformed task definition ARN", { command: "start", release: { version: "v2", taskDefinitionArn: "task:7" } }, "release.taskDefinitionArn"],
    ["unknown field on a command", { command: "abort", reason: "x" }, "reason"],
    ["unknown field in release", { command: "start", release: { version: "v2", image: "x" } }, "release.image"],
    ["non-string actor", { command: "pause", actor: 42 }, "actor"],
    ["note too long", { command: "pause", note: "x".repeat(2000) }, "note"],
    ["alarm event without alarmName", { source: "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", detail: { state: { value: "ALARM" } } }, "detail.alarmName"],
    ["alarm event with an unknown state", { source: "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", detail: { alarmName: "a", state: { value: "RED" } } }, "detail.state.value"],
    ["scheduled event with a wrong detail-type", { source: "aws.events", "detail-type": "Object Created" }, "detail-type"],
    ["event from an unknown source", { source: "aws.s3", "detail-type": "Object Created" }, "source"],
    ["an array", [{ command: "status" }], "(payload)"],
    ["command for another service", { command: "promote", service: "other" }, "service"],
    ["taskDefinitionArn without ECS configured", { command: "start", release: { version: "v2", taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3" } }, "release.taskDefinitionArn"],
  ];

  let w: World;
  beforeAll(async () => {
    w = await createWorld(moto, { name: "payloads" });
    await controllerFor(w).command({ command: "start", release: { version: "v2" } });
  });

  test.each(cases)("%s", async (_name, payload, field) => {
    const c = controllerFor(w);
    const before = await c.status();
    const from = w.calls.length;
    const err = await c.handle(payload).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidPayloadError);
    const paths = (err as InvalidPayloadError).issues.map((i) => i.path || "(payload)");
    expect(paths).toContain(field);
    expect((err as Error).message).toContain(field === "(payload)" ? "(payload)" : field);
    expect(w.calls.slice(from).filter((c) => WRITES.includes(c))).toEqual([]);
    const after = await c.status();
    expect(after.version).toBe(before.version);
    expect(after.actualSlotWeights).toEqual(before.actualSlotWeights);
  });

  test("parseTrigger accepts the three real shapes", () => {
    expect(parseTrigger({ source: "aws.events", "detail-type": "Scheduled Event", id: "x", detail: {} })).toEqual({ kind: "tick" });
    expect(parseTrigger({ source: "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", detail: { alarmName: "a", state: { value: "ALARM", reason: "r" } } })).toEqual({
      kind: "alarm",
      alarmName: "a",
      state: "ALARM",
      event: {},
    });
    expect(parseTrigger({ command: "status" })).toMatchObject({ kind: "command", command: { command: "status" } });
  });
});

describe("AWS's documented alarm state change events (test/fixtures/cloudwatch-alarm-events.ts, verbatim)", () => {
  test.each([
    ["single metric", SINGLE_METRIC],
    ["metric math", METRIC_MATH],
    ["anomaly detection", ANOMALY_DETECTION],
    ["composite (actions suppressed, WaitPeriod)", COMPOSITE],
    ["multi time series", MULTI_TIME_SERIES],
  ] as const)("%s: parsed with its id, alarm ARN, state timestamp, suppression and mute details", (_name, sample) => {
    const t = parseTrigger(sample);
    const detail = sample.detail as { alarmName: string; state: Record<string, string>; muteDetail?: Record<string, string> };
    expect(t).toMatchObject({ kind: "alarm", alarmName: detail.alarmName, state: "ALARM" });
    if (t.kind !== "alarm") throw new Error("not an alarm trigger");
    expect(t.event).toMatchObject({ id: sample.id, time: sample.time, account: "123456789012", region: "us-east-1", alarmArn: sample.resources[0], stateTimestamp: detail.state.timestamp });
    // CloudWatch's +0000 timestamps parse to the instant they name.
    expect(new Date(t.event!.stateAt!).toISOString()).toBe(detail.state.timestamp!.replace("+0000", "Z"));
    if (detail.muteDetail) expect(t.event!.muteDetail).toEqual(detail.muteDetail);
    else expect(t.event!.muteDetail).toBeUndefined();
    expect(t.event!.mute).toBeUndefined();
    if (sample === COMPOSITE) expect(t.event).toMatchObject({ actionsSuppressedBy: "WaitPeriod", actionsSuppressedReason: "Actions suppressed by WaitPeriod" });
    else expect(t.event!.actionsSuppressedBy).toBeUndefined();
  });

  test("a multi-time-series alarm's contributor event is refused, saying which event to route instead", () => {
    const err = (() => {
      try {
        parseTrigger(ALARM_CONTRIBUTOR);
      } catch (e) {
        return e as InvalidPayloadError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidPayloadError);
    expect(err!.message).toMatch(/detail-type: .*contributor event is not a controller trigger.*"CloudWatch Alarm State Change"/);
  });

  test("muteDetail with a field of the wrong type is refused naming it", () => {
    const bad = { ...SINGLE_METRIC, detail: { ...SINGLE_METRIC.detail, muteDetail: { mutedByArn: 42 } } };
    expect(() => parseTrigger(bad)).toThrow(/detail\.muteDetail\.mutedByArn/);
  });
});

describe("Lambda environment", () => {
  const arns = {
    listener: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/0123456789abcdef/0123456789abcdef",
    rule: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/0123456789abcdef/0123456789abcdef/0123456789abcdef",
    blue: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/0123456789abcdef",
    green: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/0123456789abcdef",
    lb: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb/0123456789abcdef",
  };
  const env = {
    ROLLGATE_SERVICE: "checkout",
    ROLLGATE_POLICY: JSON.stringify({ profile: "standard" }),
    ROLLGATE_TABLE: "rollgate-state",
    ROLLGATE_LISTENER_ARN: arns.listener,
    ROLLGATE_BLUE_TARGET_GROUP_ARN: arns.blue,
    ROLLGATE_GREEN_TARGET_GROUP_ARN: arns.green,
    ROLLGATE_LOAD_BALANCER_ARN: arns.lb,
  };

  test("a complete environment parses, with defaults, and round-trips through controllerEnv", () => {
    const config = parseControllerEnv(env);
    expect(config).toMatchObject({ service: "checkout", eventBus: "default", historyTtlDays: 90, freezeAlarms: [], listenerArn: arns.listener });
    expect(config.policy.steps.map((s) => s.percent)).toEqual([1, 5, 25, 50]);
    expect(parseControllerEnv(controllerEnv(config))).toEqual(config);
  });

  test.each([
    ["ROLLGATE_SERVICE", { ROLLGATE_SERVICE: undefined }, /ROLLGATE_SERVICE: is required/],
    ["ROLLGATE_POLICY", { ROLLGATE_POLICY: "{not json" }, /ROLLGATE_POLICY: is not valid JSON/],
    ["ROLLGATE_POLICY", { ROLLGATE_POLICY: JSON.stringify({ strategy: { type: "canary", steps: [{ percent: 150, hold: "1m" }] } }) }, /ROLLGATE_POLICY: invalid rollout policy[\s\S]*strategy\.steps\[0\]\.percent/],
    ["ROLLGATE_LISTENER_ARN", { ROLLGATE_RULE_ARN: arns.rule }, /ROLLGATE_LISTENER_ARN: exactly one of/],
    ["ROLLGATE_LISTENER_ARN", { ROLLGATE_LISTENER_ARN: undefined }, /ROLLGATE_LISTENER_ARN: exactly one of/],
    ["ROLLGATE_BLUE_TARGET_GROUP_ARN", { ROLLGATE_BLUE_TARGET_GROUP_ARN: "tg-blue" }, /ROLLGATE_BLUE_TARGET_GROUP_ARN: must be a target group ARN/],
    ["ROLLGATE_GREEN_TARGET_GROUP_ARN", { ROLLGATE_GREEN_TARGET_GROUP_ARN: arns.blue }, /ROLLGATE_GREEN_TARGET_GROUP_ARN: must differ/],
    ["ROLLGATE_LOAD_BALANCER_ARN", { ROLLGATE_LOAD_BALANCER_ARN: undefined }, /ROLLGATE_LOAD_BALANCER_ARN: is required/],
    ["ROLLGATE_HISTORY_TTL_DAYS", { ROLLGATE_HISTORY_TTL_DAYS: "ninety" }, /ROLLGATE_HISTORY_TTL_DAYS: must be a whole number/],
    ["ROLLGATE_ECS_GREEN_SERVICE", { ROLLGATE_ECS_CLUSTER_ARN: "arn:aws:ecs:us-east-1:123456789012:cluster/c", ROLLGATE_ECS_BLUE_SERVICE: "b" }, /ROLLGATE_ECS_GREEN_SERVICE: the ECS variables go together/],
  ])("a bad %s is named", (_v, patch, message) => {
    const bad = { ...env, ...patch } as Record<string, string | undefined>;
    expect(() => parseControllerEnv(bad)).toThrow(ConfigError);
    expect(() => parseControllerEnv(bad)).toThrow(message);
  });
});

describe("controller-owned slot contents (ECS) against moto: UpdateService and DescribeTargetHealth", () => {
  const taskDef = (w: World) => `arn:aws:ecs:us-east-1:123456789012:task-definition/${w.name}-app:1`;

  test("start with a task definition deploys the idle slot like the stable one, waits for healthy targets, then begins step 1; a repeated start is a no-op", async () => {
    const w = await createWorld(moto, { name: "ecs", ecs: true });
    const c = controllerFor(w);
    const started = await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: taskDef(w) }, actor: "pipeline" });
    expect(started).toMatchObject({ ok: true, action: "release-requested", phase: "idle", pending: { version: "v2", slot: "green", deployed: true, status: "deploying" } });
    const svc = await w.clients.ecs.send(new DescribeServicesCommand({ cluster: w.config.ecs!.clusterArn, services: [`${w.name}-green`] }));
    expect(svc.services![0]).toMatchObject({ desiredCount: 3, taskDefinition: taskDef(w) });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });

    // Same version again: nothing happens (no second UpdateService).
    const from = w.calls.length;
    expect(await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: taskDef(w) } })).toMatchObject({ ok: true, noop: true });
    expect(w.calls.slice(from)).not.toContain("UpdateServiceCommand");

    // No targets yet: the tick waits.
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ action: "pending", transition: false });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });

    // moto does not run tasks into target groups; registering targets stands in for ECS doing it.
    await w.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: w.greenTg, Targets: [{ Id: "10.0.1.10", Port: 80 }, { Id: "10.0.1.11", Port: 80 }] }));
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ action: "advance", phase: "progressing", slotWeights: { blue: 899, green: 100 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    const status = await c.status();
    expect(status.pending).toBeUndefined();
    expect(status.state.release).toEqual({ stable: "", canary: "v2" });
  });

  test("a release whose targets never turn healthy fails after the ready timeout, and traffic never moves", async () => {
    const w = await createWorld(moto, { name: "ecs-timeout", ecs: true });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: taskDef(w) } });
    w.clock.advance(5 * MIN);
    expect(await c.tick()).toMatchObject({ action: "pending", transition: false });
    w.clock.advance(6 * MIN);
    const failed = await c.tick();
    expect(failed).toMatchObject({ action: "pending", transition: true });
    expect(failed.reason).toMatch(/0\/0 targets healthy/);
    expect((await c.status()).pending).toMatchObject({ status: "failed" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    // A later tick changes nothing more.
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ transition: false });
  });
});
