/**
 * AWS adapters. Traffic and state against moto (real SDK clients over HTTP); the paths moto does
 * not implement (percentile and trimmed-count statistics, composite alarms, pagination tokens)
 * with aws-sdk-client-mock, as each test name says.
 */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, type GetMetricDataCommandInput } from "@aws-sdk/client-cloudwatch";
import {
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyRuleCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ECSClient } from "@aws-sdk/client-ecs";
import { createSlotDeployer } from "../src/aws/ecs.js";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { ControllerInvokeError, createControllerInvoker } from "../src/aws/invoke.js";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createAlarmReader } from "../src/aws/alarms.js";
import { TrafficShapeError, ValidationError } from "../src/aws/errors.js";
import { createMetricsReader, MAX_QUERIES_PER_CALL } from "../src/aws/metrics.js";
import { createStateStore, type ServiceRecord } from "../src/aws/state.js";
import { createTrafficRouter, forwardDifferences, validateForwardAction } from "../src/aws/traffic.js";
import { ConflictError } from "../src/aws/errors.js";
import { idleState } from "../src/engine/decide.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { parsePolicy, type ComparisonGate } from "../src/policy/index.js";
import { createWorld, MIN, putTraffic, T0, type World } from "./support/moto-world.js";

let moto: MotoServer;
let w: World;
beforeAll(async () => {
  moto = await startMoto();
  w = await createWorld(moto, { name: "adapters", stickiness: true });
});
afterAll(async () => {
  await moto?.stop();
});
// mockClient replaces the send method of every CloudWatchClient, the moto-backed one included.
const mocks: Array<{ restore(): void }> = [];
afterEach(() => {
  for (const m of mocks.splice(0)) m.restore();
});
const mockCloudWatch = () => {
  const m = mockClient(CloudWatchClient);
  mocks.push(m);
  return m;
};

const LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/0123456789abcdef";
const TG_A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/0123456789abcdef";
const TG_B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/fedcba9876543210";

