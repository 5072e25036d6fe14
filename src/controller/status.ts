/** The `status` command: the recorded intent beside what the listener and ring rules say now. */
import { canaryRings } from "../engine/decide.js";
import { otherSlot } from "../aws/traffic.js";
import { forwardRecordOf, load, observe, ringsDiffering, ringTargets, stableSlotOf, toSlotWeights, type ControllerContext, type StatusResponse } from "./context.js";

export async function status(ctx: ControllerContext): Promise<StatusResponse> {
  const { config, policy, ringRouter } = ctx;
  const { record, freeze, snapshot, rings, ringError } = await load(ctx);
  const slotWeights = toSlotWeights(record.rollout.weights, record.baselineSlot);
  const stableSlot = stableSlotOf(record);
  const expectedRings = canaryRings(policy, record.rollout);
  const seen = observe(ctx, record, snapshot, ctx.clock());
  const ringSlots = Object.fromEntries(Object.values(rings).map((v) => [v.ring, v.slot ?? ("other" as const)]));
  return {
    ok: true,
    command: "status",
    service: config.service,
    ...(config.ruleArn ?? config.listenerArn ? { trafficArn: (config.ruleArn ?? config.listenerArn)! } : {}),
    loadBalancerArn: config.loadBalancerArn,
    phase: record.rollout.phase,
    stableSlot,
    idleSlot: otherSlot(stableSlot),
    state: record.rollout,
    weights: record.rollout.weights,
    slotWeights,
    actualSlotWeights: snapshot.weights,
    drift: seen.differences.length > 0,
    differences: seen.differences,
    forward: forwardRecordOf(snapshot),
    frozen: freeze.frozen,
    freeze,
    killSwitch: record.killSwitch,
    ...(record.pending ? { pending: record.pending } : {}),
    version: record.version,
    applied: record.applied,
    ...(ringRouter
      ? {
          // The canary is the slot that is not serving the released version (while idle: the idle slot).
          rings: Object.keys(ringSlots).filter((r) => ringSlots[r] === otherSlot(stableSlot)),
          expectedRings,
          ringSlots,
          ringDrift: ringsDiffering(ringTargets(ctx, expectedRings, record), rings).length > 0,
          ...(ringError ? { ringError: ringError.message } : {}),
        }
      : {}),
  };
}
