/**
 * What the StepController creates for lifecycle hooks that run asynchronously, under Pulumi's mock
 * runtime: each hook function's asynchronous invocation config (no retries, on-success and
 * on-failure destinations to the controller, events no older than the hook's timeout), the managed
 * policy a hook function's role needs to deliver its answer (only InvokeFunction on the controller),
 * its attachment to the named roles, and a controller timeout that no longer depends on the hooks.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");
const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const SMOKE = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:checkout-smoke`;
const LOAD = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:checkout-load:live`;

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

const POLICY = JSON.stringify({
  profile: "standard",
  hookFunctions: { smoke: SMOKE, load: LOAD },
  hooks: [
    { name: "smoke", function: "smoke", at: ["beforeStep"], timeout: "2m" },
    { name: "smoke-again", function: "smoke", at: ["beforePromote"], timeout: "5m" },
    { name: "load", function: "load", at: ["afterStep"], timeout: "15m" },
  ],
});

function args(over: Record<string, unknown> = {}) {
  return {
    serviceName: "checkout",
    policyJson: POLICY,
    listenerArn: LISTENER,
    loadBalancerArn: LB,
    blueTargetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/b/aaaaaaaaaaaaaaaa`,
    greenTargetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/g/bbbbbbbbbbbbbbbb`,
    gateAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a1`],
    hookFunctionArns: [SMOKE, LOAD],
    codePath: "dist/lambda/controller.mjs",
    ...over,
  } as import("../components/index.js").StepControllerArgs;
}

async function render(name: string, over: Record<string, unknown> = {}): Promise<RecordedResource[]> {
  mocks.reset();
  const c = new C.StepController(name, args(over), { transformations: [recordingTransformation(mocks)] });
  await valueOf(c.urn);
  await settle();
  return [...mocks.resources];
}

describe("StepController: hooks answer through their Lambda destinations (Pulumi mocks)", () => {
  test("one async invocation config per hook function: no retries, both destinations to the controller, event age = the longest hook timeout on it", async () => {
    const rs = await render("hk1", { hookRoleNames: ["checkout-smoke-role", "checkout-load-role"] });
    const fnArn = rs.find((r) => r.type === "aws:lambda/function:Function")!.state.arn as string;
    const configs = rs.filter((r) => r.type === "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" && r.name.startsWith("hk1-hook-"));
    expect(configs.map((r) => r.name).sort()).toEqual(["hk1-hook-checkout-load-live", "hk1-hook-checkout-smoke"]);
    const smoke = configs.find((r) => r.name === "hk1-hook-checkout-smoke")!;
    expect(smoke.inputs).toMatchObject({ functionName: "checkout-smoke", maximumRetryAttempts: 0, maximumEventAgeInSeconds: 300, destinationConfig: { onSuccess: { destination: fnArn }, onFailure: { destination: fnArn } } });
    expect(smoke.inputs.qualifier).toBeUndefined();
    expect(configs.find((r) => r.name === "hk1-hook-checkout-load-live")!.inputs).toMatchObject({ functionName: "checkout-load", qualifier: "live", maximumEventAgeInSeconds: 900 });

    // The hook roles may invoke the controller and nothing else; attached to each named role.
    const policy = rs.find((r) => r.type === "aws:iam/policy:Policy" && r.name === "hk1-hook-results")!;
    expect(JSON.parse(policy.inputs.policy).Statement).toEqual([{ Sid: "DeliverHookResults", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: fnArn }]);
    const attachments = rs.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    expect(attachments.map((a) => a.inputs.role).sort()).toEqual(["checkout-load-role", "checkout-smoke-role"]);
    for (const a of attachments) expect(a.inputs.policyArn).toBe(policy.state.arn);

    // The controller's role invokes exactly the hook functions; its timeout ignores the 15-minute hook.
    const role = JSON.parse(rs.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy")!.inputs.policy) as { Statement: Array<{ Sid: string; Action: string[]; Resource: unknown }> };
    expect(role.Statement.find((s) => s.Sid === "Hooks")).toMatchObject({ Action: ["lambda:InvokeFunction"], Resource: [SMOKE, LOAD] });
    expect(rs.find((r) => r.type === "aws:lambda/function:Function")!.inputs.timeout).toBe(60);
  });

  test("manageHookInvokeConfig=false leaves the hook functions' configuration alone; the policy is still there to attach", async () => {
    const rs = await render("hk2", { manageHookInvokeConfig: false });
    expect(rs.filter((r) => r.type === "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").map((r) => r.name)).toEqual(["hk2-async"]);
    expect(rs.filter((r) => r.type === "aws:iam/policy:Policy").map((r) => r.name).sort()).toEqual(["hk2-hook-results", "hk2-operator"]);
    expect(rs.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).toEqual([]);
  });

  test("without hooks nothing hook-related is created", async () => {
    const rs = await render("hk3", { policyJson: JSON.stringify({ profile: "standard" }), hookFunctionArns: [] });
    expect(rs.filter((r) => r.name.includes("-hook"))).toEqual([]);
  });

  test.each([
    ["a hook role given as an ARN", { hookRoleNames: [`arn:aws:iam::${ACCOUNT}:role/smoke`] }, /StepController: hookRoleNames\[0\] must be an IAM role name .*the name, not the ARN/],
    ["a hook function that is not a Lambda ARN", { hookFunctionArns: ["checkout-smoke"] }, /StepController: hookFunctionArns\[0\] must be a Lambda function ARN/],
    ["manageHookInvokeConfig that is not a boolean", { manageHookInvokeConfig: "yes" }, /StepController: manageHookInvokeConfig must be true or false/],
  ])("%s is a preview error naming the field", (_what, over, message) => {
    expect(() => C.validateStepControllerArgs(args(over))).toThrow(message);
  });
});

describe("ProgressiveService wires the hooks of its policy (Pulumi mocks)", () => {
  test("plain hook ARNs from the policy: each function's async config points at its controller; hookRoleNames get the hook-result policy", async () => {
    mocks.reset();
    const svc = new C.ProgressiveService(
      "shop",
      {
        serviceName: "shop",
        version: "v1",
        policy: { profile: "standard", hookFunctions: { smoke: SMOKE }, hooks: [{ name: "smoke", function: "smoke", at: ["beforeStep"], timeout: "10m" }] },
        vpcId: "vpc-0abc",
        loadBalancerArn: LB,
        listenerArn: LISTENER,
        priority: 10,
        hostHeaders: ["shop.example.com"],
        clusterArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/main`,
        image: `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/shop:v1`,
        subnetIds: ["subnet-a"],
        securityGroupIds: ["sg-tasks"],
        hookRoleNames: ["shop-smoke-role"],
      },
      { transformations: [recordingTransformation(mocks)] },
    );
    const policyArn = await valueOf(svc.hookResultPolicyArn);
    await settle();
    const rs = [...mocks.resources];
    const fnArn = rs.find((r) => r.type === "aws:lambda/function:Function" && r.name === "shop-controller-function")!.state.arn as string;
    const config = rs.find((r) => r.name === "shop-controller-hook-checkout-smoke")!;
    expect(config.inputs).toMatchObject({ functionName: "checkout-smoke", maximumRetryAttempts: 0, maximumEventAgeInSeconds: 600, destinationConfig: { onSuccess: { destination: fnArn }, onFailure: { destination: fnArn } } });
    expect(rs.find((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment")!.inputs).toMatchObject({ role: "shop-smoke-role", policyArn });
    expect(policyArn).toMatch(/^arn:aws:iam::/);
  });
});
