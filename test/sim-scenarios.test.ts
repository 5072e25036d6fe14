/**
 * Issue 19's simulator pieces: clustered errors, a regression that grows, the oracle controller,
 * and peers configured per their docs (Argo's windowed measurements, fixed tests looking once at
 * each step's end). Seeded, a few runs each.
 */
import { describe, expect, test } from "vitest";
import { parsePolicy } from "../src/policy/index.js";
import type { RolloutPolicy } from "../src/policy/types.js";
import { clusteredErrors, Rng, simulateRollout, withoutGateRollbacks, type ComparisonPolicy, type Scenario } from "../src/sim/index.js";

const base: Scenario = { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, lagSeconds: [60, 60], observeUntilHorizon: true, horizonMinutes: 60 };
const run = (policy: ComparisonPolicy, scenario: Scenario, seed: number) => simulateRollout({ policy, scenario, seed, timeline: false }).outcome;

describe("clustered errors", () => {
  test("keep the mean and inflate the variance by about 2b - 1", () => {
    const rng = new Rng(3);
    for (const b of [1, 5]) {
      const xs = Array.from({ length: 3000 }, () => clusteredErrors(rng, 60_000, 0.001, b));
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
      expect(mean / 60).toBeGreaterThan(0.93);
      expect(mean / 60).toBeLessThan(1.07);
      expect(v / mean / (2 * b - 1)).toBeGreaterThan(0.8);
      expect(v / mean / (2 * b - 1)).toBeLessThan(1.2);
    }
  });

  test("scenario.meanBurst below 1 is refused with the field named", () => {
    expect(() => simulateRollout({ policy: { profile: "standard" }, scenario: { ...base, meanBurst: 0.5 }, seed: 1 })).toThrow(/scenario\.meanBurst/);
  });
});

describe("a regression that grows (leak)", () => {
  test("serves fewer excess errors than the same regression at full size from the start", () => {
    const policy: ComparisonPolicy = { kind: "codedeploy", canaryPercent: 10, canaryMinutes: 100, terminationWaitMinutes: 0, alarm: { name: "never", metric: "canaryErrorRate", threshold: 1 } };
    const step = run(policy, { ...base, canaryErrorRate: 0.02 }, 5);
    const leak = run(policy, { ...base, canaryErrorRate: 0.02, regressionRampMinutes: 60 }, 5);
    expect(Math.abs(leak.exposedRequests - step.exposedRequests) / step.exposedRequests).toBeLessThan(0.02);
    expect(leak.excessErrors).toBeLessThan(0.75 * step.excessErrors);
    expect(leak.excessErrors).toBeGreaterThan(0.4 * step.excessErrors);
  });
});

describe("oracle controller", () => {
  test("never rolls back an identical release, and rolls back 0.1 -> 0.6 % at 100 rps", () => {
    for (let seed = 0; seed < 5; seed++) expect(run({ kind: "oracle", ratio: 1 }, base, seed).result).toBe("promoted");
    let rolledBack = 0;
    for (let seed = 0; seed < 5; seed++) if (run({ kind: "oracle", ratio: 6 }, { ...base, canaryErrorRate: 0.006, horizonMinutes: 120 }, seed).result === "rolled-back") rolledBack++;
    expect(rolledBack).toBeGreaterThanOrEqual(4);
  });
});

describe("HealthGates' comparison alarm (errorRateGap)", () => {
  test("is symmetric like ABS(b_rate - g_rate): a canary far better than a failing baseline trips it, the one-sided difference does not", () => {
    const policy = parsePolicy({ profile: "standard", gates: [{ type: "errorRate" }, { type: "alarm", name: "gap", alarms: ["gap"] }] });
    const scenario = (metric: "errorRateGap" | "errorRateDifference"): Scenario => ({
      ...base,
      baselineErrorRate: 0.2,
      canaryErrorRate: 0.001,
      alarms: [{ name: "gap", metric, threshold: 0.05, datapointsToAlarm: 3, evaluationPeriods: 5, minRequests: 10 }],
    });
    const gap = simulateRollout({ policy, scenario: scenario("errorRateGap"), seed: 4, timeline: false }).outcome;
    expect(gap.result).toBe("rolled-back");
    expect(gap.reason).toMatch(/alarm gap in ALARM/);
    expect(simulateRollout({ policy, scenario: scenario("errorRateDifference"), seed: 4, timeline: false }).outcome.reason).not.toMatch(/alarm gap/);
  });
});

