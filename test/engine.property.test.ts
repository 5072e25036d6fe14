import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { CountSample } from "../src/analysis/types.js";
import { applyCommand, decide, idleState, type Command, type Decision, type Evidence, type RolloutState } from "../src/engine/index.js";
import { parsePolicy, type RolloutPolicy } from "../src/policy/index.js";

const MIN = 60_000;

/** Random but valid policies: ascending ladders, holds, approvals, totals, gates. */
const policyArb = fc
  .record({
    percents: fc.uniqueArray(fc.integer({ min: 1, max: 990 }), { minLength: 1, maxLength: 6 }),
    holds: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 6, maxLength: 6 }),
    approvals: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    weightTotal: fc.constantFrom(999, 500, 998),
    onDrift: fc.constantFrom("hold", "rollback", "reapply"),
    onTimeout: fc.constantFrom("pause", "rollback"),
    minSamples: fc.integer({ min: 0, max: 500 }),
  })
  .map(({ percents, holds, approvals, weightTotal, onDrift, onTimeout, minSamples }): RolloutPolicy => {
    const sorted = [...percents].sort((a, b) => a - b).map((p) => p / 10);
    // Keep only steps that land on distinct, non-zero weights for this total.
    const steps: Array<{ percent: number; hold: string; approval: boolean }> = [];
    let last = 0;
    sorted.forEach((percent, i) => {
      const w = Math.round((percent / 100) * weightTotal);
      if (w > last && w < weightTotal) {
        steps.push({ percent, hold: `${holds[i]}m`, approval: approvals[i]! });
        last = w;
      }
    });
    if (steps.length === 0) steps.push({ percent: 50, hold: "5m", approval: false });
    return parsePolicy({
      strategy: { type: "canary", steps },
      gates: [
        { type: "alarm", name: "health", alarms: ["a1"] },
        { type: "errorRate", holdBand: 0.5, rollbackBand: 2, minSamples },
      ],
      weightTotal,
      onDrift,
      timeouts: { onTimeout },
    });
  });

type Kind = "healthy" | "bad" | "missing" | "alarm" | "alarm-missing" | "drift" | "freeze" | "kill";
const eventArb = fc.oneof(
  fc.record({ tick: fc.constantFrom<Kind>("healthy", "healthy", "healthy", "bad", "missing", "alarm", "alarm-missing", "drift", "freeze", "kill"), advanceMinutes: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ command: fc.constantFrom<Command["type"]>("start", "promote", "abort", "approve", "pause", "resume", "kill"), advanceMinutes: fc.integer({ min: 0, max: 3 }) }),
);

function samplesFor(kind: Kind, from: number, to: number): CountSample[] {
  if (kind === "missing") return [];
  const out: CountSample[] = [];
  for (let t = from; t < to; t += MIN) {
    out.push({ start: t, canary: { total: 200, events: kind === "bad" ? 40 : 0 }, baseline: { total: 2000, events: 2 } });
  }
  return out;
}

function evidenceFor(kind: Kind, state: RolloutState, now: number): Evidence {
  return {
    alarms: kind === "alarm" ? { a1: "ALARM" } : kind === "alarm-missing" ? {} : { a1: "OK" },
    gates: kind === "missing" ? {} : { "error-rate": { kind: "counts", samples: samplesFor(kind, state.startedAt, now) } },
    freeze: kind === "freeze",
    killSwitch: kind === "kill",
    ...(kind === "drift" ? { actualWeights: { stable: 1, canary: 1 } } : { actualWeights: state.weights }),
  };
}

