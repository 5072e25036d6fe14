/**
 * Gate verdicts: table-driven cases for every rule of evaluateComparisonGate, then fast-check
 * properties for the invariants (missing data and small samples never pass, load swings cancel,
 * scaling evidence never turns a pass into a rollback, the incremental cache equals a fresh run).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  evaluateComparisonGate,
  exactBinomialJudgement,
  mixtureLogEValue,
  percentileLookAlpha,
  sequentialJudgement,
  zTestJudgement,
  type CountSample,
  type GateContext,
  type GateEvidence,
  type PercentileSample,
} from "../src/analysis/index.js";
import type { ComparisonGate, ErrorRateGate, LatencyGate, MetricGate } from "../src/policy/types.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0);

const errorGate: ErrorRateGate = { type: "errorRate", name: "error-rate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200, onMissingData: "hold", worseWhen: "higher" };
const conversionGate: MetricGate = {
  type: "metric",
  name: "checkout-conversion",
  namespace: "Shop",
  events: "Checkouts",
  total: "Visits",
  variantDimension: "Version",
  dimensions: {},
  holdBand: 0.5,
  rollbackBand: 1,
  minSamples: 200,
  onMissingData: "hold",
  worseWhen: "lower",
};
const p99Gate: LatencyGate = { type: "latency", name: "latency", mode: "percentile", percentile: 99, holdBand: 50, rollbackBand: 200, minSamples: 200, onMissingData: "hold", worseWhen: "higher" };

function ctx(stepStartMinute = 0, stepIndex = 0, alpha = 0.005): GateContext {
  return { now: T0 + 120 * MIN, rolloutStartedAt: T0, stepStartedAt: T0 + stepStartMinute * MIN, stepIndex, alpha };
}

/** Minutes with fixed per-minute counts [canaryEvents, canaryTotal, baselineEvents, baselineTotal]. */
function minutes(from: number, count: number, c: [number, number, number, number]): CountSample[] {
  return Array.from({ length: count }, (_, i) => ({
    start: T0 + (from + i) * MIN,
    canary: { events: c[0], total: c[1] },
    baseline: { events: c[2], total: c[3] },
  }));
}

const counts = (samples: CountSample[]): GateEvidence => ({ kind: "counts", samples });

interface Case {
  name: string;
  gate: ComparisonGate;
  evidence: GateEvidence | undefined;
  ctx: GateContext;
  verdict: "pass" | "hold" | "rollback";
  reason?: RegExp;
}

