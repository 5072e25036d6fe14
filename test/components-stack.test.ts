/**
 * The example stack (stacks/aws-ecs) evaluates under Pulumi's mock runtime with its dev config,
 * the way `npm run plan` runs it: the shared ALB and listener, a rule for the service, and the
 * policy read from stacks/shared/policy.yaml.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { beforeAll, describe, expect, test } from "vitest";
import { controllerEnvironment, createMocks, recordingTransformation, settle, type RecordedResource } from "../components/mocks.js";
import { parsePolicy } from "../src/policy/index.js";
import { configMap, projectFor } from "../scripts/plan.js";

const mocks = createMocks();
let outputs: Record<string, unknown> = {};
let rs: RecordedResource[];
const stackDir = new URL("../stacks/aws-ecs/", import.meta.url);

beforeAll(async () => {
  const { project, configFile } = projectFor(stackDir.pathname);
  expect(project).toBe("rollgate-example");
  pulumi.runtime.setAllConfig(configMap(project, configFile));
  await pulumi.runtime.setMocks(mocks, project, "dev", true);
  outputs =
    (await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation(recordingTransformation(mocks));
      return (await import("../stacks/aws-ecs/index.js")) as Record<string, unknown>;
    })) ?? {};
  await settle();
  rs = [...mocks.resources].filter((r) => r.type !== "pulumi:pulumi:Stack");
});

const one = (type: string, name: string) => {
  const found = rs.filter((r) => r.type === type && r.name === name);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0]!;
};

describe("stacks/aws-ecs", () => {
  test("the root Pulumi.yaml runs this stack", () => {
    const doc = parse(readFileSync(new URL("../Pulumi.yaml", import.meta.url), "utf8"));
    expect([doc.name, doc.runtime.name, doc.main]).toEqual(["rollgate-example", "nodejs", "stacks/aws-ecs/"]);
    expect(parse(readFileSync(new URL("../PulumiPlugin.yaml", import.meta.url), "utf8"))).toEqual({ runtime: "nodejs" });
  });

  test("creates the shared platform plus one ProgressiveService: 59 cloud resources (56 + function URL, operator policy, table resource policy)", () => {
    const custom = rs.filter((r) => !r.type.startsWith("rollgate:"));
    expect(custom).toHaveLength(59);
    expect(rs.filter((r) => r.type === "rollgate:index:ProgressiveService").map((r) => r.name)).toEqual(["checkout"]);
    expect(one("aws:lb/loadBalancer:LoadBalancer", "checkout-alb").inputs.loadBalancerType).toBe("application");
    expect(one("aws:lb/listener:Listener", "checkout-http").inputs.defaultActions[0].type).toBe("fixed-response");
  });

  test("the service is a rule on the SHARED listener, not a listener of its own", () => {
    const listener = one("aws:lb/listener:Listener", "checkout-http");
    const rule = one("aws:lb/listenerRule:ListenerRule", "checkout-routing-rule");
    expect(rule.inputs.listenerArn).toBe(listener.state.arn);
    expect(rule.inputs.conditions).toEqual([{ hostHeader: { values: ["checkout.example.com"] } }, { pathPattern: { values: ["/*"] } }]);
    expect(rule.inputs.priority).toBe(100);
    expect(rs.filter((r) => r.type === "aws:lb/listener:Listener")).toHaveLength(1);
  });

  test("the internal ring comes first: a rule on the shared listener that the controller may repoint", async () => {
    const ring = one("aws:lb/listenerRule:ListenerRule", "checkout-routing-ring-internal");
    const service = one("aws:lb/listenerRule:ListenerRule", "checkout-routing-rule");
    expect(ring.inputs.listenerArn).toBe(one("aws:lb/listener:Listener", "checkout-http").state.arn);
    expect(JSON.stringify(ring.inputs.conditions)).toContain("x-checkout-ring");
    expect(ring.inputs.priority).toBeLessThan(service.inputs.priority);
    const env = await controllerEnvironment(one("aws:lambda/function:Function", "checkout-controller-function"));
    expect(JSON.parse(env.ROLLGATE_RING_RULES!)).toEqual({ internal: ring.state.arn });
    const sent = parsePolicy(JSON.parse(env.ROLLGATE_POLICY!));
    expect(sent.steps[0]).toMatchObject({ ring: "internal", rings: ["internal"], weights: { canary: 0 } });
  });

  test("the controller runs stacks/shared/policy.yaml plus the health gate", async () => {
    const fn = one("aws:lambda/function:Function", "checkout-controller-function");
    const sent = parsePolicy(JSON.parse((await controllerEnvironment(fn)).ROLLGATE_POLICY!));
    const file = parsePolicy(parse(readFileSync(new URL("../stacks/shared/policy.yaml", import.meta.url), "utf8")));
    expect(sent.steps.map((s) => [s.percent, s.holdMs, s.approval])).toEqual(file.steps.map((s) => [s.percent, s.holdMs, s.approval]));
    expect(sent.gates.map((g) => g.name)).toEqual([...file.gates.map((g) => g.name), "health"]);
  });

  test("version 1.0.0 from the dev config is released with its task definition", () => {
    const inv = one("aws:lambda/invocation:Invocation", "checkout-release");
    const td = one("aws:ecs/taskDefinition:TaskDefinition", "checkout-slots-task");
    expect(JSON.parse(inv.inputs.input)).toEqual({ command: "start", release: { version: "1.0.0", taskDefinitionArn: td.state.arn } });
    expect(JSON.parse(td.inputs.containerDefinitions)[0].image).toBe("public.ecr.aws/nginx/nginx:1.27");
    expect(Object.keys(outputs).sort()).toEqual(["blueTargetGroup", "controllerFunction", "dashboard", "greenTargetGroup", "notifications", "releaseVersion", "stateTable", "taskDefinition", "url"]);
  });

  test("tasks accept traffic from the ALB only", () => {
    const tasks = one("aws:ec2/securityGroup:SecurityGroup", "checkout-tasks");
    const alb = one("aws:ec2/securityGroup:SecurityGroup", "checkout-alb");
    expect(tasks.inputs.ingress).toEqual([{ protocol: "tcp", fromPort: 80, toPort: 80, securityGroups: [alb.state.id], description: "from the ALB" }]);
  });
});
