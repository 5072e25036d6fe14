/**
 * The step controller: turns triggers (tick, alarm state change, command) into engine calls and
 * engine decisions into adapter calls. It decides nothing itself: `decide` and `applyCommand`
 * do. What it owns is the order of effects, reconciliation and concurrency:
 *
 * - Rollback: listener weights first (traffic off the canary as fast as possible), then the
 *   conditional state write with its history record (one transaction), then the event.
 * - Anything else that moves traffic: the conditional state write first (marked `applied=false`),
 *   then the weights, then `applied=true`. A racer that loses the state write never moves traffic.
 * - A lost conditional write re-reads and re-decides, up to `maxAttempts` times.
 * - Audience rings: each ring's listener rule follows the decision's `rings` with the same order
 *   (to stable before the state write on a rollback, to the canary after it otherwise); a ring
 *   rule found somewhere else is corrected to what the state says and recorded, without a pause.
 * - Reconciliation: the listener is compared with the recorded weights on every invocation. A
 *   record still marked `applied=false`, or a listener already at last-known-good while the
 *   engine, asked without the listener's view, also says roll back, is this controller's own
 *   unfinished write and is completed; any other difference is drift, handed to the engine.
 */
import { applyCommand, canaryRings, decide, idleState, recordHookResult, weightsEqual } from "../engine/decide.js";
import type { Command, CommandErrorCode, Decision, Evidence, HookRequest, Phase, RolloutState } from "../engine/types.js";
import { isComparisonGate, type AlarmGate, type ComparisonGate, type Weights } from "../policy/types.js";
import type { AlarmReader } from "../aws/alarms.js";
import type { SlotDeployer } from "../aws/ecs.js";
import { ConflictError } from "../aws/errors.js";
import type { DecisionEvent, EventPublisher } from "../aws/events.js";
import type { HookRunner } from "../aws/hooks.js";
import type { MetricsReader } from "../aws/metrics.js";
import type { FreezeRecord, HistoryRecord, PendingRelease, ServiceRecord, StateStore } from "../aws/state.js";
import { otherSlot, type RingRouter, type RingSnapshot, type Slot, type SlotWeights, type TrafficRouter, type TrafficSnapshot } from "../aws/traffic.js";
import { checkRingRules, type ControllerConfig } from "./config.js";
import { InvalidPayloadError, parseCommand, parseTrigger, type CommandPayload, type Trigger } from "./events.js";

/** The slice of Powertools' Logger the controller uses (so tests can pass their own). */
export interface ControllerLogger {
  // `any` so Powertools' Logger, whose attribute type is narrower than unknown, fits as it is.
  info(message: string, ...extra: any[]): void;
  warn(message: string, ...extra: any[]): void;
  error(message: string, ...extra: any[]): void;
  appendKeys(keys: Record<string, any>): void;
}

/** The slice of Powertools' Metrics the controller uses. */
export interface ControllerMetrics {
  addMetric(name: string, unit: "Count" | "Milliseconds", value: number): void;
  addMetadata(key: string, value: string): void;
}

export interface ControllerDeps {
  config: ControllerConfig;
  traffic: TrafficRouter;
  /** The audience rings' listener rules; required when the policy defines rings. */
  rings?: RingRouter;
  store: StateStore;
  alarms: AlarmReader;
  metrics: MetricsReader;
  publisher: EventPublisher;
  /** Required when config.ecs is set (controller-owned slot contents). */
  slots?: SlotDeployer;
  /** Invokes lifecycle hooks; without it, hooks the engine asks for are logged and stay pending. */
  hooks?: HookRunner;
  /** Epoch ms. @default Date.now */
  clock?: () => number;
  /** Rollout id for a new release. @default `<version>-<base36 time>-<random>` */
  newRolloutId?: (version: string, now: number) => string;
  logger?: ControllerLogger;
  emf?: ControllerMetrics;
  /** Attempts when a conditional write loses a race. @default 6 */
  maxAttempts?: number;
}

export interface EvaluationResult {
  ok: true;
  trigger: string;
  service: string;
  action: Decision["action"] | "pending";
  reason: string;
  transition: boolean;
  phase: Phase;
  rolloutId: string;
  weights: Weights;
  slotWeights: SlotWeights;
  /** True when an alarm event rolled back without reading metrics (the fast path). */
  fastPath?: boolean;
  drift?: { actual: Weights; recorded: Weights };
  /** Rings routed to the canary after this invocation (present when the policy defines rings). */
  rings?: string[];
  attempts: number;
}

