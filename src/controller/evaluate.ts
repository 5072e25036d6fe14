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
import type { EventRecord } from "../aws/state.js";
import { isComparisonGate, type AlarmGate, type ComparisonGate } from "../policy/types.js";
import type { FreezeRecord, PendingRelease, ServiceRecord } from "../aws/state.js";
import { otherSlot, type RingSnapshot, type TrafficSnapshot } from "../aws/traffic.js";
import {
  ecsServiceOf,
  homeOf,
  isActive,
  load,
  noopDecision,
  observe,
  ownsTraffic,
  resultOf,
  startCommand,
  tag,
  targetGroupOf,
  withRetries,
  WRITE_GRACE_MS,
  type ControllerContext,
  type EvaluationResult,
  type Observation,
} from "./context.js";
import { execute, recheckAfterCommit, type Effect } from "./converge.js";
import type { Trigger } from "./events.js";
import { setAccountFreeze, setFreeze } from "./freeze.js";
import { runHooks } from "./hooks.js";

interface Evaluated {
  result: EvaluationResult;
  record: ServiceRecord;
  hooks: HookRequest[];
}

type AlarmTrigger = Extract<Trigger, { kind: "alarm" }>;

/** An error-budget ALARM event older than this freezes only if the alarm is in ALARM when read. */
const FREEZE_EVENT_MAX_AGE_MS = 15 * 60_000;
/** An event dated more than this after the controller's clock is not trusted either (skew allowance). */
const FUTURE_SKEW_MS = 15 * 60_000;

/**
 * Whether an ALARM event may roll back on its own (the fast path). Events are hints: EventBridge
 * delivers at least once, late, and replays archives. Only an event from this account and region,
 * whose state timestamp parses and falls after the rollout started, is trusted; for any other the
 * controller reads the alarm's current state instead. Returns the reason it is not trusted.
 */
export function distrust(ctx: ControllerContext, trigger: AlarmTrigger, since: number, now: number): string | undefined {
  const ev = trigger.event;
  if (!ev) return "no event details (not an EventBridge event)";
  const home = homeOf(ctx);
  if (ev.account !== undefined && home.account && ev.account !== home.account) return `event from account ${ev.account.slice(0, 16)}, not ${home.account}`;
  if (ev.region !== undefined && home.region && ev.region !== home.region) return `event from region ${ev.region.slice(0, 32)}, not ${home.region}`;
  if (ev.alarmArn !== undefined) {
    const m = /^arn:[^:]+:cloudwatch:([^:]*):(\d{12}):alarm:(.+)$/.exec(ev.alarmArn);
    if (!m) return "its resources[0] is not a CloudWatch alarm ARN";
    if (home.region && m[1] !== home.region) return `alarm ARN in region ${m[1]}, not ${home.region}`;
    if (home.account && m[2] !== home.account) return `alarm ARN in account ${m[2]}, not ${home.account}`;
    if (m[3] !== trigger.alarmName) return "its alarm ARN names another alarm than detail.alarmName";
  }
  if (ev.stateAt === undefined) return ev.stateTimestamp === undefined ? "no state timestamp" : `state timestamp ${JSON.stringify(ev.stateTimestamp.slice(0, 40))} does not parse`;
  if (ev.stateAt < since) return `alarm state dated ${new Date(ev.stateAt).toISOString()}, before the rollout started (${new Date(since).toISOString()})`;
  if (ev.stateAt > now + FUTURE_SKEW_MS) return `alarm state dated ${new Date(ev.stateAt).toISOString()}, in the future`;
  return undefined;
}

function eventRecordOf(trigger: AlarmTrigger, notTrusted: string | undefined): EventRecord {
  const ev = trigger.event;
  return {
    alarmName: trigger.alarmName,
    state: trigger.state,
    fresh: notTrusted === undefined,
    ...(notTrusted ? { staleReason: notTrusted } : {}),
    ...(ev?.id !== undefined ? { id: ev.id } : {}),
    ...(ev?.time !== undefined ? { time: ev.time } : {}),
    ...(ev?.alarmArn !== undefined ? { alarmArn: ev.alarmArn } : {}),
    ...(ev?.stateTimestamp !== undefined ? { stateTimestamp: ev.stateTimestamp } : {}),
    ...(ev?.actionsSuppressedBy !== undefined ? { actionsSuppressedBy: ev.actionsSuppressedBy } : {}),
    ...(ev?.actionsSuppressedReason !== undefined ? { actionsSuppressedReason: ev.actionsSuppressedReason } : {}),
    ...(ev?.muteDetail !== undefined ? { muteDetail: ev.muteDetail } : {}),
    ...(ev?.mute !== undefined ? { mute: ev.mute } : {}),
  };
}