const cases: Case[] = [
  { name: "no evidence -> hold", gate: errorGate, evidence: undefined, ctx: ctx(), verdict: "hold", reason: /no data \(missing data holds\)/ },
  { name: "no evidence, onMissingData rollback -> rollback", gate: { ...errorGate, onMissingData: "rollback" }, evidence: undefined, ctx: ctx(), verdict: "rollback" },
  { name: "empty samples -> hold", gate: errorGate, evidence: counts([]), ctx: ctx(), verdict: "hold" },
  { name: "percentile evidence for a count gate -> hold", gate: errorGate, evidence: { kind: "percentiles", samples: [{ start: T0, canary: 1, baseline: 1 }] }, ctx: ctx(), verdict: "hold", reason: /evidence is percentiles/ },
  { name: "only earlier steps' minutes -> hold", gate: errorGate, evidence: counts(minutes(0, 10, [0, 60, 6, 5940])), ctx: ctx(10, 1), verdict: "hold", reason: /no valid minutes in this step/ },
  { name: "no baseline traffic this step -> hold", gate: errorGate, evidence: counts(minutes(0, 10, [0, 600, 0, 0])), ctx: ctx(), verdict: "hold", reason: /no baseline traffic/ },
  { name: "no canary traffic this step -> hold", gate: errorGate, evidence: counts(minutes(0, 10, [0, 0, 6, 6000])), ctx: ctx(), verdict: "hold", reason: /no canary traffic/ },
  { name: "impossible counts (events > total) are ignored -> hold", gate: errorGate, evidence: counts(minutes(0, 10, [90, 60, 6, 5940])), ctx: ctx(), verdict: "hold", reason: /no valid minutes/ },
  { name: "below minSamples, healthy -> hold", gate: errorGate, evidence: counts(minutes(0, 2, [0, 60, 6, 5940])), ctx: ctx(), verdict: "hold", reason: /need 200 this step/ },
  {
    name: "clear regression -> rollback",
    gate: errorGate,
    evidence: counts(minutes(0, 8, [15, 300, 6, 5700])),
    ctx: ctx(),
    verdict: "rollback",
    reason: /^error-rate: canary 5\.00 % vs baseline 0\.11 % over 2,400 canary requests; e-value .* >= 200 and \+4\.89 points > rollback band 0\.25$/,
  },
  // Three minutes: one minute adds at most MINUTE_LOG_CAP = 2 nats, and 1/alpha = 200 is 5.3.
  { name: "severe regression below minSamples -> rollback (rollback does not wait for minSamples)", gate: errorGate, evidence: counts(minutes(0, 3, [20, 60, 6, 5940])), ctx: ctx(), verdict: "rollback", reason: /whole rollout/ },
  { name: "identical rates -> pass", gate: errorGate, evidence: counts(minutes(0, 10, [1, 1000, 99, 99000])), ctx: ctx(), verdict: "pass", reason: /\+0\.00 points within hold band 0\.1; e-value .* < 200/ },
  { name: "zero-count minutes -> pass with e-value 1", gate: errorGate, evidence: counts(minutes(0, 10, [0, 300, 0, 5700])), ctx: ctx(), verdict: "pass", reason: /e-value 1\.0 < 200/ },
  {
    name: "significant but within the hold band (huge traffic) -> pass",
    gate: errorGate,
    evidence: counts(minutes(0, 10, [150, 100_000, 100, 100_000])),
    ctx: ctx(),
    verdict: "pass",
    reason: /\+0\.05 points within hold band 0\.1; e-value .* >= 200 but \+0\.05 points within rollback band 0\.25/,
  },
  { name: "significant, between hold and rollback band -> hold", gate: errorGate, evidence: counts(minutes(0, 10, [300, 100_000, 100, 100_000])), ctx: ctx(), verdict: "hold", reason: /\+0\.20 points > hold band 0\.1/ },
  {
    name: "looks worse than the rollback band, not significant -> hold",
    gate: errorGate,
    evidence: counts([...minutes(0, 1, [1, 60, 6, 5940]), ...minutes(1, 3, [0, 60, 6, 5940])]),
    ctx: ctx(),
    verdict: "hold",
    reason: /\+0\.32 points > hold band 0\.1; e-value .* < 200/,
  },
  { name: "worseWhen lower: conversion drop -> rollback", gate: conversionGate, evidence: counts(minutes(0, 10, [6, 300, 285, 5700])), ctx: ctx(), verdict: "rollback", reason: /-3\.00 points < -1 \(rollback band; lower is worse\)/ },
  { name: "worseWhen lower: conversion up -> pass", gate: conversionGate, evidence: counts(minutes(0, 10, [24, 300, 285, 5700])), ctx: ctx(), verdict: "pass" },
  { name: "worseWhen lower: higher events are not a regression", gate: { ...errorGate, worseWhen: "lower" }, evidence: counts(minutes(0, 8, [15, 300, 6, 5700])), ctx: ctx(), verdict: "pass" },
  {
    name: "rho changes between steps, equal rates -> pass",
    gate: errorGate,
    evidence: counts([...minutes(0, 10, [1, 60, 59, 5940]), ...minutes(10, 10, [150, 1500, 450, 4500])]),
    ctx: ctx(10, 1),
    verdict: "pass",
  },
  {
    name: "rho changes between steps, regression starts at the second step -> rollback",
    gate: errorGate,
    evidence: counts([...minutes(0, 10, [0, 60, 6, 5940]), ...minutes(10, 5, [30, 1500, 5, 4500])]),
    ctx: ctx(10, 1),
    verdict: "rollback",
  },
  {
    name: "incident hitting both groups -> no rollback",
    gate: errorGate,
    evidence: counts([...minutes(0, 5, [0, 300, 6, 5700]), ...minutes(5, 5, [60, 300, 1140, 5700]), ...minutes(10, 5, [0, 300, 6, 5700])]),
    ctx: ctx(),
    verdict: "pass",
    reason: /canary 6\.67 % vs baseline 6\.74 %.*e-value 1\.0 < 200/,
  },
  { name: "alpha outside (0, 1) -> hold", gate: errorGate, evidence: counts(minutes(0, 8, [15, 300, 6, 5700])), ctx: ctx(0, 0, 0), verdict: "hold", reason: /analysis\.alpha/ },
];

