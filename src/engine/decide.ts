/**
 * The decision engine: pure and total. Given the policy, the rollout's state, the evidence and
 * the time, it returns exactly one decision with the weights to apply, the next state and a
 * reason. No I/O and no clock reads: `now` is an argument.
 *
 * The tick reads top to bottom as a list of checks with early returns, most urgent first:
 * terminal -> kill -> drift -> alarms -> comparison gates -> paused -> hold time -> undecided
 * gates / timeout -> freeze -> approval -> advance or promote.
 */
import { evaluateComparisonGate } from "../analysis/gate.js";
import type { GateVerdict } from "../analysis/types.js";
import { formatDuration } from "../policy/duration.js";
import { isComparisonGate, type AlarmGate, type Gate, type HookPoint, type ResolvedStep, type RolloutPolicy, type Weights } from "../policy/types.js";
import {
  TERMINAL_PHASES,
  type Action,
  type Command,
  type CommandResult,
  type Decision,
  type Evidence,
  type HookRequest,
  type HookResult,
  type RolloutState,
} from "./types.js";

export function weightsEqual(a: Weights, b: Weights): boolean {
  return a.stable === b.stable && a.canary === b.canary;
}

/** Weights with the whole total on the stable side: the idle and rolled-back shape. */
export function allStable(policy: RolloutPolicy): Weights {
  return { stable: policy.weightTotal, canary: 0 };
}

export function allCanary(policy: RolloutPolicy): Weights {
  return { stable: 0, canary: policy.weightTotal };
}

/** A fresh rollout record before any release. */
export function idleState(policy: RolloutPolicy, rolloutId = "none", now = 0): RolloutState {
  return {
    rolloutId,
    phase: "idle",
    release: { stable: "", canary: "" },
    stepIndex: -1,
    stepStartedAt: now,
    startedAt: now,
    weights: allStable(policy),
    lastKnownGood: allStable(policy),
    approvals: [],
  };
}

function describeStep(policy: RolloutPolicy, index: number): string {
  const step = policy.steps[index];
  if (!step) return `step ${index + 1}`;
  return `step ${index + 1}/${policy.steps.length} (${step.ring !== undefined ? `ring ${step.ring}` : `${step.percent} %`})`;
}

function make(
  action: Action,
  state: RolloutState,
  next: RolloutState,
  reason: string,
  verdicts: GateVerdict[] = [],
  drift?: Decision["drift"],
): Decision {
  const transition =
    next.phase !== state.phase ||
    next.stepIndex !== state.stepIndex ||
    !weightsEqual(next.weights, state.weights) ||
    next.stepStartedAt !== state.stepStartedAt ||
    next.pause?.reason !== state.pause?.reason ||
    next.approvals.length !== state.approvals.length ||
    next.entering !== state.entering ||
    next.finalizeAt !== state.finalizeAt;
  const applyWeights = action === "advance" || action === "promote" || action === "rollback";
  return { action, weights: next.weights, applyWeights, state: next, reason, transition, verdicts, rings: [], hooks: [], ...(drift ? { drift } : {}) };
}

function rollback(state: RolloutState, now: number, reason: string, verdicts: GateVerdict[] = [], phase: "rolled-back" | "aborted" = "rolled-back", drift?: Decision["drift"]): Decision {
  const { pause: _pause, entering: _entering, finalizeAt: _finalizeAt, ...rest } = state;
  const next: RolloutState = { ...rest, phase, weights: state.lastKnownGood, endedAt: now, outcome: reason };
  return make("rollback", state, next, reason, verdicts, drift);
}

function hold(state: RolloutState, reason: string, verdicts: GateVerdict[] = [], drift?: Decision["drift"]): Decision {
  return make("hold", state, state, reason, verdicts, drift);
}

