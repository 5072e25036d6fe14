/**
 * The band prior of the sequential count test (src/analysis/sequential.ts): values against an
 * independent SciPy implementation, the weights' shape, the product form telescoping to a plain
 * mixture when the weights do not move, Ville's bound under A/A (with a peeking variant beside it
 * to show the check can fail), the speed-up it exists for, and the gate and policy wiring.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import {
  bandLogWeights,
  bandRatio,
  DEFAULT_GRID,
  evaluateComparisonGate,
  makeRatioGrid,
  mixtureLogEValue,
  mixtureOptions,
  SequentialRateTest,
  type CountSample,
  type MinuteCounts,
} from "../src/analysis/index.js";
import { binomial, rng } from "../src/analysis/calibrate.js";
import { parsePolicy } from "../src/policy/index.js";
import type { ErrorRateGate } from "../src/policy/types.js";

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/scipy-${name}.json`, import.meta.url), "utf8")) as T;
}

function logSumExp(xs: ArrayLike<number>): number {
  let top = -Infinity;
  for (let i = 0; i < xs.length; i++) top = Math.max(top, xs[i]!);
  let acc = 0;
  for (let i = 0; i < xs.length; i++) acc += Math.exp(xs[i]! - top);
  return top + Math.log(acc);
}

/** One minute of traffic: `rps` with a load swing hitting both sides, a `share` canary, binomial errors. */
function minute(u: () => number, rps: number, share: number, baseRate: number, canaryRate: number): MinuteCounts {
  const total = Math.round(rps * 60 * (0.5 + u()));
  const canaryTotal = binomial(u, total, share);
  const baselineTotal = total - canaryTotal;
  return {
    canary: { events: binomial(u, canaryTotal, canaryRate), total: canaryTotal },
    baseline: { events: binomial(u, baselineTotal, baseRate), total: baselineTotal },
  };
}

describe("band prior mixture (SciPy binom.logpmf, product of weighted logsumexp ratios)", () => {
  const f = fixture<{
    grid: { min: number; max: number; points: number };
    spread: { above: number; below: number };
    cases: Array<{ name: string; worseWhen: "higher" | "lower"; band: number; minutes: MinuteCounts[]; logEValue: number; maxLogEValue: number }>;
  }>("evalue-band");
  const grid = makeRatioGrid(f.grid);

  test.each(f.cases)("$name ($worseWhen, band $band)", ({ minutes, worseWhen, band, logEValue, maxLogEValue }) => {
    // The SciPy reference is the binomial mixture itself: no dispersion tempering.
    const r = mixtureLogEValue(minutes, worseWhen, grid, { prior: "band", band, dispersion: "none" });
    const tol = (x: number) => 1e-9 * Math.abs(x) + 1e-9;
    expect(Math.abs(r.logEValue - logEValue)).toBeLessThanOrEqual(tol(logEValue));
    expect(Math.abs(r.maxLogEValue - maxLogEValue)).toBeLessThanOrEqual(tol(maxLogEValue));
  });

  test("the fixtures exercise both outcomes: some cases cross 1/0.005, some stay far below", () => {
    expect(f.cases.some((c) => c.maxLogEValue > Math.log(200))).toBe(true);
    expect(f.cases.some((c) => c.maxLogEValue === 0)).toBe(true);
  });
});

describe("band prior weights", () => {
  test("band ratio: worse by exactly the band", () => {
    expect(bandRatio("higher", 0.001, 0.0025)).toBeCloseTo(3.5, 12);
    expect(bandRatio("lower", 0.05, 0.01)).toBeCloseTo(0.05 / 0.04, 12);
    expect(bandRatio("lower", 0.001, 0.0025)).toBe(Infinity);
  });

  test.each([
    ["higher", 0.001, 0.0025, 3.5],
    ["higher", 0.02, 0.0025, 1.125],
    ["lower", 0.05, 0.01, 1.25],
  ] as const)("%s, rate %s, band %s: normalised and peaked at a grid point next to %s", (direction, rate, band, peak) => {
    const w = bandLogWeights(DEFAULT_GRID, direction, rate, band);
    expect(logSumExp(w)).toBeCloseTo(0, 12);
    let best = 0;
    for (let k = 1; k < w.length; k++) if (w[k]! > w[best]!) best = k;
    // The heaviest point is one of the two grid ratios that bracket the band ratio.
    const above = DEFAULT_GRID.ratios.findIndex((r) => r >= peak);
    expect([above - 1, above]).toContain(best);
    // Narrower below the peak than above it: one e-fold below weighs less than one e-fold above.
    const at = (r: number) => w[DEFAULT_GRID.ratios.findIndex((x) => x >= r)]!;
    if (peak * Math.E < 1000 && peak / Math.E > 1.05) expect(at(peak / Math.E)).toBeLessThan(at(peak * Math.E));
  });

  test("a band the rate cannot reach puts the peak on the largest ratio", () => {
    const w = bandLogWeights(DEFAULT_GRID, "lower", 0.001, 0.0025);
    expect(w[DEFAULT_GRID.size - 1]).toBe(Math.max(...w));
  });
});

