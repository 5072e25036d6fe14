/**
 * Controller-owned slot contents on ECS: put a release's task definition on the idle slot's
 * service, confirm the service actually runs it (the deployment circuit breaker may have rolled it
 * back to the previous revision), then wait until its targets are healthy in the idle target group.
 */
import { DescribeServicesCommand, UpdateServiceCommand, type ECSClient, type Service } from "@aws-sdk/client-ecs";
import { DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";

export interface TargetHealthSummary {
  healthy: number;
  total: number;
  /** True when there is at least one target and every target is healthy. */
  ready: boolean;
  states: Record<string, number>;
}

/**
 * Whether a slot's service runs a release's task definition: `deploying` (ECS is still rolling
 * it out), `deployed` (the service and its deployment say so), or `failed` (the deployment
 * failed, the circuit breaker rolled back to another revision, or the service was pointed at
 * another revision): the release must not be canaried, since the targets would run another
 * version under the release's label.
 */
export interface SlotReleaseStatus {
  state: "deploying" | "deployed" | "failed";
  reason: string;
  /** The task definition the service runs now. */
  serviceTaskDefinition?: string;
}

export interface SlotDeployer {
  /** Puts `taskDefinitionArn` on `service` with the desired count of `sizeLike` (the stable slot's service). */
  deploy(input: { service: string; taskDefinitionArn: string; sizeLike: string }): Promise<{ desiredCount: number }>;
  targetHealth(targetGroupArn: string): Promise<TargetHealthSummary>;
  /** Reads the service's deployments: does it run `taskDefinitionArn`, and has that deployment completed? */
  releaseStatus(service: string, taskDefinitionArn: string): Promise<SlotReleaseStatus>;
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
    async releaseStatus(service, taskDefinitionArn) {
      const described = await clients.ecs.send(new DescribeServicesCommand({ cluster: options.clusterArn, services: [service] }));
      const svc = described.services?.[0];
      if (!svc) return { state: "failed", reason: `ECS service ${service} was not found in ${options.clusterArn}` };
      return releaseStatusOf(svc, taskDefinitionArn);
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

/**
 * The release status from a DescribeServices answer. With the deployment circuit breaker's
 * rollback on, a failed deployment is marked FAILED and ECS starts a new PRIMARY deployment of
 * the previous revision, and the service's taskDefinition goes back to it: either is a failed
 * release. A deployment of the release still IN_PROGRESS is not ready yet, whatever the target
 * health says (old tasks may still be registered and healthy).
 */
export function releaseStatusOf(svc: Service, taskDefinitionArn: string): SlotReleaseStatus {
  const current = svc.taskDefinition;
  const deployments = svc.deployments ?? [];
  const ours = deployments.filter((d) => d.taskDefinition === taskDefinitionArn);
  const failed = ours.find((d) => d.rolloutState === "FAILED");
  if (failed) {
    return { state: "failed", reason: `the ECS deployment of ${taskDefinitionArn} failed: ${failed.rolloutStateReason ?? "no reason given"}`, ...(current ? { serviceTaskDefinition: current } : {}) };
  }
  if (current !== taskDefinitionArn) {
    const primary = deployments.find((d) => d.status === "PRIMARY");
    return {
      state: "failed",
      reason: `the service runs ${current ?? "no task definition"}, not the release's ${taskDefinitionArn}${primary?.rolloutStateReason ? ` (${primary.rolloutStateReason})` : ""}: the deployment circuit breaker rolled it back or the service was updated by someone else`,
      ...(current ? { serviceTaskDefinition: current } : {}),
    };
  }
  const running = ours.find((d) => d.status === "PRIMARY") ?? ours[0];
  if (running && running.rolloutState && running.rolloutState !== "COMPLETED") {
    return { state: "deploying", reason: `the ECS deployment of ${taskDefinitionArn} is ${running.rolloutState} (${running.runningCount ?? 0}/${running.desiredCount ?? 0} tasks running)`, serviceTaskDefinition: current };
  }
  // Other deployments still running tasks (the previous revision draining) keep old targets registered.
  const others = deployments.filter((d) => d.taskDefinition !== taskDefinitionArn && d.status !== "INACTIVE" && (d.runningCount ?? 0) > 0);
  if (running && others.length > 0) {
    return { state: "deploying", reason: `${others.map((d) => d.taskDefinition).join(", ")} still runs ${others.reduce((n, d) => n + (d.runningCount ?? 0), 0)} task(s) on the service`, serviceTaskDefinition: current };
  }
  return { state: "deployed", reason: `the service runs ${taskDefinitionArn}${running?.rolloutState ? ` (deployment ${running.rolloutState})` : ""}`, serviceTaskDefinition: current };
}
