/**
 * What a second `pulumi up` would do to a live rule with only the weights under ignoreChanges,
 * replayed against moto, then one controller tick. The action list is built the way the engine
 * and the AWS provider build it (pulumi-aws#5798): WeightedRouting's inputs recorded at creation
 * under Pulumi's mock runtime, a changed program (new stickiness), the engine's ignoreChanges
 * processing over the recorded inputs (test/support/ignore-changes.ts), and the provider sending
 * the whole resulting list with ModifyRule. The tick must put traffic back on the committed weights.
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
  // Traffic differing from what the controller applied is put back (the DESIGN's convergence).
  onDrift: "reapply",
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
  test("the full action list from the last recorded inputs (999/0) lands mid-rollout; the next tick restores the committed weights", { timeout: 180_000 }, async () => {
    const w = await createWorld(moto, { name: "replay", mode: "rule", policy: POLICY, stickiness: true });
    const router = createTrafficRouter(w.clients.elbv2, { ruleArn: w.ruleArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    const c = controllerFor(w);
    expect(await c.command({ command: "start", release: { version: "v2" } })).toMatchObject({ ok: true });
    w.clock.advance(MIN);
    await c.tick();
    const committed = (await router.read()).weights;
    expect(committed).toEqual({ blue: 899, green: 100 });

    // pulumi up with a changed stickiness, and only the weights under ignoreChanges.
    const olds = await routingInputs(w, "svc", 300);
    const news = await routingInputs(w, "svc", 600);
    const weightsOnly = ["actions[0].forward.targetGroups[0].weight", "actions[0].forward.targetGroups[1].weight"];
    const sent = actionsSentOnUpdate(news.inputs, olds.inputs, weightsOnly, "actions");
    expect(sent).toBeDefined();
    await w.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: w.ruleArn, Actions: toApiActions(sent) }));
    expect((await router.read()).weights).toEqual({ blue: 999, green: 0 });

    w.clock.advance(MIN);
    await c.tick();
    expect((await router.read()).weights).toEqual(committed);
  });
});
