/**
 * ProgressiveService under Pulumi's mock runtime: the resource graph, the merged policy, the
 * dashboard, and the release logic across a sequence of versions (controller-owned slot
 * contents). Each "deploy" evaluates the component again with the controller status a real
 * controller would report at that point. Mocks see types, names and inputs; options are captured
 * by a transformation. Mocks cannot prove parentage, so nothing here claims it.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { controllerEnvironment, createMocks, IDLE_STATUS, outputPromise, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";
// The refusal itself (a failing preview) is tested in components-refusal.test.ts, in child processes.
import { parsePolicy } from "../src/policy/index.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/main";
const IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout";

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

function baseArgs(version: string): import("../components/index.js").ProgressiveServiceArgs {
  return {
    version,
    policyDocument: "profile: standard\n",
    vpcId: "vpc-0abc",
    loadBalancerArn: LB,
    listenerArn: LISTENER,
    priority: 10,
    hostHeaders: ["checkout.example.com"],
    clusterArn: CLUSTER,
    image: `${IMAGE}:${version}`,
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupIds: ["sg-tasks"],
    containerPort: 8080,
  };
}

interface Deploy {
  svc: import("../components/index.js").ProgressiveService;
  resources: RecordedResource[];
}

/** One `pulumi up` worth of evaluation, with the status the controller reports at that time. */
async function deploy(version: string, status: unknown, name = "svc"): Promise<Deploy> {
  mocks.reset();
  mocks.status = () => status;
  const svc = new C.ProgressiveService(name, baseArgs(version), { transformations: [recordingTransformation(mocks)] });
  await valueOf(svc.policyJson);
  await settle();
  return { svc, resources: [...mocks.resources] };
}

const one = (d: Deploy, type: string, name: string): RecordedResource => {
  const found = d.resources.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0]!;
};
const without = (inputs: Record<string, unknown>, keys: string[] = []) => Object.fromEntries(Object.entries(inputs).filter(([k]) => !keys.includes(k)));

