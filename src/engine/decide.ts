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
import { isComparisonGate, type AlarmGate, type Gate, type ResolvedStep, type RolloutPolicy, type Weights } from "../policy/types.js";
import {
  TERMINAL_PHASES,
  type Action,
  type Command,
  type CommandResult,
  type Decision,
  type Evidence,
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
  return step ? `step ${index + 1}/${policy.steps.length} (${step.percent} %)` : `step ${index + 1}`;
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
    next.approvals.length !== state.approvals.length;
  const applyWeights = action === "advance" || action === "promote" || action === "rollback";
  return { action, weights: next.weights, applyWeights, state: next, reason, transition, verdicts, ...(drift ? { drift } : {}) };
}

function rollback(state: RolloutState, now: number, reason: string, verdicts: GateVerdict[] = [], phase: "rolled-back" | "aborted" = "rolled-back", drift?: Decision["drift"]): Decision {
  const { pause: _pause, ...rest } = state;
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
        })
      : evaluateAlarmGate(gate, evidence),
  );
}

/** Decide what a tick (or an alarm event) does to the rollout. */
export function decide(policy: RolloutPolicy, state: RolloutState, evidence: Evidence, now: number): Decision {
  if (state.phase === "idle") return make("noop", state, state, "no release in progress");
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
  if (evidence.actualWeights && !weightsEqual(evidence.actualWeights, state.weights)) {
    drift = { actual: evidence.actualWeights, recorded: state.weights };
    const seen = `listener weights ${fmt(evidence.actualWeights)} differ from recorded ${fmt(state.weights)}`;
    if (policy.onDrift === "rollback") return rollback(state, now, `${seen}; policy onDrift=rollback`, [], "rolled-back", drift);
    if (policy.onDrift === "hold" && state.pause?.reason !== "drift") {
      const next: RolloutState = { ...state, phase: "paused", pause: { reason: "drift", since: now } };
      return make("hold", state, next, `${seen}; paused until an operator resumes (onDrift=hold)`, [], drift);
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

  if (step.approval && !state.approvals.includes(state.stepIndex)) {
    const next: RolloutState = { ...state, phase: "paused", pause: { reason: "approval", since: now } };
    return make("pause-for-approval", state, next, `${describeStep(policy, state.stepIndex)} passed its gates; waiting for an operator to approve`, verdicts);
  }
  return advance(policy, state, now, `${describeStep(policy, state.stepIndex)} passed: held ${formatDuration(elapsed)}, gates ${verdicts.length ? verdicts.map((v) => v.gate).join(", ") : "(none)"} passed`, verdicts);
}

/** Move to the next step, or promote after the last one. */
function advance(policy: RolloutPolicy, state: RolloutState, now: number, why: string, verdicts: GateVerdict[] = []): Decision {
  const { pause: _pause, ...rest } = state;
  const nextIndex = state.stepIndex + 1;
  const nextStep = policy.steps[nextIndex];
  if (!nextStep) {
    const next: RolloutState = { ...rest, phase: "promoted", weights: allCanary(policy), endedAt: now, outcome: `promoted ${state.release.canary}` };
    return make("promote", state, next, `${why}; promoting ${state.release.canary} to 100 %`, verdicts);
  }
  const next: RolloutState = { ...rest, phase: "progressing", stepIndex: nextIndex, stepStartedAt: now, weights: nextStep.weights };
  return make("advance", state, next, `${why}; advancing to ${describeStep(policy, nextIndex)}`, verdicts);
}

function fmt(w: Weights): string {
  return `${w.stable}/${w.canary}`;
}

function reject(code: Extract<CommandResult, { ok: false }>["code"], message: string): CommandResult {
  return { ok: false, code, message };
}

const ACTIVE = (s: RolloutState) => s.phase === "progressing" || s.phase === "paused";

/**
 * Apply an operator or pipeline command. Commands that cannot apply are rejected as values and
 * change nothing. Repeating a rollback-type command on a finished rollout is a no-op.
 */
export function applyCommand(policy: RolloutPolicy, state: RolloutState, command: Command, evidence: Pick<Evidence, "freeze" | "killSwitch">, now: number): CommandResult {
  const note = "note" in command && command.note ? ` (${command.note})` : "";
  switch (command.type) {
    case "start": {
      if (ACTIVE(state)) return reject("in-progress", `rollout ${state.rolloutId} (${state.release.canary}) is ${state.phase}; promote or abort it before starting another`);
      if (evidence.freeze) return reject("frozen", "a global freeze is on: no release may start until it is lifted (rollgate unfreeze)");
      if (evidence.killSwitch) return reject("killed", "the kill switch is on for this service: turn it off before starting a release");
      const first = policy.steps[0]!;
      const lkg = allStable(policy);
      const next: RolloutState = {
        rolloutId: command.rolloutId,
        phase: "progressing",
        release: command.release,
        stepIndex: 0,
        stepStartedAt: now,
        startedAt: now,
        weights: first.weights,
        lastKnownGood: lkg,
        approvals: [],
      };
      return { ok: true, decision: make("advance", state, next, `release ${command.release.canary} started (stable ${command.release.stable || "none"}): ${describeStep(policy, 0)}${note}`) };
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
      if (!ACTIVE(state)) return reject("not-active", `rollout ${state.rolloutId} is ${state.phase}; there is nothing to promote`);
      if (evidence.freeze) return reject("frozen", "a global freeze is on: promotion is blocked until it is lifted");
      if (evidence.killSwitch) return reject("killed", "the kill switch is on for this service: promotion is blocked");
      const { pause: _pause, ...rest } = state;
      const next: RolloutState = { ...rest, phase: "promoted", weights: allCanary(policy), endedAt: now, outcome: `promoted ${state.release.canary} by operator${note}` };
      return { ok: true, decision: make("promote", state, next, `operator promoted ${state.release.canary} to 100 % from ${describeStep(policy, state.stepIndex)}${note}`) };
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