function evaluateAlarmGate(gate: AlarmGate, evidence: Evidence): GateVerdict {
  const firing = gate.alarms.filter((a) => evidence.alarms[a] === "ALARM");
  if (firing.length > 0) {
    return { gate: gate.name, type: "alarm", verdict: "rollback", reason: `${gate.name}: alarm ${firing.join(", ")} in ALARM` };
  }
  const unknown = gate.alarms.filter((a) => evidence.alarms[a] !== "OK");
  if (unknown.length > 0) {
    const states = unknown.map((a) => `${a}=${evidence.alarms[a] ?? "missing"}`).join(", ");
    return {
      gate: gate.name,
      type: "alarm",
      verdict: gate.onMissingData,
      reason: `${gate.name}: no verdict from ${states} (missing data ${gate.onMissingData === "hold" ? "holds" : "rolls back"})`,
    };
  }
  return { gate: gate.name, type: "alarm", verdict: "pass", reason: `${gate.name}: ${gate.alarms.length} alarm(s) OK` };
}

/** Verdicts of the gates the current step checks. Alpha is split evenly over comparison gates. */
export function evaluateGates(policy: RolloutPolicy, step: ResolvedStep, state: RolloutState, evidence: Evidence, now: number): GateVerdict[] {
  const gates: Gate[] = policy.gates.filter((g) => step.gates.includes(g.name));
  const comparisons = policy.gates.filter(isComparisonGate).length || 1;
  return gates.map((gate) =>
    isComparisonGate(gate)
      ? evaluateComparisonGate(gate, evidence.gates[gate.name], {
          now,
          rolloutStartedAt: state.startedAt,
          stepStartedAt: state.stepStartedAt,
          stepIndex: state.stepIndex,
          alpha: policy.alpha / comparisons,
          stepMaxHoldMs: step.maxHoldMs,
          prior: policy.prior ?? "band",
        })
      : evaluateAlarmGate(gate, evidence),
  );
}

/** Decide what a tick (or an alarm event) does to the rollout. */
export function decide(policy: RolloutPolicy, state: RolloutState, evidence: Evidence, now: number): Decision {
  return finish(policy, state, decideTick(policy, state, evidence, now));
}