describe("count gate verdicts", () => {
  test.each(cases)("$name", ({ gate, evidence, ctx: c, verdict, reason }) => {
    const v = evaluateComparisonGate(gate, evidence, c);
    expect(v.verdict, v.reason).toBe(verdict);
    expect(v.gate).toBe(gate.name);
    if (reason) expect(v.reason).toMatch(reason);
  });

  test("a verdict carries its evidence: e-value, 1/alpha, both sides' step totals, difference", () => {
    const v = evaluateComparisonGate(errorGate, counts([...minutes(0, 5, [0, 60, 6, 5940]), ...minutes(5, 8, [15, 300, 6, 5700])]), ctx(5, 1));
    expect(v.evidence).toMatchObject({ threshold: 200, canary: { events: 120, total: 2400 }, baseline: { events: 48, total: 45600 }, minutes: 8 });
    expect(v.evidence!.statistic!).toBeGreaterThanOrEqual(200);
    expect(v.evidence!.difference!).toBeCloseTo(100 * (120 / 2400 - 48 / 45600), 9);
  });

  test("evidence.difference is canary minus baseline whatever the direction", () => {
    const v = evaluateComparisonGate(conversionGate, counts(minutes(0, 10, [6, 300, 285, 5700])), ctx());
    expect(v.evidence!.difference!).toBeCloseTo(2 - 5, 9);
  });

  test("the test accumulates across steps: evidence from step 1 counts in step 2", () => {
    const mild: [number, number, number, number] = [2, 300, 6, 5700]; // 0.67 % vs 0.11 %
    const step2 = minutes(10, 3, mild);
    const alone = evaluateComparisonGate(errorGate, counts(step2), ctx(10, 1));
    const withHistory = evaluateComparisonGate(errorGate, counts([...minutes(0, 10, mild), ...step2]), ctx(10, 1));
    expect(withHistory.evidence!.statistic!).toBeGreaterThan(alone.evidence!.statistic!);
    expect(withHistory.evidence!.canary).toEqual(alone.evidence!.canary);
  });
});