export async function evaluate(ctx: ControllerContext, trigger: Exclude<Trigger, { kind: "command" | "hook-result" }>, pass = 0, skipHooks: ReadonlySet<string> = new Set()): Promise<EvaluationResult> {
  const { config, emf, log } = ctx;
  const label = trigger.kind === "tick" ? (trigger.via ?? "tick") : `alarm:${trigger.alarmName}`;
  if (pass === 0 && trigger.kind === "alarm" && trigger.state === "ALARM" && config.freezeAlarms.includes(trigger.alarmName)) {
    // A freeze stops every release: an event that is not trusted freezes only if the alarm is in ALARM now.
    // The freeze is global, not tied to a rollout: an event is fresh if its state changed in the last 15 minutes.
    const notTrusted = distrust(ctx, trigger, ctx.clock() - FREEZE_EVENT_MAX_AGE_MS, ctx.clock());
    const firing = notTrusted === undefined || (await ctx.deps.alarms.states([trigger.alarmName]))[trigger.alarmName] === "ALARM";
    // The account-wide freeze when the controller has one (every service stops advancing), else this table's.
    const by = { actor: label, reason: `error-budget alarm ${trigger.alarmName} is in ALARM`, trigger: label };
    if (firing && ctx.deps.accountFreeze) await setAccountFreeze(ctx, true, by);
    else if (firing) await setFreeze(ctx, true, by);
    else log.warn("freeze alarm event not acted on: the alarm is not in ALARM now", { alarm: trigger.alarmName, why: notTrusted });
  }
  let evidenceCache: { rolloutId: string; stepIndex: number; value: Pick<Evidence, "alarms" | "gates"> } | undefined;
  const outcome = await withRetries(ctx, label, async (attempts): Promise<Evaluated> => {
    const loaded = await load(ctx);
    const { record, freeze, rings, ringError } = loaded;
    let { snapshot } = loaded;
    tag(ctx, record);
    const now = ctx.clock();
    let seen = observe(ctx, record, snapshot, now);
    if (seen.differences.length) {
      // The record and the listener were read in parallel: a write that landed just before the
      // record's commit may be missing from this listener read. Read it again, now that the record
      // is known, before taking any difference for drift or repairing it.
      snapshot = await ctx.traffic.read();
      seen = observe(ctx, record, snapshot, now);
    }
    if (record.pending?.status === "deploying" && !isActive(record.rollout)) {
      // While a release deploys into the idle slot, the listener still converges to the record.
      if (seen.differences.length) return convergeOnly(ctx, record, snapshot, rings, ringError, seen, label, attempts);
      return progressPending(ctx, record, freeze, snapshot, rings, label, attempts, ringError);
    }

    const active = isActive(record.rollout);
    const alarmTrigger = trigger.kind === "alarm" ? trigger : undefined;
    const gated = alarmTrigger !== undefined && currentGates(ctx, record.rollout).some((g) => g.type === "alarm" && g.alarms.includes(alarmTrigger.alarmName));
    const notTrusted = alarmTrigger && alarmTrigger.state === "ALARM" ? distrust(ctx, alarmTrigger, record.rollout.startedAt, now) : undefined;
    const fast = alarmTrigger !== undefined && alarmTrigger.state === "ALARM" && active && gated && notTrusted === undefined;
    const event = alarmTrigger ? eventRecordOf(alarmTrigger, alarmTrigger.state === "ALARM" ? notTrusted : undefined) : undefined;
    if (notTrusted && gated) {
      emf.addMetric("AlarmEventsNotTrusted", "Count", 1);
      log.warn("alarm event not trusted for the fast path; reading the alarm's current state", { alarm: alarmTrigger!.alarmName, why: notTrusted, eventId: alarmTrigger!.event?.id });
    }
    let evidence: Pick<Evidence, "alarms" | "gates">;
    if (fast) {
      // The event is the evidence: no metric reads between a firing alarm and the rollback.
      evidence = { alarms: { [alarmTrigger!.alarmName]: "ALARM" }, gates: {} };
    } else if (active) {
      if (!evidenceCache || evidenceCache.rolloutId !== record.rollout.rolloutId || evidenceCache.stepIndex !== record.rollout.stepIndex) {
        evidenceCache = { rolloutId: record.rollout.rolloutId, stepIndex: record.rollout.stepIndex, value: await gatherEvidence(ctx, record, now) };
      }
      evidence = evidenceCache.value;
    } else {
      evidence = { alarms: {}, gates: {} };
    }
    const stableSlotEmpty = await stableSlotEmptyUnderHeldDrift(ctx, record, snapshot, seen);
    const decision = decideReconciled(ctx, record, { ...evidence, freeze: freeze.frozen, killSwitch: record.killSwitch, ...(stableSlotEmpty ? { stableSlotEmpty } : {}) }, snapshot, seen, rings, now);
    emf.addMetric("Decisions", "Count", 1);
    if (decision.drift && !decision.transition) log.info("listener weights still differ from the recorded ones", { drift: decision.drift });

    // What the listener must be converged to beyond what the decision writes itself.
    const repair = repairFor(ctx, record, seen);
    // An ALARM event of a gate that was not trusted and changed nothing is still recorded, once per event id.
    const recordEvent =
      notTrusted !== undefined && gated && !decision.transition && event?.id !== undefined && !(record.seenEvents ?? []).includes(event.id)
        ? {
            forceCommit: {
              action: "alarm-event-not-trusted",
              reason: `ALARM event ${event.id} for ${alarmTrigger!.alarmName} not acted on without a check (${notTrusted}); its current state was read instead: ${evidence.alarms[alarmTrigger!.alarmName] ?? "missing"}`,
            },
            seenEvent: event.id,
          }
        : {};
    const { record: after, committed } = await execute(ctx, {
      record,
      snapshot,
      rings,
      ...(ringError ? { ringError } : {}),
      decision,
      ...(repair ? { repair } : {}),
      ...(event ? { event } : {}),
      ...recordEvent,
      trigger: label,
      kind: "decision",
    });
    const ended = committed && decision.transition && !ownsTraffic(decision.state) && ownsTraffic(record.rollout);
    const final = ended || (committed && (decision.action === "promote" || decision.action === "finalize")) ? await recheckAfterCommit(ctx, after, label) : after;
    const extra: Partial<EvaluationResult> = {
      ...(fast ? { fastPath: true } : {}),
      ...(notTrusted && gated ? { eventNotTrusted: notTrusted } : {}),
      ...(repair && seen.differences.length ? { repaired: seen.differences } : {}),
    };
    return { result: resultOf(ctx, label, final, decision, attempts, extra), record: final, hooks: decision.hooks };
  });
  // Hooks run asynchronously: this starts them and records timeouts; answers arrive as their own invocations.
  const ran = await runHooks(ctx, outcome.record, outcome.hooks, label, skipHooks);
  // Decide once more with the results recorded (timeouts), so a timed-out hook rolls back now.
  if (ran.length > 0 && pass === 0) return evaluate(ctx, trigger, 1, new Set(ran));
  // The dead-man's switch counts completed ticks; an alarm fires when none completes for minutes.
  if (trigger.kind === "tick" && trigger.via === undefined && pass === 0) emf.addMetric("TicksCompleted", "Count", 1);
  return outcome.result;
}

