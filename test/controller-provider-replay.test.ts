/**
 * What a second `pulumi up` would do to a live rule with only the weights under ignoreChanges,
 * replayed against moto, then one controller tick. The action list is built the way the engine
 * and the AWS provider build it (pulumi-aws#5798): WeightedRouting's inputs recorded at creation
 * under Pulumi's mock runtime, a changed program (new stickiness), the engine's ignoreChanges
 * processing over the recorded inputs (test/support/ignore-changes.ts), and the provider sending
 * the whole resulting list with ModifyRule. The tick must put traffic back on the committed weights,
 * with the default policy, whichever slot is stable (the replayed 999/0 is all-stable for blue and
 * all-canary for green); and under onDrift=hold too when the replay gives the canary everything.
 * (With the whole action under ignoreChanges, as the component now has it, nothing is sent at all:
 * test/components-live-traffic.test.ts.)
 */
import { ModifyRuleCommand, type Action } from "@aws-sdk/client-elastic-load-balancing-v2";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createMocks, recordingTransformation, settle, valueOf, type RecordedResource } from "../components/mocks.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { actionsSentOnUpdate } from "./support/ignore-changes.js";
import { controllerFor, createWorld, MIN, type World } from "./support/moto-world.js";

let moto: MotoServer;
const mocks = createMocks();
const record = recordingTransformation(mocks);
let C: typeof import("../components/index.js");
beforeAll(async () => {
  moto = await startMoto();
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  C = await import("../components/index.js");
});
afterAll(async () => {
  await moto?.stop();
});

const POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }, { percent: 50, hold: "10m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
  // No onDrift: the default (reapply) must put the committed weights back.
};

async function routingInputs(w: World, name: string, stickinessSeconds: number): Promise<RecordedResource> {
  mocks.reset();
  const routing = new C.WeightedRouting(
    name,
    { blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg, listenerArn: w.listenerArn, priority: 10, pathPatterns: ["/api/*"], stickinessSeconds },
    { transformations: [record] },
  );
  await valueOf(routing.urn);
  await settle();
  return mocks.resources.find((r) => r.type === "aws:lb/listenerRule:ListenerRule")!;
}

/** The provider's translation of the rule's `actions` input into the ELBv2 API shape. */
function toApiActions(actions: unknown): Action[] {
  return (actions as { type: string; forward: { targetGroups: { arn: string; weight: number }[]; stickiness?: { enabled: boolean; duration: number } } }[]).map((a) => ({
    Type: "forward",
    ForwardConfig: {
      TargetGroups: a.forward.targetGroups.map((t) => ({ TargetGroupArn: t.arn, Weight: t.weight })),
      ...(a.forward.stickiness ? { TargetGroupStickinessConfig: { Enabled: a.forward.stickiness.enabled, DurationSeconds: a.forward.stickiness.duration } } : {}),
    },
  }));
}

describe("a provider update replayed against moto, then one tick", () => {
  test.each([
    ["blue", undefined],
    ["green", undefined],
    ["green", "hold"],
  ] as const)("stable=%s (onDrift %s): the full action list from the last recorded inputs (999/0) lands mid-rollout; the next tick restores the committed weights", { timeout: 180_000 }, async (stable, onDrift) => {
    const w = await createWorld(moto, { name: `replay-${stable}-${onDrift ?? "default"}`, mode: "rule", policy: { ...POLICY, ...(onDrift ? { onDrift } : {}) }, stickiness: true });
    const router = createTrafficRouter(w.clients.elbv2, { ruleArn: w.ruleArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    const c = controllerFor(w);
    if (stable === "green") {
      // A first release promoted into green: the next one is canaried on blue.
      expect(await c.command({ command: "start", release: { version: "v2" } })).toMatchObject({ ok: true });
      expect(await c.command({ command: "promote" })).toMatchObject({ ok: true, phase: "promoted" });
      w.clock.advance(MIN);
      await c.tick();
    }
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: true });
    w.clock.advance(MIN);
    await c.tick();
    const committed = (await router.read()).weights;
    expect(committed).toEqual(stable === "blue" ? { blue: 899, green: 100 } : { blue: 100, green: 899 });

    // pulumi up with a changed stickiness, and only the weights under ignoreChanges.
    const olds = await routingInputs(w, "svc", 300);
    const news = await routingInputs(w, "svc", 600);
    const weightsOnly = ["actions[0].forward.targetGroups[0].weight", "actions[0].forward.targetGroups[1].weight"];
    const sent = actionsSentOnUpdate(news.inputs, olds.inputs, weightsOnly, "actions");
    expect(sent).toBeDefined();
    await w.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: w.ruleArn, Actions: toApiActions(sent) }));
    expect((await router.read()).weights).toEqual({ blue: 999, green: 0 });

    w.clock.advance(MIN);
    const tick = await c.tick();
    expect(tick).toMatchObject({ phase: "progressing", transition: true, drift: { actual: stable === "blue" ? { stable: 999, canary: 0 } : { stable: 0, canary: 999 } } });
    if (onDrift === "hold") expect(tick.reason).toMatch(/although onDrift=hold: the canary gets 999, more than its committed 100/);
    expect((await router.read()).weights).toEqual(committed);
  });
});