describe("traffic router against moto", () => {
  test("listener mode reads and writes weights, keeping stickiness", async () => {
    const r = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    await r.setWeights({ blue: 700, green: 299 });
    const snap = await r.read();
    expect(snap.weights).toEqual({ blue: 700, green: 299 });
    expect(snap.actions[0]!.ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 300 });
  });

  test("rule mode replaces a third target group with exactly the two slots, and reports it before", async () => {
    const vpc = (await w.clients.elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [w.blueTg] }))).TargetGroups![0]!.VpcId!;
    const third = (await w.clients.elbv2.send(new CreateTargetGroupCommand({ Name: `extra-${process.pid}`, Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" }))).TargetGroups![0]!.TargetGroupArn!;
    await w.clients.elbv2.send(
      new ModifyRuleCommand({
        RuleArn: w.ruleArn,
        Actions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: 900 }, { TargetGroupArn: w.greenTg, Weight: 0 }, { TargetGroupArn: third, Weight: 99 }] } }],
      }),
    );
    const r = createTrafficRouter(w.clients.elbv2, { ruleArn: w.ruleArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    const before = await r.read();
    expect(before).toMatchObject({ weights: { blue: 900, green: 0 }, elsewhere: 99 });
    expect(forwardDifferences(before, { blue: 900, green: 0 }, w.blueTg, w.greenTg)).toEqual([expect.stringMatching(/^forwards to 1 target group\(s\) besides the two slots \(extra-\d+=99\)$/)]);
    await r.setWeights({ blue: 800, green: 100 });
    const rule = await w.clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [w.ruleArn] }));
    expect(rule.Rules![0]!.Actions![0]!.ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 800 },
      { TargetGroupArn: w.greenTg, Weight: 100 },
    ]);
    expect(forwardDifferences(await r.read(), { blue: 800, green: 100 }, w.blueTg, w.greenTg)).toEqual([]);
  });

  test("a single-target-group forward and an unweighted entry are read, reported and written back as the weighted two-slot action", async () => {
    const r = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg, stickiness: { enabled: true, durationSeconds: 300 } });
    await w.clients.elbv2.send(new ModifyListenerCommand({ ListenerArn: w.listenerArn, DefaultActions: [{ Type: "forward", TargetGroupArn: w.blueTg }] }));
    const single = await r.read();
    expect(single).toMatchObject({ weights: { blue: 1, green: 0 }, elsewhere: 0, targets: [{ targetGroupArn: w.blueTg, weight: undefined }] });
    expect(forwardDifferences(single, { blue: 999, green: 0 }, w.blueTg, w.greenTg)).toEqual([
      expect.stringMatching(/^is a plain forward to one target group/),
      "does not list the green slot's target group",
      "weights blue 1 / green 0, not 999 / 0",
    ]);
    await r.setWeights({ blue: 999, green: 0 }, single);
    const fwd = (await w.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [w.listenerArn] }))).Listeners![0]!.DefaultActions![0]!;
    expect(fwd.ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 999 },
      { TargetGroupArn: w.greenTg, Weight: 0 },
    ]);
    expect(fwd.ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 300 });

    await w.clients.elbv2.send(
      new ModifyListenerCommand({ ListenerArn: w.listenerArn, DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg }, { TargetGroupArn: w.greenTg, Weight: 0 }] } }] }),
    );
    // moto stores an unweighted entry with weight 1 (so the read cannot tell); either way it is not
    // the recorded 999 and is repaired. The unweighted shape itself is checked on a snapshot below.
    const unweighted = await r.read();
    expect(unweighted.weights).toEqual({ blue: 1, green: 0 });
    expect(forwardDifferences(unweighted, { blue: 999, green: 0 }, w.blueTg, w.greenTg, r.stickiness)).toContain("weights blue 1 / green 0, not 999 / 0");
    await r.setWeights({ blue: 999, green: 0 }, unweighted);
    expect(forwardDifferences(await r.read(), { blue: 999, green: 0 }, w.blueTg, w.greenTg, r.stickiness)).toEqual([]);
    const asSent = { weights: { blue: 1, green: 0 }, actions: [], elsewhere: 0, targets: [{ targetGroupArn: w.blueTg, weight: undefined }, { targetGroupArn: w.greenTg, weight: 0 }] };
    expect(forwardDifferences(asSent, { blue: 999, green: 0 }, w.blueTg, w.greenTg)).toContain(`lists target group(s) without a weight (${w.blueTg.split("/")[1]})`);
  });

  test.each([
    [{ blue: 1000, green: 0 }, "weights.blue"],
    [{ blue: -1, green: 5 }, "weights.blue"],
    [{ blue: 10, green: 2.5 }, "weights.green"],
    [{ blue: 0, green: 0 }, "weights"],
  ])("refuses %o before any call (moto would accept it)", async (weights, field) => {
    const r = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    const from = w.calls.length;
    const err = await r.setWeights(weights).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect(w.calls.length).toBe(from);
  });

  test("refuses malformed or identical target-group ARNs, and both or neither of listener/rule", () => {
    expect(() => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: "blue", greenTargetGroupArn: w.greenTg })).toThrow(/blueTargetGroupArn/);
    expect(() => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.blueTg })).toThrow(/greenTargetGroupArn: must differ/);
    expect(() => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, ruleArn: w.ruleArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg })).toThrow(/exactly one/);
  });

  test("a listener that forwards to neither slot is read (all traffic elsewhere), not an error; one with no forward action is a TrafficShapeError", async () => {
    const r = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: TG_A, greenTargetGroupArn: TG_B });
    const snap = await r.read();
    expect(snap.weights).toEqual({ blue: 0, green: 0 });
    expect(snap.elsewhere).toBeGreaterThan(0);
    await w.clients.elbv2.send(
      new ModifyRuleCommand({ RuleArn: w.ruleArn, Actions: [{ Type: "fixed-response", FixedResponseConfig: { StatusCode: "503", ContentType: "text/plain", MessageBody: "maintenance" } }] }),
    );
    const rule = createTrafficRouter(w.clients.elbv2, { ruleArn: w.ruleArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    await expect(rule.read()).rejects.toThrow(TrafficShapeError);
    await expect(rule.read()).rejects.toThrow(/has no forward action/);
    await w.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: w.ruleArn, Actions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: 999 }, { TargetGroupArn: w.greenTg, Weight: 0 }] } }] }));
  });

  test.each([
    ["six target groups", { Type: "forward", ForwardConfig: { TargetGroups: Array.from({ length: 6 }, (_, i) => ({ TargetGroupArn: `${TG_A.slice(0, -1)}${i}`, Weight: 1 })) } }, /at most 5/],
    ["a weight of 1000", { Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG_A, Weight: 1000 }] } }, /Weight: must be a whole number from 0 to 999/],
    ["an unweighted entry", { Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG_A }, { TargetGroupArn: TG_B, Weight: 1 }] } }, /TargetGroups\[0\]\.Weight/],
    ["the same target group twice", { Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG_A, Weight: 1 }, { TargetGroupArn: TG_A, Weight: 1 }] } }, /twice/],
    ["every weight 0", { Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG_A, Weight: 0 }, { TargetGroupArn: TG_B, Weight: 0 }] } }, /nothing would receive traffic/],
    ["stickiness of 8 days", { Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG_A, Weight: 1 }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 691_200 } } }, /604800/],
  ] as const)("validateForwardAction refuses %s (ELB's limits; moto accepts them)", (_name, action, message) => {
    expect(() => validateForwardAction(action as never, "listener x")).toThrow(message);
  });
});