/**
 * What to repair on the listener that the engine does not decide: outside a rollout (idle,
 * promoted, rolled back, aborted) every difference; during one, a late write of an older
 * decision, and differences of shape that send no traffic elsewhere (stickiness, a zero-weight
 * target group, a plain or unweighted forward). Differences in where traffic goes during a
 * rollout are the engine's (its onDrift policy).
 */
function repairFor(ctx: ControllerContext, record: ServiceRecord, seen: Observation): Effect["repair"] | undefined {
  if (seen.differences.length === 0 || !record.applied) return undefined;
  const state = record.rollout;
  if (!ownsTraffic(state)) {
    return { action: seen.lateWrite ? "late-write-repaired" : "forward-repaired", reason: `${state.phase === "idle" ? "no rollout" : `rollout ${state.rolloutId} is ${state.phase}`}: the recorded weights are re-applied` };
  }
  if (seen.lateWrite) {
    return { action: "late-write-repaired", reason: `the listener holds a write of record version ${seen.lateWrite.version} (from ${new Date(seen.lateWrite.at).toISOString()}) that landed after version ${record.version} was committed` };
  }
  if (!seen.trafficDiffers) return { action: "forward-repaired", reason: "the forward action's shape differs from the recorded one (traffic split unchanged)" };
  return undefined;
}

/**
 * Drift that onDrift=hold would keep (traffic moved toward the stable slot) is safe only while
 * the stable slot has targets. Where the controller knows the slots' size (ECS, controller-owned
 * slot contents) it reads the stable target group's health; elsewhere it cannot tell and holds.
 */
async function stableSlotEmptyUnderHeldDrift(ctx: ControllerContext, record: ServiceRecord, snapshot: TrafficSnapshot, seen: Observation): Promise<boolean> {
  const slots = ctx.deps.slots;
  if (!slots || ctx.policy.onDrift !== "hold" || !ownsTraffic(record.rollout) || !record.applied) return false;
  if (!seen.trafficDiffers || seen.lateWrite || snapshot.elsewhere > 0 || seen.actual.canary > record.rollout.weights.canary) return false;
  try {
    return (await slots.targetHealth(targetGroupOf(ctx, record.baselineSlot))).healthy === 0;
  } catch (err) {
    ctx.log.warn("reading the stable slot's target health failed; the drift is held as onDrift=hold says", { error: (err as Error).message });
    return false;
  }
}