describe("percentile gate verdicts (Mann-Whitney, the weaker option)", () => {
  const points = (n: number, canary: (i: number) => number | null, baseline: (i: number) => number | null, count = 100): PercentileSample[] =>
    Array.from({ length: n }, (_, i) => ({ start: T0 + i * MIN, canary: canary(i), baseline: baseline(i), canaryCount: count, baselineCount: count * 99 }));
  const pct = (samples: PercentileSample[]): GateEvidence => ({ kind: "percentiles", samples });
  const wobble = (i: number) => ((i * 37) % 11) - 5;

  test.each<{ name: string; evidence: GateEvidence | undefined; verdict: "pass" | "hold" | "rollback"; reason?: RegExp; stepIndex?: number }>([
    { name: "no evidence -> hold", evidence: undefined, verdict: "hold" },
    { name: "all canary points null -> hold", evidence: pct(points(12, () => null, () => 300)), verdict: "hold", reason: /no paired p99 minutes/ },
    { name: "count evidence for a percentile gate -> hold", evidence: counts(minutes(0, 3, [0, 1, 0, 1])), verdict: "hold" },
    { name: "fewer than 5 paired minutes -> hold even when far worse", evidence: pct(points(4, () => 2000, () => 300)), verdict: "hold", reason: /need 5 paired minutes/ },
    { name: "5 to 9 paired minutes far worse -> hold (no rollback look before 10)", evidence: pct(points(9, () => 2000, () => 300)), verdict: "hold", reason: /no Mann-Whitney look before 10 paired minutes/ },
    { name: "clear regression at the first checkpoint -> rollback", evidence: pct(points(10, (i) => 900 + wobble(i), (i) => 300 + wobble(i))), verdict: "rollback", reason: /Mann-Whitney p .* <= .* and \+600 ms > rollback band 200/ },
    { name: "same clear regression in a late step still rolls back", evidence: pct(points(10, (i) => 900 + wobble(i), (i) => 300 + wobble(i))), verdict: "rollback", stepIndex: 6 },
    { name: "similar latency -> pass", evidence: pct(points(12, (i) => 305 + wobble(i), (i) => 300 + wobble(i))), verdict: "pass" },
    { name: "worse by more than the hold band, within rollback band -> hold", evidence: pct(points(12, (i) => 400 + wobble(i), (i) => 300 + wobble(i))), verdict: "hold", reason: /> hold band 50/ },
    { name: "too few canary requests behind the points -> hold", evidence: pct(points(12, (i) => 300 + wobble(i), (i) => 300 + wobble(i), 10)), verdict: "hold", reason: /120 canary requests this step, need 200/ },
    {
      name: "unknown request counts -> hold",
      evidence: pct(points(12, (i) => 300 + wobble(i), (i) => 300 + wobble(i)).map(({ canaryCount: _c, baselineCount: _b, ...p }) => p)),
      verdict: "hold",
      reason: /supply canaryCount/,
    },
  ])("$name", ({ evidence, verdict, reason, stepIndex }) => {
    const v = evaluateComparisonGate(p99Gate, evidence, ctx(0, stepIndex ?? 0));
    expect(v.verdict, v.reason).toBe(verdict);
    if (reason) expect(v.reason).toMatch(reason);
  });

  test("the alpha spent over all checkpoints of any number of steps stays within alpha", () => {
    let spent = 0;
    for (let s = 0; s < 1000; s++) for (let k = 0; k < 40; k++) spent += percentileLookAlpha(0.005, s, k);
    expect(spent).toBeLessThanOrEqual(0.005);
    expect(spent).toBeGreaterThan(0.0049);
  });
});

