/**
 * Controller-owned slot contents on ECS: put a release's task definition on the idle slot's
 * service, then wait until its targets are healthy in the idle target group.
 */
import { DescribeServicesCommand, UpdateServiceCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";

export interface TargetHealthSummary {
  healthy: number;
  total: number;
  /** True when there is at least one target and every target is healthy. */
  ready: boolean;
  states: Record<string, number>;
}

export interface SlotDeployer {
  /** Puts `taskDefinitionArn` on `service` with the desired count of `sizeLike` (the stable slot's service). */
  deploy(input: { service: string; taskDefinitionArn: string; sizeLike: string }): Promise<{ desiredCount: number }>;
  targetHealth(targetGroupArn: string): Promise<TargetHealthSummary>;
  /** Scales a slot's service to zero once a promotion is final. */
  scaleDown(service: string): Promise<void>;
}

export function createSlotDeployer(clients: { ecs: ECSClient; elbv2: ElasticLoadBalancingV2Client }, options: { clusterArn: string }): SlotDeployer {
  return {
    async deploy({ service, taskDefinitionArn, sizeLike }) {
      const described = await clients.ecs.send(new DescribeServicesCommand({ cluster: options.clusterArn, services: [sizeLike] }));
      const stable = described.services?.[0];
      if (!stable) throw new Error(`ECS service ${sizeLike} not found in ${options.clusterArn}: cannot size the idle slot like the stable one`);
      // At least one task, so a first release into an empty stable slot still gets a target to check.
      const desiredCount = Math.max(1, stable.desiredCount ?? 1);
      await clients.ecs.send(new UpdateServiceCommand({ cluster: options.clusterArn, service, taskDefinition: taskDefinitionArn, desiredCount }));
      return { desiredCount };
    },
    async scaleDown(service) {
      await clients.ecs.send(new UpdateServiceCommand({ cluster: options.clusterArn, service, desiredCount: 0 }));
    },
    async targetHealth(targetGroupArn) {
      const res = await clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
      const states: Record<string, number> = {};
      for (const d of res.TargetHealthDescriptions ?? []) {
        const s = d.TargetHealth?.State ?? "unknown";
        states[s] = (states[s] ?? 0) + 1;
      }
      const total = res.TargetHealthDescriptions?.length ?? 0;
      const healthy = states.healthy ?? 0;
      return { healthy, total, ready: total > 0 && healthy === total, states };
    },
  };
}