describe("band prior e-process", () => {
  test("when the pooled rate never moves, the product is the plain mixture with those weights", () => {
    // Every minute has pooled rate 10 / 6000, so the weights are the same each minute.
    const minutes: MinuteCounts[] = [
      { canary: { events: 1, total: 60 }, baseline: { events: 9, total: 5940 } },
      { canary: { events: 0, total: 60 }, baseline: { events: 10, total: 5940 } },
      { canary: { events: 3, total: 60 }, baseline: { events: 7, total: 5940 } },
      { canary: { events: 2, total: 120 }, baseline: { events: 8, total: 5880 } },
    ];
    const band = 0.0025;
    const test = new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band", band });
    for (const m of minutes) test.push(m.canary.events, m.canary.total, m.baseline.events, m.baseline.total);
    const w = bandLogWeights(DEFAULT_GRID, "higher", 10 / 6000, band);
    const plain = new Float64Array(DEFAULT_GRID.size);
    for (let k = 0; k < DEFAULT_GRID.size; k++) plain[k] = w[k]! + test.logLikelihoodRatioAt(k);
    expect(test.logEValue).toBeCloseTo(logSumExp(plain), 10);
    expect(test.prior).toBe("band");
    expect(test.bandMinutes).toBe(4);
  });

  test("without a band (or band 0) the band prior is the wide one", () => {
    const minutes: MinuteCounts[] = [{ canary: { events: 2, total: 60 }, baseline: { events: 6, total: 5940 } }];
    const wide = mixtureLogEValue(minutes);
    expect(mixtureLogEValue(minutes, "higher", DEFAULT_GRID, { prior: "band", band: 0 })).toEqual(wide);
    expect(new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band" }).prior).toBe("wide");
  });

  test("a band that is not a fraction is refused, naming it", () => {
    expect(() => new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band", band: 0.25 * 100 })).toThrow(/band must be a fraction/);
    expect(() => new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band", band: Number.NaN })).toThrow(/band must be a fraction/);
  });

  test("clone carries the pooled rate, so the copy continues exactly as the original would", () => {
    const a = new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band", band: 0.0025 });
    a.push(1, 60, 7, 5940);
    a.push(2, 60, 4, 5940);
    const b = a.clone();
    a.push(3, 60, 5, 5940);
    b.push(3, 60, 5, 5940);
    expect(b.logEValue).toBe(a.logEValue);
    expect(b.maxLogEValue).toBe(a.maxLogEValue);
  });

  // Ville's inequality: P(sup E >= 1/alpha) <= alpha under "no difference", at any look.
  // 2,000 seeded A/A runs of 40 minutes at a 5 % canary, 100 rps, load swings, checked every
  // minute. Beside it, on the same data, the failure the product form guards against: weights
  // chosen after seeing the minute (all weight on the grid point whose ratio that minute's split
  // favours most). It is not predictable, and the check must catch it.
  test("A/A: crossing 1/alpha at any minute happens at most alpha of the time; weights chosen after the minute do not", () => {
    const alpha = 0.05;
    const runs = 2000;
    let crossed = 0;
    let peeked = 0;
    for (let run = 0; run < runs; run++) {
      const u = rng(9000 + run);
      const t = new SequentialRateTest("higher", DEFAULT_GRID, { prior: "band", band: 0.0025 });
      let peek = 0;
      let peekMax = 0;
      for (let m = 0; m < 40; m++) {
        const before = Array.from({ length: DEFAULT_GRID.size }, (_, k) => t.logLikelihoodRatioAt(k));
        const x = minute(u, 100, 0.05, 0.002, 0.002);
        t.push(x.canary.events, x.canary.total, x.baseline.events, x.baseline.total);
        let best = 0;
        for (let k = 0; k < DEFAULT_GRID.size; k++) best = Math.max(best, t.logLikelihoodRatioAt(k) - before[k]!);
        peek += best;
        peekMax = Math.max(peekMax, peek);
      }
      if (t.maxLogEValue >= Math.log(1 / alpha)) crossed++;
      if (peekMax >= Math.log(1 / alpha)) peeked++;
    }
    // Measured with these seeds: 0.012 for the e-process, 0.976 for the peek.
    expect(crossed / runs).toBeLessThanOrEqual(alpha);
    expect(peeked / runs).toBeGreaterThan(4 * alpha);
  });

  test("it decides sooner than the wide prior on a regression worse than the band (0.1 % -> 0.6 %, 1 % canary, 100 rps)", () => {
    const alpha = 0.005;
    const minutesTo = (options: { prior?: "band" | "wide"; band?: number }) => {
      const out: number[] = [];
      for (let run = 0; run < 400; run++) {
        const u = rng(500 + run);
        const t = new SequentialRateTest("higher", DEFAULT_GRID, options);
        let m = 0;
        for (; m < 240 && t.maxLogEValue < Math.log(1 / alpha); m++) {
          const x = minute(u, 100, 0.01, 0.001, 0.006);
          t.push(x.canary.events, x.canary.total, x.baseline.events, x.baseline.total);
        }
        out.push(m);
      }
      return out.sort((a, b) => a - b)[200]!;
    };
    const wide = minutesTo({ prior: "wide" });
    const band = minutesTo({ prior: "band", band: 0.0025 });
    expect(band).toBeLessThan(wide);
  });
});

describe("gate and policy wiring", () => {
  const gate: ErrorRateGate = { type: "errorRate", name: "error-rate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200, onMissingData: "hold", worseWhen: "higher" };
  const T0 = Date.UTC(2026, 10, 23, 12, 0);
  const samples: CountSample[] = Array.from({ length: 12 }, (_, i) => ({
    start: T0 + i * 60_000,
    canary: { events: i % 3 === 0 ? 1 : 0, total: 60 },
    baseline: { events: 6, total: 5940 },
  }));
  const ctx = { now: T0 + 12 * 60_000, rolloutStartedAt: T0, stepStartedAt: T0, stepIndex: 0, alpha: 0.005 };

  test("the gate's statistic is the band mixture by default and the wide one on request", () => {
    const band = evaluateComparisonGate(gate, { kind: "counts", samples }, ctx);
    const wide = evaluateComparisonGate(gate, { kind: "counts", samples }, { ...ctx, prior: "wide" });
    const asMinutes = samples.map((s) => ({ canary: s.canary, baseline: s.baseline }));
    expect(Math.log(band.evidence!.statistic!)).toBeCloseTo(mixtureLogEValue(asMinutes, "higher", DEFAULT_GRID, { prior: "band", band: 0.0025 }).maxLogEValue, 10);
    expect(Math.log(wide.evidence!.statistic!)).toBeCloseTo(mixtureLogEValue(asMinutes).maxLogEValue, 10);
    expect(band.evidence!.statistic).not.toBe(wide.evidence!.statistic);
  });

  test("mixtureOptions: the band in points becomes a fraction; no band, or one of 100 points or more, means wide", () => {
    expect(mixtureOptions(gate)).toEqual({ prior: "band", band: 0.0025, dispersion: "estimate" });
    expect(mixtureOptions(gate, "wide")).toEqual({ prior: "wide", dispersion: "estimate" });
    expect(mixtureOptions({ rollbackBand: 0 })).toEqual({ prior: "wide", dispersion: "estimate" });
    expect(mixtureOptions({ rollbackBand: 100 })).toEqual({ prior: "wide", dispersion: "estimate" });
    expect(mixtureOptions(gate, "band", "none")).toEqual({ prior: "band", band: 0.0025, dispersion: "none" });
  });

  test("analysis.prior reaches the gates through the engine's policy", () => {
    expect(parsePolicy({ profile: "standard" }).prior).toBe("band");
    expect(parsePolicy({ profile: "standard", analysis: { prior: "wide" } }).prior).toBe("wide");
  });
});
