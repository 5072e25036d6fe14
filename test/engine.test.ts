import { describe, expect, test } from "vitest";
import type { CountSample } from "../src/analysis/types.js";
import { applyCommand, decide, idleState, type Decision, type Evidence, type RolloutState } from "../src/engine/index.js";
import { parsePolicy } from "../src/policy/index.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0);

const policy = parsePolicy({
  strategy: {
    type: "canary",
    steps: [
      { percent: 1, hold: "10m" },
      { percent: 25, hold: "10m", approval: true },
      { percent: 50, hold: "10m", maxHold: "20m", onTimeout: "rollback" },
    ],
  },
  gates: [
    { type: "alarm", name: "health", alarms: ["svc-5xx", "svc-p99"] },
    { type: "errorRate", holdBand: 0.5, rollbackBand: 2, minSamples: 100 },
  ],
});

/** Per-minute counts for a step: canary and baseline error rates as fractions. */
function minutes(from: number, count: number, canaryRate: number, baselineRate = 0.001, canaryReq = 100, baselineReq = 900): CountSample[] {
  return Array.from({ length: count }, (_, i) => ({
    start: from + i * MIN,
    canary: { total: canaryReq, events: Math.round(canaryReq * canaryRate) },
    baseline: { total: baselineReq, events: Math.round(baselineReq * baselineRate) },
  }));
}

function evidence(over: Partial<Evidence> = {}, samples: CountSample[] = []): Evidence {
  return {
    alarms: { "svc-5xx": "OK", "svc-p99": "OK" },
    gates: { "error-rate": { kind: "counts", samples } },
    freeze: false,
    killSwitch: false,
    ...over,
  };
}

function started(at = T0): RolloutState {
  const r = applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r1", release: { stable: "v1", canary: "v2" } }, { freeze: false, killSwitch: false }, at);
  if (!r.ok) throw new Error(r.message);
  return r.decision.state;
}