describe("state store against moto", () => {
  const policy = parsePolicy({ profile: "low" });
  const record = (version: number): ServiceRecord => ({ service: "st", version, rollout: idleState(policy), baselineSlot: "blue", killSwitch: false, applied: true, updatedAt: T0 });

  test("conditional writes: the first writer wins, a stale writer gets ConflictError and writes no history", async () => {
    const store = createStateStore(w.clients.documents, { table: w.config.table, historyTtlDays: 7 });
    const h = (seq: number) => ({ service: "st", at: T0 + seq, seq, kind: "decision" as const, trigger: "tick", action: "advance", reason: "r" });
    await store.commit(record(1), 0, [h(1)]);
    await expect(store.commit(record(1), 0, [h(99)])).rejects.toBeInstanceOf(ConflictError);
    await store.commit(record(2), 1, [h(2)]);
    await expect(store.commit(record(2), 1, [h(98)])).rejects.toBeInstanceOf(ConflictError);
    const history = await store.history("st");
    expect(history.map((x) => x.seq)).toEqual([2, 1]);
    expect((await store.get("st"))!.version).toBe(2);
    expect(await store.markApplied("st", 1)).toBe(false);
    expect(await store.markApplied("st", 2)).toBe(true);
    expect((await store.listServices()).map((s) => s.service)).toContain("st");
  });

  test("history records carry expiresAt = at + TTL days (epoch seconds)", async () => {
    const store = createStateStore(w.clients.documents, { table: w.config.table, historyTtlDays: 7 });
    const { QueryCommand } = await import("@aws-sdk/lib-dynamodb");
    const res = await w.clients.documents.send(new QueryCommand({ TableName: w.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": "history#service#st" } }));
    const item = res.Items!.find((i) => String(i.sk).startsWith("history#"))!;
    expect(item.expiresAt).toBe(Math.floor(Number(item.at) / 1000) + 7 * 86_400);
    expect(store.table).toBe(w.config.table);
  });
});

describe("metrics reader", () => {
  const policy = parsePolicy({
    strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }] },
    gates: [
      { type: "errorRate" },
      { type: "latency", name: "slow", thresholdMs: 500 },
      { type: "latency", name: "p99", percentile: 99 },
      { type: "metric", name: "checkout", namespace: "Shop", events: "CheckoutFailed", total: "CheckoutAttempted", worseWhen: "higher", dimensions: { Env: "prod" } },
    ],
  });
  const gates = policy.gates as ComparisonGate[];

  test("error-rate counts from plain Sum queries against moto (PutMetricData), per minute, absent minutes absent", async () => {
    await putTraffic(w, T0 + 10 * MIN, { blue: { requests: 1000, errors: 3 }, green: { requests: 100, errors: 2 } });
    await putTraffic(w, T0 + 12 * MIN, { blue: { requests: 800, errors: 0 }, green: { requests: 90, errors: 0 } });
    const reader = createMetricsReader(w.clients.cloudwatch);
    const out = await reader.gather({
      gates: [gates[0]!],
      loadBalancerArn: w.lbArn,
      canary: { targetGroupArn: w.greenTg, version: "v2" },
      baseline: { targetGroupArn: w.blueTg, version: "v1" },
      start: T0 + 10 * MIN,
      end: T0 + 13 * MIN + 30_000,
    });
    expect(out["error-rate"]).toEqual({
      kind: "counts",
      samples: [
        { start: T0 + 10 * MIN, canary: { total: 100, events: 2 }, baseline: { total: 1000, events: 3 } },
        { start: T0 + 12 * MIN, canary: { total: 90, events: 0 }, baseline: { total: 800, events: 0 } },
      ],
    });
  });

  test("latency TC(threshold:) and p99, and custom metrics with the version dimension, in one GetMetricData call (aws-sdk-client-mock: moto computes neither percentiles nor trimmed counts)", async () => {
    const cw = mockCloudWatch();
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: input.MetricDataQueries!.map((q) => {
        const m = q.MetricStat!;
        const dims = Object.fromEntries(m.Metric!.Dimensions!.map((d) => [d.Name, d.Value]));
        const canary = dims.TargetGroup === "targetgroup/shop-green/fedcba9876543210" || dims.Version === "v2";
        const value = (() => {
          if (m.Stat === "TC(0.5:)") return canary ? 30 : 40;
          if (m.Stat === "SampleCount") return canary ? 100 : 1000;
          if (m.Stat === "p99") return canary ? 0.42 : 0.31;
          if (m.Metric!.MetricName === "CheckoutFailed") return canary ? 2 : 5;
          if (m.Metric!.MetricName === "CheckoutAttempted") return canary ? 50 : 500;
          return canary ? 100 : 1000;
        })();
        return { Id: q.Id, Timestamps: [new Date(T0 + MIN), new Date(T0)], Values: [value, value], StatusCode: "Complete" };
      }),
    }));
    const reader = createMetricsReader(cw as unknown as CloudWatchClient);
    const out = await reader.gather({ gates, loadBalancerArn: LB, canary: { targetGroupArn: TG_B, version: "v2" }, baseline: { targetGroupArn: TG_A, version: "v1" }, start: T0, end: T0 + 2 * MIN });
    expect(cw.commandCalls(GetMetricDataCommand)).toHaveLength(1);
    const queries = cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(new Set(queries.map((q) => q.MetricStat!.Stat))).toEqual(new Set(["Sum", "SampleCount", "TC(0.5:)", "p99"]));
    const custom = queries.find((q) => q.MetricStat!.Metric!.Namespace === "Shop" && q.MetricStat!.Metric!.Dimensions!.some((d) => d.Value === "v2"))!;
    expect(custom.MetricStat!.Metric!.Dimensions).toEqual(expect.arrayContaining([{ Name: "Env", Value: "prod" }, { Name: "Version", Value: "v2" }]));
    // RequestCount for two sides is asked once each even though two gates use it.
    const requestCounts = queries.filter((q) => q.MetricStat!.Metric!.MetricName === "RequestCount");
    expect(requestCounts).toHaveLength(2);

    expect(out.slow).toEqual({ kind: "counts", samples: [T0, T0 + MIN].map((start) => ({ start, canary: { total: 100, events: 30 }, baseline: { total: 1000, events: 40 } })) });
    expect(out.p99).toEqual({ kind: "percentiles", samples: [T0, T0 + MIN].map((start) => ({ start, canary: 420, baseline: 310, canaryCount: 100, baselineCount: 1000 })) });
    expect(out.checkout).toEqual({ kind: "counts", samples: [T0, T0 + MIN].map((start) => ({ start, canary: { total: 50, events: 2 }, baseline: { total: 500, events: 5 } })) });
  });

  test("a custom metric gate sends no query with an empty version label (first release: no baseline version) (aws-sdk-client-mock)", async () => {
    const cw = mockCloudWatch();
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    const out = await createMetricsReader(cw as unknown as CloudWatchClient).gather({
      gates: [gates[3]!],
      loadBalancerArn: LB,
      canary: { targetGroupArn: TG_B, version: "v2" },
      baseline: { targetGroupArn: TG_A, version: "" },
      start: T0,
      end: T0 + 5 * MIN,
    });
    const queries = cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(queries).toHaveLength(2);
    expect(queries.every((q) => q.MetricStat!.Metric!.Dimensions!.every((d) => d.Value !== ""))).toBe(true);
    expect(out.checkout).toEqual({ kind: "counts", samples: [] });
  });

  test("more than 500 queries are split into calls of at most 500, following NextToken (aws-sdk-client-mock)", async () => {
    const cw = mockCloudWatch();
    let calls = 0;
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
      calls += 1;
      const paged = !input.NextToken && calls === 1;
      return { MetricDataResults: input.MetricDataQueries!.slice(0, paged ? 1 : undefined).map((q) => ({ Id: q.Id, Timestamps: [new Date(T0)], Values: [1] })), ...(paged ? { NextToken: "more" } : {}) };
    });
    const many: ComparisonGate[] = Array.from({ length: 130 }, (_, i) => ({ ...(gates[3] as ComparisonGate), name: `m${i}`, events: `E${i}` }) as ComparisonGate);
    const reader = createMetricsReader(cw as unknown as CloudWatchClient);
    const out = await reader.gather({ gates: many, loadBalancerArn: LB, canary: { targetGroupArn: TG_B, version: "v2" }, baseline: { targetGroupArn: TG_A, version: "v1" }, start: T0, end: T0 + MIN });
    const sizes = cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.MetricDataQueries!.length);
    // 130 gates x 2 sides x (events) + 2 shared totals = 262 -> one batch, paged once.
    expect(sizes.every((n) => n <= MAX_QUERIES_PER_CALL)).toBe(true);
    expect(cw.commandCalls(GetMetricDataCommand)[1]!.args[0].input.NextToken).toBe("more");
    expect(Object.keys(out)).toHaveLength(130);

    const wide: ComparisonGate[] = Array.from({ length: 300 }, (_, i) => ({ ...(gates[3] as ComparisonGate), name: `w${i}`, events: `E${i}`, total: `T${i}` }) as ComparisonGate);
    cw.resetHistory();
    calls = 10;
    await reader.gather({ gates: wide, loadBalancerArn: LB, canary: { targetGroupArn: TG_B, version: "v2" }, baseline: { targetGroupArn: TG_A, version: "v1" }, start: T0, end: T0 + MIN });
    expect(cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.MetricDataQueries!.length)).toEqual([500, 500, 200]);
  });
});