function decideTick(policy: RolloutPolicy, state: RolloutState, evidence: Evidence, now: number): Decision {
  if (state.phase === "idle") return make("noop", state, state, "no release in progress");
  if (state.phase === "promoted" && state.finalizeAt !== undefined) return bakeAfterPromotion(policy, state, evidence, now);
  if (TERMINAL_PHASES.has(state.phase)) {
    return make("noop", state, state, `rollout ${state.rolloutId} is ${state.phase}${state.outcome ? `: ${state.outcome}` : ""}`);
  }
  const step = policy.steps[state.stepIndex];
  if (!step) return rollback(state, now, `step ${state.stepIndex} does not exist in the policy (policy changed under a running rollout); rolling back to be safe`);

  // A kill always wins, even over drift: the operator asked for the stable version, now.
  if (evidence.killSwitch) return rollback(state, now, "kill switch is on: rolling back to the last known good weights");

  // Drift: the listener is the truth for traffic. Noticing comes before judging gates, because
  // evidence gathered under unknown weights cannot be attributed to this step.
  let drift: Decision["drift"];
  const elsewhere = evidence.trafficElsewhere ?? 0;
  if (evidence.actualWeights && (!weightsEqual(evidence.actualWeights, state.weights) || elsewhere > 0)) {
    drift = { actual: evidence.actualWeights, recorded: state.weights, ...(elsewhere > 0 ? { elsewhere } : {}) };
    const seen = `listener weights ${fmt(evidence.actualWeights)}${elsewhere > 0 ? ` (and ${elsewhere} to another target group)` : ""} differ from recorded ${fmt(state.weights)}`;
    if (policy.onDrift === "rollback") return rollback(state, now, `${seen}; policy onDrift=rollback`, [], "rolled-back", drift);
    // A firing alarm gate still rolls back: rolling back is always safe, and an alarm's verdict
    // does not depend on attributing evidence to this step (the alarm fast path relies on it).
    const firing = policy.gates
      .filter((g): g is AlarmGate => g.type === "alarm" && step.gates.includes(g.name))
      .flatMap((g) => g.alarms.filter((a) => evidence.alarms[a] === "ALARM"));
    if (firing.length > 0) return rollback(state, now, `${seen}; alarm ${firing.join(", ")} in ALARM: rolling back`, [], "rolled-back", drift);
    if (policy.onDrift === "hold") {
      // Hold only a person shedding canary traffic. Drift that raises the canary above its
      // committed share, sends traffic off the two slots, or onto an empty slot is never held.
      const unsafe = heldDriftIsUnsafe(state.weights, evidence.actualWeights, elsewhere, evidence.stableSlotEmpty === true);
      if (unsafe) return { ...hold(state, `${seen}; re-applying recorded weights although onDrift=hold: ${unsafe}`, [], drift), transition: true, applyWeights: true };
      if (state.pause?.reason !== "drift") {
        const next: RolloutState = { ...state, phase: "paused", pause: { reason: "drift", since: now } };
        return make("hold", state, next, `${seen}; paused until an operator resumes (onDrift=hold: traffic moved toward the stable slot)`, [], drift);
      }
    }
    if (policy.onDrift === "reapply") {
      // Re-assert the recorded weights; the decision's weights are what the controller writes.
      return { ...hold(state, `${seen}; re-applying recorded weights (onDrift=reapply)`, [], drift), transition: true, applyWeights: true };
    }
  }

  const verdicts = evaluateGates(policy, step, state, evidence, now);
  const failing = verdicts.filter((v) => v.verdict === "rollback");
  if (failing.length > 0) {
    return rollback(state, now, `${describeStep(policy, state.stepIndex)} failed: ${failing.map((v) => v.reason).join("; ")}`, verdicts, "rolled-back", drift);
  }

  if (state.entering && state.phase === "progressing") {
    return enterCurrentStep(policy, state, now, verdicts);
  }

  if (state.phase === "paused") {
    const why = state.pause?.reason === "approval" ? "awaiting approval" : `paused (${state.pause?.reason ?? "operator"})`;
    return hold(state, `${describeStep(policy, state.stepIndex)} ${why} since ${new Date(state.pause?.since ?? now).toISOString()}`, verdicts, drift);
  }

  const elapsed = now - state.stepStartedAt;
  const undecided = verdicts.filter((v) => v.verdict === "hold");
  if (elapsed < step.holdMs) {
    const gateNote = undecided.length ? `; ${undecided.map((v) => v.reason).join("; ")}` : "";
    return hold(state, `${describeStep(policy, state.stepIndex)}: held ${formatDuration(elapsed)} of ${formatDuration(step.holdMs)}${gateNote}`, verdicts, drift);
  }
  if (undecided.length > 0) {
    if (elapsed >= step.maxHoldMs) {
      const why = `${describeStep(policy, state.stepIndex)} undecided after ${formatDuration(elapsed)} (maxHold ${formatDuration(step.maxHoldMs)}): ${undecided.map((v) => v.reason).join("; ")}`;
      if (step.onTimeout === "rollback") return rollback(state, now, `${why}; onTimeout=rollback`, verdicts);
      const next: RolloutState = { ...state, phase: "paused", pause: { reason: "timeout", since: now } };
      return make("hold", state, next, `${why}; paused for an operator (onTimeout=pause)`, verdicts);
    }
    return hold(state, `${describeStep(policy, state.stepIndex)}: hold time done, waiting on gates: ${undecided.map((v) => v.reason).join("; ")}`, verdicts);
  }

  if (evidence.freeze) return hold(state, `${describeStep(policy, state.stepIndex)} passed, but a global freeze is on: not advancing`, verdicts);

  const isLast = state.stepIndex === policy.steps.length - 1;
  const hooks = hookStatus(policy, state, ["afterStep", ...(isLast ? (["beforePromote"] as const) : [])], state.stepIndex);
  if (hooks.failed) return rollback(state, now, `${describeStep(policy, state.stepIndex)}: ${hooks.failed}`, verdicts);
  if (hooks.pending.length > 0) {
    if (elapsed >= step.maxHoldMs) {
      const why = `${describeStep(policy, state.stepIndex)}: hooks ${hooks.pending.map((h) => h.name).join(", ")} undecided after ${formatDuration(elapsed)}`;
      if (step.onTimeout === "rollback") return rollback(state, now, `${why}; onTimeout=rollback`, verdicts);
      const next: RolloutState = { ...state, phase: "paused", pause: { reason: "timeout", since: now } };
      return make("hold", state, next, `${why}; paused for an operator (onTimeout=pause)`, verdicts);
    }
    return withHooks(hold(state, `${describeStep(policy, state.stepIndex)} passed its gates; running hooks ${hooks.pending.map((h) => `${h.name} (${h.point})`).join(", ")}`, verdicts), hooks.pending);
  }

  if (step.approval && !state.approvals.includes(state.stepIndex)) {
    const next: RolloutState = { ...state, phase: "paused", pause: { reason: "approval", since: now } };
    return make("pause-for-approval", state, next, `${describeStep(policy, state.stepIndex)} passed its gates; waiting for an operator to approve`, verdicts);
  }
  return advance(policy, state, now, `${describeStep(policy, state.stepIndex)} passed: held ${formatDuration(elapsed)}, gates ${verdicts.length ? verdicts.map((v) => v.gate).join(", ") : "(none)"} passed`, verdicts);
}

