/**
 * Every statistical function of src/analysis against values computed independently with SciPy
 * (scripts/scipy-fixtures.py -> test/fixtures/scipy-*.json).
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import {
  binomialLogPmf,
  binomialUpperTail,
  exactBinomialTest,
  makeRatioGrid,
  mannWhitneyGreater,
  mixtureLogEValue,
  normalQuantile,
  normalSf,
  requiredCanaryRequests,
  SequentialRateTest,
  twoProportionZTest,
  type MinuteCounts,
} from "../src/analysis/index.js";

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/scipy-${name}.json`, import.meta.url), "utf8")) as T;
}

/** |actual - expected| <= rel * |expected| + abs. */
function close(actual: number, expected: number | null, rel: number, abs = 0): void {
  if (expected === null) {
    expect(actual).toBe(-Infinity);
    return;
  }
  if (actual === expected) return; // also Infinity === Infinity, which the tolerance cannot express
  const tol = rel * Math.abs(expected) + abs;
  expect(Math.abs(actual - expected), `${actual} vs ${expected} (tol ${tol})`).toBeLessThanOrEqual(tol);
}

describe("binomial (scipy.stats.binom)", () => {
  const f = fixture<{
    logpmf: Array<{ k: number; n: number; p: number; value: number | null }>;
    upperTail: Array<{ k: number; n: number; p: number; value: number }>;
    binomtest: Array<{ x: number; n: number; p: number; alternative: "greater" | "less"; pvalue: number }>;
  }>("binomial");

  test.each(f.logpmf)("logpmf($k; $n, $p)", ({ k, n, p, value }) => {
    close(binomialLogPmf(k, n, p), value, 1e-10, 1e-10);
  });

  test.each(f.upperTail)("P(X >= $k; $n, $p) = binom.sf(k-1)", ({ k, n, p, value }) => {
    close(binomialUpperTail(k, n, p), value, 1e-9, 1e-300);
  });

  test.each(f.binomtest)("exact conditional test = binomtest($x, $n, $p, $alternative)", ({ x, n, p, alternative, pvalue }) => {
    // Build counts whose traffic share is exactly p and whose events split x : n - x.
    const canary = { total: p * 1e6, events: x };
    const baseline = { total: (1 - p) * 1e6, events: n - x };
    close(exactBinomialTest(canary, baseline, alternative === "greater" ? "higher" : "lower"), pvalue, 1e-8, 1e-15);
  });
});

describe("normal (scipy.stats.norm)", () => {
  const f = fixture<{ ppf: Array<{ p: number; value: number }>; sf: Array<{ z: number; value: number }> }>("normal");
  // The power helper asks for quantiles of 0.5..0.99; @stdlib's erfinv-based quantile is good to
  // ~1e-15 there but only ~5e-7 relative at p = 1e-12, hence the looser deep-tail tolerance.
  test.each(f.ppf)("ppf($p)", ({ p, value }) => close(normalQuantile(p), value, p >= 1e-6 ? 1e-9 : 1e-6, 1e-12));
  test.each(f.sf)("sf($z)", ({ z, value }) => close(normalSf(z), value, 1e-9, 1e-300));
});

describe("two-proportion z-test (pooled, one-sided; scipy.stats.norm.sf)", () => {
  const f = fixture<{ cases: Array<{ canary: { events: number; total: number }; baseline: { events: number; total: number }; worseWhen: "higher" | "lower"; pvalue: number }> }>("ztest");
  test.each(f.cases)("$canary.events/$canary.total vs $baseline.events/$baseline.total ($worseWhen)", ({ canary, baseline, worseWhen, pvalue }) => {
    close(twoProportionZTest(canary, baseline, worseWhen), pvalue, 1e-9, 1e-15);
  });
});