/** Replays a random history of ticks and commands, checking invariants on every decision. */
function replay(policy: RolloutPolicy, events: Array<typeof eventArb extends fc.Arbitrary<infer T> ? T : never>, check: (d: Decision, before: RolloutState, ev: Evidence | undefined, now: number) => void): void {
  let now = Date.UTC(2026, 0, 1);
  let state = idleState(policy, "none", now);
  let rollouts = 0;
  for (const e of events) {
    now += e.advanceMinutes * MIN;
    if ("tick" in e) {
      const ev = evidenceFor(e.tick, state, now);
      const d = decide(policy, state, ev, now);
      check(d, state, ev, now);
      state = d.state;
    } else {
      const cmd: Command = e.command === "start" ? { type: "start", rolloutId: `r${++rollouts}`, release: { stable: "v1", canary: `v${rollouts + 1}` } } : { type: e.command };
      const r = applyCommand(policy, state, cmd, { freeze: false, killSwitch: false }, now);
      if (r.ok) {
        check(r.decision, state, undefined, now);
        state = r.decision.state;
      }
    }
  }
}

const runs = { numRuns: Number(process.env.FC_RUNS ?? 300), endOnFailure: true };

describe("engine invariants (fast-check)", () => {
  test("weights are integers within 0..999 and sum to the configured total", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 40 }), (policy, events) => {
        replay(policy, events, (d) => {
          for (const w of [d.weights, d.state.weights, d.state.lastKnownGood]) {
            expect(Number.isInteger(w.stable) && Number.isInteger(w.canary)).toBe(true);
            expect(w.stable).toBeGreaterThanOrEqual(0);
            expect(w.canary).toBeGreaterThanOrEqual(0);
            expect(Math.max(w.stable, w.canary)).toBeLessThanOrEqual(999);
            expect(w.stable + w.canary).toBe(policy.weightTotal);
          }
        });
      }),
      runs,
    );
  });

  test("a tick never advances or promotes before the hold elapsed and every gate passed", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 40 }), (policy, events) => {
        replay(policy, events, (d, before, ev, now) => {
          if (!ev || (d.action !== "advance" && d.action !== "promote" && d.action !== "pause-for-approval")) return;
          const step = policy.steps[before.stepIndex]!;
          expect(now - before.stepStartedAt).toBeGreaterThanOrEqual(step.holdMs);
          expect(d.verdicts.length).toBe(step.gates.length);
          expect(d.verdicts.every((v) => v.verdict === "pass")).toBe(true);
          expect(ev.freeze).toBe(false);
        });
      }),
      runs,
    );
  });

  test("missing data never lets a tick advance", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 40 }), (policy, events) => {
        replay(policy, events, (d, _before, ev) => {
          if (!ev) return;
          const missing = Object.keys(ev.gates).length === 0 || ev.alarms.a1 === undefined;
          if (missing) expect(["advance", "promote", "pause-for-approval"]).not.toContain(d.action);
        });
      }),
      runs,
    );
  });

  test("every rollback lands on the last known good weights and asks for them to be written", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 40 }), (policy, events) => {
        replay(policy, events, (d, before) => {
          if (d.action !== "rollback") return;
          expect(d.weights).toEqual(before.lastKnownGood);
          expect(d.weights).toEqual({ stable: policy.weightTotal, canary: 0 });
          expect(d.applyWeights).toBe(true);
          expect(["rolled-back", "aborted"]).toContain(d.state.phase);
        });
      }),
      runs,
    );
  });

  test("deciding twice on the same inputs gives the same answer", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 30 }), (policy, events) => {
        replay(policy, events, (d, before, ev, now) => {
          if (!ev) return;
          expect(decide(policy, structuredClone(before), structuredClone(ev), now)).toEqual(d);
        });
      }),
      runs,
    );
  });

  test("every decision says why", () => {
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 30 }), (policy, events) => {
        replay(policy, events, (d) => {
          expect(d.reason.length).toBeGreaterThan(10);
        });
      }),
      runs,
    );
  });
});

describe("the generators reach every kind of decision (so the properties above are not vacuous)", () => {
  test("advance, hold, pause-for-approval, promote, rollback and noop all occur", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(policyArb, fc.array(eventArb, { maxLength: 40 }), (policy, events) => {
        replay(policy, events, (d) => void seen.add(d.action));
      }),
      { numRuns: 300, seed: 42 },
    );
    expect([...seen].sort()).toEqual(["advance", "hold", "noop", "pause-for-approval", "promote", "rollback"]);
  });
});