describe("decide: one decision per situation, with a reason", () => {
  const s0 = started();
  const healthy = minutes(T0, 10, 0.001);
  const cases: Array<[string, RolloutState, Evidence, number, Decision["action"], string]> = [
    ["idle does nothing", idleState(policy), evidence(), T0, "noop", "no release in progress"],
    ["before the hold elapses it holds", s0, evidence({}, minutes(T0, 5, 0.001)), T0 + 5 * MIN, "hold", "held 5m of 10m"],
    ["hold elapsed and gates pass: advance", s0, evidence({}, healthy), T0 + 10 * MIN, "advance", "advancing to step 2/3 (25 %)"],
    ["too few samples holds even after the hold", s0, evidence({}, minutes(T0, 10, 0.001, 0.001, 5)), T0 + 10 * MIN, "hold", "need 100"],
    ["no metrics at all holds, never passes", s0, evidence({ gates: {} }), T0 + 10 * MIN, "hold", "no data"],
    ["an alarm in ALARM rolls back", s0, evidence({ alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }, healthy), T0 + 2 * MIN, "rollback", "svc-5xx in ALARM"],
    ["an alarm with INSUFFICIENT_DATA holds", s0, evidence({ alarms: { "svc-5xx": "INSUFFICIENT_DATA", "svc-p99": "OK" } }, healthy), T0 + 10 * MIN, "hold", "svc-5xx=INSUFFICIENT_DATA"],
    ["an unknown alarm state holds", s0, evidence({ alarms: { "svc-5xx": "OK" } }, healthy), T0 + 10 * MIN, "hold", "svc-p99=missing"],
    ["a bad canary rolls back", s0, evidence({}, minutes(T0, 6, 0.08)), T0 + 6 * MIN, "rollback", "step 1/3 (1 %) failed"],
    ["the kill switch rolls back", s0, evidence({ killSwitch: true }, healthy), T0 + MIN, "rollback", "kill switch"],
    ["a freeze blocks the advance", s0, evidence({ freeze: true }, healthy), T0 + 10 * MIN, "hold", "global freeze"],
    ["a freeze does not block a rollback", s0, evidence({ freeze: true, alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }, healthy), T0 + MIN, "rollback", "ALARM"],
    ["drift re-applies the recorded weights by default", s0, evidence({ actualWeights: { stable: 999, canary: 0 } }, healthy), T0 + 10 * MIN, "hold", "differ from recorded 989/10"],
  ];
  test.each(cases)("%s", (_name, state, ev, now, action, reason) => {
    const d = decide(policy, state, ev, now);
    expect(d.action).toBe(action);
    expect(d.reason).toContain(reason);
  });

  test("a rollback lands on the last known good weights and is terminal", () => {
    const d = decide(policy, s0, evidence({ alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }), T0 + MIN);
    expect(d.weights).toEqual({ stable: 999, canary: 0 });
    expect(d.applyWeights).toBe(true);
    expect(d.state.phase).toBe("rolled-back");
    const again = decide(policy, d.state, evidence({ alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }), T0 + 2 * MIN);
    expect(again.action).toBe("noop");
    expect(again.transition).toBe(false);
    expect(again.weights).toEqual({ stable: 999, canary: 0 });
  });

  test("approval: pauses after the step passes, advances on approve, and a paused canary is still guarded", () => {
    const s1 = decide(policy, s0, evidence({}, healthy), T0 + 10 * MIN).state;
    const atApproval = decide(policy, s1, evidence({}, minutes(T0 + 10 * MIN, 10, 0.001)), T0 + 20 * MIN);
    expect(atApproval.action).toBe("pause-for-approval");
    expect(atApproval.state.phase).toBe("paused");
    expect(atApproval.applyWeights).toBe(false);
    const waiting = decide(policy, atApproval.state, evidence({}, minutes(T0 + 10 * MIN, 30, 0.001)), T0 + 40 * MIN);
    expect(waiting.action).toBe("hold");
    expect(waiting.reason).toContain("awaiting approval");
    const guarded = decide(policy, atApproval.state, evidence({ alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }), T0 + 25 * MIN);
    expect(guarded.action).toBe("rollback");
    const approved = applyCommand(policy, atApproval.state, { type: "approve", note: "looks good" }, { freeze: false, killSwitch: false }, T0 + 30 * MIN);
    expect(approved.ok && approved.decision.action).toBe("advance");
    expect(approved.ok && approved.decision.state.stepIndex).toBe(2);
    expect(approved.ok && approved.decision.weights).toEqual({ stable: 499, canary: 500 });
  });

  test("timeout: undecided past maxHold applies onTimeout", () => {
    const atStep3: RolloutState = { ...s0, stepIndex: 2, weights: policy.steps[2]!.weights, stepStartedAt: T0 };
    const thin = minutes(T0, 25, 0.001, 0.001, 3); // never reaches minSamples
    expect(decide(policy, atStep3, evidence({}, thin), T0 + 15 * MIN).action).toBe("hold");
    const timedOut = decide(policy, atStep3, evidence({}, thin), T0 + 20 * MIN);
    expect(timedOut.action).toBe("rollback");
    expect(timedOut.reason).toContain("onTimeout=rollback");
    const pausing = decide(policy, s0, evidence({}, minutes(T0, 40, 0.001, 0.001, 2)), T0 + 40 * MIN);
    expect(pausing.state.phase).toBe("paused");
    expect(pausing.state.pause?.reason).toBe("timeout");
  });

  test("the last step promotes to 100 %", () => {
    const last: RolloutState = { ...s0, stepIndex: 2, weights: policy.steps[2]!.weights, stepStartedAt: T0 };
    const d = decide(policy, last, evidence({}, healthy), T0 + 10 * MIN);
    expect(d.action).toBe("promote");
    expect(d.weights).toEqual({ stable: 0, canary: 999 });
    expect(d.state.phase).toBe("promoted");
  });

  test("drift with onDrift=reapply re-asserts the recorded weights; onDrift=rollback rolls back", () => {
    const drifted = evidence({ actualWeights: { stable: 500, canary: 499 } }, healthy);
    const reapply = decide({ ...policy, onDrift: "reapply" }, s0, drifted, T0 + MIN);
    expect(reapply).toMatchObject({ action: "hold", applyWeights: true, weights: { stable: 989, canary: 10 } });
    expect(reapply.drift).toEqual({ actual: { stable: 500, canary: 499 }, recorded: { stable: 989, canary: 10 } });
    expect(decide({ ...policy, onDrift: "rollback" }, s0, drifted, T0 + MIN).action).toBe("rollback");
    expect(decide(policy, s0, drifted, T0 + MIN)).toMatchObject({ action: "hold", applyWeights: true, transition: true });
    const held = decide({ ...policy, onDrift: "hold" }, s0, evidence({ actualWeights: { stable: 999, canary: 0 } }, healthy), T0 + MIN);
    expect(held.applyWeights).toBe(false);
    expect(held.state.pause?.reason).toBe("drift");
  });

  // onDrift=hold keeps only a person shedding canary traffic; anything else is put back at once.
  test.each([
    ["toward stable (canary shed)", { actualWeights: { stable: 999, canary: 0 } }, "held"],
    ["toward stable, part of the canary kept", { actualWeights: { stable: 994, canary: 5 } }, "held"],
    ["the canary above its committed share", { actualWeights: { stable: 500, canary: 499 } }, "more than its committed 10"],
    ["one point more canary", { actualWeights: { stable: 988, canary: 11 } }, "more than its committed 10"],
    ["traffic on a third target group", { actualWeights: { stable: 989, canary: 0 }, trafficElsewhere: 10 }, "other than the two slots"],
    ["toward a stable slot with no healthy targets", { actualWeights: { stable: 999, canary: 0 }, stableSlotEmpty: true }, "no healthy targets"],
  ] as const)("onDrift=hold, drift %s: %s", (_name, extra, expected) => {
    const d = decide({ ...policy, onDrift: "hold" }, s0, evidence(extra, healthy), T0 + MIN);
    if (expected === "held") {
      expect(d).toMatchObject({ action: "hold", applyWeights: false, transition: true, state: { phase: "paused", pause: { reason: "drift" } } });
      expect(d.reason).toContain("toward the stable slot");
    } else {
      expect(d).toMatchObject({ action: "hold", applyWeights: true, transition: true, weights: { stable: 989, canary: 10 }, state: { phase: "progressing" } });
      expect(d.reason).toContain("although onDrift=hold");
      expect(d.reason).toContain(expected);
    }
  });
});

