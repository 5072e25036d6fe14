/**
 * Carrying out a decision: the order of effects on the listener, the ring rules, the state table
 * and the event bus, and finishing or yielding to writes of other invocations.
 *
 * - Rollback: listener weights first (traffic off the canary as fast as possible), then the
 *   conditional state write with its history record (one transaction), then the event.
 * - Anything else that moves traffic: the conditional state write first (marked `applied=false`),
 *   then the weights, then `applied=true`. A racer that loses the state write never moves traffic.
 * - Audience rings: each ring's listener rule follows the decision's `rings` with the same order
 *   (to stable before the state write on a rollback, to the canary after it otherwise); a ring
 *   rule found somewhere else is corrected to what the state says and recorded, without a pause.
 */
import { canaryRings } from "../engine/decide.js";
import type { Decision } from "../engine/types.js";
import { ConflictError } from "../aws/errors.js";
import type { EventRecord, HistoryRecord, ServiceRecord } from "../aws/state.js";
import { forwardDifferences, type RingSnapshot, type SlotWeights, type TrafficSnapshot } from "../aws/traffic.js";
import { publishCommitted } from "./outbox.js";
import {
  desiredForwardRecord,
  ecsServiceOf,
  fenceWith,
  forwardRecordOf,
  noopDecision,
  pointRings,
  readRings,
  ringsDiffering,
  ringTargets,
  slotWeightsEqual,
  tag,
  toSlotWeights,
  type ControllerContext,
} from "./context.js";

/** One decision to carry out, with what the invocation read before deciding. */
export interface Effect {
  /** The record before. */
  record: ServiceRecord;
  snapshot: TrafficSnapshot;
  /** The ring rules as read in this attempt. */
  rings: RingSnapshot;
  ringError?: Error;
  decision: Decision;
  /** Record fields besides the rollout that change (kill switch, slot, pending release). */
  patch?: Partial<Pick<ServiceRecord, "killSwitch" | "baselineSlot" | "pending" | "startedBy" | "approvedBy">> & { clearPending?: boolean };
  /** Forces a state write with a history record even when the engine saw no transition. */
  forceCommit?: { action: string; reason: string };
  /**
   * The forward action must be converged to the decision's weights even though the decision itself
   * writes none: a late write, a hand edit outside a rollout, an extra target group, stickiness.
   */
  repair?: { action: "forward-repaired" | "late-write-repaired"; reason: string };
  /** The alarm event behind this decision, recorded with it. */
  event?: EventRecord;
  /** An event id to remember as recorded (so a redelivery is not recorded twice). */
  seenEvent?: string;
  trigger: string;
  kind: HistoryRecord["kind"];
  actor?: string;
  note?: string;
  /** How the actor reached the controller (function-url: verified by AWS). */
  via?: string;
  /** A name the caller sent about itself, recorded as claimed. */
  claimedActor?: string;
}

/**
 * Carries out one decision in the safe order. Throws ConflictError when the state write lost a
 * race (nothing was changed by this invocation except, for a rollback, the idempotent weights).
 */