/**
 * Why a drift may not be held even under onDrift=hold (undefined when holding it is safe): only a
 * move of traffic from the canary toward a stable slot that has targets is a safe thing to keep.
 */
export function heldDriftIsUnsafe(recorded: Weights, actual: Weights, elsewhere: number, stableSlotEmpty: boolean): string | undefined {
  if (elsewhere > 0) return `${elsewhere} of the traffic goes to a target group other than the two slots`;
  if (actual.canary > recorded.canary) return `the canary gets ${actual.canary}, more than its committed ${recorded.canary}`;
  if (stableSlotEmpty && actual.stable > 0) return "the stable slot it moves traffic to has no healthy targets";
  return undefined;
}

/** Move to the next step, or promote after the last one. */
function advance(policy: RolloutPolicy, state: RolloutState, now: number, why: string, verdicts: GateVerdict[] = []): Decision {
  const { pause: _pause, ...rest } = state;
  const nextIndex = state.stepIndex + 1;
  const nextStep = policy.steps[nextIndex];
  if (!nextStep) return promote(policy, state, now, `${why}; promoting ${state.release.canary} to 100 %`, verdicts);
  if (hookRequests(policy, "beforeStep", nextIndex).length > 0) {
    // The step is chosen, but traffic shifts only once its beforeStep hooks pass.
    const next: RolloutState = { ...rest, phase: "progressing", stepIndex: nextIndex, stepStartedAt: now, entering: true };
    return enterCurrentStep(policy, next, now, verdicts, make("hold", state, next, `${why}; running beforeStep hooks of ${describeStep(policy, nextIndex)}`, verdicts));
  }
  const next: RolloutState = { ...rest, phase: "progressing", stepIndex: nextIndex, stepStartedAt: now, weights: nextStep.weights };
  return make("advance", state, next, `${why}; advancing to ${describeStep(policy, nextIndex)}`, verdicts);
}

/** 100 % on the new slot: final at once, or after the policy's post-promotion bake. */
function promote(policy: RolloutPolicy, state: RolloutState, now: number, why: string, verdicts: GateVerdict[] = []): Decision {
  const { pause: _pause, entering: _entering, ...rest } = state;
  const bake = policy.promotion.bakeMs;
  if (bake > 0) {
    const next: RolloutState = { ...rest, phase: "promoted", weights: allCanary(policy), finalizeAt: now + bake };
    return make("promote", state, next, `${why}; baking at 100 % for ${formatDuration(bake)} before finalizing (rollback stays instant)`, verdicts);
  }
  const next: RolloutState = { ...rest, phase: "promoted", weights: allCanary(policy), endedAt: now, outcome: `promoted ${state.release.canary}` };
  return { ...make("promote", state, next, why, verdicts), scaleDownOldSlot: policy.promotion.scaleDown };
}

