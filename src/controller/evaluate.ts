/**
 * Evaluation: a tick or an alarm event reads the world and the record, gathers the evidence the
 * current step's gates need, asks the engine, and hands the decision to `execute`.
 *
 * Reconciliation: the listener is compared with the recorded weights on every invocation. A
 * record still marked `applied=false`, or a listener already at last-known-good while the engine,
 * asked without the listener's view, also says roll back, is this controller's own unfinished
 * write and is completed; any other difference is drift, handed to the engine.
 */
import { applyCommand, canaryRings, decide, weightsEqual } from "../engine/decide.js";
import type { Decision, Evidence, HookRequest, RolloutState } from "../engine/types.js";
import { isComparisonGate, type AlarmGate, type ComparisonGate } from "../policy/types.js";
import type { FreezeRecord, PendingRelease, ServiceRecord } from "../aws/state.js";
import { otherSlot, type RingSnapshot, type TrafficSnapshot } from "../aws/traffic.js";
import {
  ecsServiceOf,
  fromSlotWeights,
  isActive,
  load,
  noopDecision,
  resultOf,
  startCommand,
  tag,
  targetGroupOf,
  withRetries,
  type ControllerContext,
  type EvaluationResult,
} from "./context.js";
import { execute } from "./converge.js";
import type { Trigger } from "./events.js";
import { setAccountFreeze, setFreeze } from "./freeze.js";
import { runHooks } from "./hooks.js";

interface Evaluated {
  result: EvaluationResult;
  record: ServiceRecord;
  hooks: HookRequest[];
}

export async function evaluate(ctx: ControllerContext, trigger: Exclude<Trigger, { kind: "command" }>, pass = 0, skipHooks: ReadonlySet<string> = new Set()): Promise<EvaluationResult> {
  const { config, emf, log } = ctx;
  const label = trigger.kind === "tick" ? "tick" : `alarm:${trigger.alarmName}`;
  if (pass === 0 && trigger.kind === "alarm" && trigger.state === "ALARM" && config.freezeAlarms.includes(trigger.alarmName)) {
    // The account-wide freeze when the controller has one (every service stops advancing), else this table's.
    const by = { actor: label, reason: `error-budget alarm ${trigger.alarmName} is in ALARM`, trigger: label };
    if (ctx.deps.accountFreeze) await setAccountFreeze(ctx, true, by);
    else await setFreeze(ctx, true, by);
  }
  let evidenceCache: { rolloutId: string; stepIndex: number; value: Pick<Evidence, "alarms" | "gates"> } | undefined;
  const outcome = await withRetries(ctx, label, async (attempts): Promise<Evaluated> => {
    const { record, freeze, snapshot, rings, ringError } = await load(ctx);
    tag(ctx, record);
    const now = ctx.clock();
    if (record.pending?.status === "deploying" && !isActive(record.rollout)) return progressPending(ctx, record, freeze, snapshot, rings, label, attempts, ringError);

    const active = isActive(record.rollout);
    const fast =
      trigger.kind === "alarm" &&
      trigger.state === "ALARM" &&
      active &&
      currentGates(ctx, record.rollout).some((g) => g.type === "alarm" && g.alarms.includes(trigger.alarmName));
    let evidence: Pick<Evidence, "alarms" | "gates">;
    if (fast) {
      // The event is the evidence: no metric reads between a firing alarm and the rollback.
      evidence = { alarms: { [trigger.alarmName]: "ALARM" }, gates: {} };
    } else if (active) {
      if (!evidenceCache || evidenceCache.rolloutId !== record.rollout.rolloutId || evidenceCache.stepIndex !== record.rollout.stepIndex) {
        evidenceCache = { rolloutId: record.rollout.rolloutId, stepIndex: record.rollout.stepIndex, value: await gatherEvidence(ctx, record, now) };
      }
      evidence = evidenceCache.value;
    } else {
      evidence = { alarms: {}, gates: {} };
    }
    const decision = decideReconciled(ctx, record, { ...evidence, freeze: freeze.frozen, killSwitch: record.killSwitch }, snapshot, rings, now);
    emf.addMetric("Decisions", "Count", 1);
    if (decision.drift && !decision.transition) log.info("listener weights still differ from the recorded ones", { drift: decision.drift });
    const { record: after } = await execute(ctx, { record, snapshot, rings, ...(ringError ? { ringError } : {}), decision, trigger: label, kind: "decision" });
    return { result: resultOf(ctx, label, after, decision, attempts, fast ? { fastPath: true } : {}), record: after, hooks: decision.hooks };
  });
  const ran = await runHooks(ctx, outcome.record, outcome.hooks, label, skipHooks);
  // Decide once more with the hooks' answers, so a passing beforeStep hook shifts traffic now
  // rather than a tick later. Hooks already run in this invocation are not run again.
  if (ran.length > 0 && pass === 0) return evaluate(ctx, trigger, 1, new Set(ran));
  return outcome.result;
}

function currentGates(ctx: ControllerContext, state: RolloutState) {
  const { policy } = ctx;
  // During a promotion's bake only alarm gates guard (the engine's rule); otherwise the step's gates.
  if (state.phase === "promoted") return policy.gates.filter((g): g is AlarmGate => g.type === "alarm");
  const step = policy.steps[state.stepIndex];
  return step ? policy.gates.filter((g) => step.gates.includes(g.name)) : [];
}