export async function execute(ctx: ControllerContext, e: Effect): Promise<{ record: ServiceRecord; committed: boolean; wrote: boolean }> {
  const { config, policy, traffic, store, deps, log, emf, ringRouter } = ctx;
  const { record, snapshot, decision } = e;
  const now = ctx.clock();
  const seenRings = e.rings;
  const baselineSlot = e.patch?.baselineSlot ?? record.baselineSlot;
  const { clearPending: _c, ...patch } = e.patch ?? {};
  const next: ServiceRecord = { ...record, ...patch, rollout: decision.state, baselineSlot, version: record.version + 1, updatedAt: now };
  if (e.patch?.clearPending) delete next.pending;
  if (e.seenEvent) next.seenEvents = [...(record.seenEvents ?? []), e.seenEvent].slice(-16);
  const desired = toSlotWeights(decision.state.weights, baselineSlot);
  // Write when the decision says so, to finish our own earlier write (applied=false), or to
  // repair the forward action; and then only when it differs in any way from the desired one
  // (weights, a third target group, a plain or unweighted entry, stickiness).
  const wantWeights = decision.applyWeights || !record.applied || e.repair !== undefined;
  const differences = forwardDifferences(snapshot, desired, config.blueTargetGroupArn, config.greenTargetGroupArn, traffic.stickiness);
  const mustWrite = wantWeights && differences.length > 0;
  if (mustWrite) next.recentWrites = fenceWith(record, desired, next.version, now);
  // Ring rules follow every decision, idempotently: only the rules not already there are written.
  const wantRings = ringTargets(ctx, decision.rings, next);
  const expectedRings = ringTargets(ctx, canaryRings(policy, record.rollout), record);
  if (e.ringError && decision.action !== "rollback" && (!record.applied || Object.keys(wantRings).some((r) => wantRings[r] !== expectedRings[r]))) {
    throw new Error(`the ring rules must change (${Object.entries(wantRings).map(([r, slot]) => `${r}=${slot}`).join(", ")}) but cannot be read: ${e.ringError.message}`, { cause: e.ringError });
  }
  // Unreadable rules are written only by a rollback (which re-reads them); otherwise left alone.
  const ringWrites = e.ringError && decision.action !== "rollback" ? [] : ringsDiffering(wantRings, seenRings);
  // A rule that is neither where the state put it nor where it is going was moved by someone
  // else. applied=false means it may be our own half-done write, which is not drift.
  const ringDrift = record.applied && !e.ringError ? ringWrites.filter((r) => seenRings[r]?.slot !== expectedRings[r]) : [];
  const ringNote = ringDrift.length
    ? `ring rule${ringDrift.length > 1 ? "s" : ""} ${ringDrift.map((r) => `${r} forwarded to ${seenRings[r]?.slot ?? "neither slot alone"}, not ${expectedRings[r]}`).join("; ")}: set to ${ringDrift.map((r) => `${r}=${wantRings[r]}`).join(", ")}`
    : "";
  if (ringDrift.length) log.warn("ring rule drift corrected", { rings: ringDrift, reason: ringNote });
  const repairing = e.repair !== undefined && mustWrite;
  const commit = decision.transition || e.forceCommit !== undefined || ringDrift.length > 0 || repairing;
  let action: string = decision.action;
  let reason = decision.reason;
  if (!decision.transition && e.forceCommit) ({ action, reason } = e.forceCommit);
  else if (!decision.transition && repairing) ({ action, reason } = { action: e.repair!.action, reason: `${e.repair!.reason}: ${differences.join("; ")}` });
  else if (!decision.transition && ringDrift.length) ({ action, reason } = { action: "ring-drift-corrected", reason: ringNote });
  if (ringDrift.length && reason !== ringNote && !reason.includes(ringNote)) reason = `${reason}; ${ringNote}`;
  const history = commit ? [historyOf(ctx, e, next, action, reason, now, mustWrite ? { before: forwardRecordOf(snapshot), after: desiredForwardRecord(ctx, desired, snapshot), differences } : undefined)] : [];

  let applied = record.applied;
  let ringFailure: Error | undefined;
  if (decision.action === "rollback") {
    // Traffic off the canary first: the listener and the ring rules, before the state write.
    // A ring rule that fails must not keep the listener on the canary, nor the rollback from
    // being recorded: it is left applied=false for the next invocation to finish.
    const [listener, ...rings] = await Promise.allSettled([
      mustWrite ? traffic.setWeights(desired, snapshot) : Promise.resolve(),
      ...ringWrites.map((r) => ringRouter!.point(r, wantRings[r]!, seenRings[r])),
    ]);
    if (listener!.status === "rejected") throw listener!.reason;
    const failed = ringWrites.filter((_r, k) => rings[k]!.status === "rejected");
    if (failed.length) {
      const first = rings.find((x) => x.status === "rejected") as PromiseRejectedResult;
      ringFailure = new Error(`rolled back, but ring rule(s) ${failed.join(", ")} could not be pointed at the stable slot (${(first.reason as Error).message}); the next invocation retries`, { cause: first.reason });
    }
    if (commit) await store.commit({ ...next, applied: !ringFailure }, record.version, history);
    else if (!record.applied && !ringFailure) await store.markApplied(config.service, record.version);
    applied = commit ? !ringFailure : record.applied && !ringFailure;
  } else {
    // applied=false covers the ring rules too: a rule left behind by a crash here is finished
    // by the next invocation, not taken for drift.
    const writes = mustWrite || ringWrites.length > 0;
    if (commit) await store.commit({ ...next, applied: !writes }, record.version, history);
    const version = commit ? next.version : record.version;
    applied = commit ? !writes : record.applied;
    if (writes) {
      await Promise.all([mustWrite ? traffic.setWeights(desired, snapshot) : undefined, pointRings(ctx, ringWrites, wantRings, seenRings)]);
      if (commit || !record.applied) {
        applied = await store.markApplied(config.service, version);
        // Someone committed after the record this write was based on: make sure our write did
        // not land over theirs.
        if (!applied && mustWrite) await yieldToNewer(ctx, desired);
      }
    } else if (wantWeights && !record.applied) {
      applied = await store.markApplied(config.service, version);
    }
  }

  const stored = commit ? { ...next, applied } : { ...record, applied };
  if (commit) {
    // A start or promotion changes the rollout id, version or step the invocation is tagged with.
    tag(ctx, next);
    emf.addMetric("Transitions", "Count", 1);
    if (decision.action === "rollback") emf.addMetric("Rollbacks", "Count", 1);
    if (decision.drift) emf.addMetric("DriftDetected", "Count", 1);
    if (repairing) emf.addMetric(e.repair!.action === "late-write-repaired" ? "LateWritesRepaired" : "ForwardRepairs", "Count", 1);
    log.info("transition", { action, reason, weights: decision.state.weights, slotWeights: desired, trigger: e.trigger, wroteWeights: mustWrite, ...(ringWrites.length ? { ringRules: ringWrites.map((r) => `${r}=${wantRings[r]}`) } : {}) });
    await publish(ctx, history[0]!, next);
  }
  if (decision.scaleDownOldSlot && commit && config.ecs && deps.slots) {
    const oldSlot = baselineSlot;
    try {
      await deps.slots.scaleDown(ecsServiceOf(ctx, oldSlot));
    } catch (err) {
      log.error(`scaling the old slot (${oldSlot}) down failed; it keeps running until scaled by hand`, err as Error);
    }
  }
  // After the commit and the event: the rollback stands and is recorded; the invocation fails so it shows.
  if (ringFailure) throw ringFailure;
  return { record: stored, committed: commit, wrote: mustWrite };
}

