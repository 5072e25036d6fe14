/**
 * The power helper and the policy check that `rollgate plan-power` / `validate --rps` call.
 * (Its formula is checked against SciPy in analysis.stats.test.ts; here: behaviour and messages.)
 */
import { describe, expect, test } from "vitest";
import { checkPolicyPower, planPower, requiredCanaryRequests, stepSampleSize } from "../src/analysis/index.js";
import { parsePolicy } from "../src/policy/index.js";

describe("requiredCanaryRequests", () => {
  const base = { baselineRate: 0.001, canaryRate: 0.006, canaryShare: 0.01, alpha: 0.005, rollbackBand: 0.25 };

  test("more power, a smaller alpha or a smaller effect each need more requests", () => {
    const r = requiredCanaryRequests(base).requests;
    expect(requiredCanaryRequests({ ...base, power: 0.95 }).requests).toBeGreaterThan(r);
    expect(requiredCanaryRequests({ ...base, alpha: 0.0005 }).requests).toBeGreaterThan(r);
    expect(requiredCanaryRequests({ ...base, canaryRate: 0.004 }).requests).toBeGreaterThan(r);
    expect(requiredCanaryRequests({ ...base, power: 0.5 }).requests).toBeCloseTo(requiredCanaryRequests(base).medianRequests, 6);
  });

  test("0.1 % -> 0.6 % on a 1 % step needs a few thousand canary requests", () => {
    const r = requiredCanaryRequests(base);
    expect(r.requests).toBeGreaterThan(2000);
    expect(r.requests).toBeLessThan(3000);
    expect(r.bestRatio).toBeGreaterThan(3);
    expect(r.bestRatio).toBeLessThan(8);
  });

  test("an effect inside the rollback band is never rolled back", () => {
    const r = requiredCanaryRequests({ ...base, canaryRate: 0.002 });
    expect(r.bandRequests).toBe(Infinity);
    expect(r.requests).toBe(Infinity);
  });

  test("a drop works for worseWhen lower", () => {
    const r = requiredCanaryRequests({ baselineRate: 0.05, canaryRate: 0.03, canaryShare: 0.1, alpha: 0.005, rollbackBand: 1 });
    expect(Number.isFinite(r.requests)).toBe(true);
    expect(r.bestRatio).toBeGreaterThan(1);
  });

  test.each([
    [{ canaryShare: 0 }, /canaryShare must be a fraction in \(0, 1\)/],
    [{ alpha: 1.5 }, /alpha must be a fraction/],
    [{ baselineRate: -0.1 }, /baselineRate must be a fraction in \[0, 1\)/],
  ])("bad input %o names the field", (patch, message) => {
    expect(() => requiredCanaryRequests({ ...base, ...patch })).toThrow(message);
  });
});

describe("stepSampleSize", () => {
  test("0.1 % -> 0.6 % at 100 rps on a 1 % step: requests from the helper, minutes from the traffic", () => {
    const r = stepSampleSize({ baselineRate: 0.001, canaryRate: 0.006, rps: 100, canaryPercent: 1, alpha: 0.005, rollbackBand: 0.25 });
    const n = requiredCanaryRequests({ baselineRate: 0.001, canaryRate: 0.006, canaryShare: 0.01, alpha: 0.005, rollbackBand: 0.25 });
    expect(r.canaryRequestsPerMinute).toBe(60);
    expect(r.requests).toBe(n.requests);
    expect(r.minutes).toBeCloseTo(n.requests / 60, 9);
    expect(r.medianMinutes).toBeCloseTo(n.medianRequests / 60, 9);
  });

  test("bad traffic names the field", () => {
    expect(() => stepSampleSize({ baselineRate: 0.001, canaryRate: 0.006, rps: 100, canaryPercent: 100, alpha: 0.005 })).toThrow(/canaryPercent/);
    expect(() => stepSampleSize({ baselineRate: 0.001, canaryRate: 0.006, rps: -1, canaryPercent: 1, alpha: 0.005 })).toThrow(/rps/);
  });
});

describe("checkPolicyPower", () => {
  const standard = parsePolicy({ profile: "standard" });

  test("low traffic: the first step is flagged with numbers an operator can act on", () => {
    const warnings = checkPolicyPower(standard, { rps: 20 });
    const detect = warnings.find((w) => w.path === "strategy.steps[0].hold" && /needs ~/.test(w.message));
    expect(detect?.message).toMatch(/^at 20 rps a 1 % step sees ~120 canary requests in 10m; the error-rate gate needs ~2,\d00 to detect 0\.1 % -> 0\.6 % \(80 % of the time; ~3\.\dh at this traffic\)$/);
    expect(warnings.some((w) => w.path === "strategy.steps[0].hold" && /needs 200 \(minSamples\)/.test(w.message))).toBe(true);
  });

  test("ample traffic: no warnings", () => {
    expect(checkPolicyPower(standard, { rps: 2000 })).toEqual([]);
  });

  test("minSamples out of reach within maxHold points at the maxHold field", () => {
    const p = parsePolicy({ strategy: { type: "canary", steps: [{ percent: 1, hold: "5m", maxHold: "10m" }] }, gates: [{ type: "errorRate", minSamples: 1000 }] });
    const w = checkPolicyPower(p, { rps: 10 });
    expect(w.find((x) => x.path === "strategy.steps[0].maxHold")?.message).toMatch(/longer than the step's maxHold 10m/);
  });

  test("shorthand strategies point at their shared hold; per-gate base rates and effects are honoured", () => {
    const p = parsePolicy({ strategy: { type: "linear", stepPercent: 10, hold: "5m" }, gates: [{ type: "errorRate" }] });
    const w = checkPolicyPower(p, { rps: 5 });
    expect(w.length).toBeGreaterThan(0);
    expect(w.every((x) => x.path === "strategy.hold" || x.path === "timeouts.maxHold")).toBe(true);
    const rows = planPower(p, { rps: 5, baselineRates: { "error-rate": 0.02 }, effects: { "error-rate": 5 } }).rows;
    expect(rows[0]).toMatchObject({ gate: "error-rate", baselineRate: 0.02, canaryRate: 0.07 });
    expect(rows[0]!.requestsNeeded!).toBeGreaterThan(0);
  });

  test("percentile gates with a short hold are told they wait for paired minutes", () => {
    const p = parsePolicy({ strategy: { type: "canary", steps: [{ percent: 10, hold: "3m" }] }, gates: [{ type: "latency", percentile: 99 }] });
    expect(checkPolicyPower(p, { rps: 1000 }).map((w) => w.message)).toEqual([expect.stringMatching(/needs 5 paired minutes/)]);
  });

  test("rps must be positive", () => {
    expect(() => checkPolicyPower(standard, { rps: 0 })).toThrow(/rps must be a positive number/);
  });
});
