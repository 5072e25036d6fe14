/**
 * Clustered errors (one client's retries on a sticky target group, a bad host): a cluster lands
 * wholly on one side, which the plain binomial split test takes for a regression. The count
 * test tempers each minute by a dispersion estimated from the minutes' totals and caps what one
 * minute may add (dispersion.ts, sequential.ts). Seeded Monte Carlo, sized to run in seconds.
 */
import { describe, expect, test } from "vitest";
import { binomial, burstyErrors, rng, runAa, runDetection } from "../src/analysis/calibrate.js";
import { DispersionEstimator, SequentialRateTest, binomialUpperTail } from "../src/analysis/index.js";

/** One-sided 95 % Clopper-Pearson upper bound of a proportion (x successes of n). */
function upperBound95(x: number, n: number): number {
  let lo = x / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    // P(X <= x | mid) = 1 - P(X >= x + 1 | mid)
    if (1 - binomialUpperTail(x + 1, n, mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return hi;
}

const RUNS = 400;
const CELLS = [10, 100, 1000].flatMap((rps) => [2, 5, 20].map((meanBurst) => ({ rps, meanBurst })));

describe("burstyErrors (the simulator's clustered errors)", () => {
  test("keeps the mean rate and inflates the variance by about 2b - 1", () => {
    const rand = rng(11);
    for (const b of [1, 2, 5, 20]) {
      const xs = Array.from({ length: 4000 }, () => burstyErrors(rand, 60_000, 0.001, b));
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
      expect(mean).toBeGreaterThan(60 * 0.93);
      expect(mean).toBeLessThan(60 * 1.07);
      expect(variance / mean).toBeGreaterThan((2 * b - 1) * 0.8);
      expect(variance / mean).toBeLessThan((2 * b - 1) * 1.2);
    }
  });
});

describe("DispersionEstimator", () => {
  test("finds about 1 for independent errors and about 2b - 1 for geometric clusters of mean b", () => {
    for (const b of [1, 2, 5]) {
      const rand = rng(100 + b);
      const est = new DispersionEstimator();
      for (let m = 0; m < 400; m++) est.observe(burstyErrors(rand, 60_000, 0.001, b), 60_000);
      expect(est.phi).toBeGreaterThan((2 * b - 1) * 0.75);
      expect(est.phi).toBeLessThan((2 * b - 1) * 1.3 + 0.2);
    }
  });

  test("an incident's jump in the rate is a level shift, not a cluster", () => {
    const rand = rng(5);
    const est = new DispersionEstimator();
    for (let m = 0; m < 60; m++) {
      const rate = m >= 20 && m < 26 ? 0.03 : 0.001;
      est.observe(binomial(rand, 6000, rate), 6000);
    }
    expect(est.levelShifts).toBeGreaterThanOrEqual(1);
    expect(est.phi).toBeLessThan(2);
  });
});

describe("A/A with clustered errors, standard ladder, alpha 0.005", () => {
  test(`at most 1 % false rollbacks per rollout for mean bursts 2, 5, 20 at 10, 100, 1,000 rps (${RUNS} runs each)`, () => {
    let total = 0;
    const seen: string[] = [];
    for (const [i, cell] of CELLS.entries()) {
      const r = runAa({ runs: RUNS, seed: 300 + i, rps: cell.rps, meanBurst: cell.meanBurst });
      seen.push(`${cell.rps} rps, burst ${cell.meanBurst}: ${r.rolledBack}`);
      // Per cell, more than 2 of 400 would already make <= 1 % doubtful (P(X >= 3 | 0.5 %) ~ 0.32).
      expect(r.rolledBack, seen.join("; ")).toBeLessThanOrEqual(2);
      total += r.rolledBack;
    }
    // Over all cells the one-sided 95 % upper bound must be under 1 %.
    expect(upperBound95(total, RUNS * CELLS.length), seen.join("; ")).toBeLessThan(0.01);
  });

  test("without the correction the same traffic rolls back far more often than 1 %", () => {
    let total = 0;
    for (const [i, cell] of CELLS.entries()) total += runAa({ runs: 100, seed: 300 + i, rps: cell.rps, meanBurst: cell.meanBurst, dispersion: "none" }).rolledBack;
    expect(total / (100 * CELLS.length)).toBeGreaterThan(0.05);
  });

  test("independent errors: still at most 1 % (400 runs at 100 rps)", () => {
    const r = runAa({ runs: RUNS, seed: 77, rps: 100 });
    expect(upperBound95(r.rolledBack, RUNS)).toBeLessThan(0.015);
    expect(r.rolledBack).toBeLessThanOrEqual(2);
  });
});

describe("the price", () => {
  test("a 0.1 % -> 0.6 % regression at 100 rps (1 % step) is still always caught, at most 1.6x later than without the correction", () => {
    const on = runDetection({ runs: 200, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006 });
    const off = runDetection({ runs: 200, rps: 100, percent: 1, baselineRate: 0.001, canaryRate: 0.006, dispersion: "none" });
    expect(on.detected).toBe(200);
    expect(on.medianMinutes).toBeGreaterThanOrEqual(off.medianMinutes);
    expect(on.medianMinutes).toBeLessThanOrEqual(1.6 * off.medianMinutes);
  });

  test("a minute cannot add more than the cap: a 20 % regression needs at least ceil(log(200) / 2) = 3 minutes", () => {
    const t = new SequentialRateTest("higher", undefined, { prior: "band", band: 0.0025 });
    let minutes = 0;
    while (t.maxLogEValue < Math.log(200) && minutes < 10) {
      t.push(12_000, 60_000, 60, 60_000);
      minutes++;
    }
    expect(minutes).toBe(3);
    const bare = new SequentialRateTest("higher", undefined, { prior: "band", band: 0.0025, dispersion: "none" });
    bare.push(12_000, 60_000, 60, 60_000);
    expect(bare.maxLogEValue).toBeGreaterThan(Math.log(200));
  });
});

describe("validity of the tempered e-process itself (bare test, no bands)", () => {
  test("clustered A/A at a 1 % share: the running maximum crosses 1/0.05 in at most 5 % of 300 runs", () => {
    let crossed = 0;
    for (let run = 0; run < 300; run++) {
      const rand = rng(7000 + run);
      const t = new SequentialRateTest("higher");
      for (let m = 0; m < 40; m++) {
        const ct = binomial(rand, 60_000, 0.01);
        const bt = 60_000 - ct;
        t.push(burstyErrors(rand, ct, 0.001, 5), ct, burstyErrors(rand, bt, 0.001, 5), bt);
      }
      if (t.maxLogEValue >= Math.log(20)) crossed++;
    }
    expect(crossed / 300).toBeLessThanOrEqual(0.05);
  });
});
