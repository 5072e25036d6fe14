/**
 * One service's AWS world inside a local emulator (moto): an ALB in the default VPC, the blue and
 * green target groups, a listener forwarding 999/0 to them, one 5xx alarm per slot, and the state
 * table. Returns the controller configuration the StepController component would put in the
 * Lambda's environment. Used by `npm run demo` and the CLI's tests.
 */
import { PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { loadBalancerDimension, targetGroupDimension } from "../aws/arn.js";
import { createClients, type AwsClients } from "../aws/clients.js";
import type { Slot } from "../aws/traffic.js";
import type { ControllerConfig } from "../controller/config.js";
import type { MotoServer } from "../local/moto-server.js";
import { parsePolicy } from "../policy/resolve.js";
import type { PolicyInput } from "../policy/schema.js";

export interface LocalService {
  clients: AwsClients;
  config: ControllerConfig;
  /** The 5xx alarm of each slot's target group (moto stores alarms but never evaluates them). */
  alarms: Record<Slot, string>;
  targetGroups: Record<Slot, string>;
  loadBalancerArn: string;
  listenerArn: string;
}

/** The placeholder a policy uses for the per-slot 5xx alarm names. */
export const SLOT_ALARMS = "__SLOT_5XX_ALARMS__";

async function defaultSubnets(moto: MotoServer): Promise<{ subnets: string[]; vpc: string }> {
  // There is no EC2 client among the dependencies; moto's default VPC is read through the Query API.
  const res = await fetch(moto.endpoint, {
    method: "POST",
    body: new URLSearchParams({ Action: "DescribeSubnets", Version: "2016-11-15" }),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${moto.region}/ec2/aws4_request, SignedHeaders=host, Signature=x`,
    },
  });
  const xml = await res.text();
  const subnets = [...xml.matchAll(/<subnetId>([^<]+)<\/subnetId>/g)].map((m) => m[1]!);
  const vpc = xml.match(/<vpcId>([^<]+)<\/vpcId>/)?.[1];
  if (subnets.length < 2 || !vpc) throw new Error(`moto returned no default subnets: ${xml.slice(0, 300)}`);
  return { subnets, vpc };
}

let counter = 0;

export async function provisionLocalService(moto: MotoServer, options: { service: string; policy: PolicyInput; clients?: AwsClients }): Promise<LocalService> {
  const { service } = options;
  const clients = options.clients ?? createClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  // ELB names: 32 characters at most, unique within the emulator.
  const short = `${service.slice(0, 16)}-${++counter}`;
  const { subnets, vpc } = await defaultSubnets(moto);
  const lb = await clients.elbv2.send(new CreateLoadBalancerCommand({ Name: short, Subnets: subnets.slice(0, 2) }));
  const loadBalancerArn = lb.LoadBalancers![0]!.LoadBalancerArn!;
  const tg = async (slot: Slot) =>
    (await clients.elbv2.send(new CreateTargetGroupCommand({ Name: `${short}-${slot}`, Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" }))).TargetGroups![0]!.TargetGroupArn!;
  const targetGroups: Record<Slot, string> = { blue: await tg("blue"), green: await tg("green") };
  const listener = await clients.elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: loadBalancerArn,
      Protocol: "HTTP",
      Port: 80,
      DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: targetGroups.blue, Weight: 999 }, { TargetGroupArn: targetGroups.green, Weight: 0 }] } }],
    }),
  );
  const listenerArn = listener.Listeners![0]!.ListenerArn!;

  const alarms: Record<Slot, string> = { blue: `${service}-blue-5xx`, green: `${service}-green-5xx` };
  for (const slot of ["blue", "green"] as const) {
    await clients.cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: alarms[slot],
        AlarmDescription: `5xx responses of the ${slot} target group of ${service}`,
        Namespace: "AWS/ApplicationELB",
        MetricName: "HTTPCode_Target_5XX_Count",
        Dimensions: [
          { Name: "TargetGroup", Value: targetGroupDimension(targetGroups[slot]) },
          { Name: "LoadBalancer", Value: loadBalancerDimension(loadBalancerArn) },
        ],
        Statistic: "Sum",
        Period: 60,
        EvaluationPeriods: 1,
        // The demo evaluates it the same way (moto does not): more than 25 5xx in a minute.
        Threshold: 25,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      }),
    );
    await clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarms[slot], StateValue: "OK", StateReason: "created" }));
  }

  const table = `rollgate-${service}-${counter}`;
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
  const policy = parsePolicy(JSON.parse(JSON.stringify(options.policy).replaceAll(`"${SLOT_ALARMS}"`, JSON.stringify([alarms.blue, alarms.green]).slice(1, -1))));
  const config: ControllerConfig = {
    service,
    policy,
    table,
    listenerArn,
    blueTargetGroupArn: targetGroups.blue,
    greenTargetGroupArn: targetGroups.green,
    loadBalancerArn,
    eventBus: "default",
    historyTtlDays: 90,
    freezeAlarms: [],
  };
  return { clients, config, alarms, targetGroups, loadBalancerArn, listenerArn };
}