export interface StatusResponse {
  ok: true;
  command: "status";
  service: string;
  phase: Phase;
  /** Slot that serves the released (stable) version: after a promotion, the slot promoted into. */
  stableSlot: Slot;
  /** Slot a new release goes to. */
  idleSlot: Slot;
  state: RolloutState;
  /** Recorded engine weights {stable, canary} of the current rollout. */
  weights: Weights;
  /** Recorded weights per slot. */
  slotWeights: SlotWeights;
  /** Weights the listener has now. */
  actualSlotWeights: SlotWeights;
  drift: boolean;
  frozen: boolean;
  freeze: FreezeRecord;
  killSwitch: boolean;
  pending?: PendingRelease;
  /** Record version (optimistic concurrency counter). */
  version: number;
  applied: boolean;
  /** Rings whose rule forwards to the canary slot now (read from the rules; present when the policy defines rings). */
  rings?: string[];
  /** Rings that should route to the canary according to the state. */
  expectedRings?: string[];
  /** Where each ring's rule forwards now: a slot, or "other" (split, or a third target group). */
  ringSlots?: Record<string, Slot | "other">;
  /** True when a ring rule is not where the state puts it (the next invocation corrects it). */
  ringDrift?: boolean;
  /** Why the ring rules could not be read, when they could not. */
  ringError?: string;
}

export interface CommandAccepted {
  ok: true;
  command: CommandPayload["command"];
  service: string;
  /** True when the command changed nothing (repeated, or already in that state). */
  noop: boolean;
  action: string;
  reason: string;
  phase: Phase;
  rolloutId: string;
  weights: Weights;
  slotWeights: SlotWeights;
  frozen?: boolean;
  killSwitch?: boolean;
  pending?: PendingRelease;
}

export interface CommandRejected {
  ok: false;
  command: CommandPayload["command"];
  service: string;
  code: CommandErrorCode | "pending";
  message: string;
}

export type CommandResponse = StatusResponse | CommandAccepted | CommandRejected;
export type InvocationResult = EvaluationResult | CommandResponse;

export interface Controller {
  /** Anything the Lambda receives: validated, classified and handled. */
  handle(payload: unknown): Promise<InvocationResult>;
  tick(): Promise<EvaluationResult>;
  alarm(alarmName: string, state: "OK" | "ALARM" | "INSUFFICIENT_DATA"): Promise<EvaluationResult>;
  /** A command payload (`{ command: "start", release: { version: "v2" } }`), in-process or from the Lambda. */
  command(payload: unknown): Promise<CommandResponse>;
  status(): Promise<StatusResponse>;
}

const noopLogger: ControllerLogger = { info() {}, warn() {}, error() {}, appendKeys() {} };
const noopMetrics: ControllerMetrics = { addMetric() {}, addMetadata() {} };

/** Engine weights {stable, canary} on the two slots, given the slot that holds the stable version. */
export function toSlotWeights(w: Weights, baselineSlot: Slot): SlotWeights {
  return baselineSlot === "blue" ? { blue: w.stable, green: w.canary } : { blue: w.canary, green: w.stable };
}

export function fromSlotWeights(w: SlotWeights, baselineSlot: Slot): Weights {
  return baselineSlot === "blue" ? { stable: w.blue, canary: w.green } : { stable: w.green, canary: w.blue };
}

function slotWeightsEqual(a: SlotWeights, b: SlotWeights): boolean {
  return a.blue === b.blue && a.green === b.green;
}

/** In flight: the rollout still owns traffic (including a promotion's bake at 100 %). */
export function isActive(state: RolloutState): boolean {
  return state.phase === "progressing" || state.phase === "paused" || (state.phase === "promoted" && state.finalizeAt !== undefined);
}

/** The slot serving the released version, which a new release must not touch. */
export function stableSlotOf(record: Pick<ServiceRecord, "rollout" | "baselineSlot">): Slot {
  return record.rollout.phase === "promoted" ? otherSlot(record.baselineSlot) : record.baselineSlot;
}

function stableVersionOf(record: ServiceRecord): string {
  return record.rollout.phase === "promoted" ? record.rollout.release.canary : record.rollout.release.stable;
}

interface Loaded {
  record: ServiceRecord;
  freeze: FreezeRecord;
  snapshot: TrafficSnapshot;
  rings: RingSnapshot;
  /** Why the ring rules could not be read (then `rings` is empty). */
  ringError?: Error;
}

interface Evaluated {
  result: EvaluationResult;
  record: ServiceRecord;
  hooks: HookRequest[];
}

interface Effect {
  /** The record before. */
  record: ServiceRecord;
  snapshot: TrafficSnapshot;
  /** The ring rules as read in this attempt. */
  rings: RingSnapshot;
  ringError?: Error;
  decision: Decision;
  /** Record fields besides the rollout that change (kill switch, slot, pending release). */
  patch?: Partial<Pick<ServiceRecord, "killSwitch" | "baselineSlot" | "pending">> & { clearPending?: boolean };
  /** Forces a state write with a history record even when the engine saw no transition. */
  forceCommit?: { action: string; reason: string };
  trigger: string;
  kind: HistoryRecord["kind"];
  actor?: string;
  note?: string;
}

