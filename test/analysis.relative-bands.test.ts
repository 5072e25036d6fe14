/**
 * Relative bands ("30%" of the baseline rate, never below a floor in points) and the presets
 * that use them, from 0.01 % to 5 % base rates. Seeded Monte Carlo sized to run in seconds.
 */
import { describe, expect, test } from "vitest";
import { runAa, simulateRollout, STANDARD_LADDER } from "../src/analysis/calibrate.js";
import { binomialUpperTail, effectiveBands, evaluateComparisonGate, mixtureOptions, type CountSample } from "../src/analysis/index.js";
import { parsePolicy, safeParsePolicy } from "../src/policy/index.js";
import { isComparisonGate, type ComparisonGate } from "../src/policy/types.js";

function upperBound95(x: number, n: number): number {
  let lo = x / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (1 - binomialUpperTail(x + 1, n, mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return hi;
}

const errorGateOf = (profile: "low" | "standard" | "high"): ComparisonGate => parsePolicy({ profile }).gates.filter(isComparisonGate).find((g) => g.type === "errorRate")!;

describe("policy: relative bands", () => {
  test('"30%" resolves to a share of the baseline rate, with rollbackBandMin as the floor in points', () => {
    const p = parsePolicy({ profile: "standard", gates: [{ type: "errorRate", holdBand: "10%", holdBandMin: 0.1, rollbackBand: "30%", rollbackBandMin: 0.25 }] });
    const g = p.gates[0] as ComparisonGate;
    expect(g).toMatchObject({ holdBand: 0.1, rollbackBand: 0.25, holdBandRelative: 0.1, rollbackBandRelative: 0.3 });
    expect(effectiveBands(g, 0.001)).toEqual({ holdBand: 0.1, rollbackBand: 0.25 });
    const at2 = effectiveBands(g, 0.02);
    expect(at2.holdBand).toBeCloseTo(0.2, 12);
    expect(at2.rollbackBand).toBeCloseTo(0.6, 12);
  });

  test("numbers stay absolute points, as before", () => {
    const g = parsePolicy({ profile: "standard", gates: [{ type: "errorRate", holdBand: 0.1, rollbackBand: 0.25 }] }).gates[0] as ComparisonGate;
    expect(g.rollbackBandRelative).toBeUndefined();
    expect(effectiveBands(g, 0.05)).toEqual({ holdBand: 0.1, rollbackBand: 0.25 });
  });

  test.each([
    [{ type: "latency", percentile: 99, rollbackBand: "30%" }, "gates[0].rollbackBand", /milliseconds/],
    [{ type: "errorRate", rollbackBand: "30 %" }, "gates[0].rollbackBand", /share of the baseline rate/],
    [{ type: "errorRate", rollbackBand: "0%" }, "gates[0].rollbackBand", /more than "0%"/],
    [{ type: "errorRate", rollbackBand: 0.25, rollbackBandMin: 0.1 }, "gates[0].rollbackBandMin", /only applies to a relative rollbackBand/],
    [{ type: "errorRate", holdBand: "40%", rollbackBand: "30%" }, "gates[0].holdBand", /must not exceed rollbackBand/],
  ])("refuses %j at %s", (gate, path, message) => {
    const r = safeParsePolicy({ profile: "standard", gates: [gate] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.find((i) => i.path === path)?.message).toMatch(message);
  });
});

describe("gate: relative bands", () => {
  const gate = errorGateOf("standard");
  const minutes = (n: number, c: [number, number], b: [number, number]): CountSample[] =>
    Array.from({ length: n }, (_, i) => ({ start: i * 60_000, canary: { events: c[0], total: c[1] }, baseline: { events: b[0], total: b[1] } }));
  const ctx = { now: 20 * 60_000, rolloutStartedAt: 0, stepStartedAt: 0, stepIndex: 0, alpha: 0.005 };

  test("at a 2 % base, +0.4 points is beyond the 0.2-point hold band but inside the 0.6-point rollback band", () => {
    const v = evaluateComparisonGate(gate, { kind: "counts", samples: minutes(20, [48, 2000], [400, 20000]) }, ctx);
    expect(v.verdict).toBe("hold");
    expect(v.reason).toMatch(/hold band 0\.20 \(10% of baseline\)/);
  });

  test("at a 2 % base, +2 points rolls back and says which band", () => {
    const v = evaluateComparisonGate(gate, { kind: "counts", samples: minutes(20, [80, 2000], [400, 20000]) }, ctx);
    expect(v.verdict).toBe("rollback");
    expect(v.reason).toMatch(/rollback band 0\.60 \(30% of baseline\)/);
  });

  test("the band prior centres on the relative band", () => {
    expect(mixtureOptions(gate)).toMatchObject({ prior: "band", band: 0.0025, relativeBand: 0.3 });
  });
});

describe("presets at a 2 % base rate, 100 rps, standard ladder", () => {
  const RUNS = 400;
  test.each(["low", "standard", "high"] as const)("%s: at most 1 % false rollbacks per rollout (A/A, 400 runs)", (profile) => {
    const policy = parsePolicy({ profile });
    const gate = errorGateOf(profile);
    const alpha = policy.alpha / policy.gates.filter(isComparisonGate).length;
    const r = runAa({ runs: RUNS, seed: 21, rps: 100, rate: 0.02, gate, alpha });
    expect(r.rolledBack).toBeLessThanOrEqual(2);
    expect(upperBound95(r.rolledBack, RUNS)).toBeLessThan(0.0125);
  });

  test("standard: a 2 -> 3 % regression is stopped (rolled back, or held by the gate until the step times out) in at least 95 % of 300 runs, and never promoted", () => {
    const gate = errorGateOf("standard");
    const outcomes = { promoted: 0, "rolled-back": 0, timeout: 0 };
    for (let seed = 0; seed < 300; seed++) {
      const r = simulateRollout({ seed: 5000 + seed, rps: 100, steps: STANDARD_LADDER, baselineRate: 0.02, canaryRate: 0.03, gate, alpha: 0.005 });
      outcomes[r.outcome]++;
    }
    expect(outcomes.promoted).toBe(0);
    expect((outcomes["rolled-back"] + outcomes.timeout) / 300).toBeGreaterThanOrEqual(0.95);
    // Rolled back outright in a good share: 126 of 300 when measured.
    expect(outcomes["rolled-back"] / 300).toBeGreaterThan(0.3);
  });

  test("standard: a 2 -> 3 % regression held at 1 % for up to 4 hours is rolled back in at least 95 % of 200 runs", () => {
    const gate = errorGateOf("standard");
    let rolledBack = 0;
    for (let seed = 0; seed < 200; seed++) {
      const r = simulateRollout({ seed: 9000 + seed, rps: 100, steps: [{ percent: 1, minutes: 240 }], maxHoldFactor: 1, baselineRate: 0.02, canaryRate: 0.03, gate, alpha: 0.005 });
      if (r.outcome === "rolled-back") rolledBack++;
    }
    expect(rolledBack / 200).toBeGreaterThanOrEqual(0.95);
  });

  test("with the old absolute standard bands (0.1 / 0.25 points) the same A/A traffic is held past its timeout far more often", () => {
    const relative = runAa({ runs: 200, seed: 22, rps: 100, rate: 0.02, gate: errorGateOf("standard") });
    const absolute = runAa({ runs: 200, seed: 22, rps: 100, rate: 0.02, gate: { ...errorGateOf("standard"), holdBandRelative: undefined, rollbackBandRelative: undefined } as ComparisonGate });
    expect(absolute.timeouts).toBeGreaterThan(2 * relative.timeouts);
  });
});