describe("alarm reader", () => {
  test("states by name against moto; an unknown alarm is absent", async () => {
    const reader = createAlarmReader(w.clients.cloudwatch);
    expect(await reader.states([w.alarmName, "no-such-alarm"])).toEqual({ [w.alarmName]: "OK" });
  });

  test("composite alarms and NextToken pagination, 100 names per call (aws-sdk-client-mock: moto has no composite alarms)", async () => {
    const cw = mockCloudWatch();
    cw.on(DescribeAlarmsCommand).callsFake((input: { AlarmNames: string[]; NextToken?: string }) => {
      const names = input.AlarmNames;
      const half = input.NextToken ? names.slice(names.length / 2) : names.slice(0, names.length / 2);
      return {
        MetricAlarms: half.filter((n) => !n.startsWith("composite")).map((n) => ({ AlarmName: n, StateValue: "OK" })),
        CompositeAlarms: half.filter((n) => n.startsWith("composite")).map((n) => ({ AlarmName: n, StateValue: "ALARM" })),
        ...(input.NextToken ? {} : { NextToken: "page2" }),
      };
    });
    const names = [...Array.from({ length: 149 }, (_, i) => `a${i}`), "composite-budget"];
    const states = await createAlarmReader(cw as unknown as CloudWatchClient).states(names);
    expect(Object.keys(states)).toHaveLength(150);
    expect(states["composite-budget"]).toBe("ALARM");
    const calls = cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.AlarmNames!.length)).toEqual([100, 100, 50, 50]);
    expect(calls[0]!.AlarmTypes).toEqual(["MetricAlarm", "CompositeAlarm"]);
  });
});