/** A record waiting on a release deploy whose listener differs: converge first, deploy on the next pass. */
async function convergeOnly(ctx: ControllerContext, record: ServiceRecord, snapshot: TrafficSnapshot, rings: RingSnapshot, ringError: Error | undefined, seen: Observation, label: string, attempts: number): Promise<Evaluated> {
  const repair = repairFor(ctx, record, seen) ?? { action: "forward-repaired" as const, reason: "the recorded weights are re-applied" };
  const { record: after } = await execute(ctx, { record, snapshot, rings, ...(ringError ? { ringError } : {}), decision: noopDecision(ctx, record.rollout, repair.reason), repair, trigger: label, kind: "decision" });
  return { result: resultOf(ctx, label, after, { action: "pending", reason: repair.reason, transition: true }, attempts, { repaired: seen.differences }), record: after, hooks: [] };
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

/**
 * The engine's decision, with the controller's own unfinished and late writes told apart from
 * drift, and no step skipped: a step whose weights never reached the listener is applied, and its
 * hold restarted, before the engine may move past it.
 */
function decideReconciled(ctx: ControllerContext, record: ServiceRecord, base: Omit<Evidence, "actualWeights">, snapshot: TrafficSnapshot, seen: Observation, rings: RingSnapshot, now: number): Decision {
  const { policy } = ctx;
  const state = record.rollout;
  if (!record.applied) {
    // applied=false: the listener may still show the previous weights because of our own half-done write.
    const missing = seen.trafficDiffers && state.phase === "progressing" && !state.entering && now - record.updatedAt >= WRITE_GRACE_MS;
    if (!missing) return decide(policy, state, base, now);
    // The write of this step's weights failed long enough ago that it is not in flight: the step
    // was never served. Apply it now and hold it for its full hold; only a rollback may pre-empt.
    const restarted: RolloutState = { ...state, stepStartedAt: now };
    const d = decide(policy, restarted, base, now);
    if (d.action === "rollback") return d;
    const w = state.weights;
    return {
      action: "hold",
      weights: w,
      applyWeights: true,
      state: restarted,
      reason: `step ${state.stepIndex + 1} weights ${w.stable}/${w.canary} were recorded but never reached the listener (the write failed or its invocation ended); applying them now and restarting the step's hold`,
      transition: true,
      verdicts: d.verdicts,
      rings: canaryRings(policy, restarted),
      hooks: [],
    };
  }
  // A late write of our own, or a difference of shape only: repaired (see repairFor), not drift.
  if (!seen.trafficDiffers || seen.lateWrite) return decide(policy, state, base, now);
  const actual = seen.actual;
  // During a ring step the weights are all-stable anyway; ring rules already back on stable are
  // the same sign of a rollback whose state write did not land.
  const onCanary = canaryRings(policy, state);
  const ringsBack = onCanary.length > 0 && onCanary.every((r) => rings[r]?.slot === record.baselineSlot);
  if (isActive(state) && snapshot.elsewhere === 0 && weightsEqual(actual, state.lastKnownGood) && (!weightsEqual(actual, state.weights) || ringsBack)) {
    // A rollback wrote the listener but not the state. If the engine still rolls back without
    // looking at the listener (alarm, gate or kill switch still say so), complete that rollback.
    const again = decide(policy, state, base, now);
    if (again.action === "rollback") return again;
  }
  const elsewhere = snapshot.elsewhere > 0 ? Math.round((snapshot.elsewhere * policy.weightTotal) / (snapshot.weights.blue + snapshot.weights.green + snapshot.elsewhere)) : 0;
  return decide(policy, state, { ...base, actualWeights: actual, ...(elsewhere > 0 ? { trafficElsewhere: elsewhere } : {}) }, now);
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
  // The idle slot must run the release's revision before its targets count: with the ECS
  // deployment circuit breaker's rollback on, a failed deployment goes back to the previous
  // revision, whose healthy targets would otherwise be canaried and promoted under the new label.
  const deployment = await slots.releaseStatus(ecsServiceOf(ctx, pending.slot), pending.taskDefinitionArn);
  if (deployment.state === "failed") return failRelease(`release ${pending.version} failed on the ${pending.slot} slot: ${deployment.reason}`);
  if (deployment.state === "deploying") {
    const waited = now - pending.requestedAt;
    if (waited >= config.ecs!.readyTimeoutMs) return failRelease(`release ${pending.version} failed: ${deployment.reason} after ${Math.round(waited / 1000)} s`);
    return hold(`release ${pending.version}: ${deployment.reason}; waiting`);
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
    return failRelease(`release ${pending.version} failed: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group after ${Math.round(waited / 1000)} s`);
  }
  return hold(`release ${pending.version}: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group; waiting`);

  async function failRelease(reason: string): Promise<Evaluated> {
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
}
