/**
 * The final look: part of a count gate's alpha spent on one fixed-horizon test of the step's own
 * minutes when the step reaches maxHold (gate.ts). Checked against SciPy
 * (scripts/scipy-fixtures.py -> test/fixtures/scipy-final-look.json), in the gate's verdicts, and
 * by seeded Monte Carlo for its false-rejection rate with independent and clustered errors.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { binomial, burstyErrors, rng } from "../src/analysis/calibrate.js";
import {
  binomialUpperTailReal,
  evaluateComparisonGate,
  FINAL_LOOK_GRACE_MS,
  FINAL_LOOK_SHARE,
  finalLookAlpha,
  finalLookDispersion,
  finalLookTest,
  mixtureOptions,
  rolloutTest,
  SequentialRateTest,
  sequentialAlpha,
  type CountSample,
  type GateContext,
} from "../src/analysis/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { isComparisonGate, type ComparisonGate } from "../src/policy/types.js";

const MINUTE = 60_000;
const fixture = JSON.parse(readFileSync(new URL("./fixtures/scipy-final-look.json", import.meta.url), "utf8")) as {
  cases: Array<{ phi: number; worseWhen: "higher" | "lower"; rho: number; pvalue: number; binomtest?: number; minutes: Array<{ canary: { events: number; total: number }; baseline: { events: number; total: number } }> }>;
  realTail: Array<{ k: number; n: number; p: number; value: number }>;
};

describe("final look: against SciPy", () => {
  test.each(fixture.cases.map((c, i) => [i, c] as const))("case %i matches scipy.special.betainc (and binomtest when phi is 1)", (_i, c) => {
    const minutes: CountSample[] = c.minutes.map((m, j) => ({ start: j * MINUTE, ...m }));
    const r = finalLookTest(minutes, c.phi, c.worseWhen);
    expect(r.rho).toBeCloseTo(c.rho, 12);
    expect(r.pValue).toBeCloseTo(c.pvalue, 12);
    if (c.pvalue > 0) expect(Math.abs(r.pValue - c.pvalue) / c.pvalue).toBeLessThan(1e-8);
    if (c.binomtest !== undefined) expect(Math.abs(r.pValue - c.binomtest) / Math.max(c.binomtest, 1e-300)).toBeLessThan(1e-8);
  });

  test.each(fixture.realTail.map((c) => [c.k, c.n, c.p, c.value] as const))("binomialUpperTailReal(%d, %d, %d) = %d", (k, n, p, value) => {
    expect(Math.abs(binomialUpperTailReal(k, n, p) - value) / value).toBeLessThan(1e-9);
  });

  test("no evidence, no rejection: empty windows, one-sided windows, windows without events", () => {
    expect(finalLookTest([]).pValue).toBe(1);
    expect(finalLookTest([{ start: 0, canary: { events: 0, total: 0 }, baseline: { events: 5, total: 100 } }]).pValue).toBe(1);
    expect(finalLookTest([{ start: 0, canary: { events: 0, total: 50 }, baseline: { events: 0, total: 100 } }]).pValue).toBe(1);
    // Impossible counts are ignored, as by the sequential test.
    expect(finalLookTest([{ start: 0, canary: { events: 9, total: 5 }, baseline: { events: 0, total: 100 } }]).pValue).toBe(1);
  });
});

describe("final look: alpha", () => {
  test("half of the gate's alpha goes to the final looks, split over steps as 1/((s+1)(s+2)); the shares sum to the gate's alpha", () => {
    expect(FINAL_LOOK_SHARE).toBe(0.5);
    expect(sequentialAlpha(0.005, true)).toBeCloseTo(0.0025, 15);
    expect(sequentialAlpha(0.005, false)).toBe(0.005);
    expect(finalLookAlpha(0.005, 0)).toBeCloseTo(0.00125, 15);
    expect(finalLookAlpha(0.005, 2)).toBeCloseTo(0.0025 / 12, 15);
    let spent = sequentialAlpha(0.005, true);
    for (let s = 0; s < 10_000; s++) spent += finalLookAlpha(0.005, s);
    expect(spent).toBeLessThanOrEqual(0.005);
    expect(spent).toBeGreaterThan(0.00499);
  });
});

describe("final look: in the gate", () => {
  const gate = parsePolicy({ profile: "standard" }).gates.filter(isComparisonGate).find((g) => g.type === "errorRate")!;
  // 1 % of 6,000 requests a minute; the canary fails ~3 % (2, 2, 2, 2, 1 errors of 60), the baseline 2 %.
  const pattern = [2, 2, 2, 2, 1];
  const step = (minutes: number, from = 0): CountSample[] =>
    Array.from({ length: minutes }, (_, i) => ({ start: (from + i) * MINUTE, canary: { events: pattern[i % 5]!, total: 60 }, baseline: { events: 119, total: 5940 } }));
  const ctx: GateContext = { now: 40 * MINUTE, rolloutStartedAt: 0, stepStartedAt: 0, stepIndex: 0, alpha: 0.005, stepMaxHoldMs: 40 * MINUTE };

  test("the data are evidence the fixed look sees and the anytime test does not (the case the final look exists for)", () => {
    const samples = step(40);
    const seq = rolloutTest(samples, "higher", mixtureOptions(gate));
    expect(seq.maxLogEValue).toBeLessThan(-Math.log(sequentialAlpha(0.005, true)));
    expect(finalLookTest(samples.slice(0, 37), seq.dispersion!.phi).pValue).toBeLessThan(finalLookAlpha(0.005, 0));
  });

  test("at maxHold it rolls back, saying so; a minute earlier it holds", () => {
    const samples = step(40);
    const v = evaluateComparisonGate(gate, { kind: "counts", samples }, ctx);
    expect(v.verdict).toBe("rollback");
    expect(v.reason).toMatch(/final look at maxHold over 37 minutes: p [0-9.e-]+ <= 0\.0013 .* > rollback band 0\.60 \(30% of baseline\)/);
    const before = evaluateComparisonGate(gate, { kind: "counts", samples }, { ...ctx, now: 39 * MINUTE + 59_000 });
    expect(before.verdict).toBe("hold");
    expect(before.reason).not.toMatch(/final look/);
  });

  test("without the step's maxHold the whole alpha goes to the sequential test and there is no final look", () => {
    const { stepMaxHoldMs: _drop, ...noMaxHold } = ctx;
    const v = evaluateComparisonGate(gate, { kind: "counts", samples: step(40) }, noMaxHold);
    expect(v.verdict).toBe("hold");
    expect(v.evidence?.threshold).toBe(200);
    expect(evaluateComparisonGate(gate, { kind: "counts", samples: step(40) }, ctx).evidence?.threshold).toBe(400);
  });

  test("it judges only the step's minutes that began at least FINAL_LOOK_GRACE_MS before maxHold", () => {
    expect(FINAL_LOOK_GRACE_MS).toBe(3 * MINUTE);
    // Minutes before the step (a previous step's) and in the last 3 minutes are outside the window:
    // make them very bad and the look's numbers do not move.
    const bad = (m: number): CountSample => ({ start: m * MINUTE, canary: { events: 30, total: 60 }, baseline: { events: 119, total: 5940 } });
    const samples = [bad(-2), bad(-1), ...step(37), bad(37), bad(38), bad(39)];
    const v = evaluateComparisonGate(gate, { kind: "counts", samples }, ctx);
    const plain = evaluateComparisonGate(gate, { kind: "counts", samples: step(37) }, ctx);
    const look = (r: string) => r.match(/final look at maxHold over 37 minutes: p [0-9.e-]+/)?.[0];
    expect(look(plain.reason)).toBeDefined();
    // The rollback here may come from the sequential test (the bad minutes are evidence for it);
    // the final look itself must report the same window either way.
    const evaluated = evaluateComparisonGate(gate, { kind: "counts", samples }, { ...ctx, alpha: 1e-300 });
    expect(look(evaluated.reason)).toBe(look(plain.reason));
    expect(v.verdict).toBe("rollback");
  });

  test("a later step gets its own smaller share: the same window passes the look at step 3 (alpha x 1/2 x 1/20)", () => {
    const samples = step(40);
    const r = finalLookTest(samples.slice(0, 37), rolloutTest(samples, "higher", mixtureOptions(gate)).dispersion!.phi);
    expect(r.pValue).toBeGreaterThan(finalLookAlpha(0.005, 3));
    const v = evaluateComparisonGate(gate, { kind: "counts", samples }, { ...ctx, stepIndex: 3 });
    expect(v.verdict).toBe("hold");
    expect(v.reason).toMatch(/final look at maxHold over 37 minutes: p [0-9.e-]+ > /);
  });

  test("the rollback band still applies: a significant difference inside it holds", () => {
    // Absolute bands: a 1.2-point rollback band, the canary ~+1 point worse.
    const wide: ComparisonGate = { ...gate, holdBand: 0.1, rollbackBand: 1.2, holdBandRelative: undefined, rollbackBandRelative: undefined };
    const v = evaluateComparisonGate(wide, { kind: "counts", samples: step(40) }, ctx);
    expect(v.verdict).toBe("hold");
    expect(v.reason).toMatch(/final look at maxHold .* <= /);
  });

  test("worseWhen lower: a conversion that drops is rolled back at the final look", () => {
    const conversion = { type: "metric", name: "checkout", metric: "Checkout", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200, onMissingData: "hold", worseWhen: "lower" } as unknown as ComparisonGate;
    // Baseline converts 10 %, canary 7.5 %.
    const conv = [4, 5];
    const samples: CountSample[] = Array.from({ length: 40 }, (_, i) => ({ start: i * MINUTE, canary: { events: conv[i % 2]!, total: 60 }, baseline: { events: 594, total: 5940 } }));
    const seq = rolloutTest(samples, "lower", mixtureOptions(conversion));
    expect(seq.maxLogEValue).toBeLessThan(-Math.log(0.0025));
    const v = evaluateComparisonGate(conversion, { kind: "counts", samples }, ctx);
    expect(v.verdict).toBe("rollback");
    expect(v.reason).toMatch(/final look/);
  });
});

describe("final look: false rejections of an identical canary (seeded Monte Carlo)", () => {
  type Correction = "margin" | "rao-scott" | "none";
  /**
   * Windows of 37 one-minute A/A samples at a traffic share, errors in clusters of mean `burst`
   * landing wholly on one side; the look at alpha 0.005 (3,000 windows resolve it) with the
   * dispersion the gate would use (estimated from the totals): "margin" as the gate applies it,
   * "rao-scott" divided by the estimate alone, "none" not corrected.
   */
  function rejections(options: { windows: number; rps: number; share: number; rate: number; burst: number; alpha: number; correction: Correction; seed: number }): number {
    let rejected = 0;
    for (let w = 0; w < options.windows; w++) {
      const rand = rng(options.seed * 1_000_003 + w);
      const samples: CountSample[] = [];
      const test = new SequentialRateTest("higher");
      for (let m = 0; m < 37; m++) {
        const requests = Math.round(options.rps * 60);
        const c = binomial(rand, requests, options.share);
        const s = { start: m * MINUTE, canary: { total: c, events: burstyErrors(rand, c, options.rate, options.burst) }, baseline: { total: requests - c, events: burstyErrors(rand, requests - c, options.rate, options.burst) } };
        samples.push(s);
        test.push(s.canary.events, s.canary.total, s.baseline.events, s.baseline.total);
      }
      const phi = test.dispersion!.phi;
      let p: number;
      if (options.correction === "none") p = finalLookTest(samples, 1).pValue;
      else if (options.correction === "margin") p = finalLookTest(samples, phi).pValue;
      else {
        // Undo the margin so the counts are divided by the estimate alone.
        const rho = finalLookTest(samples, 1).rho;
        p = finalLookTest(samples, 1 + (phi - 1) / ((finalLookDispersion(phi, rho) - 1) / (phi - 1) || 1)).pValue;
      }
      if (p <= options.alpha) rejected++;
    }
    return rejected;
  }

  // alpha 0.005 x 3,000 windows = 15 expected at most; 23 is 15 plus two standard deviations.
  test.each([
    [100, 0.01, 0.02, 1],
    [1000, 0.05, 0.001, 1],
    [100, 0.01, 0.02, 5],
    [1000, 0.05, 0.001, 5],
    [100, 0.01, 0.001, 20],
    [1000, 0.01, 0.001, 2],
    [1000, 0.25, 0.02, 5],
    [10, 0.25, 0.001, 5],
  ])("%d rps, share %d, rate %d, mean burst %d: at most alpha (0.005) of 3,000 windows rejected, up to sampling noise", (rps, share, rate, burst) => {
    expect(rejections({ windows: 3000, rps, share, rate, burst, alpha: 0.005, correction: "margin", seed: 99 })).toBeLessThanOrEqual(23);
  });

  test("the correction and its margin are what keep clustered errors in check (mutations: no correction, phi alone)", () => {
    const cell = { windows: 3000, rps: 1000, share: 0.05, rate: 0.001, burst: 5, alpha: 0.005, seed: 99 };
    const none = rejections({ ...cell, correction: "none" });
    const raoScott = rejections({ ...cell, correction: "rao-scott" });
    const margin = rejections({ ...cell, correction: "margin" });
    expect(none).toBeGreaterThan(100);
    expect(raoScott).toBeGreaterThan(23);
    expect(margin).toBeLessThanOrEqual(15);
  });
});
