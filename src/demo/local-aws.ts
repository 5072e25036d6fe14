/**
 * One service's AWS world inside a local emulator (moto), for `npm run demo` and the CLI's tests:
 * what `provisionService` creates (ALB, blue and green target groups, a listener forwarding
 * 999/0, the state table, a topic) plus one 5xx alarm per slot's target group, the shape of the
 * HealthGates component's per-slot alarms. Returns the controller configuration the
 * StepController component would put in the Lambda's environment.
 */
import { PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { loadBalancerDimension, targetGroupDimension } from "../aws/arn.js";
import type { AwsClients } from "../aws/clients.js";
import type { Slot } from "../aws/traffic.js";
import type { ControllerConfig } from "../controller/config.js";
import { provisionService, type MotoServer } from "../local/moto-server.js";
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

let counter = 0;

export async function provisionLocalService(moto: MotoServer, options: { service: string; policy: PolicyInput; clients?: AwsClients }): Promise<LocalService> {
  const { service } = options;
  // ELB names: 32 characters at most, unique within the emulator; one table per provisioning.
  const short = `${service.slice(0, 16)}-${++counter}`;
  const world = await provisionService(moto, { name: service, shortName: short, tableName: `rollgate-${service}-${counter}`, policy: options.policy });
  const clients = options.clients ?? world.clients;
  const targetGroups: Record<Slot, string> = { blue: world.blueTargetGroupArn, green: world.greenTargetGroupArn };

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
          { Name: "LoadBalancer", Value: loadBalancerDimension(world.loadBalancerArn) },
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

  const policy = parsePolicy(JSON.parse(JSON.stringify(options.policy).replaceAll(`"${SLOT_ALARMS}"`, JSON.stringify([alarms.blue, alarms.green]).slice(1, -1))));
  // The demo narrates its own events; the world's topic stays out of its configuration.
  const { topicArn: _topic, ...rest } = world.config;
  const config: ControllerConfig = { ...rest, policy };
  return { clients, config, alarms, targetGroups, loadBalancerArn: world.loadBalancerArn, listenerArn: world.listenerArn };
}