/**
 * Fencing after a commit that ends forward movement (rollback, abort, kill, promote, finalize):
 * a forward write of an older decision may have landed between our read and our commit. Re-read
 * the listener and, if it differs from what was just committed, repair it now (recorded), rather
 * than leaving it to the next tick.
 */
export async function recheckAfterCommit(ctx: ControllerContext, committed: ServiceRecord, trigger: string): Promise<ServiceRecord> {
  const [snapshot, { rings, ringError }] = await Promise.all([ctx.traffic.read(), readRings(ctx)]);
  const desired = toSlotWeights(committed.rollout.weights, committed.baselineSlot);
  const differences = forwardDifferences(snapshot, desired, ctx.config.blueTargetGroupArn, ctx.config.greenTargetGroupArn, ctx.traffic.stickiness);
  if (differences.length === 0) return committed;
  try {
    const { record } = await execute(ctx, {
      record: committed,
      snapshot,
      rings,
      ...(ringError ? { ringError } : {}),
      decision: noopDecision(ctx, committed.rollout, "re-read after commit"),
      repair: { action: "late-write-repaired", reason: `the listener changed while ${committed.rollout.phase} was being committed (a write of an older decision landed late)` },
      trigger,
      kind: "decision",
    });
    return record;
  } catch (err) {
    // Someone committed after us: converging is now theirs (and every later tick's) to do.
    if (err instanceof ConflictError) return committed;
    throw err;
  }
}

/**
 * We wrote `wrote`, but someone committed after the record our write was based on. If the
 * listener now shows our write and the newer record wants something else, our write landed over
 * theirs: put theirs back. Whatever happens here, the next invocation converges the same way.
 */
export async function yieldToNewer(ctx: ControllerContext, wrote: SlotWeights): Promise<void> {
  const { config, store, traffic, log } = ctx;
  const [now, snapshot, { rings, ringError }] = await Promise.all([store.get(config.service), traffic.read(), readRings(ctx)]);
  if (!now) return;
  const desired = toSlotWeights(now.rollout.weights, now.baselineSlot);
  const ours = slotWeightsEqual(snapshot.weights, wrote) && snapshot.elsewhere === 0;
  // Rings: only after a rollback or abort (their rules go back to stable; forward ring moves are fenced by the state write).
  const wantRings = ringTargets(ctx, [], now);
  const ringWrites = (now.rollout.phase === "rolled-back" || now.rollout.phase === "aborted") && !ringError ? ringsDiffering(wantRings, rings) : [];
  if ((ours && !slotWeightsEqual(desired, wrote)) || ringWrites.length) {
    log.warn("a newer decision committed while this invocation wrote traffic; restoring its weights", { wrote, restored: desired, phase: now.rollout.phase });
    await Promise.all([ours && !slotWeightsEqual(desired, wrote) ? traffic.setWeights(desired, snapshot) : undefined, pointRings(ctx, ringWrites, wantRings, rings)]);
  }
}

export function historyOf(ctx: ControllerContext, e: Effect, next: ServiceRecord, action: string, reason: string, at: number, repair?: HistoryRecord["repair"]): HistoryRecord {
  const d = e.decision;
  return {
    service: ctx.config.service,
    at,
    seq: next.version,
    kind: e.kind,
    trigger: e.trigger,
    action,
    reason,
    rolloutId: next.rollout.rolloutId,
    release: next.rollout.release,
    fromPhase: e.record.rollout.phase,
    phase: next.rollout.phase,
    stepIndex: next.rollout.stepIndex,
    weights: next.rollout.weights,
    slotWeights: toSlotWeights(next.rollout.weights, next.baselineSlot),
    ...(e.actor ? { actor: e.actor } : {}),
    ...(e.via ? { via: e.via } : {}),
    ...(e.claimedActor ? { claimedActor: e.claimedActor } : {}),
    ...(e.note ? { note: e.note } : {}),
    ...(d.drift ? { drift: d.drift } : {}),
    ...(d.verdicts.length ? { verdicts: d.verdicts.map((v) => ({ gate: v.gate, verdict: v.verdict, reason: v.reason })) } : {}),
    ...(repair ? { repair } : {}),
    ...(e.event ? { event: e.event } : {}),
  };
}

/** Publishes the decision event of a committed transition (see outbox.ts); a failure never undoes it. */
export async function publish(ctx: ControllerContext, h: HistoryRecord, _record?: ServiceRecord): Promise<void> {
  await publishCommitted(ctx, h);
}
