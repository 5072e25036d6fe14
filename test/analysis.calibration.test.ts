/**
 * Quick seeded calibration: A/A rollouts must almost never roll back (the sequential test keeps
 * alpha per rollout although the gate is checked every minute), while the fixed-horizon tests
 * checked every minute do; a real regression is caught, in about the time the power helper says.
 * The 2,000-run benchmark lives with the simulator (bench/); this one stays fast.
 */
import { describe, expect, test } from "vitest";
import { binomial, rng, runAa, runDetection, runPercentileAa, simulateRollout, STANDARD_ERROR_GATE, STANDARD_LADDER } from "../src/analysis/calibrate.js";
import { mixtureLogEValue, requiredCanaryRequests, sequentialAlpha, type CountSample } from "../src/analysis/index.js";

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
    const r = runPercentileAa({ runs: 300, alpha: 0.2 });
    expect(r.gate / r.runs).toBeLessThanOrEqual(0.2);
    expect(r.naive).toBeGreaterThan(2 * r.gate);
    expect(r.naive / r.runs).toBeGreaterThan(0.2);
  });
});

describe("detection", () => {
  test("0.1 % -> 0.6 % at 100 rps held at a 1 % step: always caught, median within the power helper's estimate", () => {
    const r = runDetection({ runs: 100, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006 });
    // The gate's sequential test gets half the gate's 0.005 (the rest is the final look's at maxHold).
    const predicted = requiredCanaryRequests({ baselineRate: 0.001, canaryRate: 0.006, canaryShare: 0.01, alpha: sequentialAlpha(0.005, true), rollbackBand: 0.25, prior: "band" });
    expect(r.detected).toBe(100);
    // The helper ignores earlier crossings of the running maximum (it errs high) and the
    // dispersion tempering and per-minute cap (it errs low); the two nearly cancel here.
    expect(r.medianCanaryRequests).toBeLessThanOrEqual(1.15 * predicted.medianRequests);
    expect(r.medianCanaryRequests).toBeGreaterThan(predicted.medianRequests / 3);
  });

  test("the band prior sits between the wide prior and the oracle that knows the true ratio", () => {
    const cell = (o: { prior?: "band" | "wide"; judge?: "oracle" }) => runDetection({ runs: 200, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006, ...o }).medianMinutes;
    const oracle = cell({ judge: "oracle" });
    const band = cell({ prior: "band" });
    const wide = cell({ prior: "wide" });
    expect(oracle).toBeLessThanOrEqual(band);
    expect(band).toBeLessThan(wide);
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

describe("censored medians", () => {
  test("runs never detected count as never: the median moves up, and is never when fewer than half are caught", async () => {
    const { censoredMedian } = await import("../src/analysis/calibrate.js");
    expect(censoredMedian([1, 2, 3, Infinity, Infinity])).toBe(3);
    expect(censoredMedian([1, 2, Infinity, Infinity])).toBe(Infinity);
    expect(censoredMedian([4, 1, 3, 2])).toBe(2.5);
    const r = runDetection({ runs: 40, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.0035, maxMinutes: 30 });
    expect(r.detectedWithinHorizon).toBeLessThan(0.5);
    expect(r.censoredMedianMinutes).toBe(Infinity);
    expect(r.medianMinutes).toBeLessThan(Infinity);
  });
});