describe("ProgressiveService resource graph", () => {
  let d: Deploy;
  beforeAll(async () => {
    d = await deploy("v1", IDLE_STATUS, "graph");
  });

  test("exact resource types and counts", () => {
    const counts: Record<string, number> = {};
    for (const r of d.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    expect(counts).toEqual({
      "rollgate:index:ProgressiveService": 1,
      "rollgate:index:BlueGreenTargetGroups": 1,
      "rollgate:index:WeightedRouting": 1,
      "rollgate:index:HealthGates": 1,
      "rollgate:index:EcsSlots": 1,
      "rollgate:index:StepController": 1,
      "aws:lb/targetGroup:TargetGroup": 2,
      "aws:lb/listenerRule:ListenerRule": 1,
      // 6 per-slot + 1 comparison + 4 burn windows + 4 controller (errors, throttles, heartbeat, failed invocations)
      "aws:cloudwatch/metricAlarm:MetricAlarm": 15,
      // burn fast, burn slow, health
      "aws:cloudwatch/compositeAlarm:CompositeAlarm": 3,
      "aws:dynamodb/table:Table": 1,
      "aws:sns/topic:Topic": 1,
      "aws:cloudwatch/logGroup:LogGroup": 2,
      "aws:iam/role:Role": 2,
      "aws:iam/rolePolicy:RolePolicy": 2,
      "aws:iam/policy:Policy": 1,
      "aws:lambda/functionUrl:FunctionUrl": 1,
      "aws:dynamodb/resourcePolicy:ResourcePolicy": 1,
      "aws:lambda/function:Function": 1,
      "aws:cloudwatch/eventRule:EventRule": 2,
      "aws:cloudwatch/eventTarget:EventTarget": 2,
      "aws:lambda/permission:Permission": 2,
      "aws:ecs/taskDefinition:TaskDefinition": 1,
      "aws:ecs/service:Service": 2,
      "aws:cloudwatch/dashboard:Dashboard": 1,
      "aws:lambda/invocation:Invocation": 1,
      "aws:sqs/queue:Queue": 1,
      "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 1,
    });
    expect(d.resources).toHaveLength(52);
  });

  test("names derive from the component name", () => {
    const names = d.resources.map((r) => r.name);
    for (const n of names) expect(n.startsWith("graph")).toBe(true);
    expect(names).toEqual(expect.arrayContaining(["graph-tg-blue", "graph-tg-green", "graph-routing-rule", "graph-slots-blue", "graph-slots-green", "graph-controller-function", "graph-release", "graph-dashboard"]));
  });

  test("the controller receives the user's policy plus a `health` alarm gate of the alarms HealthGates created", async () => {
    const fn = one(d, "aws:lambda/function:Function", "graph-controller-function");
    const policyJson = (await controllerEnvironment(fn)).ROLLGATE_POLICY!;
    expect(policyJson).toBe(await valueOf(d.svc.policyJson));
    const policy = parsePolicy(JSON.parse(policyJson));
    expect(policy.gates.map((g) => g.name)).toEqual(["error-rate", "latency", "health"]);
    const health = policy.gates.find((g) => g.name === "health")!;
    expect(health).toEqual({
      type: "alarm",
      name: "health",
      alarms: [
        "graph-dev-blue-5xx-rate",
        "graph-dev-blue-latency",
        "graph-dev-blue-unhealthy-hosts",
        "graph-dev-green-5xx-rate",
        "graph-dev-green-latency",
        "graph-dev-green-unhealthy-hosts",
        "graph-dev-canary-vs-stable",
      ],
      onMissingData: "hold",
    });
    // Every step checks it (steps without explicit gates check all gates).
    for (const step of policy.steps) expect(step.gates).toContain("health");
    expect((await controllerEnvironment(fn)).ROLLGATE_FREEZE_ALARMS).toBe("graph-dev-burn-fast,graph-dev-burn-slow");
  });

  test("initial weights are all-blue out of the policy's weightTotal, and the weights are under ignoreChanges", () => {
    const rule = one(d, "aws:lb/listenerRule:ListenerRule", "graph-routing-rule");
    expect(rule.inputs.actions[0].forward.targetGroups.map((t: { weight: number }) => t.weight)).toEqual([999, 0]);
    expect(rule.ignoreChanges).toEqual(["actions"]);
    expect(rule.inputs.listenerArn).toBe(LISTENER);
    expect(rule.inputs.priority).toBe(10);
  });

  test("dashboard: blue and green side by side, the controller's EMF decisions, weights from its logs, the gate alarms", () => {
    const dash = one(d, "aws:cloudwatch/dashboard:Dashboard", "graph-dashboard");
    expect(dash.inputs.dashboardName).toBe("rollgate-graph-dev");
    const body = JSON.parse(dash.inputs.dashboardBody) as { widgets: { type: string; properties: Record<string, any> }[] };
    const titles = body.widgets.map((w) => w.properties.title ?? w.type);
    expect(titles).toEqual([
      "text",
      "Requests per slot",
      "Failed requests % per slot (target 5XX + connection errors)",
      "Latency p99 per slot",
      "Weights per slot (controller)",
      "Controller decisions (EMF)",
      "Healthy / unhealthy targets per slot",
      "Health gates",
      "Controller errors and throttles",
      "Decisions (audit trail, newest first)",
    ]);
    const blue = one(d, "aws:lb/targetGroup:TargetGroup", "graph-tg-blue").state.arnSuffix;
    const green = one(d, "aws:lb/targetGroup:TargetGroup", "graph-tg-green").state.arnSuffix;
    const requests = body.widgets[1]!.properties;
    expect(requests.region).toBe("eu-west-1");
    expect(requests.metrics).toEqual([
      ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/shared/50dc6c495c0c9188", "TargetGroup", blue, { stat: "Sum", label: "blue requests", color: "#1f77b4" }],
      ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/shared/50dc6c495c0c9188", "TargetGroup", green, { stat: "Sum", label: "green requests", color: "#2ca02c" }],
    ]);
    const decisions = body.widgets[5]!.properties.metrics as unknown[][];
    expect(decisions.map((m) => m.slice(0, 4))).toEqual(
      ["Decisions", "Transitions", "Rollbacks", "DriftDetected", "InvocationErrors"].map((m) => ["Rollgate", m, "service", "graph"]),
    );
    const logGroup = one(d, "aws:cloudwatch/logGroup:LogGroup", "graph-controller-logs").state.name;
    expect(body.widgets[4]!.properties.query).toContain(`SOURCE '${logGroup}'`);
    expect(body.widgets[4]!.properties.query).toContain("max(result.slotWeights.green)");
    expect(body.widgets[7]!.properties.alarms).toHaveLength(8);
    expect(body.widgets[7]!.properties.alarms.at(-1)).toBe("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:graph-dev-health");
  });
});

describe("ProgressiveService with a listener of its own, and a policy known only at deploy time", () => {
  test("the controller may modify exactly its own listener; weights come from the policy's weightTotal", async () => {
    mocks.reset();
    mocks.status = () => IDLE_STATUS;
    const args = { ...baseArgs("v1"), listenerArn: undefined, priority: undefined, hostHeaders: undefined, policyDocument: undefined };
    delete args.listenerArn;
    delete args.priority;
    delete args.hostHeaders;
    delete args.policyDocument;
    // An Output policy is validated inside apply instead of at construction.
    const svc = new C.ProgressiveService("own", { ...args, policy: pulumi.output({ profile: "low", weightTotal: 100 }), listenerPort: 8443 }, { transformations: [recordingTransformation(mocks)] });
    await valueOf(svc.policyJson);
    await settle();
    const d: Deploy = { svc, resources: [...mocks.resources] };
    const listener = one(d, "aws:lb/listener:Listener", "own-routing-listener");
    expect([listener.inputs.loadBalancerArn, listener.inputs.port, listener.inputs.protocol]).toEqual([LB, 8443, "HTTP"]);
    expect(listener.inputs.defaultActions[0].forward.targetGroups.map((t: { weight: number }) => t.weight)).toEqual([100, 0]);
    expect(d.resources.filter((r) => r.type === "aws:lb/listenerRule:ListenerRule")).toEqual([]);
    const env = await controllerEnvironment(one(d, "aws:lambda/function:Function", "own-controller-function"));
    expect(env.ROLLGATE_LISTENER_ARN).toBe(listener.state.arn);
    expect(env.ROLLGATE_RULE_ARN).toBeUndefined();
    const statements = JSON.parse(one(d, "aws:iam/rolePolicy:RolePolicy", "own-controller-policy").inputs.policy).Statement;
    expect(statements[0]).toEqual({ Sid: "ShiftTraffic", Effect: "Allow", Action: ["elasticloadbalancing:ModifyListener"], Resource: listener.state.arn });
    expect(parsePolicy(JSON.parse(env.ROLLGATE_POLICY!)).steps.map((st) => st.weights)).toEqual([
      { stable: 90, canary: 10 },
      { stable: 50, canary: 50 },
    ]);
  });
});

describe("audience rings and lifecycle hooks in the policy", () => {
  test("one rule per ring above the service's rule, handed to the controller with ModifyRule on them; hooks get InvokeFunction on their functions only", async () => {
    mocks.reset();
    mocks.status = () => IDLE_STATUS;
    const policy = [
      "rings:",
      "  - name: internal",
      "    match: { headers: [{ name: x-employee, values: ['true'] }] }",
      "  - name: early",
      "    match: { cookie: { name: beta, value: '1' }, sourceIps: [203.0.113.0/24] }",
      "hookFunctions:",
      "  smoke: arn:aws:lambda:eu-west-1:123456789012:function:checkout-smoke",
      "hooks:",
      "  - { name: smoke, function: smoke, at: [beforeStep], steps: [1] }",
      "strategy:",
      "  type: canary",
      "  steps:",
      "    - { ring: internal, hold: 30m }",
      "    - { ring: early, hold: 1h }",
      "    - { percent: 5, hold: 10m }",
    ].join("\n");
    const svc = new C.ProgressiveService("ringed", { ...baseArgs("v1"), policyDocument: policy }, { transformations: [recordingTransformation(mocks)] });
    await valueOf(svc.policyJson);
    await settle();
    const d: Deploy = { svc, resources: [...mocks.resources] };
    const blueArn = one(d, "aws:lb/targetGroup:TargetGroup", "ringed-tg-blue").state.arn;
    const internal = one(d, "aws:lb/listenerRule:ListenerRule", "ringed-routing-ring-internal");
    const early = one(d, "aws:lb/listenerRule:ListenerRule", "ringed-routing-ring-early");
    expect([internal.inputs.priority, early.inputs.priority]).toEqual([9, 8]);
    expect(internal.inputs.listenerArn).toBe(LISTENER);
    expect(internal.inputs.conditions).toEqual([{ hostHeader: { values: ["checkout.example.com"] } }, { httpHeader: { httpHeaderName: "x-employee", values: ["true"] } }]);
    expect(early.inputs.conditions).toEqual([
      { hostHeader: { values: ["checkout.example.com"] } },
      { httpHeader: { httpHeaderName: "Cookie", values: ["*beta=1*"] } },
      { sourceIp: { values: ["203.0.113.0/24"] } },
    ]);
    expect(internal.inputs.actions).toEqual([{ type: "forward", forward: { targetGroups: [{ arn: blueArn, weight: 1 }] } }]);
    expect(internal.ignoreChanges).toEqual(["actions"]);
    const env = await controllerEnvironment(one(d, "aws:lambda/function:Function", "ringed-controller-function"));
    expect(JSON.parse(env.ROLLGATE_RING_RULES!)).toEqual({ internal: internal.state.arn, early: early.state.arn });
    const statements = JSON.parse(one(d, "aws:iam/rolePolicy:RolePolicy", "ringed-controller-policy").inputs.policy).Statement;
    expect(statements.slice(-3)).toEqual([
      { Sid: "ShiftRings", Effect: "Allow", Action: ["elasticloadbalancing:ModifyRule"], Resource: [internal.state.arn, early.state.arn] },
      { Sid: "Hooks", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: ["arn:aws:lambda:eu-west-1:123456789012:function:checkout-smoke"] },
      expect.objectContaining({ Sid: "SlotServices" }),
    ]);
    // The controller's own parser accepts the environment (it checks every ring has its rule).
    const { parseControllerEnv } = await import("../src/controller/config.js");
    expect(Object.keys(parseControllerEnv(env).ringRules ?? {})).toEqual(["internal", "early"]);
  });
});

describe("releases across a sequence of versions (controller-owned slot contents)", () => {
  const deploys: Record<string, Deploy> = {};

  test("v1, first deploy: blue runs v1 with the desired count, green is empty, and v1's release is requested", async () => {
    const d = (deploys.v1 = await deploy("v1", IDLE_STATUS));
    const td = one(d, "aws:ecs/taskDefinition:TaskDefinition", "svc-slots-task");
    const container = JSON.parse(td.inputs.containerDefinitions)[0];
    expect(container.image).toBe(`${IMAGE}:v1`);
    expect(container.environment).toEqual([{ name: "ROLLGATE_VERSION", value: "v1" }]);
    expect(td.inputs.skipDestroy).toBe(true);
    expect(td.state.arn).toBe("arn:aws:ecs:eu-west-1:123456789012:task-definition/svc-slots-dev:1");
    const blue = one(d, "aws:ecs/service:Service", "svc-slots-blue");
    const green = one(d, "aws:ecs/service:Service", "svc-slots-green");
    expect([blue.inputs.taskDefinition, blue.inputs.desiredCount]).toEqual([td.state.arn, 2]);
    expect([green.inputs.taskDefinition, green.inputs.desiredCount]).toEqual([td.state.arn, 0]);
    for (const s of [blue, green]) expect(s.ignoreChanges).toEqual(["taskDefinition", "desiredCount"]);
    const inv = one(d, "aws:lambda/invocation:Invocation", "svc-release");
    expect(JSON.parse(inv.inputs.input)).toEqual({ command: "start", release: { version: "v1", taskDefinitionArn: td.state.arn } });
    expect(inv.inputs.input).toBe(await valueOf(d.svc.releaseCommand));
    expect(inv.inputs.triggers).toEqual({ version: "v1", taskDefinitionArn: td.state.arn });
    expect(inv.inputs.functionName).toBe(one(d, "aws:lambda/function:Function", "svc-controller-function").state.name);
    expect(inv.dependsOn).toEqual(["svc-slots", "svc-routing", "svc-controller", "svc-gates"]);
    // The status was read from the controller before the release was requested.
    expect(mocks.invokes.map((i) => [i.token, i.inputs.input])).toEqual([["aws:lambda/getInvocation:getInvocation", '{"command":"status"}']]);
  });

  test("v2 after v1 was promoted: a new revision and a new start command; the slot services' managed inputs do not change", async () => {
    const promoted = { ...IDLE_STATUS, phase: "promoted", stableSlot: "green", idleSlot: "blue", state: { phase: "promoted", release: { stable: "none", canary: "v1" }, stepIndex: 3 } };
    const d = (deploys.v2 = await deploy("v2", promoted));
    const td = one(d, "aws:ecs/taskDefinition:TaskDefinition", "svc-slots-task");
    expect(td.state.arn).toBe("arn:aws:ecs:eu-west-1:123456789012:task-definition/svc-slots-dev:2");
    const inv = one(d, "aws:lambda/invocation:Invocation", "svc-release");
    expect(JSON.parse(inv.inputs.input)).toEqual({ command: "start", release: { version: "v2", taskDefinitionArn: td.state.arn } });
    expect(inv.inputs.input).not.toBe(one(deploys.v1!, "aws:lambda/invocation:Invocation", "svc-release").inputs.input);
    // pulumi up never writes either slot: the only input that differs is under ignoreChanges.
    for (const slot of ["svc-slots-blue", "svc-slots-green"]) {
      const before = one(deploys.v1!, "aws:ecs/service:Service", slot);
      const after = one(d, "aws:ecs/service:Service", slot);
      expect(after.inputs.taskDefinition).not.toBe(before.inputs.taskDefinition);
      expect(without(after.inputs, after.ignoreChanges)).toEqual(without(before.inputs, before.ignoreChanges));
    }
    // Nor the weights (ignored) nor anything else in the routing.
    const ruleBefore = one(deploys.v1!, "aws:lb/listenerRule:ListenerRule", "svc-routing-rule");
    const ruleAfter = one(d, "aws:lb/listenerRule:ListenerRule", "svc-routing-rule");
    expect(ruleAfter.inputs).toEqual(ruleBefore.inputs);
  });

  test("v2 again while v2 is rolling out: every input is identical, so pulumi up is a no-op", async () => {
    const progressing = { ...IDLE_STATUS, phase: "progressing", stableSlot: "green", idleSlot: "blue", state: { phase: "progressing", release: { stable: "v1", canary: "v2" }, stepIndex: 1 } };
    const d = (deploys.v2again = await deploy("v2", progressing));
    expect(d.resources.map((r) => [r.type, r.name])).toEqual(deploys.v2!.resources.map((r) => [r.type, r.name]));
    for (const r of d.resources) {
      const prev = one(deploys.v2!, r.type, r.name);
      expect(r.inputs, `${r.type} ${r.name}`).toEqual(prev.inputs);
    }
    expect(one(d, "aws:ecs/taskDefinition:TaskDefinition", "svc-slots-task").state.arn).toMatch(/:2$/);
  });

  test("v3 after v2 was promoted: revision 3 is requested, and it goes to the slot the controller finds idle", async () => {
    const promoted = { ...IDLE_STATUS, phase: "promoted", stableSlot: "blue", idleSlot: "green", state: { phase: "promoted", release: { stable: "v1", canary: "v2" }, stepIndex: 3 } };
    const d = await deploy("v3", promoted);
    const td = one(d, "aws:ecs/taskDefinition:TaskDefinition", "svc-slots-task");
    expect(td.state.arn).toMatch(/task-definition\/svc-slots-dev:3$/);
    const inv = one(d, "aws:lambda/invocation:Invocation", "svc-release");
    // The command names no slot: the controller picks the idle one (green here), so pulumi needs no lookup to be right.
    expect(JSON.parse(inv.inputs.input)).toEqual({ command: "start", release: { version: "v3", taskDefinitionArn: td.state.arn } });
    const env = one(d, "aws:lambda/function:Function", "svc-controller-function").inputs.environment.variables;
    expect([env.ROLLGATE_ECS_BLUE_SERVICE, env.ROLLGATE_ECS_GREEN_SERVICE]).toEqual([
      one(d, "aws:ecs/service:Service", "svc-slots-blue").state.arn,
      one(d, "aws:ecs/service:Service", "svc-slots-green").state.arn,
    ]);
  });

  test("checkLiveSlot: false skips the status read", async () => {
    mocks.reset();
    mocks.status = () => ({ phase: "progressing", state: { release: { canary: "v2" } } });
    const svc = new C.ProgressiveService("nocheck", { ...baseArgs("v9"), checkLiveSlot: false }, { transformations: [recordingTransformation(mocks)] });
    expect(JSON.parse(await outputPromise(svc.releaseCommand)).release.version).toBe("v9");
    await settle();
    expect(mocks.invokes).toEqual([]);
  });
});

describe("checkReleaseAllowed (the decision behind the refusal)", () => {
  const ctx = { controllerFunction: "fn", steps: 4 };
  test.each([
    ["idle", { phase: "idle" }, "v2", undefined],
    ["promoted", { phase: "promoted", state: { release: { canary: "v1" } } }, "v2", undefined],
    ["rolled back", { phase: "rolled-back", state: { release: { canary: "v2" } } }, "v3", undefined],
    ["aborted", { phase: "aborted", state: { release: { canary: "v2" } } }, "v3", undefined],
    ["same version in flight", { phase: "progressing", state: { release: { canary: "v2" } } }, "v2", undefined],
    ["paused rollout", { phase: "paused", state: { release: { canary: "v2" } } }, "v3", /release "v2" is paused/],
    ["progressing rollout", { phase: "progressing", state: { release: { canary: "v2" }, stepIndex: 0 } }, "v3", /is progressing at step 1 of 4/],
    ["failed pending release", { phase: "promoted", pending: { version: "v4", status: "failed" } }, "v5", undefined],
    ["controller error", { ok: false, code: "x", message: "boom" }, "v2", /status has no phase/],
    ["not JSON", "<html>", "v2", /not JSON/],
  ])("%s", (_label, status, version, expected) => {
    const json = typeof status === "string" ? status : JSON.stringify(status);
    if (expected === undefined) expect(() => C.checkReleaseAllowed(json, version, ctx)).not.toThrow();
    else expect(() => C.checkReleaseAllowed(json, version, ctx)).toThrow(expected);
  });
});
