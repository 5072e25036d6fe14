/**
 * Engine behaviour the controller relies on (pure, no AWS): cases found while wiring the
 * controller, each with the test that would have caught it.
 */
import { describe, expect, test } from "vitest";
import { applyCommand, decide, idleState } from "../src/engine/decide.js";
import { parsePolicy } from "../src/policy/index.js";

const policy = parsePolicy({
  strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }, { percent: 50, hold: "5m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["canary-5xx"] }],
});

function started() {
  const r = applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r1", release: { stable: "v1", canary: "v2" } }, { freeze: false, killSwitch: false }, 0);
  if (!r.ok) throw new Error(r.message);
  return r.decision.state;
}

describe("engine cases the controller relies on", () => {
  test.each(["hold", "reapply"] as const)("a firing alarm gate rolls back even while the listener has drifted (onDrift=%s): the alarm fast path must not be delayed by drift", (onDrift) => {
    const p = parsePolicy({ ...(policy.source as object), onDrift });
    const d = decide(p, started(), { alarms: { "canary-5xx": "ALARM" }, gates: {}, freeze: false, killSwitch: false, actualWeights: { stable: 500, canary: 499 } }, 10_000);
    expect(d.action).toBe("rollback");
    expect(d.state.phase).toBe("rolled-back");
    expect(d.weights).toEqual({ stable: 999, canary: 0 });
    expect(d.drift).toEqual({ actual: { stable: 500, canary: 499 }, recorded: { stable: 899, canary: 100 } });
  });

  test("without a firing alarm, drift toward stable holds under onDrift=hold; drift toward the canary is re-applied even then", () => {
    const hold = parsePolicy({ ...(policy.source as object), onDrift: "hold" });
    const base = { alarms: { "canary-5xx": "OK" as const }, gates: {}, freeze: false, killSwitch: false };
    const shed = decide(hold, started(), { ...base, actualWeights: { stable: 999, canary: 0 } }, 10_000);
    expect(shed).toMatchObject({ action: "hold", applyWeights: false, state: { phase: "paused", pause: { reason: "drift" } } });
    const raised = decide(hold, started(), { ...base, actualWeights: { stable: 500, canary: 499 } }, 10_000);
    expect(raised).toMatchObject({ action: "hold", applyWeights: true, weights: { stable: 899, canary: 100 }, state: { phase: "progressing" } });
  });
});
