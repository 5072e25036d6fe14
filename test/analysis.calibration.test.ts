/**
 * Quick seeded calibration: A/A rollouts must almost never roll back (the sequential test keeps
 * alpha per rollout although the gate is checked every minute), while the fixed-horizon tests
 * checked every minute do; a real regression is caught, in about the time the power helper says.
 * The 2,000-run benchmark lives with the simulator (bench/); this one stays fast.
 */
import { describe, expect, test } from "vitest";
import { binomial, rng, runAa, runDetection, simulateRollout, STANDARD_ERROR_GATE, STANDARD_LADDER } from "../src/analysis/calibrate.js";
import { evaluateComparisonGate, mannWhitneyGreater, mixtureLogEValue, requiredCanaryRequests, type CountSample, type PercentileSample } from "../src/analysis/index.js";
import type { LatencyGate } from "../src/policy/types.js";

describe("A/A (identical canary), standard ladder, 100 rps, 0.1 % errors, alpha 0.005", () => {
  test("the gate rolls back at most 1 of 200 rollouts; per-minute z and exact tests roll back many", () => {
    const gate = runAa({ runs: 200 });
    const z = runAa({ runs: 200, judge: "z-test" });
    const exact = runAa({ runs: 200, judge: "exact-binomial" });
    expect(gate.rolledBack).toBeLessThanOrEqual(1);
    expect(z.rolledBack).toBeGreaterThan(5 * Math.max(1, gate.rolledBack));
    expect(exact.rolledBack).toBeGreaterThan(2 * Math.max(1, gate.rolledBack));
  });

  test("an incident that hits both groups does not roll back", () => {
    const r = runAa({ runs: 100, incident: { fromMinute: 12, minutes: 5, rate: 0.05 } });
    expect(r.rolledBack).toBe(0);
  });

  test("the bare e-process (no bands) stays under alpha = 0.05 over 300 rollouts of 40 minutes", () => {
    let crossed = 0;
    for (let run = 0; run < 300; run++) {
      const rand = rng(9000 + run);
      const minutes: CountSample[] = [];
      for (let m = 0; m < 40; m++) {
        const share = [0.01, 0.05, 0.25, 0.5][Math.floor(m / 10)]!;
        const ct = binomial(rand, 6000, share);
        const bt = 6000 - ct;
        minutes.push({ start: m * 60_000, canary: { total: ct, events: binomial(rand, ct, 0.01) }, baseline: { total: bt, events: binomial(rand, bt, 0.01) } });
      }
      if (mixtureLogEValue(minutes).maxLogEValue >= Math.log(1 / 0.05)) crossed++;
    }
    expect(crossed / 300).toBeLessThanOrEqual(0.05);
  });
});

describe("percentile gate (Mann-Whitney at checkpoints), A/A", () => {
  test("checked every minute over 3 steps of 20 minutes, it stays under alpha; a naive per-minute p-value does not", () => {
    const gate: LatencyGate = { type: "latency", name: "latency", mode: "percentile", percentile: 99, holdBand: 50, rollbackBand: 0, minSamples: 1, onMissingData: "hold", worseWhen: "higher" };
    const alpha = 0.2;
    const runs = 300;
    let gateRollbacks = 0;
    let naiveRollbacks = 0;
    for (let run = 0; run < runs; run++) {
      const rand = rng(4242 + run);
      const samples: PercentileSample[] = [];
      let gateFired = false;
      let naiveFired = false;
      for (let step = 0; step < 3; step++) {
        const stepStartedAt = step * 20 * 60_000;
        for (let m = 0; m < 20; m++) {
          const minute = step * 20 + m;
          // Same distribution on both sides (log-normal-ish p99 points), no ties.
          samples.push({ start: minute * 60_000, canary: 300 * Math.exp(0.2 * (rand() - 0.5)), baseline: 300 * Math.exp(0.2 * (rand() - 0.5)), canaryCount: 100, baselineCount: 9900 });
          const v = evaluateComparisonGate(gate, { kind: "percentiles", samples }, { now: (minute + 1) * 60_000, rolloutStartedAt: 0, stepStartedAt, stepIndex: step, alpha });
          if (v.verdict === "rollback") gateFired = true;
          const stepPoints = samples.slice(step * 20);
          if (stepPoints.length >= 3 && mannWhitneyGreater(stepPoints.map((p) => p.canary!), stepPoints.map((p) => p.baseline!)).pValue <= alpha) naiveFired = true;
        }
      }
      if (gateFired) gateRollbacks++;
      if (naiveFired) naiveRollbacks++;
    }
    expect(gateRollbacks / runs).toBeLessThanOrEqual(alpha);
    expect(naiveRollbacks).toBeGreaterThan(2 * gateRollbacks);
    expect(naiveRollbacks / runs).toBeGreaterThan(alpha);
  });
});

describe("detection", () => {
  test("0.1 % -> 0.6 % at 100 rps held at a 1 % step: always caught, median within the power helper's estimate", () => {
    const r = runDetection({ runs: 100, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006 });
    const predicted = requiredCanaryRequests({ baselineRate: 0.001, canaryRate: 0.006, canaryShare: 0.01, alpha: 0.005, rollbackBand: 0.25 });
    expect(r.detected).toBe(100);
    // The helper ignores earlier crossings of the running maximum, so it errs high, but not wildly.
    expect(r.medianCanaryRequests).toBeLessThanOrEqual(predicted.medianRequests);
    expect(r.medianCanaryRequests).toBeGreaterThan(predicted.medianRequests / 3);
  });

  test("a regression on the standard ladder is never promoted: rolled back, or held at 1 % until the timeout", () => {
    const outcomes = { promoted: 0, "rolled-back": 0, timeout: 0 };
    for (let seed = 0; seed < 50; seed++) {
      const r = simulateRollout({ seed, rps: 100, steps: STANDARD_LADDER, baselineRate: 0.001, canaryRate: 0.006, gate: STANDARD_ERROR_GATE, alpha: 0.005 });
      outcomes[r.outcome]++;
      if (r.outcome === "timeout") expect(r.step).toBe(0);
    }
    expect(outcomes.promoted).toBe(0);
    expect(outcomes["rolled-back"]).toBeGreaterThanOrEqual(45);
  });
});