/** While a promoted release bakes: alarms and the kill switch can still send traffic back. */
function bakeAfterPromotion(policy: RolloutPolicy, state: RolloutState, evidence: Evidence, now: number): Decision {
  if (evidence.killSwitch) return rollback(state, now, "kill switch is on during the post-promotion bake: returning traffic to the previous version");
  const verdicts = policy.gates.filter((g): g is AlarmGate => g.type === "alarm").map((g) => evaluateAlarmGate(g, evidence));
  const failing = verdicts.filter((v) => v.verdict === "rollback");
  if (failing.length > 0) return rollback(state, now, `post-promotion bake failed: ${failing.map((v) => v.reason).join("; ")}`, verdicts);
  const finalizeAt = state.finalizeAt!;
  if (now < finalizeAt) {
    return hold(state, `promoted ${state.release.canary}; baking at 100 % until ${new Date(finalizeAt).toISOString()} (${formatDuration(finalizeAt - now)} left)`, verdicts);
  }
  const { finalizeAt: _f, ...rest } = state;
  const next: RolloutState = { ...rest, endedAt: now, outcome: `promoted ${state.release.canary}` };
  const d = make("finalize", state, next, `post-promotion bake of ${formatDuration(policy.promotion.bakeMs)} passed: release ${state.release.canary} is final${policy.promotion.scaleDown ? "; scaling the old slot down" : ""}`, verdicts);
  return { ...d, transition: true, scaleDownOldSlot: policy.promotion.scaleDown };
}

/** The key under which a hook's result is recorded in the rollout state. */
export function hookKey(point: HookPoint, stepIndex: number, name: string): string {
  return `${point}:${stepIndex}:${name}`;
}

/** Every hook that applies at a point of a step. */
export function hookRequests(policy: RolloutPolicy, point: HookPoint, stepIndex: number): HookRequest[] {
  return policy.hooks
    .filter((h) => h.at.includes(point) && (!h.steps || point === "beforePromote" || point === "afterRollback" || h.steps.includes(stepIndex)))
    .map((h) => ({ key: hookKey(point, stepIndex, h.name), name: h.name, point, stepIndex, functionArn: h.functionArn, timeoutMs: h.timeoutMs }));
}

/** Which hooks failed and which still need to run (no result yet, or they asked to be retried). */
function hookStatus(policy: RolloutPolicy, state: RolloutState, points: ReadonlyArray<HookPoint>, stepIndex: number): { failed?: string; pending: HookRequest[] } {
  const pending: HookRequest[] = [];
  for (const point of points) {
    for (const req of hookRequests(policy, point, stepIndex)) {
      const result = state.hookResults?.[req.key];
      if (result?.status === "fail" || result?.status === "timeout") {
        return { failed: `hook ${req.name} (${point}) ${result.status === "timeout" ? "timed out" : "failed"}: ${result.reason}`, pending };
      }
      if (result?.status !== "pass") pending.push(req);
    }
  }
  return { pending };
}

function withHooks(d: Decision, hooks: HookRequest[]): Decision {
  return { ...d, hooks };
}