describe("Mann-Whitney U (scipy.stats.mannwhitneyu, alternative=greater)", () => {
  const f = fixture<{ cases: Array<{ x: number[]; y: number[]; method: "exact" | "asymptotic"; u: number; pvalue: number }> }>("mannwhitney");
  test.each(f.cases.map((c) => ({ ...c, n: c.x.length, m: c.y.length })))("n=$n m=$m $method", ({ x, y, method, u, pvalue }) => {
    const r = mannWhitneyGreater(x, y);
    expect(r.method).toBe(method);
    expect(r.u).toBeCloseTo(u, 9);
    close(r.pValue, pvalue, 1e-8, 1e-14);
  });
});

describe("mixture e-value (binom.logpmf ratios + logsumexp in SciPy)", () => {
  const f = fixture<{
    grid: { min: number; max: number; points: number };
    cases: Array<{ name: string; worseWhen: "higher" | "lower"; minutes: MinuteCounts[]; logEValue: number; maxLogEValue: number }>;
  }>("evalue");
  const grid = makeRatioGrid(f.grid);

  test("the default grid is the one the fixtures use", () => {
    const def = new SequentialRateTest().grid;
    expect(def.size).toBe(f.grid.points);
    close(def.ratios[0]!, f.grid.min, 1e-12);
    close(def.ratios[def.size - 1]!, f.grid.max, 1e-12);
  });

  test.each(f.cases)("$name ($worseWhen)", ({ minutes, worseWhen, logEValue, maxLogEValue }) => {
    // The SciPy reference is the binomial mixture itself: no dispersion tempering.
    const r = mixtureLogEValue(minutes, worseWhen, grid, { dispersion: "none" });
    close(r.logEValue, logEValue, 1e-9, 1e-9);
    close(r.maxLogEValue, maxLogEValue, 1e-9, 1e-9);
  });

  test("clone branches the state: the copy and the original evolve independently", () => {
    const a = new SequentialRateTest("higher", grid);
    a.push(3, 300, 6, 5700);
    const b = a.clone();
    b.push(9, 300, 6, 5700);
    expect(a.logEValue).toBeCloseTo(mixtureLogEValue([{ canary: { events: 3, total: 300 }, baseline: { events: 6, total: 5700 } }], "higher", grid).logEValue, 12);
    expect(b.logEValue).toBeGreaterThan(a.logEValue);
    expect(b.maxLogEValue).toBeGreaterThanOrEqual(a.maxLogEValue);
  });

  test("impossible minutes are counted and skipped, not folded into the evidence", () => {
    const t = new SequentialRateTest("higher", grid);
    t.push(5, 3, 0, 100);
    t.push(-1, 3, 0, 100);
    t.push(Number.NaN, 3, 0, 100);
    expect(t.invalidMinutes).toBe(3);
    expect(t.informativeMinutes).toBe(0);
    expect(t.logEValue).toBe(0);
  });

  test("the closed-form minute log-ratio equals the binomial log-pmf ratio", () => {
    const t = new SequentialRateTest("higher", grid, { dispersion: "none" });
    t.push(4, 120, 9, 11880);
    const rho = 120 / 12000;
    for (const k of [0, 10, 39]) {
      const r = grid.ratios[k]!;
      const q = (rho * r) / (rho * r + 1 - rho);
      close(t.logLikelihoodRatioAt(k), binomialLogPmf(4, 13, q) - binomialLogPmf(4, 13, rho), 1e-10, 1e-10);
    }
  });
});

describe("power helper (normal approximation, scipy.stats.norm.ppf)", () => {
  const f = fixture<{
    cases: Array<{ baselineRate: number; canaryRate: number; canaryShare: number; alpha: number; power: number; rollbackBand: number; testRequests: number | null; bandRequests: number | null; medianRequests: number | null }>;
  }>("power");
  test.each(f.cases)("$baselineRate -> $canaryRate at share $canaryShare", (c) => {
    const r = requiredCanaryRequests(c);
    const inf = (x: number | null) => (x === null ? Infinity : x);
    close(r.testRequests, inf(c.testRequests), 1e-9);
    close(r.bandRequests, inf(c.bandRequests), 1e-9);
    close(r.medianRequests, inf(c.medianRequests), 1e-9);
    expect(r.requests).toBe(Math.max(r.testRequests, r.bandRequests));
  });
});