export function createController(deps: ControllerDeps): Controller {
  const { config, traffic, store, publisher } = deps;
  const policy = config.policy;
  const clock = deps.clock ?? Date.now;
  const log = deps.logger ?? noopLogger;
  const emf = deps.emf ?? noopMetrics;
  const maxAttempts = deps.maxAttempts ?? 6;
  const newRolloutId = deps.newRolloutId ?? ((version: string, now: number) => `${version}-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
  if (config.ecs && !deps.slots) throw new Error("createController: config.ecs is set, so deps.slots (a SlotDeployer) is required");
  checkRingRules(policy, config.ringRules, config.ruleArn);
  if (config.ringRules && !deps.rings) throw new Error("createController: config.ringRules is set, so deps.rings (a RingRouter) is required");
  const ringRouter = deps.rings;

  const targetGroupOf = (slot: Slot) => (slot === "blue" ? config.blueTargetGroupArn : config.greenTargetGroupArn);
  const ecsServiceOf = (slot: Slot) => (slot === "blue" ? config.ecs!.blueService : config.ecs!.greenService);

  function initialRecord(now: number): ServiceRecord {
    return { service: config.service, version: 0, rollout: idleState(policy, "none", now), baselineSlot: "blue", killSwitch: false, applied: true, updatedAt: now };
  }

  async function load(): Promise<Loaded> {
    const [record, freeze, snapshot, ringRead] = await Promise.all([store.get(config.service), store.getFreeze(), traffic.read(), readRings()]);
    return { record: record ?? initialRecord(clock()), freeze, snapshot, ...ringRead };
  }

  /** A ring rule that cannot be read (deleted, denied) must not stop a rollback of the listener. */
  async function readRings(): Promise<{ rings: RingSnapshot; ringError?: Error }> {
    if (!ringRouter) return { rings: {} };
    try {
      return { rings: await ringRouter.read() };
    } catch (err) {
      log.error("reading the ring rules failed; rollbacks still move the listener, forward moves of rings wait", err as Error);
      return { rings: {}, ringError: err as Error };
    }
  }

  /**
   * Where each ring's rule must forward: the canary slot for the rings routed to the canary, the
   * slot serving the released version for the rest (after a promotion, the slot promoted into).
   */
  function ringTargets(onCanary: readonly string[], record: Pick<ServiceRecord, "rollout" | "baselineSlot">): Record<string, Slot> {
    const stable = stableSlotOf(record);
    const canary = otherSlot(record.baselineSlot);
    return Object.fromEntries((ringRouter?.rings ?? []).map((r) => [r, onCanary.includes(r) ? canary : stable]));
  }

  const ringsDiffering = (want: Record<string, Slot>, seen: RingSnapshot) => Object.keys(want).filter((r) => seen[r]?.slot !== want[r]);

  async function pointRings(rings: string[], want: Record<string, Slot>, seen: RingSnapshot): Promise<void> {
    await Promise.all(rings.map((r) => ringRouter!.point(r, want[r]!, seen[r])));
  }

  function tag(record: ServiceRecord): void {
    const r = record.rollout;
    log.appendKeys({ rolloutId: r.rolloutId, releaseVersion: r.release.canary, stableVersion: r.release.stable, step: r.stepIndex, phase: r.phase });
    emf.addMetadata("rolloutId", r.rolloutId);
    emf.addMetadata("releaseVersion", r.release.canary);
    emf.addMetadata("step", String(r.stepIndex));
  }

  function currentGates(state: RolloutState) {
    // During a promotion's bake only alarm gates guard (the engine's rule); otherwise the step's gates.
    if (state.phase === "promoted") return policy.gates.filter((g): g is AlarmGate => g.type === "alarm");
    const step = policy.steps[state.stepIndex];
    return step ? policy.gates.filter((g) => step.gates.includes(g.name)) : [];
  }

  /** Alarm states and metric evidence for the current step; only what its gates need. */
  async function gatherEvidence(record: ServiceRecord, now: number): Promise<Pick<Evidence, "alarms" | "gates">> {
    const gates = currentGates(record.rollout);
    const alarmNames = gates.flatMap((g) => (g.type === "alarm" ? g.alarms : []));
    const comparisons = gates.filter(isComparisonGate) as ComparisonGate[];
    const canarySlot = otherSlot(record.baselineSlot);
    const [alarms, evidence] = await Promise.all([
      alarmNames.length ? deps.alarms.states(alarmNames) : Promise.resolve({}),
      comparisons.length
        ? deps.metrics.gather({
            gates: comparisons,
            loadBalancerArn: config.loadBalancerArn,
            canary: { targetGroupArn: targetGroupOf(canarySlot), version: record.rollout.release.canary },
            baseline: { targetGroupArn: targetGroupOf(record.baselineSlot), version: record.rollout.release.stable },
            start: record.rollout.startedAt,
            end: now,
          })
        : Promise.resolve({}),
    ]);
    return { alarms, gates: evidence };
  }

  /** The engine's decision, with the controller's own unfinished writes told apart from drift. */
  function decideReconciled(record: ServiceRecord, base: Omit<Evidence, "actualWeights">, snapshot: TrafficSnapshot, rings: RingSnapshot, now: number): Decision {
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

  function historyOf(e: Effect, next: ServiceRecord, action: string, reason: string, at: number): HistoryRecord {
    const d = e.decision;
    return {
      service: config.service,
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
      ...(e.note ? { note: e.note } : {}),
      ...(d.drift ? { drift: d.drift } : {}),
      ...(d.verdicts.length ? { verdicts: d.verdicts.map((v) => ({ gate: v.gate, verdict: v.verdict, reason: v.reason })) } : {}),
    };
  }

  async function publish(h: HistoryRecord, record: ServiceRecord): Promise<void> {
    const event: DecisionEvent = {
      service: config.service,
      releaseVersion: record.rollout.release.canary,
      stableVersion: record.rollout.release.stable,
      rolloutId: record.rollout.rolloutId,
      step: record.rollout.stepIndex,
      action: h.action,
      phase: record.rollout.phase,
      weights: record.rollout.weights,
      slotWeights: toSlotWeights(record.rollout.weights, record.baselineSlot),
      reason: h.reason,
      trigger: h.trigger,
      at: new Date(h.at).toISOString(),
      ...(h.actor ? { actor: h.actor } : {}),
    };
    try {
      await publisher.publish(event);
    } catch (err) {
      // The transition is committed and recorded in history; a lost notification must not undo it
      // or make the invocation retry (which would not re-send it either: the transition is done).
      emf.addMetric("EventPublishFailures", "Count", 1);
      log.error("publishing the decision event failed; the history record stands", err as Error);
    }
  }

  /**
   * Carries out one decision in the safe order. Throws ConflictError when the state write lost a
   * race (nothing was changed by this invocation except, for a rollback, the idempotent weights).
   */
  async function execute(e: Effect): Promise<{ record: ServiceRecord; committed: boolean }> {
    const { record, snapshot, decision } = e;
    const now = clock();
    const seenRings = e.rings;
    const baselineSlot = e.patch?.baselineSlot ?? record.baselineSlot;
    const { clearPending: _c, ...patch } = e.patch ?? {};
    const next: ServiceRecord = { ...record, ...patch, rollout: decision.state, baselineSlot, version: record.version + 1, updatedAt: now };
    if (e.patch?.clearPending) delete next.pending;
    const desired = toSlotWeights(decision.state.weights, baselineSlot);
    // Write when the decision says so, or to finish our own earlier write (applied=false).
    const wantWeights = decision.applyWeights || !record.applied;
    const mustWrite = wantWeights && !slotWeightsEqual(desired, snapshot.weights);
    // Ring rules follow every decision, idempotently: only the rules not already there are written.
    const wantRings = ringTargets(decision.rings, next);
    const expectedRings = ringTargets(canaryRings(policy, record.rollout), record);
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
    const commit = decision.transition || e.forceCommit !== undefined || ringDrift.length > 0;
    let action: string = decision.action;
    let reason = decision.reason;
    if (!decision.transition && e.forceCommit) ({ action, reason } = e.forceCommit);
    else if (!decision.transition && ringDrift.length) ({ action, reason } = { action: "ring-drift-corrected", reason: ringNote });
    if (ringDrift.length && reason !== ringNote) reason = `${reason}; ${ringNote}`;
    const history = commit ? [historyOf(e, next, action, reason, now)] : [];

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
        await Promise.all([mustWrite ? traffic.setWeights(desired, snapshot) : undefined, pointRings(ringWrites, wantRings, seenRings)]);
        if (commit || !record.applied) {
          applied = await store.markApplied(config.service, version);
          if (!applied) await yieldToRollback();
        }
      } else if (wantWeights && !record.applied) {
        applied = await store.markApplied(config.service, version);
      }
    }

    const stored = commit ? { ...next, applied } : { ...record, applied };
    if (commit) {
      // A start or promotion changes the rollout id, version or step the invocation is tagged with.
      tag(next);
      emf.addMetric("Transitions", "Count", 1);
      if (decision.action === "rollback") emf.addMetric("Rollbacks", "Count", 1);
      if (decision.drift) emf.addMetric("DriftDetected", "Count", 1);
      log.info("transition", { action, reason, weights: decision.state.weights, slotWeights: desired, trigger: e.trigger, wroteWeights: mustWrite, ...(ringWrites.length ? { ringRules: ringWrites.map((r) => `${r}=${wantRings[r]}`) } : {}) });
      await publish(history[0]!, next);
    }
    if (decision.scaleDownOldSlot && commit && config.ecs && deps.slots) {
      const oldSlot = baselineSlot;
      try {
        await deps.slots.scaleDown(ecsServiceOf(oldSlot));
      } catch (err) {
        log.error(`scaling the old slot (${oldSlot}) down failed; it keeps running until scaled by hand`, err as Error);
      }
    }
    // After the commit and the event: the rollback stands and is recorded; the invocation fails so it shows.
    if (ringFailure) throw ringFailure;
    return { record: stored, committed: commit };
  }

  /**
   * Invokes the hooks the engine asked for (in parallel), then records their results in the
   * rollout state with a history record. Returns the keys it ran. Hooks never move traffic
   * themselves: the engine reads the results on its next decision.
   */
  async function runHooks(record: ServiceRecord, requests: HookRequest[], trigger: string, skip: ReadonlySet<string> = new Set()): Promise<string[]> {
    const todo = requests.filter((r) => !skip.has(r.key));
    if (todo.length === 0) return [];
    if (!deps.hooks) {
      log.warn("the engine asks for lifecycle hooks but this controller has no hook runner; they stay pending", { hooks: todo.map((h) => h.key) });
      return [];
    }
    const runner = deps.hooks;
    const rollout = record.rollout;
    const results = await Promise.all(
      todo.map(async (r) => {
        const result = await runner.run(r, { hook: r.name, point: r.point, stepIndex: r.stepIndex, service: config.service, rolloutId: rollout.rolloutId, release: rollout.release, weights: rollout.weights });
        emf.addMetric(result.status === "pass" ? "HookPasses" : "HookNotPassed", "Count", 1);
        return { request: r, result };
      }),
    );
    const reason = results.map(({ request: r, result }) => `hook ${r.name} (${r.point}, step ${r.stepIndex + 1}) ${result.status}: ${result.reason}`).join("; ");
    log.info("hooks ran", { reason });
    await withRetries("recording hook results", async () => {
      const current = await store.get(config.service);
      if (!current || current.rollout.rolloutId !== rollout.rolloutId) return;
      let state = current.rollout;
      for (const { request, result } of results) state = recordHookResult(state, request.key, result);
      const now = clock();
      const next: ServiceRecord = { ...current, rollout: state, version: current.version + 1, updatedAt: now };
      const history: HistoryRecord = {
        service: config.service,
        at: now,
        seq: next.version,
        kind: "decision",
        trigger,
        action: "hook-results",
        reason,
        rolloutId: state.rolloutId,
        release: state.release,
        fromPhase: current.rollout.phase,
        phase: state.phase,
        stepIndex: state.stepIndex,
        weights: state.weights,
        slotWeights: toSlotWeights(state.weights, current.baselineSlot),
      };
      await store.commit(next, current.version, [history]);
      await publish(history, next);
    });
    return todo.map((r) => r.key);
  }

  /**
   * We wrote forward weights, but someone committed after our state write (the version moved on).
   * If that someone rolled back, our write may have landed after theirs: put theirs back.
   */
  async function yieldToRollback(): Promise<void> {
    const [now, snapshot, { rings, ringError }] = await Promise.all([store.get(config.service), traffic.read(), readRings()]);
    if (!now) return;
    if (now.rollout.phase === "rolled-back" || now.rollout.phase === "aborted") {
      const desired = toSlotWeights(now.rollout.weights, now.baselineSlot);
      const wantRings = ringTargets([], now);
      // Unreadable ring rules are left to the next invocation; the listener must not wait for them.
      const ringWrites = ringError ? [] : ringsDiffering(wantRings, rings);
      if (!slotWeightsEqual(desired, snapshot.weights) || ringWrites.length) {
        log.warn("a rollback committed while this invocation moved traffic forward; restoring the rollback's weights and ring rules");
        await Promise.all([slotWeightsEqual(desired, snapshot.weights) ? undefined : traffic.setWeights(desired, snapshot), pointRings(ringWrites, wantRings, rings)]);
      }
    }
  }

  function resultOf(trigger: string, record: ServiceRecord, decision: { action: EvaluationResult["action"]; reason: string; transition: boolean; drift?: Decision["drift"] }, attempts: number, extra: Partial<EvaluationResult> = {}): EvaluationResult {
    return {
      ok: true,
      trigger,
      service: config.service,
      action: decision.action,
      reason: decision.reason,
      transition: decision.transition,
      phase: record.rollout.phase,
      rolloutId: record.rollout.rolloutId,
      weights: record.rollout.weights,
      slotWeights: toSlotWeights(record.rollout.weights, record.baselineSlot),
      ...(decision.drift ? { drift: decision.drift } : {}),
      ...(ringRouter ? { rings: canaryRings(policy, record.rollout) } : {}),
      attempts,
      ...extra,
    };
  }

  /** Retries `attempt` while it loses conditional writes. */
  async function withRetries<T>(what: string, attempt: (n: number) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let n = 1; n <= maxAttempts; n++) {
      try {
        return await attempt(n);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        last = err;
        emf.addMetric("ConflictRetries", "Count", 1);
        log.info(`${what}: lost a conditional write, re-reading and re-deciding`, { attempt: n });
      }
    }
    throw new Error(`${what}: gave up after ${maxAttempts} attempts, each lost a conditional write to a concurrent invocation (${(last as Error).message})`);
  }

  async function evaluate(trigger: Exclude<Trigger, { kind: "command" }>, pass = 0, skipHooks: ReadonlySet<string> = new Set()): Promise<EvaluationResult> {
    const label = trigger.kind === "tick" ? "tick" : `alarm:${trigger.alarmName}`;
    if (pass === 0 && trigger.kind === "alarm" && trigger.state === "ALARM" && config.freezeAlarms.includes(trigger.alarmName)) {
      await setFreeze(true, { actor: label, reason: `error-budget alarm ${trigger.alarmName} is in ALARM`, trigger: label });
    }
    let evidenceCache: { rolloutId: string; stepIndex: number; value: Pick<Evidence, "alarms" | "gates"> } | undefined;
    const outcome = await withRetries(label, async (attempts): Promise<Evaluated> => {
      const { record, freeze, snapshot, rings, ringError } = await load();
      tag(record);
      const now = clock();
      if (record.pending?.status === "deploying" && !isActive(record.rollout)) return progressPending(record, freeze, snapshot, rings, label, attempts, ringError);

      const active = isActive(record.rollout);
      const fast =
        trigger.kind === "alarm" &&
        trigger.state === "ALARM" &&
        active &&
        currentGates(record.rollout).some((g) => g.type === "alarm" && g.alarms.includes(trigger.alarmName));
      let evidence: Pick<Evidence, "alarms" | "gates">;
      if (fast) {
        // The event is the evidence: no metric reads between a firing alarm and the rollback.
        evidence = { alarms: { [trigger.alarmName]: "ALARM" }, gates: {} };
      } else if (active) {
        if (!evidenceCache || evidenceCache.rolloutId !== record.rollout.rolloutId || evidenceCache.stepIndex !== record.rollout.stepIndex) {
          evidenceCache = { rolloutId: record.rollout.rolloutId, stepIndex: record.rollout.stepIndex, value: await gatherEvidence(record, now) };
        }
        evidence = evidenceCache.value;
      } else {
        evidence = { alarms: {}, gates: {} };
      }
      const decision = decideReconciled(record, { ...evidence, freeze: freeze.frozen, killSwitch: record.killSwitch }, snapshot, rings, now);
      emf.addMetric("Decisions", "Count", 1);
      if (decision.drift && !decision.transition) log.info("listener weights still differ from the recorded ones", { drift: decision.drift });
      const { record: after } = await execute({ record, snapshot, rings, ...(ringError ? { ringError } : {}), decision, trigger: label, kind: "decision" });
      return { result: resultOf(label, after, decision, attempts, fast ? { fastPath: true } : {}), record: after, hooks: decision.hooks };
    });
    const ran = await runHooks(outcome.record, outcome.hooks, label, skipHooks);
    // Decide once more with the hooks' answers, so a passing beforeStep hook shifts traffic now
    // rather than a tick later. Hooks already run in this invocation are not run again.
    if (ran.length > 0 && pass === 0) return evaluate(trigger, 1, new Set(ran));
    return outcome.result;
  }

  /** A release waiting for healthy ECS targets in the idle slot. */
  async function progressPending(record: ServiceRecord, freeze: FreezeRecord, snapshot: TrafficSnapshot, rings: RingSnapshot, label: string, attempts: number, ringError?: Error): Promise<Evaluated> {
    const pending = record.pending!;
    const now = clock();
    const slots = deps.slots!;
    const hold = (reason: string): Evaluated => ({ result: resultOf(label, record, { action: "pending", reason, transition: false }, attempts), record, hooks: [] });
    if (!pending.deployed) {
      await slots.deploy({ service: ecsServiceOf(pending.slot), taskDefinitionArn: pending.taskDefinitionArn, sizeLike: ecsServiceOf(otherSlot(pending.slot)) });
      await store.commit({ ...record, version: record.version + 1, pending: { ...pending, deployed: true }, updatedAt: now }, record.version, []);
      return hold(`release ${pending.version}: task definition put on the ${pending.slot} slot; waiting for healthy targets`);
    }
    const health = await slots.targetHealth(targetGroupOf(pending.slot));
    if (health.ready) {
      const result = applyCommand(policy, record.rollout, startCommand(record, pending.version, pending.rolloutId), { freeze: freeze.frozen, killSwitch: record.killSwitch }, now);
      if (!result.ok) return hold(`release ${pending.version} is ready on ${pending.slot}, but cannot start: ${result.message}`);
      const { record: after } = await execute({
        record,
        snapshot,
        rings,
        ...(ringError ? { ringError } : {}),
        decision: result.decision,
        patch: { baselineSlot: otherSlot(pending.slot), clearPending: true },
        trigger: label,
        kind: "release",
        ...(pending.actor ? { actor: pending.actor } : {}),
      });
      return { result: resultOf(label, after, result.decision, attempts), record: after, hooks: result.decision.hooks };
    }
    const waited = now - pending.requestedAt;
    if (waited >= config.ecs!.readyTimeoutMs) {
      const reason = `release ${pending.version} failed: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group after ${Math.round(waited / 1000)} s`;
      const failed: PendingRelease = { ...pending, status: "failed", reason };
      const { record: after } = await execute({
        record,
        snapshot,
        rings,
        ...(ringError ? { ringError } : {}),
        decision: noopDecision(record.rollout, reason),
        patch: { pending: failed },
        forceCommit: { action: "release-failed", reason },
        trigger: label,
        kind: "release",
      });
      return { result: resultOf(label, after, { action: "pending", reason, transition: true }, attempts), record: after, hooks: [] };
    }
    return hold(`release ${pending.version}: ${health.healthy}/${health.total} targets healthy in the ${pending.slot} target group; waiting`);
  }

  function noopDecision(state: RolloutState, reason: string): Decision {
    // The rings of the state, not none: a kill-switch-off or a release record must leave them be.
    return { action: "noop", weights: state.weights, applyWeights: false, state, reason, transition: false, verdicts: [], rings: canaryRings(policy, state), hooks: [] };
  }

  function startCommand(record: ServiceRecord, version: string, rolloutId: string): Command {
    return { type: "start", rolloutId, release: { stable: stableVersionOf(record), canary: version } };
  }

  async function setFreeze(frozen: boolean, by: { actor?: string; reason: string; trigger: string }): Promise<boolean> {
    const at = clock();
    const changed = await store.setFreeze(frozen, { ...by, at });
    if (!changed) return false;
    emf.addMetric(frozen ? "Freezes" : "Unfreezes", "Count", 1);
    log.info(frozen ? "global freeze on" : "global freeze off", { reason: by.reason, actor: by.actor });
    try {
      await publisher.publish({
        service: config.service,
        releaseVersion: "",
        stableVersion: "",
        rolloutId: "",
        step: -1,
        action: frozen ? "freeze" : "unfreeze",
        phase: frozen ? "frozen" : "unfrozen",
        weights: { stable: 0, canary: 0 },
        slotWeights: { blue: 0, green: 0 },
        reason: by.reason,
        trigger: by.trigger,
        at: new Date(at).toISOString(),
        ...(by.actor ? { actor: by.actor } : {}),
      });
    } catch (err) {
      emf.addMetric("EventPublishFailures", "Count", 1);
      log.error("publishing the freeze event failed; the history record stands", err as Error);
    }
    return true;
  }

  async function status(): Promise<StatusResponse> {
    const { record, freeze, snapshot, rings, ringError } = await load();
    const slotWeights = toSlotWeights(record.rollout.weights, record.baselineSlot);
    const stableSlot = stableSlotOf(record);
    const expectedRings = canaryRings(policy, record.rollout);
    const ringSlots = Object.fromEntries(Object.values(rings).map((v) => [v.ring, v.slot ?? ("other" as const)]));
    return {
      ok: true,
      command: "status",
      service: config.service,
      phase: record.rollout.phase,
      stableSlot,
      idleSlot: otherSlot(stableSlot),
      state: record.rollout,
      weights: record.rollout.weights,
      slotWeights,
      actualSlotWeights: snapshot.weights,
      drift: !slotWeightsEqual(slotWeights, snapshot.weights),
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
            ringDrift: ringsDiffering(ringTargets(expectedRings, record), rings).length > 0,
            ...(ringError ? { ringError: ringError.message } : {}),
          }
        : {}),
    };
  }

  function accepted(cmd: CommandPayload, record: ServiceRecord, action: string, reason: string, noop: boolean, extra: Partial<CommandAccepted> = {}): CommandAccepted {
    return {
      ok: true,
      command: cmd.command,
      service: config.service,
      noop,
      action,
      reason,
      phase: record.rollout.phase,
      rolloutId: record.rollout.rolloutId,
      weights: record.rollout.weights,
      slotWeights: toSlotWeights(record.rollout.weights, record.baselineSlot),
      killSwitch: record.killSwitch,
      ...(record.pending ? { pending: record.pending } : {}),
      ...extra,
    };
  }

  function rejected(cmd: CommandPayload, code: CommandRejected["code"], message: string): CommandRejected {
    return { ok: false, command: cmd.command, service: config.service, code, message };
  }

  async function command(payload: unknown): Promise<CommandResponse> {
    const cmd = parseCommand(payload);
    if (cmd.service !== undefined && cmd.service !== config.service) {
      throw new InvalidPayloadError([{ path: "service", message: `this controller runs "${config.service}", not "${cmd.service}"; send the command to that service's controller` }]);
    }
    if (cmd.command === "start" && cmd.release.taskDefinitionArn && !config.ecs) {
      throw new InvalidPayloadError([
        { path: "release.taskDefinitionArn", message: "this controller has no ECS slot services (ROLLGATE_ECS_* unset): deploy into the idle slot yourself and send the version only" },
      ]);
    }
    const label = `command:${cmd.command}`;
    const who = { ...(cmd.actor ? { actor: cmd.actor } : {}), ...(cmd.note ? { note: cmd.note } : {}) };
    switch (cmd.command) {
      case "status":
        return status();
      case "freeze":
      case "unfreeze": {
        const frozen = cmd.command === "freeze";
        const changed = await setFreeze(frozen, { ...(cmd.actor ? { actor: cmd.actor } : {}), reason: cmd.note ?? (frozen ? "frozen by operator" : "unfrozen by operator"), trigger: label });
        const { record } = await load();
        return accepted(cmd, record, cmd.command, changed ? `global freeze ${frozen ? "on" : "off"}` : `global freeze was already ${frozen ? "on" : "off"}`, !changed, { frozen });
      }
      default:
        break;
    }
    return withRetries(label, async () => {
      const { record, freeze, snapshot, rings, ringError } = await load();
      tag(record);
      const now = clock();
      const evidence = { freeze: freeze.frozen, killSwitch: record.killSwitch };
      const base = { record, snapshot, rings, ...(ringError ? { ringError } : {}), trigger: label, kind: "command" as const, ...who };
      switch (cmd.command) {
        case "start": {
          const version = cmd.release.version;
          const current = record.rollout.phase !== "idle" ? record.rollout.release.canary : undefined;
          if (version === current || (record.pending?.version === version && record.pending.status === "deploying")) {
            return accepted(cmd, record, "noop", `release ${version} is already the current or last rollout (${record.pending?.version === version ? "pending" : record.rollout.phase}); nothing to do`, true);
          }
          if (record.pending?.status === "deploying") return rejected(cmd, "pending", `release ${record.pending.version} is still deploying into the ${record.pending.slot} slot; abort it or wait`);
          const rolloutId = newRolloutId(version, now);
          const result = applyCommand(policy, record.rollout, startCommand(record, version, rolloutId), evidence, now);
          if (!result.ok) return rejected(cmd, result.code, result.message);
          const idle = otherSlot(stableSlotOf(record));
          if (cmd.release.taskDefinitionArn) {
            const pending: PendingRelease = {
              version,
              taskDefinitionArn: cmd.release.taskDefinitionArn,
              slot: idle,
              rolloutId,
              requestedAt: now,
              deployed: false,
              status: "deploying",
              ...who,
            };
            const reason = `release ${version} requested: deploying ${cmd.release.taskDefinitionArn} to the ${idle} slot; step 1 starts once its targets are healthy`;
            const { record: after } = await execute({ ...base, decision: noopDecision(record.rollout, reason), patch: { pending }, forceCommit: { action: "release-requested", reason }, kind: "release" });
            // Deploy after recording it, so a concurrent start of the same version cannot deploy twice.
            await deps.slots!.deploy({ service: ecsServiceOf(idle), taskDefinitionArn: pending.taskDefinitionArn, sizeLike: ecsServiceOf(otherSlot(idle)) });
            const deployed = { ...after, version: after.version + 1, pending: { ...pending, deployed: true }, updatedAt: clock() };
            try {
              await store.commit(deployed, after.version, []);
            } catch (err) {
              // A tick moved the record on; it redeploys (UpdateService is idempotent) if it has to.
              if (!(err instanceof ConflictError)) throw err;
            }
            return accepted(cmd, deployed, "release-requested", reason, false);
          }
          const { record: after } = await execute({ ...base, decision: result.decision, patch: { baselineSlot: otherSlot(idle), clearPending: true } });
          await runHooks(after, result.decision.hooks, label);
          return accepted(cmd, after, result.decision.action, result.decision.reason, false);
        }
        case "kill":
        case "unkill": {
          const on = cmd.command === "kill";
          const flagChanged = record.killSwitch !== on;
          const decision = on
            ? (() => {
                const r = applyCommand(policy, record.rollout, { type: "kill", ...(cmd.note ? { note: cmd.note } : {}) }, evidence, now);
                return r.ok ? r.decision : noopDecision(record.rollout, r.message);
              })()
            : noopDecision(record.rollout, "kill switch off");
          if (!flagChanged && !decision.transition) {
            return accepted(cmd, record, "noop", `kill switch was already ${on ? "on" : "off"}`, true);
          }
          const reason = on ? `kill switch on${cmd.note ? ` (${cmd.note})` : ""}` : `kill switch off${cmd.note ? ` (${cmd.note})` : ""}`;
          const { record: after } = await execute({ ...base, decision, patch: { killSwitch: on }, forceCommit: { action: on ? "kill-switch-on" : "kill-switch-off", reason } });
          await runHooks(after, decision.hooks, label);
          return accepted(cmd, after, decision.transition ? decision.action : on ? "kill-switch-on" : "kill-switch-off", decision.transition ? decision.reason : reason, false);
        }
        case "abort":
        case "promote":
        case "approve":
        case "pause":
        case "resume": {
          if (cmd.command === "abort" && record.pending?.status === "deploying" && !isActive(record.rollout)) {
            const reason = `release ${record.pending.version} aborted by operator before its first step${cmd.note ? ` (${cmd.note})` : ""}`;
            const { record: after } = await execute({
              ...base,
              decision: noopDecision(record.rollout, reason),
              patch: { pending: { ...record.pending, status: "failed", reason } },
              forceCommit: { action: "release-aborted", reason },
              kind: "release",
            });
            return accepted(cmd, after, "release-aborted", reason, false);
          }
          const result = applyCommand(policy, record.rollout, { type: cmd.command, ...(cmd.note ? { note: cmd.note } : {}) }, evidence, now);
          if (!result.ok) return rejected(cmd, result.code, result.message);
          const { record: after, committed } = await execute({ ...base, decision: result.decision });
          await runHooks(after, result.decision.hooks, label);
          return accepted(cmd, after, result.decision.action, result.decision.reason, !committed);
        }
      }
      throw new Error(`unhandled command ${cmd.command}`);
    });
  }

  return {
    async handle(payload) {
      const trigger = parseTrigger(payload);
      if (trigger.kind === "command") return command(trigger.command);
      return evaluate(trigger);
    },
    tick: () => evaluate({ kind: "tick" }),
    alarm: (alarmName, state) => evaluate({ kind: "alarm", alarmName, state }),
    command,
    status,
  };
}