/** Entering a step whose beforeStep hooks must pass before its weights are applied. */
function enterCurrentStep(policy: RolloutPolicy, state: RolloutState, now: number, verdicts: GateVerdict[], decisionIfPending?: Decision): Decision {
  const step = policy.steps[state.stepIndex]!;
  const hooks = hookStatus(policy, state, ["beforeStep"], state.stepIndex);
  if (hooks.failed) return rollback(state, now, `before ${describeStep(policy, state.stepIndex)}: ${hooks.failed}`, verdicts);
  if (hooks.pending.length > 0) {
    if (!decisionIfPending && now - state.stepStartedAt >= step.maxHoldMs) {
      const why = `beforeStep hooks of ${describeStep(policy, state.stepIndex)} undecided after ${formatDuration(now - state.stepStartedAt)}`;
      if (step.onTimeout === "rollback") return rollback(state, now, `${why}; onTimeout=rollback`, verdicts);
      const next: RolloutState = { ...state, phase: "paused", pause: { reason: "timeout", since: now } };
      return make("hold", state, next, `${why}; paused for an operator (onTimeout=pause)`, verdicts);
    }
    return withHooks(
      decisionIfPending ?? hold(state, `entering ${describeStep(policy, state.stepIndex)}: waiting for beforeStep hooks ${hooks.pending.map((h) => h.name).join(", ")}`, verdicts),
      hooks.pending,
    );
  }
  const { entering: _entering, ...rest } = state;
  const next: RolloutState = { ...rest, stepStartedAt: now, weights: step.weights };
  return make("advance", decisionIfPending ? decisionIfPending.state : state, next, `beforeStep hooks passed; entering ${describeStep(policy, state.stepIndex)}`, verdicts);
}

/** Records a hook's answer in the rollout state (the controller persists it, then decides again). */
export function recordHookResult(state: RolloutState, key: string, result: HookResult): RolloutState {
  return { ...state, hookResults: { ...state.hookResults, [key]: result } };
}

/** Rings that route to the canary in a state: the current step's, or none once the rollout ended. */
export function canaryRings(policy: RolloutPolicy, state: RolloutState): string[] {
  if (state.phase !== "progressing" && state.phase !== "paused") return [];
  const index = state.entering ? state.stepIndex - 1 : state.stepIndex;
  return policy.steps[index]?.rings ?? [];
}

/** Adds what every decision carries: ring routing, and afterRollback hooks on a rollback. */
function finish(policy: RolloutPolicy, before: RolloutState, d: Decision): Decision {
  const rings = canaryRings(policy, d.state);
  const hooks = d.action === "rollback" && before.phase !== d.state.phase ? [...d.hooks, ...hookRequests(policy, "afterRollback", before.stepIndex)] : d.hooks;
  return { ...d, rings, hooks };
}

function fmt(w: Weights): string {
  return `${w.stable}/${w.canary}`;
}

function reject(code: Extract<CommandResult, { ok: false }>["code"], message: string): CommandResult {
  return { ok: false, code, message };
}

const ACTIVE = (s: RolloutState) => s.phase === "progressing" || s.phase === "paused" || (s.phase === "promoted" && s.finalizeAt !== undefined);

/**
 * Apply an operator or pipeline command. Commands that cannot apply are rejected as values and
 * change nothing. Repeating a rollback-type command on a finished rollout is a no-op.
 */
export function applyCommand(policy: RolloutPolicy, state: RolloutState, command: Command, evidence: Pick<Evidence, "freeze" | "killSwitch">, now: number): CommandResult {
  const result = applyCommandInner(policy, state, command, evidence, now);
  return result.ok ? { ok: true, decision: finish(policy, state, result.decision) } : result;
}

