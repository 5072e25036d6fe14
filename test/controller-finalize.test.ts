/**
 * Finalize after promotion (policy.promotion), against moto with ECS slot services: the old slot
 * keeps its tasks while the release bakes at 100 %, an alarm during the bake sends traffic back
 * at once, and when the bake passes the controller scales the OLD slot's service to 0 (never the
 * one now serving).
 */
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { alarmEvent, controllerFor, createWorld, MIN, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const BAKED: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "1m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
  promotion: { bake: "5m" },
};

const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const taskDef = (w: World) => `arn:aws:ecs:us-east-1:123456789012:task-definition/${w.name}-app:1`;
async function desired(w: World, slot: "blue" | "green"): Promise<number | undefined> {
  const res = await w.clients.ecs.send(new DescribeServicesCommand({ cluster: w.config.ecs!.clusterArn, services: [`${w.name}-${slot}`] }));
  return res.services![0]!.desiredCount;
}

/** Start v2 into green, let its targets turn healthy, walk the one step and promote. */
async function promoteIntoGreen(w: World) {
  const c = controllerFor(w);
  await c.command({ command: "start", release: { version: "v2", taskDefinitionArn: taskDef(w) } });
  await w.clients.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: w.greenTg, Targets: [{ Id: "10.0.1.10", Port: 80 }] }));
  w.clock.advance(MIN);
  expect(await c.tick()).toMatchObject({ action: "advance" });
  w.clock.advance(MIN);
  expect(await c.tick()).toMatchObject({ action: "promote" });
  return c;
}

describe("finalize after promotion, against moto (ECS slots)", () => {
  test("the old slot keeps its tasks during the bake, then only the old slot is scaled to 0", async () => {
    const w = await createWorld(moto, { name: "fin", ecs: true, policy: BAKED });
    const c = await promoteIntoGreen(w);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 0, green: 999 });
    expect(await desired(w, "blue")).toBe(3);
    expect(await desired(w, "green")).toBe(3);

    w.clock.advance(2 * MIN);
    expect(await c.tick()).toMatchObject({ action: "hold" });
    expect(await desired(w, "blue")).toBe(3);

    w.clock.advance(3 * MIN);
    expect(await c.tick()).toMatchObject({ action: "finalize" });
    expect(await desired(w, "blue")).toBe(0);
    expect(await desired(w, "green")).toBe(3);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 0, green: 999 });
  });

  test("an alarm during the bake returns traffic to the old slot in that invocation, and nothing is scaled down", async () => {
    const w = await createWorld(moto, { name: "finrb", ecs: true, policy: BAKED });
    const c = await promoteIntoGreen(w);
    w.clock.advance(MIN);
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "test" }));
    expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ action: "rollback" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    expect(await desired(w, "blue")).toBe(3);
    w.clock.advance(10 * MIN);
    await c.tick();
    expect(await desired(w, "blue")).toBe(3);
  });
});