describe("applyCommand: commands apply or are rejected as values", () => {
  const controls = { freeze: false, killSwitch: false };
  const s0 = started();

  test("start is refused during a rollout, a freeze or a kill", () => {
    expect(applyCommand(policy, s0, { type: "start", rolloutId: "r2", release: { stable: "v1", canary: "v3" } }, controls, T0)).toMatchObject({ ok: false, code: "in-progress" });
    expect(applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r2", release: { stable: "v1", canary: "v3" } }, { freeze: true, killSwitch: false }, T0)).toMatchObject({ ok: false, code: "frozen" });
    expect(applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r2", release: { stable: "v1", canary: "v3" } }, { freeze: false, killSwitch: true }, T0)).toMatchObject({ ok: false, code: "killed" });
  });

  test("abort and kill roll back; repeating them is a no-op with the same weights", () => {
    const abort = applyCommand(policy, s0, { type: "abort" }, controls, T0 + MIN);
    expect(abort.ok && abort.decision).toMatchObject({ action: "rollback", weights: { stable: 999, canary: 0 }, state: { phase: "aborted" } });
    if (!abort.ok) return;
    const again = applyCommand(policy, abort.decision.state, { type: "abort" }, controls, T0 + 2 * MIN);
    expect(again.ok && again.decision).toMatchObject({ action: "noop", transition: false, weights: { stable: 999, canary: 0 } });
    const kill = applyCommand(policy, s0, { type: "kill" }, controls, T0 + MIN);
    expect(kill.ok && kill.decision.state.phase).toBe("rolled-back");
  });

  test("pause then resume restarts the hold; resume of a running rollout is rejected", () => {
    const paused = applyCommand(policy, s0, { type: "pause" }, controls, T0 + 3 * MIN);
    expect(paused.ok && paused.decision.state.phase).toBe("paused");
    if (!paused.ok) return;
    expect(decide(policy, paused.decision.state, evidence({}, minutes(T0, 12, 0.001)), T0 + 12 * MIN).action).toBe("hold");
    const resumed = applyCommand(policy, paused.decision.state, { type: "resume" }, controls, T0 + 12 * MIN);
    expect(resumed.ok && resumed.decision.state).toMatchObject({ phase: "progressing", stepStartedAt: T0 + 12 * MIN });
    expect(applyCommand(policy, s0, { type: "resume" }, controls, T0)).toMatchObject({ ok: false, code: "not-paused" });
  });

  test("promote skips the remaining steps unless frozen; approve needs a pending approval", () => {
    const promoted = applyCommand(policy, s0, { type: "promote" }, controls, T0 + MIN);
    expect(promoted.ok && promoted.decision).toMatchObject({ action: "promote", weights: { stable: 0, canary: 999 } });
    expect(applyCommand(policy, s0, { type: "promote" }, { freeze: true, killSwitch: false }, T0)).toMatchObject({ ok: false, code: "frozen" });
    expect(applyCommand(policy, s0, { type: "approve" }, controls, T0)).toMatchObject({ ok: false, code: "nothing-to-approve" });
  });
});

describe("finalize after promotion (policy.promotion)", () => {
  const baking = parsePolicy({ ...policy.source, promotion: { bake: "30m" } });
  const controls = { freeze: false, killSwitch: false };
  const last: RolloutState = { ...started(), stepIndex: 2, weights: baking.steps[2]!.weights, stepStartedAt: T0 };
  const healthy = minutes(T0, 10, 0.001);

  test("promotion bakes at 100 % then finalizes and scales the old slot down", () => {
    const promoted = decide(baking, last, evidence({}, healthy), T0 + 10 * MIN);
    expect(promoted).toMatchObject({ action: "promote", weights: { stable: 0, canary: 999 }, state: { phase: "promoted", finalizeAt: T0 + 40 * MIN } });
    expect(promoted.scaleDownOldSlot).toBeUndefined();
    expect(decide(baking, promoted.state, evidence(), T0 + 20 * MIN)).toMatchObject({ action: "hold", applyWeights: false });
    const start = applyCommand(baking, promoted.state, { type: "start", rolloutId: "r2", release: { stable: "v2", canary: "v3" } }, controls, T0 + 20 * MIN);
    expect(start).toMatchObject({ ok: false, code: "in-progress" });
    const final = decide(baking, promoted.state, evidence(), T0 + 40 * MIN);
    expect(final).toMatchObject({ action: "finalize", transition: true, scaleDownOldSlot: true, state: { phase: "promoted", endedAt: T0 + 40 * MIN } });
    expect(final.state.finalizeAt).toBeUndefined();
    expect(decide(baking, final.state, evidence(), T0 + 41 * MIN).action).toBe("noop");
  });

  test("an alarm, the kill switch or an abort during the bake sends traffic back at once", () => {
    const promoted = decide(baking, last, evidence({}, healthy), T0 + 10 * MIN).state;
    const alarm = decide(baking, promoted, evidence({ alarms: { "svc-5xx": "ALARM", "svc-p99": "OK" } }), T0 + 12 * MIN);
    expect(alarm).toMatchObject({ action: "rollback", weights: { stable: 999, canary: 0 }, state: { phase: "rolled-back" } });
    expect(alarm.state.finalizeAt).toBeUndefined();
    expect(decide(baking, promoted, evidence({ killSwitch: true }), T0 + 12 * MIN).action).toBe("rollback");
    const abort = applyCommand(baking, promoted, { type: "abort" }, controls, T0 + 12 * MIN);
    expect(abort.ok && abort.decision.weights).toEqual({ stable: 999, canary: 0 });
    expect(applyCommand(baking, promoted, { type: "promote" }, controls, T0 + 12 * MIN)).toMatchObject({ ok: false, code: "not-active" });
  });

  test("without a bake, promotion is final at once and asks for the scale-down", () => {
    const d = decide(policy, last, evidence({}, healthy), T0 + 10 * MIN);
    expect(d).toMatchObject({ action: "promote", scaleDownOldSlot: true, state: { phase: "promoted", endedAt: T0 + 10 * MIN } });
  });
});