describe("ECS slot deployer", () => {
  test("target health is ready only when every target is healthy (aws-sdk-client-mock: moto reports every registered target healthy)", async () => {
    const elb = mockClient(ElasticLoadBalancingV2Client);
    mocks.push(elb);
    const deployer = createSlotDeployer({ ecs: new ECSClient({ region: "us-east-1" }), elbv2: elb as unknown as ElasticLoadBalancingV2Client }, { clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/c" });
    const states = (...s: string[]) => ({ TargetHealthDescriptions: s.map((State, i) => ({ Target: { Id: `10.0.0.${i}` }, TargetHealth: { State } })) }) as never;
    elb.on(DescribeTargetHealthCommand).resolvesOnce(states("initial", "healthy")).resolvesOnce(states("healthy", "unhealthy")).resolvesOnce(states()).resolvesOnce(states("healthy", "healthy"));
    expect(await deployer.targetHealth(TG_B)).toMatchObject({ ready: false, healthy: 1, total: 2, states: { initial: 1, healthy: 1 } });
    expect((await deployer.targetHealth(TG_B)).ready).toBe(false);
    expect((await deployer.targetHealth(TG_B)).ready).toBe(false);
    expect(await deployer.targetHealth(TG_B)).toMatchObject({ ready: true, healthy: 2, total: 2 });
  });
});

describe("controller invoker", () => {
  test("sends the command as the payload and returns the JSON; a function error carries the controller's message (aws-sdk-client-mock: moto's Lambda invoke needs Docker)", async () => {
    const lambda = mockClient(LambdaClient);
    mocks.push(lambda);
    lambda
      .on(InvokeCommand)
      .resolvesOnce({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify({ ok: true, command: "status", stableSlot: "green" })) as never })
      .resolvesOnce({ StatusCode: 200, FunctionError: "Unhandled", Payload: new TextEncoder().encode(JSON.stringify({ errorType: "InvalidPayloadError", errorMessage: "invalid payload: command: must be one of ..." })) as never });
    const invoker = createControllerInvoker(lambda as unknown as LambdaClient, "shop-rollgate-controller");
    expect(await invoker.send({ command: "status" })).toEqual({ ok: true, command: "status", stableSlot: "green" });
    const sent = JSON.parse(new TextDecoder().decode(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array));
    expect(sent).toEqual({ command: "status" });
    const err = await invoker.send({ command: "bogus" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControllerInvokeError);
    expect(err).toMatchObject({ errorType: "InvalidPayloadError", functionName: "shop-rollgate-controller" });
    expect((err as Error).message).toMatch(/command: must be one of/);
  });
});