describe("holding oracle", () => {
  const standard = parsePolicy({ profile: "standard" });
  const holding = (ratio: number): ComparisonPolicy => ({ kind: "holding-oracle", ratio, policy: standard });
  const weightsOf = (policy: ComparisonPolicy | RolloutPolicy, scenario: Scenario, seed: number) =>
    simulateRollout({ policy, scenario, seed }).timeline.decisions.filter((d) => d.action !== "hold" && d.action !== "noop").map((d) => `${d.atMs}:${d.weights.canary}`);

  test("holds and advances exactly as rollgate standard does when nothing is rolled back (same ladder, holds and advance rule)", () => {
    let compared = 0;
    for (let seed = 0; seed < 6; seed++) {
      const own = simulateRollout({ policy: standard, scenario: base, seed, timeline: false }).outcome;
      if (own.result === "rolled-back") continue;
      expect(weightsOf(holding(1), base, seed)).toEqual(weightsOf(standard, base, seed));
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(4);
  });

  test("only its oracle test rolls back: told the true ratio it stops 0.1 -> 20 %, told 1 it never does (its gates hold but cannot roll back)", () => {
    const bad = { ...base, canaryErrorRate: 0.2, horizonMinutes: 60 };
    const told = run(holding(200), bad, 3);
    expect(told.result).toBe("rolled-back");
    expect(told.reason).toMatch(/oracle test \(told the true ratio 200\) reached 1\/0\.005/);
    const blind = run(holding(1), bad, 3);
    expect(blind.result).not.toBe("rolled-back");
    expect(run({ kind: "holding-oracle", ratio: 1, policy: withoutGateRollbacks(standard) }, bad, 3).maxCanaryShare).toBeLessThan(0.02);
  });

  test("an identical release is never rolled back (ratio 1 has no test)", () => {
    for (let seed = 0; seed < 4; seed++) expect(run(holding(1), base, seed).result).not.toBe("rolled-back");
  });
});

describe("peers as their docs configure them", () => {
  test("a fixed test that looks once at each step's end cannot roll back before the first step ends; one that peeks every minute can", () => {
    const bad = { ...base, canaryErrorRate: 0.2 };
    const once = run({ kind: "z-test", look: "step-end", alpha: 0.005 / 4 }, bad, 2);
    const peek = run({ kind: "z-test" }, bad, 2);
    expect(once.result).toBe("rolled-back");
    expect(once.rolledBackAtMs!).toBeGreaterThanOrEqual(10 * 60_000);
    expect(peek.rolledBackAtMs!).toBeLessThan(once.rolledBackAtMs!);
  });

  test("Argo with 5-minute windows and interval measures every 5 minutes: a 20 % regression needs failureLimit + 1 = 4 failed measurements", () => {
    const o = run({ kind: "argo", intervalMinutes: 5, windowMinutes: 5, failureLimit: 3 }, { ...base, canaryErrorRate: 0.2 }, 4);
    expect(o.result).toBe("rolled-back");
    // Four measurements 5 minutes apart, the first once a datapoint is delivered.
    expect(o.rolledBackAtMs!).toBeGreaterThanOrEqual(15 * 60_000);
    const newest = run({ kind: "argo" }, { ...base, canaryErrorRate: 0.2 }, 4);
    expect(newest.rolledBackAtMs!).toBeLessThan(o.rolledBackAtMs!);
  });
});