/** Alarm states and metric evidence for the current step; only what its gates need. */
async function gatherEvidence(ctx: ControllerContext, record: ServiceRecord, now: number): Promise<Pick<Evidence, "alarms" | "gates">> {
  const { config, deps } = ctx;
  const gates = currentGates(ctx, record.rollout);
  const alarmNames = gates.flatMap((g) => (g.type === "alarm" ? g.alarms : []));
  const comparisons = gates.filter(isComparisonGate) as ComparisonGate[];
  const canarySlot = otherSlot(record.baselineSlot);
  const [alarms, evidence] = await Promise.all([
    alarmNames.length ? deps.alarms.states(alarmNames) : Promise.resolve({}),
    comparisons.length
      ? deps.metrics.gather({
          gates: comparisons,
          loadBalancerArn: config.loadBalancerArn,
          canary: { targetGroupArn: targetGroupOf(ctx, canarySlot), version: record.rollout.release.canary },
          baseline: { targetGroupArn: targetGroupOf(ctx, record.baselineSlot), version: record.rollout.release.stable },
          start: record.rollout.startedAt,
          end: now,
        })
      : Promise.resolve({}),
  ]);
  return { alarms, gates: evidence };
}

/** The engine's decision, with the controller's own unfinished writes told apart from drift. */
function decideReconciled(ctx: ControllerContext, record: ServiceRecord, base: Omit<Evidence, "actualWeights">, snapshot: TrafficSnapshot, rings: RingSnapshot, now: number): Decision {
  const { policy } = ctx;
  const state = record.rollout;
  // applied=false: the listener may still show the previous weights because of our own half-done write.
  if (!record.applied) return decide(policy, state, base, now);
  const actual = fromSlotWeights(snapshot.weights, record.baselineSlot);
  // During a ring step the weights are all-stable anyway; ring rules already back on stable are
  // the same sign of a rollback whose state write did not land.
  const onCanary = canaryRings(policy, state);
  const ringsBack = onCanary.length > 0 && onCanary.every((r) => rings[r]?.slot === record.baselineSlot);
  if (isActive(state) && weightsEqual(actual, state.lastKnownGood) && (!weightsEqual(actual, state.weights) || ringsBack)) {
    // A rollback wrote the listener but not the state. If the engine still rolls back without
    // looking at the listener (alarm, gate or kill switch still say so), complete that rollback.
    const again = decide(policy, state, base, now);
    if (again.action === "rollback") return again;
  }
  return decide(policy, state, { ...base, actualWeights: actual }, now);
}

/** A release waiting for healthy ECS targets in the idle slot. */
async function progressPending(ctx: ControllerContext, record: ServiceRecord, freeze: FreezeRecord, snapshot: TrafficSnapshot, rings: RingSnapshot, label: string, attempts: number, ringError?: Error): Promise<Evaluated> {
  const { config, policy, store } = ctx;
  const pending = record.pending!;
  const now = ctx.clock();
  const slots = ctx.deps.slots!;
  const hold = (reason: string): Evaluated => ({ result: resultOf(ctx, label, record, { action: "pending", reason, transition: false }, attempts), record, hooks: [] });
  if (!pending.deployed) {
    await slots.deploy({ service: ecsServiceOf(ctx, pending.slot), taskDefinitionArn: pending.taskDefinitionArn, sizeLike: ecsServiceOf(ctx, otherSlot(pending.slot)) });
    await store.commit({ ...record, version: record.version + 1, pending: { ...pending, deployed: true }, updatedAt: now }, record.version, []);
    return hold(`release ${pending.version}: task definition put on the ${pending.slot} slot; waiting for healthy targets`);
  }
  const health = await slots.targetHealth(targetGroupOf(ctx, pending.slot));
  if (health.ready) {
    const result = applyCommand(policy, record.rollout, startCommand(record, pending.version, pending.rolloutId), { freeze: freeze.frozen, killSwitch: record.killSwitch }, now);
    if (!result.ok) return hold(`release ${pending.version} is ready on ${pending.slot}, but cannot start: ${result.message}`);
    const { record: after } = await execute(ctx, {
      record,
      snapshot,
      rings,
      ...(ringError ? { ringError } : {}),
      decision: result.decision,
      // Who asked for the release started it: separation of duties compares approvers with them.
      patch: { baselineSlot: otherSlot(pending.slot), clearPending: true, approvedBy: [], ...(pending.actor ? { startedBy: pending.actor } : {}) },
      trigger: label,
      kind: "release",
      ...(pending.actor ? { actor: pending.actor } : {}),
    });
    return { result: resultOf(ctx, label, after, result.decision, attempts), record: after, hooks: result.decision.hooks };
  }
  const waited = now - pending.requestedAt;
  if (waited >= config.ecs!.readyTimeoutMs) {
    const reason = `release ${pending.version} failed: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group after ${Math.round(waited / 1000)} s`;
    const failed: PendingRelease = { ...pending, status: "failed", reason };
    const { record: after } = await execute(ctx, {
      record,
      snapshot,
      rings,
      ...(ringError ? { ringError } : {}),
      decision: noopDecision(ctx, record.rollout, reason),
      patch: { pending: failed },
      forceCommit: { action: "release-failed", reason },
      trigger: label,
      kind: "release",
    });
    return { result: resultOf(ctx, label, after, { action: "pending", reason, transition: true }, attempts), record: after, hooks: [] };
  }
  return hold(`release ${pending.version}: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group; waiting`);
}
