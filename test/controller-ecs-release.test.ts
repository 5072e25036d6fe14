/**
 * ECS slots: the controller canaries a release only once the idle slot's service runs the
 * release's task definition. A deployment circuit breaker that rolls the service back to the
 * previous revision fails the release: the old revision is never canaried or promoted under the
 * new label. Against moto (ECS, ELB, table) with the real SDK clients; moto has no circuit
 * breaker, so its effect on the service (a new deployment of the previous revision) is made with
 * UpdateService, and the FAILED deployment record ECS keeps is checked on DescribeServices answers
 * in the pure releaseStatusOf cases.
 */
import { DescribeServicesCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { releaseStatusOf } from "../src/aws/ecs.js";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { controllerFor, createWorld, MIN, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "1m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
};
const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });

async function newRevision(w: World): Promise<{ previous: string; release: string }> {
  const res = await w.clients.ecs.send(new RegisterTaskDefinitionCommand({ family: `${w.name}-app`, containerDefinitions: [{ name: "app", image: "app:v2", memory: 128 }] }));
  const release = res.taskDefinition!.taskDefinitionArn!;
  return { previous: release.replace(/:\d+$/, ":1"), release };
}
async function serviceTd(w: World, slot: "blue" | "green"): Promise<string | undefined> {
  const res = await w.clients.ecs.send(new DescribeServicesCommand({ cluster: w.config.ecs!.clusterArn, services: [`${w.name}-${slot}`] }));
  return res.services![0]!.taskDefinition;
}

describe("ECS: the canary slot must run the release's task definition (moto)", () => {
  test("a circuit-breaker rollback to the previous revision fails the release; its healthy targets are never canaried", { timeout: 180_000 }, async () => {
    const w = await createWorld(moto, { name: "cbrb", ecs: true, policy: POLICY });
    const { previous, release } = await newRevision(w);
    const c = controllerFor(w);
    expect(await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: release } })).toMatchObject({ ok: true });
    w.clock.advance(MIN);
    await c.tick();
    expect(await serviceTd(w, "green")).toBe(release);
    // The breaker: the deployment of v2 fails and ECS rolls the service back to revision 1,
    // whose tasks turn healthy in the green target group.
    await w.clients.ecs.send(new UpdateServiceCommand({ cluster: w.config.ecs!.clusterArn, service: `${w.name}-green`, taskDefinition: previous }));
    await w.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: w.greenTg, Targets: [{ Id: "10.0.1.10", Port: 80 }] }));
    w.clock.advance(MIN);
    const result = await c.tick();
    expect(result.reason).toMatch(/release v2 failed on the green slot: the service runs .*:1, not the release's .*:2/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    const record = await createStateStore(w.clients.documents, { table: w.config.table }).get(w.config.service);
    expect(record?.pending).toMatchObject({ version: "v2", status: "failed" });
    expect(record?.rollout.release.canary).not.toBe("v2");
    // Later ticks do not pick it up again.
    w.clock.advance(MIN);
    await c.tick();
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
  });

  test("the same release whose service keeps the revision is canaried once its targets are healthy", { timeout: 180_000 }, async () => {
    const w = await createWorld(moto, { name: "cbok", ecs: true, policy: POLICY });
    const { release } = await newRevision(w);
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: release } });
    expect(await serviceTd(w, "green")).toBe(release);
    await w.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: w.greenTg, Targets: [{ Id: "10.0.1.10", Port: 80 }] }));
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ action: "advance" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
  });
});

describe("releaseStatusOf: DescribeServices answers of real ECS deployments", () => {
  const V1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1";
  const V2 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2";
  test.each([
    [
      "rolling out: the new PRIMARY is IN_PROGRESS and the old ACTIVE still runs tasks",
      { taskDefinition: V2, deployments: [{ status: "PRIMARY", taskDefinition: V2, rolloutState: "IN_PROGRESS", runningCount: 1, desiredCount: 3 }, { status: "ACTIVE", taskDefinition: V1, rolloutState: "COMPLETED", runningCount: 3 }] },
      "deploying",
      /IN_PROGRESS \(1\/3 tasks running\)/,
    ],
    [
      "circuit breaker: the release's deployment FAILED and a rollback PRIMARY of the previous revision runs",
      {
        taskDefinition: V1,
        deployments: [
          { status: "PRIMARY", taskDefinition: V1, rolloutState: "IN_PROGRESS", runningCount: 1 },
          { status: "ACTIVE", taskDefinition: V2, rolloutState: "FAILED", rolloutStateReason: "ECS deployment circuit breaker: tasks failed to start.", runningCount: 0 },
        ],
      },
      "failed",
      /deployment of .*:2 failed: ECS deployment circuit breaker: tasks failed to start/,
    ],
    ["after the rollback completed (the failed deployment is gone)", { taskDefinition: V1, deployments: [{ status: "PRIMARY", taskDefinition: V1, rolloutState: "COMPLETED", runningCount: 3 }] }, "failed", /the service runs .*:1, not the release's .*:2/],
    ["completed", { taskDefinition: V2, deployments: [{ status: "PRIMARY", taskDefinition: V2, rolloutState: "COMPLETED", runningCount: 3, desiredCount: 3 }] }, "deployed", /runs .*:2 \(deployment COMPLETED\)/],
    ["completed, old tasks still draining", { taskDefinition: V2, deployments: [{ status: "PRIMARY", taskDefinition: V2, rolloutState: "COMPLETED", runningCount: 3 }, { status: "ACTIVE", taskDefinition: V1, runningCount: 1 }] }, "deploying", /:1 still runs 1 task/],
  ] as [string, object, string, RegExp][])("%s", (_label, svc, state, reason) => {
    const s = releaseStatusOf(svc, V2);
    expect(s.state).toBe(state);
    expect(s.reason).toMatch(reason);
  });
});
