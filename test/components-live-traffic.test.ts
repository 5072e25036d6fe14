/**
 * A second `pulumi up` must not move live traffic. Under Pulumi's mock runtime each scenario
 * evaluates the component twice (the inputs recorded at creation, then a changed program) and
 * replays what the engine would send on update: test/support/ignore-changes.ts mirrors the
 * engine's processIgnoreChanges (old values replace ignored paths), and the AWS provider resends
 * a rule's whole action list when any part of it differs (pulumi-aws#5798). The mock runtime
 * does not diff; the replay is the honest substitute and is itself checked by showing that the
 * old weight-only ignoreChanges does produce the 999/0 action list the issue describes.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";
import { actionsSentOnUpdate, applyIgnoreChanges, parsePath } from "./support/ignore-changes.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");

const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const TG_BLUE = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/svc-blue/aaaaaaaaaaaaaaaa`;
const TG_GREEN = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/svc-green/bbbbbbbbbbbbbbbb`;
const TG_BLUE_REPLACED = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/svc-blue-2/cccccccccccccccc`;
// One transformation for the file: each call wraps the mocks' push, and stale wrappers would
// re-apply the options recorded for the same name in an earlier test.
const record = recordingTransformation(mocks);
const opts = () => ({ transformations: [record] });

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
const named = (rs: RecordedResource[], name: string) => {
  const found = rs.filter((r) => r.name === name && !r.type.startsWith("rollgate:"));
  expect(found, name).toHaveLength(1);
  return found[0]!;
};

type RoutingArgs = import("../components/index.js").WeightedRoutingArgs;
const ruleArgs = (over: Partial<RoutingArgs> = {}): RoutingArgs => ({
  blueTargetGroupArn: TG_BLUE,
  greenTargetGroupArn: TG_GREEN,
  listenerArn: LISTENER,
  priority: 100,
  hostHeaders: ["checkout.example.com"],
  pathPatterns: ["/api/*"],
  rings: [
    { name: "internal", headers: [{ name: "x-employee", values: ["true"] }] },
    { name: "office", sourceIps: ["203.0.113.0/24"] },
  ],
  ...over,
});
const listenerArgs = (over: Partial<RoutingArgs> = {}): RoutingArgs => ({ blueTargetGroupArn: TG_BLUE, greenTargetGroupArn: TG_GREEN, loadBalancerArn: LB, ...over });

/** Evaluates creation and update programs; returns per resource name what update would send. */
async function update(name: string, before: RoutingArgs, after: RoutingArgs) {
  const olds = await evaluate(() => new C.WeightedRouting(name, before, opts()));
  const news = await evaluate(() => new C.WeightedRouting(name, after, opts()));
  return { olds, news };
}

const scenarios: [string, RoutingArgs, RoutingArgs][] = [
  ["a changed stickiness", ruleArgs(), ruleArgs({ stickinessSeconds: 600 })],
  ["a replaced target group (new ARN)", ruleArgs(), ruleArgs({ blueTargetGroupArn: TG_BLUE_REPLACED })],
  [
    "a changed ring (new match)",
    ruleArgs(),
    ruleArgs({ rings: [{ name: "internal", headers: [{ name: "x-employee", values: ["yes", "true"] }] }, { name: "office", sourceIps: ["198.51.100.0/24"] }] }),
  ],
];

