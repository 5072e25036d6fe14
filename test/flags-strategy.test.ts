/** deriveAppConfigStrategy: RolloutPolicy -> AppConfig deployment strategy, and what it refuses. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { appConfigIncrements, deriveAppConfigStrategy, type DeriveStrategyOptions } from "../src/flags/index.js";
import { parsePolicy, type GateInput, type PolicyInput } from "../src/policy/index.js";

const HEALTH: GateInput = { type: "alarm", name: "health", alarms: ["svc-5xx"] };

function derive(input: PolicyInput, options?: DeriveStrategyOptions) {
  return deriveAppConfigStrategy(parsePolicy(input), options);
}
function issuesOf(input: PolicyInput, options?: DeriveStrategyOptions) {
  const r = derive(input, options);
  if (r.ok) throw new Error(`expected issues, got ${JSON.stringify(r.strategy)}`);
  return r.issues;
}

describe("AppConfig growth semantics", () => {
  test.each([
    ["LINEAR", 20, [20, 40, 60, 80, 100]],
    ["LINEAR", 30, [30, 60, 90, 100]],
    ["LINEAR", 100, [100]],
    ["EXPONENTIAL", 2, [2, 4, 8, 16, 32, 64, 100]],
    ["EXPONENTIAL", 10, [10, 20, 40, 80, 100]],
    ["EXPONENTIAL", 60, [60, 100]],
  ] as const)("%s growth factor %d walks %j", (type, g, expected) => {
    expect(appConfigIncrements(type, g)).toEqual(expected);
  });
});

describe("derived strategies", () => {
  test.each<[string, PolicyInput, Record<string, unknown>]>([
    [
      "linear 20 % every 6m = AWS's predefined AppConfig.Linear20PercentEvery6Minutes",
      { strategy: { type: "linear", stepPercent: 20, hold: "6m" }, gates: [HEALTH] },
      { growthType: "LINEAR", growthFactor: 20, deploymentDurationInMinutes: 30, finalBakeTimeInMinutes: 0, stepMinutes: 6 },
    ],
    [
      "linear 30 %: the last increment is capped at 100",
      { strategy: { type: "linear", stepPercent: 30, hold: "10m" }, gates: [HEALTH], promotion: { bake: "15m" } },
      { growthType: "LINEAR", growthFactor: 30, deploymentDurationInMinutes: 40, finalBakeTimeInMinutes: 15, increments: [30, 60, 90, 100] },
    ],
    [
      "exponential from 10 % (AWS's Canary10Percent20Minutes shape with 4m steps)",
      { strategy: { type: "exponential", startPercent: 10, hold: "4m" }, gates: [HEALTH], promotion: { bake: "10m" } },
      { growthType: "EXPONENTIAL", growthFactor: 10, deploymentDurationInMinutes: 20, finalBakeTimeInMinutes: 10 },
    ],
    [
      "exponential with an explicit factor 2",
      { strategy: { type: "exponential", startPercent: 5, factor: 2, hold: "5m" }, gates: [HEALTH] },
      { growthType: "EXPONENTIAL", growthFactor: 5, increments: [5, 10, 20, 40, 80, 100], deploymentDurationInMinutes: 30 },
    ],
    [
      "an explicit ladder equal to a linear expansion",
      { strategy: { type: "canary", steps: [25, 50, 75].map((percent) => ({ percent, hold: "5m" })) }, gates: [HEALTH] },
      { growthType: "LINEAR", growthFactor: 25, deploymentDurationInMinutes: 20 },
    ],
    [
      "a hold that is not whole minutes is rounded up, never down",
      { strategy: { type: "linear", stepPercent: 50, hold: "90s" }, gates: [HEALTH], promotion: { bake: "30s" } },
      { deploymentDurationInMinutes: 3, finalBakeTimeInMinutes: 1 },
    ],
  ])("%s", (_label, input, expected) => {
    const r = derive(input);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.strategy).toMatchObject({ replicateTo: "NONE", alarms: ["svc-5xx"], ...expected });
      expect(r.warnings).toEqual([]);
    }
  });

  test("alarms of every alarm gate are the monitors, de-duplicated in policy order", () => {
    const r = derive({
      strategy: { type: "linear", stepPercent: 50, hold: "5m" },
      gates: [HEALTH, { type: "alarm", name: "biz", alarms: ["orders-drop", "svc-5xx"] }],
    });
    expect(r.ok && r.strategy.alarms).toEqual(["svc-5xx", "orders-drop"]);
  });

  test("ignoreComparisonGates turns the comparison-gate error into a warning", () => {
    const r = derive({ strategy: { type: "linear", stepPercent: 50, hold: "5m" }, gates: [{ type: "errorRate" }, HEALTH] }, { ignoreComparisonGates: true });
    expect(r.ok).toBe(true);
    expect(r.ok && r.warnings).toEqual([expect.stringMatching(/^gates\[0\]: gate "error-rate" \(errorRate\) compares canary with baseline/)]);
  });
});

describe("what AppConfig cannot express", () => {
  test.each<[string, PolicyInput, string, RegExp]>([
    ["the standard preset's 1/5/25/50 ladder", { profile: "standard", gates: [HEALTH] }, "strategy.steps", /startPercent: 1 \} walks 1, 2, 4, 8, 16, 32, 64, 100 % \(same first exposure\), or \{ type: "linear", stepPercent: 20 \}/],
    ["the low preset's 10/50 ladder", { profile: "low", gates: [HEALTH] }, "strategy.steps", /startPercent: 10 \} walks 10, 20, 40, 80, 100 %.*stepPercent: 34 \} walks 34, 68, 100 %/],
    ["the high preset's 0.1 % start", { profile: "high", gates: [HEALTH] }, "strategy.steps[4].approval", /cannot pause a deployment/],
    ["blue-green", { strategy: { type: "blueGreen", bake: "30m" }, gates: [HEALTH] }, "strategy.type", /a flag has no idle slot/],
    ["a factor of 3", { strategy: { type: "exponential", startPercent: 1, factor: 3, hold: "5m" }, gates: [HEALTH] }, "strategy.factor", /always doubles/],
    ["an approval on a linear shorthand", { strategy: { type: "linear", stepPercent: 10, hold: "10m", approval: true }, gates: [HEALTH] }, "strategy.approval", /operator's approval/],
    [
      "uneven holds",
      { strategy: { type: "canary", steps: [{ percent: 25, hold: "5m" }, { percent: 50, hold: "10m" }, { percent: 75, hold: "5m" }] }, gates: [HEALTH] },
      "strategy.steps[1].hold",
      /every step must hold as long as the first \(5m\), got 10m/,
    ],
    ["a start below 1 %", { strategy: { type: "exponential", startPercent: 0.5, hold: "1m" }, gates: [HEALTH] }, "strategy.startPercent", /growth factor must be 1 to 100 %, got 0.5/],
    ["a 25h deployment", { strategy: { type: "linear", stepPercent: 10, hold: "150m" }, gates: [HEALTH] }, "strategy.hold", /10 increments x 150m = 1500 minutes.*hold at most 144m per step/],
    ["a 2-day bake", { strategy: { type: "linear", stepPercent: 50, hold: "5m" }, gates: [HEALTH], promotion: { bake: "2d" } }, "promotion.bake", /2880 minutes is above AppConfig's finalBakeTimeInMinutes limit of 1440/],
    ["a comparison gate", { strategy: { type: "linear", stepPercent: 50, hold: "5m" }, gates: [HEALTH, { type: "latency", thresholdMs: 300 }] }, "gates[1]", /AppConfig cannot evaluate/],
    ["no alarm at all", { strategy: { type: "linear", stepPercent: 50, hold: "5m" } }, "gates", /no alarm gate/],
    ["six alarms", { strategy: { type: "linear", stepPercent: 50, hold: "5m" }, gates: [{ type: "alarm", name: "a", alarms: ["1", "2", "3", "4", "5", "6"] }] }, "gates", /at most 5; combine them into a CloudWatch composite alarm/],
    [
      "a ring step",
      {
        strategy: { type: "canary", steps: [{ ring: "staff", hold: "5m" }, { percent: 50, hold: "5m" }] },
        rings: [{ name: "staff", match: { headers: [{ name: "x-staff", values: ["1"] }] } }],
        gates: [HEALTH],
      },
      "strategy.steps[0].ring",
      /no audience rings/,
    ],
    [
      "a lifecycle hook",
      {
        strategy: { type: "linear", stepPercent: 50, hold: "5m" },
        gates: [HEALTH],
        hookFunctions: { smoke: "arn:aws:lambda:eu-west-1:123456789012:function:smoke" },
        hooks: [{ name: "smoke", function: "smoke", at: ["beforeStep"] }],
      },
      "hooks",
      /no rollgate lifecycle hooks/,
    ],
  ])("%s", (_label, input, path, message) => {
    const issue = issuesOf(input).find((i) => i.path === path);
    expect(issue, `an issue at ${path}`).toBeDefined();
    expect(issue!.message).toMatch(message);
  });

  test("requireMonitors false accepts a policy with no alarm", () => {
    const r = derive({ strategy: { type: "linear", stepPercent: 50, hold: "5m" } }, { requireMonitors: false });
    expect(r.ok && r.strategy.alarms).toEqual([]);
  });

  test("every problem is reported at once", () => {
    const paths = issuesOf({ strategy: { type: "linear", stepPercent: 10, hold: "150m", approval: true }, gates: [{ type: "errorRate" }] }).map((i) => i.path);
    expect(paths).toEqual(["strategy.approval", "strategy.hold", "gates[0]", "gates"]);
  });
});

describe("invariants (fast-check, seeded)", () => {
  const holdMinutes = fc.integer({ min: 1, max: 60 });

  test("linear: AppConfig walks the policy's steps then 100 %, each held at least the policy's hold", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99 }), holdMinutes, (step, hold) => {
        const policy = parsePolicy({ strategy: { type: "linear", stepPercent: step, hold: `${hold}m` }, gates: [HEALTH] });
        const r = deriveAppConfigStrategy(policy);
        const increments = Math.ceil(100 / step);
        if (increments * hold > 1440) return !r.ok && r.issues.some((i) => i.path === "strategy.hold");
        if (!r.ok) return false;
        return (
          JSON.stringify(r.strategy.increments.slice(0, -1)) === JSON.stringify(policy.steps.map((s) => s.percent)) &&
          r.strategy.increments.at(-1) === 100 &&
          r.strategy.stepMinutes >= hold &&
          r.strategy.deploymentDurationInMinutes <= 1440
        );
      }),
      { seed: 9, numRuns: 300 },
    );
  });

  test("exponential: increments double from the start and end at 100 %", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99 }), holdMinutes, (start, hold) => {
        const policy = parsePolicy({ strategy: { type: "exponential", startPercent: start, hold: `${hold}m` }, gates: [HEALTH] });
        const r = deriveAppConfigStrategy(policy);
        if (!r.ok) return r.issues.every((i) => i.path === "strategy.hold");
        const inc = r.strategy.increments;
        return (
          r.strategy.growthType === "EXPONENTIAL" &&
          inc.at(-1) === 100 &&
          inc.slice(1, -1).every((p, i) => Math.abs(p - 2 * inc[i]!) < 1e-6) &&
          inc.length === policy.steps.length + 1
        );
      }),
      { seed: 10, numRuns: 300 },
    );
  });
});