describe("fixed-horizon baselines for the benchmark", () => {
  test.each([
    { judge: zTestJudgement, name: "z-test" },
    { judge: exactBinomialJudgement, name: "exact binomial" },
  ])("$name: judges only the current step", ({ judge }) => {
    const bad = minutes(0, 8, [15, 300, 6, 5700]);
    const good = minutes(8, 8, [1, 300, 20, 5700]);
    expect(judge(bad, ctx(0), 0.005)).toBe("rollback");
    expect(judge([...bad, ...good], ctx(8, 1), 0.005)).toBe("pass");
    expect(judge(bad, ctx(0), 0.005, "lower")).toBe("pass");
    expect(judge([], ctx(0), 0.005)).toBe("pass");
  });

  test("sequential judgement: the bare e-process over the whole rollout, no bands", () => {
    const bad = minutes(0, 8, [15, 300, 6, 5700]);
    const good = minutes(8, 8, [1, 300, 20, 5700]);
    expect(sequentialJudgement(bad, ctx(0), 0.005)).toBe("rollback");
    // Unlike the fixed-horizon judges it remembers the rollout: a later clean step does not undo it.
    expect(sequentialJudgement([...bad, ...good], ctx(8, 1), 0.005)).toBe("rollback");
    expect(sequentialJudgement(good, ctx(8, 1), 0.005)).toBe("pass");
    expect(sequentialJudgement(bad, ctx(0), 0.005, "lower")).toBe("pass");
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const countsArb = fc.record({
  canaryTotal: fc.integer({ min: 0, max: 5000 }),
  baselineTotal: fc.integer({ min: 0, max: 50_000 }),
  // Integer per-mille rates: fc.double crowds near 0, which would make almost every minute event-free.
  canaryRate: fc.integer({ min: 0, max: 200 }).map((x) => x / 1000),
  baselineRate: fc.integer({ min: 0, max: 200 }).map((x) => x / 1000),
});
const samplesArb = fc.array(countsArb, { minLength: 1, maxLength: 30 }).map((rows) =>
  rows.map(
    (r, i): CountSample => ({
      start: T0 + i * MIN,
      canary: { total: r.canaryTotal, events: Math.floor(r.canaryTotal * r.canaryRate) },
      baseline: { total: r.baselineTotal, events: Math.floor(r.baselineTotal * r.baselineRate) },
    }),
  ),
);
const gateArb = fc
  .record({
    holdBand: fc.double({ min: 0, max: 2, noNaN: true }),
    extra: fc.double({ min: 0, max: 3, noNaN: true }),
    minSamples: fc.integer({ min: 1, max: 5000 }),
    onMissingData: fc.constantFrom<"hold" | "rollback">("hold", "rollback"),
    worseWhen: fc.constantFrom<"higher" | "lower">("higher", "lower"),
  })
  .map((g): ErrorRateGate => ({ type: "errorRate", name: "g", holdBand: g.holdBand, rollbackBand: g.holdBand + g.extra, minSamples: g.minSamples, onMissingData: g.onMissingData, worseWhen: g.worseWhen }));
const alphaArb = fc.double({ min: 1e-4, max: 0.2, noNaN: true });

describe("properties", () => {
  test("missing data never passes", () => {
    fc.assert(
      fc.property(gateArb, samplesArb, alphaArb, fc.integer({ min: 0, max: 3 }), (gate, samples, alpha, kind) => {
        const stepAfterAll = ctx(samples.length + 1, 1, alpha);
        const evidence: GateEvidence | undefined = [undefined, counts([]), counts(samples), { kind: "percentiles", samples: [] } as GateEvidence][kind];
        const c = kind === 2 ? stepAfterAll : ctx(0, 0, alpha);
        expect(evaluateComparisonGate(gate, evidence, c).verdict).not.toBe("pass");
      }),
    );
  });

  test("fewer canary trials than minSamples in the step never passes", () => {
    fc.assert(
      fc.property(gateArb, samplesArb, alphaArb, (gate, samples, alpha) => {
        const stepTotal = samples.reduce((a, s) => a + s.canary.total, 0);
        fc.pre(stepTotal < gate.minSamples);
        expect(evaluateComparisonGate(gate, counts(samples), ctx(0, 0, alpha)).verdict).not.toBe("pass");
      }),
    );
  });

  test("scaling both groups' counts equally never turns a pass into a rollback", () => {
    fc.assert(
      fc.property(gateArb, samplesArb, alphaArb, fc.integer({ min: 2, max: 50 }), (gate, samples, alpha, factor) => {
        const before = evaluateComparisonGate(gate, counts(samples), ctx(0, 0, alpha));
        fc.pre(before.verdict === "pass");
        const scaled = samples.map((s) => ({
          start: s.start,
          canary: { total: s.canary.total * factor, events: s.canary.events * factor },
          baseline: { total: s.baseline.total * factor, events: s.baseline.events * factor },
        }));
        expect(evaluateComparisonGate(gate, counts(scaled), ctx(0, 0, alpha)).verdict).not.toBe("rollback");
      }),
    );
  });

  test("load swings cancel: scaling both sides' traffic in a minute leaves the binomial e-value unchanged", () => {
    fc.assert(
      fc.property(samplesArb, fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 30, maxLength: 30 }), (samples, factors) => {
        fc.pre(samples.every((s) => s.canary.total > 0 && s.baseline.total > 0));
        const swung = samples.map((s, i) => ({
          start: s.start,
          canary: { total: s.canary.total * factors[i]!, events: s.canary.events },
          baseline: { total: s.baseline.total * factors[i]!, events: s.baseline.events },
        }));
        // Bare binomial mixture: exactly invariant. (The dispersion estimate reads the totals'
        // rate from minute to minute, so with it only a swing of the whole series cancels: below.)
        const a = mixtureLogEValue(samples, "higher", undefined, { dispersion: "none" });
        const b = mixtureLogEValue(swung, "higher", undefined, { dispersion: "none" });
        expect(b.logEValue).toBeCloseTo(a.logEValue, 9);
        expect(b.maxLogEValue).toBeCloseTo(a.maxLogEValue, 9);
      }),
    );
  });

  test("with the dispersion estimate, scaling every minute's traffic by one factor leaves the e-value unchanged", () => {
    fc.assert(
      fc.property(samplesArb, fc.integer({ min: 2, max: 50 }), (samples, factor) => {
        fc.pre(samples.every((s) => s.canary.total > 0 && s.baseline.total > 0));
        const scaled = samples.map((s) => ({ start: s.start, canary: { total: s.canary.total * factor, events: s.canary.events }, baseline: { total: s.baseline.total * factor, events: s.baseline.events } }));
        const a = mixtureLogEValue(samples);
        const b = mixtureLogEValue(scaled);
        expect(b.logEValue).toBeCloseTo(a.logEValue, 6);
        expect(b.maxLogEValue).toBeCloseTo(a.maxLogEValue, 6);
      }),
    );
  });

  test("moving an event from baseline to canary never turns a rollback into anything else", () => {
    // Biased towards bad canaries so that rollbacks are common enough to test.
    const badArb = fc.array(
      fc.record({ canaryTotal: fc.integer({ min: 50, max: 2000 }), baselineTotal: fc.integer({ min: 1000, max: 50_000 }), canaryRate: fc.integer({ min: 0, max: 300 }).map((x) => x / 1000), baselineRate: fc.integer({ min: 1, max: 20 }).map((x) => x / 1000) }),
      { minLength: 1, maxLength: 20 },
    ).map((rows) => rows.map((r, i): CountSample => ({ start: T0 + i * MIN, canary: { total: r.canaryTotal, events: Math.floor(r.canaryTotal * r.canaryRate) }, baseline: { total: r.baselineTotal, events: Math.floor(r.baselineTotal * r.baselineRate) } })));
    fc.assert(
      fc.property(gateArb, badArb, alphaArb, fc.nat(), (gate, samples, alpha, pick) => {
        const g = { ...gate, worseWhen: "higher" as const };
        const i = pick % samples.length;
        const s = samples[i]!;
        fc.pre(s.baseline.events > 0 && s.canary.events < s.canary.total);
        const before = evaluateComparisonGate(g, counts(samples), ctx(0, 0, alpha));
        fc.pre(before.verdict === "rollback");
        const moved = samples.map((m, j) =>
          j === i ? { start: m.start, canary: { ...m.canary, events: m.canary.events + 1 }, baseline: { ...m.baseline, events: m.baseline.events - 1 } } : m,
        );
        expect(evaluateComparisonGate(g, counts(moved), ctx(0, 0, alpha)).verdict).toBe("rollback");
      }),
    );
  });

  test('worseWhen "lower" is worseWhen "higher" with the groups swapped', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const swapped = samples.map((s) => ({ start: s.start, canary: s.baseline, baseline: s.canary }));
        const a = mixtureLogEValue(samples, "lower");
        const b = mixtureLogEValue(swapped, "higher");
        expect(a.logEValue).toBeCloseTo(b.logEValue, 8);
        expect(a.maxLogEValue).toBeCloseTo(b.maxLogEValue, 8);
      }),
    );
  });

  test("the incremental cache gives what a fresh computation gives, tick by tick", () => {
    fc.assert(
      fc.property(gateArb, samplesArb, fc.nat(), (gate, samples, edit) => {
        const growing: CountSample[] = [];
        for (let i = 0; i < samples.length; i++) {
          growing.push(samples[i]!);
          if (i === edit % samples.length) {
            // A late CloudWatch revision of an earlier minute, edited in place.
            const target = growing[Math.floor(i / 2)]!;
            target.canary = { ...target.canary, events: Math.min(target.canary.total, target.canary.events + 1) };
          }
          const fresh = growing.map((s) => ({ start: s.start, canary: { ...s.canary }, baseline: { ...s.baseline } }));
          const a = evaluateComparisonGate(gate, counts(growing), ctx(0, 0, 0.01));
          const b = evaluateComparisonGate(gate, counts(fresh), ctx(0, 0, 0.01));
          expect(a).toEqual(b);
        }
      }),
      { numRuns: 50 },
    );
  });
});