function applyCommandInner(policy: RolloutPolicy, state: RolloutState, command: Command, evidence: Pick<Evidence, "freeze" | "killSwitch">, now: number): CommandResult {
  const note = "note" in command && command.note ? ` (${command.note})` : "";
  switch (command.type) {
    case "start": {
      if (ACTIVE(state)) return reject("in-progress", `rollout ${state.rolloutId} (${state.release.canary}) is ${state.phase}; promote or abort it before starting another`);
      if (evidence.freeze) return reject("frozen", "a global freeze is on: no release may start until it is lifted (rollgate unfreeze)");
      if (evidence.killSwitch) return reject("killed", "the kill switch is on for this service: turn it off before starting a release");
      const first = policy.steps[0]!;
      const lkg = allStable(policy);
      const gated = hookRequests(policy, "beforeStep", 0).length > 0;
      const next: RolloutState = {
        rolloutId: command.rolloutId,
        phase: "progressing",
        release: command.release,
        stepIndex: 0,
        stepStartedAt: now,
        startedAt: now,
        weights: gated ? lkg : first.weights,
        lastKnownGood: lkg,
        approvals: [],
        ...(gated ? { entering: true } : {}),
      };
      const started = `release ${command.release.canary} started (stable ${command.release.stable || "none"})${note}`;
      if (gated) {
        return { ok: true, decision: enterCurrentStep(policy, next, now, [], make("hold", state, next, `${started}; running beforeStep hooks of ${describeStep(policy, 0)}`)) };
      }
      return { ok: true, decision: make("advance", state, next, `${started}: ${describeStep(policy, 0)}`) };
    }
    case "kill":
    case "abort": {
      if (!ACTIVE(state)) {
        return { ok: true, decision: make("noop", state, state, `rollout ${state.rolloutId} is ${state.phase}; nothing to ${command.type}`) };
      }
      const reason = command.type === "kill" ? `kill switch by operator${note}: rolling back to the last known good weights` : `aborted by operator${note}: rolling back`;
      return { ok: true, decision: rollback(state, now, reason, [], command.type === "abort" ? "aborted" : "rolled-back") };
    }
    case "promote": {
      if (state.phase === "promoted" && state.finalizeAt !== undefined) {
        return reject("not-active", `rollout ${state.rolloutId} is already at 100 %, baking until ${new Date(state.finalizeAt).toISOString()}`);
      }
      if (!ACTIVE(state)) return reject("not-active", `rollout ${state.rolloutId} is ${state.phase}; there is nothing to promote`);
      if (evidence.freeze) return reject("frozen", "a global freeze is on: promotion is blocked until it is lifted");
      if (evidence.killSwitch) return reject("killed", "the kill switch is on for this service: promotion is blocked");
      return { ok: true, decision: promote(policy, state, now, `operator promoted ${state.release.canary} to 100 % from ${describeStep(policy, state.stepIndex)}${note}`) };
    }
    case "approve": {
      if (state.phase !== "paused" || state.pause?.reason !== "approval") {
        return reject("nothing-to-approve", `rollout ${state.rolloutId} is not waiting for approval (phase ${state.phase}${state.pause ? `, paused for ${state.pause.reason}` : ""})`);
      }
      const approved: RolloutState = { ...state, approvals: [...state.approvals, state.stepIndex] };
      if (evidence.freeze) {
        const next: RolloutState = { ...approved, phase: "progressing" };
        delete next.pause;
        return { ok: true, decision: make("hold", state, next, `approval of ${describeStep(policy, state.stepIndex)} recorded${note}; a global freeze is on, so it advances once lifted`) };
      }
      return { ok: true, decision: advance(policy, approved, now, `operator approved ${describeStep(policy, state.stepIndex)}${note}`) };
    }
    case "pause": {
      if (state.phase !== "progressing") return reject("not-active", `rollout ${state.rolloutId} is ${state.phase}; only a progressing rollout can be paused`);
      const next: RolloutState = { ...state, phase: "paused", pause: { reason: "operator", since: now, ...(command.note ? { note: command.note } : {}) } };
      return { ok: true, decision: make("hold", state, next, `paused by operator at ${describeStep(policy, state.stepIndex)}${note}`) };
    }
    case "resume": {
      if (state.phase !== "paused") return reject("not-paused", `rollout ${state.rolloutId} is ${state.phase}, not paused`);
      if (state.pause?.reason === "approval") return reject("not-paused", `rollout ${state.rolloutId} is waiting for approval: use approve (or abort)`);
      // Resuming restarts the step's hold so the gates judge evidence gathered under the weights now in force.
      const { pause: _pause, ...rest } = state;
      const next: RolloutState = { ...rest, phase: "progressing", stepStartedAt: now };
      return { ok: true, decision: { ...make("hold", state, next, `resumed by operator${note}: ${describeStep(policy, state.stepIndex)} restarts its hold of ${formatDuration(policy.steps[state.stepIndex]?.holdMs ?? 0)} with weights ${fmt(state.weights)}`), applyWeights: true } };
    }
  }
}
