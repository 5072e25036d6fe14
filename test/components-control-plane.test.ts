/**
 * The StepController's control-plane resources under Pulumi's mock runtime: the IAM documents as
 * rendered. The controller's role may not update or delete history; an operator's policy has no
 * table writes at all; the table's resource policy denies every item write to any principal but
 * the controller's role and every update or delete of a history item to everyone; the function
 * URL authenticates with IAM. Mocks render documents; they do not evaluate them (that is AWS's),
 * so the tests read the documents the way IAM would, statement by statement.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";
import { arnLike } from "../src/auth/access.js";

const mocks = createMocks();
let C: typeof import("../components/index.js");
const ACCOUNT = "123456789012";
const LB = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:loadbalancer/app/shared/50dc6c495c0c9188`;
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2`;

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});

type Statement = { Sid: string; Effect: string; Action: string[]; Resource: string | string[]; Condition?: Record<string, Record<string, unknown>>; Principal?: unknown };
const WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"];
/** Actions an Allow statement grants, wildcards expanded against the write actions. */
const grants = (s: Statement, action: string) => s.Effect === "Allow" && s.Action.some((a) => a === action || a === "*" || (a.endsWith("*") && action.startsWith(a.slice(0, -1))));

describe("StepController control plane (Pulumi mocks)", () => {
  let rs: RecordedResource[];
  let controller: import("../components/index.js").StepController;
  beforeAll(async () => {
    mocks.reset();
    controller = new C.StepController(
      "ctl",
      {
        serviceName: "checkout",
        policyJson: JSON.stringify({ profile: "standard" }),
        listenerArn: LISTENER,
        loadBalancerArn: LB,
        blueTargetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/b/aaaaaaaaaaaaaaaa`,
        greenTargetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/g/bbbbbbbbbbbbbbbb`,
        gateAlarmArns: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:a1`],
        codePath: "dist/lambda/controller.mjs",
      },
      { transformations: [recordingTransformation(mocks)] },
    );
    await valueOf(controller.urn);
    await settle();
    rs = [...mocks.resources];
  });
  const one = (type: string) => {
    const found = rs.filter((r) => r.type === type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  const tableArn = () => one("aws:dynamodb/table:Table").state.arn as string;
  const roleArn = () => one("aws:iam/role:Role").state.arn as string;

  test("the controller's role: no UpdateItem on history partitions, no DeleteItem, BatchWriteItem or PartiQL anywhere", () => {
    const doc = JSON.parse(one("aws:iam/rolePolicy:RolePolicy").inputs.policy) as { Statement: Statement[] };
    const onTable = doc.Statement.filter((s) => [s.Resource].flat().some((r) => r === tableArn() || r === "*"));
    for (const action of ["dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]) {
      expect(onTable.filter((s) => grants(s, action)), action).toEqual([]);
    }
    const updates = onTable.filter((s) => grants(s, "dynamodb:UpdateItem"));
    expect(updates).toHaveLength(1);
    // Every UpdateItem grant is conditioned on the partition key being a state partition.
    const keys = updates[0]!.Condition?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"] as string[];
    expect(keys).toEqual(["service#*", "global"]);
    expect(keys.some((k) => "history#service#checkout".match(new RegExp(`^${k.replace("*", ".*")}$`)))).toBe(false);
    expect(onTable.filter((s) => grants(s, "dynamodb:PutItem")).map((s) => s.Sid)).toEqual(["StateWrite"]);
  });

  test("the operator policy: call the function URL (and InvokeFunction only via the URL), read the state; no table writes", async () => {
    const doc = JSON.parse(one("aws:iam/policy:Policy").inputs.policy) as { Statement: Statement[] };
    for (const action of WRITES) expect(doc.Statement.filter((s) => grants(s, action)), action).toEqual([]);
    const fnArn = one("aws:lambda/function:Function").state.arn;
    expect(doc.Statement.find((s) => s.Sid === "CallTheController")).toMatchObject({ Action: ["lambda:InvokeFunctionUrl"], Resource: fnArn, Condition: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } } });
    expect(doc.Statement.find((s) => grants(s, "lambda:InvokeFunction"))).toMatchObject({ Condition: { Bool: { "lambda:InvokedViaFunctionUrl": "true" } } });
    expect(doc.Statement.find((s) => s.Sid === "ReadState")).toMatchObject({ Action: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"], Resource: tableArn() });
    expect(await valueOf(controller.operatorPolicyArn)).toMatch(/^arn:aws:iam::123456789012:policy\//);
  });

  test("the table's resource policy denies item writes to everyone but the controller's role, and history updates and deletes to everyone", () => {
    const rp = one("aws:dynamodb/resourcePolicy:ResourcePolicy");
    expect(rp.inputs.resourceArn).toBe(tableArn());
    const doc = JSON.parse(rp.inputs.policy) as { Statement: Statement[] };
    const only = doc.Statement.find((s) => s.Sid === "OnlyTheControllerWrites")!;
    expect(only).toMatchObject({ Effect: "Deny", Principal: "*", Resource: tableArn(), Condition: { ArnNotEquals: { "aws:PrincipalArn": roleArn() } } });
    expect([...only.Action].sort()).toEqual([...WRITES].sort());
    // The deny applies to an operator's role and an admin's, not to the controller's.
    const denied = (principal: string) => !arnLike(roleArn(), principal);
    expect(denied(`arn:aws:iam::${ACCOUNT}:role/oncall`)).toBe(true);
    expect(denied(`arn:aws:iam::${ACCOUNT}:role/Admin`)).toBe(true);
    expect(denied(roleArn())).toBe(false);
    const history = doc.Statement.find((s) => s.Sid === "HistoryIsAppendOnly")!;
    expect(history).toMatchObject({ Effect: "Deny", Principal: "*", Condition: { "ForAnyValue:StringLike": { "dynamodb:LeadingKeys": ["history#*"] } } });
    expect(history.Condition!["ArnNotEquals"]).toBeUndefined();
    for (const action of ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]) expect(history.Action).toContain(action);
  });

  test("the function URL authenticates with IAM, and the controller reads and may set the account-wide freeze parameter", async () => {
    const url = one("aws:lambda/functionUrl:FunctionUrl");
    expect(url.inputs).toMatchObject({ authorizationType: "AWS_IAM" });
    expect(await valueOf(controller.functionUrl)).toMatch(/^https:\/\/[a-z0-9]+\.lambda-url\.eu-west-1\.on\.aws\/$/);
    const fn = one("aws:lambda/function:Function");
    expect(fn.inputs.environment.variables.ROLLGATE_ACCOUNT_FREEZE_PARAMETER).toBe("/rollgate/account-freeze");
    const doc = JSON.parse(one("aws:iam/rolePolicy:RolePolicy").inputs.policy) as { Statement: Statement[] };
    expect(doc.Statement.find((s) => s.Sid === "AccountFreeze")).toEqual({ Sid: "AccountFreeze", Effect: "Allow", Action: ["ssm:GetParameter", "ssm:PutParameter"], Resource: `arn:aws:ssm:eu-west-1:${ACCOUNT}:parameter/rollgate/account-freeze` });
  });

  test("a bad accountFreezeParameter is refused naming the field", () => {
    expect(() => C.validateStepControllerArgs({ policyJson: "{}", listenerArn: LISTENER, loadBalancerArn: LB, blueTargetGroupArn: "b", greenTargetGroupArn: "g", gateAlarmArns: ["a"], accountFreezeParameter: "rollgate freeze" })).toThrow(/accountFreezeParameter must be an SSM parameter name starting with "\/"/);
  });
});