describe("a second pulumi up sends no action to the service rule or the ring rules", () => {
  test.each(scenarios)("rule mode, %s: no action diff to apply", async (_label, before, after) => {
    const { olds, news } = await update("svc", before, after);
    const rules = news.filter((r) => r.type === "aws:lb/listenerRule:ListenerRule");
    expect(rules.map((r) => r.name).sort()).toEqual(["svc-ring-internal", "svc-ring-office", "svc-rule"]);
    for (const rule of rules) {
      const old = named(olds, rule.name);
      expect(rule.ignoreChanges, rule.name).toEqual(["actions"]);
      expect(actionsSentOnUpdate(rule.inputs, old.inputs, rule.ignoreChanges!, "actions"), rule.name).toBeUndefined();
    }
  });

  test("rule mode, a changed ring: Pulumi still updates what the ring rule matches (it owns the conditions)", async () => {
    const [, before, after] = scenarios[2]!;
    const { olds, news } = await update("svc", before, after);
    const ring = named(news, "svc-ring-internal");
    const effective = applyIgnoreChanges(ring.inputs, named(olds, "svc-ring-internal").inputs, ring.ignoreChanges!);
    expect(effective.conditions).toEqual([
      { hostHeader: { values: ["checkout.example.com"] } },
      { pathPattern: { values: ["/api/*"] } },
      { httpHeader: { httpHeaderName: "x-employee", values: ["yes", "true"] } },
    ]);
  });

  test.each([
    ["a changed stickiness", listenerArgs(), listenerArgs({ stickinessSeconds: 600 })],
    ["a replaced target group (new ARN)", listenerArgs(), listenerArgs({ greenTargetGroupArn: TG_BLUE_REPLACED })],
  ] as [string, RoutingArgs, RoutingArgs][])("listener mode, %s: no default-action diff to apply", async (_label, before, after) => {
    const { olds, news } = await update("own", before, after);
    const listener = named(news, "own-listener");
    expect(listener.ignoreChanges).toEqual(["defaultActions"]);
    expect(actionsSentOnUpdate(listener.inputs, named(olds, "own-listener").inputs, listener.ignoreChanges!, "defaultActions")).toBeUndefined();
  });

  test("the replay reproduces pulumi-aws#5798: with only the weights ignored, a stickiness change sends 999/0 (the mutation the whole-action ignore guards against)", async () => {
    const { olds, news } = await update("svc", ruleArgs(), ruleArgs({ stickinessSeconds: 600 }));
    const rule = named(news, "svc-rule");
    // The old ignoreChanges of this component: the two weights only.
    const weightsOnly = ["actions[0].forward.targetGroups[0].weight", "actions[0].forward.targetGroups[1].weight"];
    // Mid-rollout the listener holds, say, 749/250; the recorded inputs still say 999/0.
    const sent = actionsSentOnUpdate(rule.inputs, named(olds, "svc-rule").inputs, weightsOnly, "actions") as { forward: { targetGroups: { weight: number }[] } }[];
    expect(sent).toBeDefined();
    expect(sent[0]!.forward.targetGroups.map((t) => t.weight)).toEqual([999, 0]);
  });

  test("ignoreWeightChanges: false hands the whole action back to Pulumi (and then a stickiness change is sent)", async () => {
    const { olds, news } = await update("own", listenerArgs({ ignoreWeightChanges: false }), listenerArgs({ ignoreWeightChanges: false, stickinessSeconds: 60 }));
    const listener = named(news, "own-listener");
    expect(listener.ignoreChanges).toEqual([]);
    expect(actionsSentOnUpdate(listener.inputs, named(olds, "own-listener").inputs, [], "defaultActions")).toBeDefined();
  });

  test("the path parser reads the forms the components use", () => {
    expect(parsePath('tags["rollgate:version"]')).toEqual(["tags", "rollgate:version"]);
    expect(parsePath("actions[0].forward.targetGroups[1].weight")).toEqual(["actions", 0, "forward", "targetGroups", 1, "weight"]);
  });
});

describe("target groups: a replacement is refused at preview", () => {
  test("both target groups are protected by default (a replacing change fails at preview), and protect: false opts out", async () => {
    const rs = await evaluate(() => new C.BlueGreenTargetGroups("svc", { vpcId: "vpc-1" }, opts()));
    expect(rs.filter((r) => r.type === "aws:lb/targetGroup:TargetGroup").map((r) => [r.name, r.protect])).toEqual([
      ["svc-blue", true],
      ["svc-green", true],
    ]);
    const off = await evaluate(() => new C.BlueGreenTargetGroups("off", { vpcId: "vpc-1", protect: false }, opts()));
    expect(off.filter((r) => r.type === "aws:lb/targetGroup:TargetGroup").map((r) => r.protect ?? false)).toEqual([false, false]);
  });
});

describe("the controller receives stickiness, the value it converges the forward action to", () => {
  const base = {
    policyJson: JSON.stringify({ profile: "standard" }),
    listenerArn: LISTENER.replace("listener/", "listener/"),
    loadBalancerArn: LB,
    blueTargetGroupArn: TG_BLUE,
    greenTargetGroupArn: TG_GREEN,
    gateAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a`],
    codePath: "package.json",
  };
  test.each([
    [600, JSON.stringify({ enabled: true, durationSeconds: 600 })],
    [0, undefined],
  ])("stickinessSeconds %s -> ROLLGATE_STICKINESS %s", async (seconds, expected) => {
    const rs = await evaluate(() => new C.StepController("ctl", { ...base, stickinessSeconds: seconds }, opts()));
    const fn = named(rs, "ctl-function");
    expect(fn.inputs.environment.variables.ROLLGATE_STICKINESS).toBe(expected);
  });
});
