import { describe, expect, test } from "vitest";
import { parsePolicy, PolicyError, policyJsonSchema, safeParsePolicy, weightsFor, PRESETS, parseDuration, formatDuration } from "../src/policy/index.js";

const steps = (...s: Array<[number, string]>) => s.map(([percent, hold]) => ({ percent, hold }));
const canary = (s: unknown[], extra: Record<string, unknown> = {}) => ({ strategy: { type: "canary", steps: s }, ...extra });
const ok = canary(steps([1, "10m"], [5, "10m"]));

/** [description, policy, expected path, fragment of the message]. Every row is a distinct mistake. */
const malformed: Array<[string, unknown, string, string]> = [
  ["not an object", "canary please", "", "must be an object"],
  ["null", null, "", "must be an object"],
  ["no strategy and no profile", {}, "strategy", "required unless a profile is set"],
  ["unknown profile", { profile: "medium" }, "profile", 'must be one of "low", "standard", "high"'],
  ["unknown strategy type", { strategy: { type: "rolling" } }, "strategy.type", 'must be one of "canary", "linear", "exponential", "blueGreen"'],
  ["typo in a top-level field", { ...ok, gatse: [] }, "gatse", 'did you mean "gates"'],
  ["typo in a step field", canary([{ percent: 1, hodl: "10m" }]), "strategy.steps[0].hodl", 'did you mean "hold"'],
  ["empty steps", canary([]), "strategy.steps", "at least one step"],
  ["steps not a list", { strategy: { type: "canary", steps: { percent: 1 } } }, "strategy.steps", "must be a list of steps"],
  ["percent as a string", canary([{ percent: "5", hold: "10m" }]), "strategy.steps[0].percent", "must be a number"],
  ["missing hold", canary([{ percent: 5 }]), "strategy.steps[0].hold", "is required"],
  ["hold without unit", canary(steps([5, "10"])), "strategy.steps[0].hold", 'a duration such as "30s"'],
  ["hold as a number", canary([{ percent: 5, hold: 600 }]), "strategy.steps[0].hold", "must be a duration"],
  ["hold shorter than a metric period", canary(steps([5, "30s"])), "strategy.steps[0].hold", "at least 1m"],
  ["descending percent", canary(steps([5, "10m"], [25, "10m"], [10, "10m"])), "strategy.steps[2].percent", "must be greater than the previous step (25)"],
  ["repeated percent", canary(steps([5, "10m"], [5, "10m"])), "strategy.steps[1].percent", "must be greater than the previous step (5)"],
  ["zero percent", canary(steps([0, "10m"])), "strategy.steps[0].percent", "must be greater than 0"],
  ["negative percent", canary(steps([-1, "10m"])), "strategy.steps[0].percent", "must be greater than 0"],
  ["a 100 % step", canary(steps([50, "10m"], [100, "10m"])), "strategy.steps[1].percent", "promotion to 100 % follows the last step"],
  ["percent below one weight unit", canary(steps([0.01, "10m"])), "strategy.steps[0].percent", "below the smallest weight"],
  ["two percents on the same weight", canary(steps([0.1, "10m"], [0.12, "10m"])), "strategy.steps[1].percent", "same ALB weight"],
  ["coarse weight total", { ...canary(steps([0.4, "10m"])), weightTotal: 100 }, "strategy.steps[0].percent", "raise weightTotal"],
  ["weight total above ALB max", { ...ok, weightTotal: 1000 }, "weightTotal", "between 2 and 999"],
  ["fractional weight total", { ...ok, weightTotal: 99.5 }, "weightTotal", "whole number"],
  ["approval not a boolean", canary([{ percent: 5, hold: "10m", approval: "yes" }]), "strategy.steps[0].approval", "true or false"],
  ["step refers to an unknown gate", canary([{ percent: 5, hold: "10m", gates: ["latncy"] }], { gates: [{ type: "latency", percentile: 99 }] }), "strategy.steps[0].gates[0]", 'unknown gate "latncy"; defined gates: latency'],
  ["maxHold shorter than hold", canary([{ percent: 5, hold: "10m", maxHold: "5m" }]), "strategy.steps[0].maxHold", "at least the step's hold (10m)"],
  ["policy maxHold shorter than a hold", canary(steps([5, "30m"]), { timeouts: { maxHold: "10m" } }), "timeouts.maxHold", "at least the step's hold (30m at strategy.steps[0])"],
  ["bad onTimeout", canary(steps([5, "10m"]), { timeouts: { onTimeout: "retry" } }), "timeouts.onTimeout", 'must be "rollback" or "pause"'],
  ["unknown gate type", { ...ok, gates: [{ type: "apdex" }] }, "gates[0].type", "must be one of"],
  ["alarm gate without alarms", { ...ok, gates: [{ type: "alarm", name: "health", alarms: [] }] }, "gates[0].alarms", "at least one CloudWatch alarm"],
  ["alarm gate without a name", { ...ok, gates: [{ type: "alarm", alarms: ["a"] }] }, "gates[0].name", "is required"],
  ["gate name with capitals", { ...ok, gates: [{ type: "errorRate", name: "ErrorRate" }] }, "gates[0].name", "lowercase letters"],
  ["duplicate gate names", { ...ok, gates: [{ type: "errorRate" }, { type: "errorRate" }] }, "gates[1].name", 'duplicate gate name "error-rate" (also gates[0])'],
  ["hold band above rollback band", { ...ok, gates: [{ type: "errorRate", holdBand: 3, rollbackBand: 2 }] }, "gates[0].holdBand", "must not exceed rollbackBand (2)"],
  ["negative hold band", { ...ok, gates: [{ type: "errorRate", holdBand: -1 }] }, "gates[0].holdBand", "0 or more"],
  ["zero rollback band", { ...ok, gates: [{ type: "errorRate", rollbackBand: 0 }] }, "gates[0].rollbackBand", "greater than 0"],
  ["fractional minSamples", { ...ok, gates: [{ type: "errorRate", minSamples: 10.5 }] }, "gates[0].minSamples", "whole number"],
  ["missing data may not pass", { ...ok, gates: [{ type: "errorRate", onMissingData: "pass" }] }, "gates[0].onMissingData", "missing data never passes"],
  ["latency threshold and percentile", { ...ok, gates: [{ type: "latency", thresholdMs: 300, percentile: 99 }] }, "gates[0].percentile", "not both"],
  ["percentile of 100", { ...ok, gates: [{ type: "latency", percentile: 100 }] }, "gates[0].percentile", "between 0 and 100"],
  ["metric gate without direction", { ...ok, gates: [{ type: "metric", name: "orders", namespace: "Shop", events: "Failed", total: "Placed" }] }, "gates[0].worseWhen", "is required"],
  ["metric gate with a bad direction", { ...ok, gates: [{ type: "metric", name: "orders", namespace: "Shop", events: "Failed", total: "Placed", worseWhen: "up" }] }, "gates[0].worseWhen", '"higher" or "lower"'],
  ["metric gate without namespace", { ...ok, gates: [{ type: "metric", name: "orders", events: "Failed", total: "Placed", worseWhen: "higher" }] }, "gates[0].namespace", "is required"],
  ["blue-green at 0 % with a comparison gate", { strategy: { type: "blueGreen", bake: "30m" }, gates: [{ type: "errorRate" }] }, "gates[0]", "set strategy.testPercent above 0"],
  ["blue-green without bake", { strategy: { type: "blueGreen" } }, "strategy.bake", "is required"],
  ["linear step of 100", { strategy: { type: "linear", stepPercent: 100, hold: "5m" } }, "strategy.stepPercent", "below 100"],
  ["exponential factor of 1", { strategy: { type: "exponential", startPercent: 1, factor: 1, hold: "5m" } }, "strategy.factor", "greater than 1"],
  ["alpha out of range", { ...ok, analysis: { alpha: 0.9 } }, "analysis.alpha", "between 0 and 0.5"],
  ["unknown mixture prior", { ...ok, analysis: { prior: "uniform" } }, "analysis.prior", '"band" or "wide"'],
  ["bad drift action", { ...ok, onDrift: "ignore" }, "onDrift", '"hold", "rollback" or "reapply"'],
];

describe("parsePolicy rejects malformed policies with the exact field path", () => {
  test("the table has at least 30 distinct cases", () => {
    expect(new Set(malformed.map((m) => m[0])).size).toBeGreaterThanOrEqual(30);
    expect(malformed.length).toBe(new Set(malformed.map((m) => m[0])).size);
  });

  test.each(malformed)("%s", (_name, input, path, fragment) => {
    const result = safeParsePolicy(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const hit = result.issues.find((i) => i.path === path);
    expect(hit, `issues were ${JSON.stringify(result.issues)}`).toBeDefined();
    expect(hit!.message).toContain(fragment);
  });

  test("parsePolicy throws a PolicyError listing every problem, never a bare stack trace", () => {
    const input = canary([{ percent: 5, hold: "10m", gates: ["nope"] }, { percent: 2, hold: "10m" }]);
    let error: unknown;
    try {
      parsePolicy(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const issues = (error as PolicyError).issues;
    expect(issues.map((i) => i.path)).toEqual(["strategy.steps[0].gates[0]", "strategy.steps[1].percent"]);
    expect((error as PolicyError).message).toContain("2 problems");
    expect((error as PolicyError).message).toContain("strategy.steps[1].percent: must be greater than the previous step (5)");
  });
});

describe("parsePolicy resolves what users write", () => {
  test("a preset resolves to its ladder with integer ALB weights summing to the total", () => {
    const p = parsePolicy({ profile: "standard" });
    expect(p.steps.map((s) => s.percent)).toEqual([1, 5, 25, 50]);
    expect(p.steps.map((s) => s.weights)).toEqual([
      { stable: 989, canary: 10 },
      { stable: 949, canary: 50 },
      { stable: 749, canary: 250 },
      { stable: 499, canary: 500 },
    ]);
    expect(p.gates.map((g) => g.name)).toEqual(["error-rate", "latency"]);
    expect(p.alpha).toBe(0.01);
    expect(p.prior).toBe("band");
    expect(p.steps.every((s) => s.holdMs === 600_000 && s.maxHoldMs === 2_400_000 && s.onTimeout === "pause")).toBe(true);
  });

  test("profile fields are overridden field by field", () => {
    const p = parsePolicy({ profile: "high", timeouts: { onTimeout: "rollback" }, analysis: { alpha: 0.005, prior: "wide" } });
    expect(p.steps[0]!.percent).toBe(0.1);
    expect(p.steps[0]!.weights).toEqual({ stable: 998, canary: 1 });
    expect(p.steps.at(-1)!.approval).toBe(true);
    expect(p.steps[0]!.maxHoldMs).toBe(3_600_000); // kept from the preset's timeouts
    expect(p.steps[0]!.onTimeout).toBe("rollback"); // overridden
    expect(p.alpha).toBe(0.005);
    expect(p.prior).toBe("wide");
  });

  test.each(Object.keys(PRESETS))("preset %s is itself a valid policy", (name) => {
    expect(safeParsePolicy(PRESETS[name as keyof typeof PRESETS]).ok).toBe(true);
  });

  test("linear and exponential shorthands expand to explicit steps below 100", () => {
    expect(parsePolicy({ strategy: { type: "linear", stepPercent: 20, hold: "5m", approval: true } }).steps.map((s) => [s.percent, s.approval])).toEqual([
      [20, false],
      [40, false],
      [60, false],
      [80, true],
    ]);
    expect(parsePolicy({ strategy: { type: "exponential", startPercent: 1, factor: 3, hold: "5m" } }).steps.map((s) => s.percent)).toEqual([1, 3, 9, 27, 81]);
    expect(parsePolicy({ strategy: { type: "exponential", startPercent: 12.5, hold: "5m" } }).steps.map((s) => s.percent)).toEqual([12.5, 25, 50]);
  });

  test("blue-green is one bake step then the cut-over", () => {
    const p = parsePolicy({ strategy: { type: "blueGreen", bake: "30m", approval: true }, gates: [{ type: "alarm", name: "synthetics", alarms: ["canary-synthetics"] }] });
    expect(p.steps).toHaveLength(1);
    expect(p.steps[0]).toMatchObject({ percent: 0, weights: { stable: 999, canary: 0 }, holdMs: 1_800_000, approval: true, gates: ["synthetics"] });
  });

  test("0.1 % canaries map to one weight unit and all weights stay within 0..999", () => {
    expect(weightsFor(0.1, 999)).toEqual({ stable: 998, canary: 1 });
    expect(weightsFor(100, 999)).toEqual({ stable: 0, canary: 999 });
    expect(weightsFor(0, 999)).toEqual({ stable: 999, canary: 0 });
  });

  test("the resolved source is plain JSON that parses to the same policy", () => {
    const p = parsePolicy({ profile: "standard", onDrift: "reapply" });
    const again = parsePolicy(JSON.parse(JSON.stringify(p.source)));
    expect(again.steps).toEqual(p.steps);
    expect(again.gates).toEqual(p.gates);
    expect(again.onDrift).toBe("reapply");
  });

  test("gate defaults are filled in and missing data holds by default", () => {
    const p = parsePolicy({ ...ok, gates: [{ type: "errorRate" }, { type: "latency", thresholdMs: 400 }, { type: "alarm", name: "kpi", alarms: ["orders-low"] }] });
    expect(p.gates).toEqual([
      { type: "errorRate", name: "error-rate", holdBand: 0.1, rollbackBand: 0.25, minSamples: 200, onMissingData: "hold", worseWhen: "higher" },
      { type: "latency", name: "latency", mode: "threshold", thresholdMs: 400, percentile: 99, holdBand: 1, rollbackBand: 3, minSamples: 200, onMissingData: "hold", worseWhen: "higher" },
      { type: "alarm", name: "kpi", alarms: ["orders-low"], onMissingData: "hold" },
    ]);
  });
});

describe("durations", () => {
  test.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
    ["250ms", 250],
  ])("%s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  test.each(["", "10", "m5", "1 h", "-5m", "5 minutes"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  test("formats compactly", () => {
    expect(formatDuration(5_400_000)).toBe("1h30m");
    expect(formatDuration(61_000)).toBe("1m1s");
    expect(formatDuration(0)).toBe("0ms");
  });
});

describe("JSON Schema export", () => {
  test("describes the policy's fields for editors", () => {
    const schema = policyJsonSchema() as { properties: Record<string, unknown>; additionalProperties: unknown };
    expect(Object.keys(schema.properties).sort()).toEqual(["access", "analysis", "gates", "hookFunctions", "hooks", "onDrift", "profile", "promotion", "rings", "strategy", "timeouts", "weightTotal"]);
    expect(schema.additionalProperties).toBe(false);
    expect(JSON.stringify(schema)).toContain("holdBand");
  });
});

describe("schema/rollout-policy.schema.json", () => {
  test("is current (regenerate with npm run schema)", async () => {
    const { readFileSync } = await import("node:fs");
    const committed = JSON.parse(readFileSync(new URL("../schema/rollout-policy.schema.json", import.meta.url), "utf8"));
    const { $id: _id, title: _title, ...rest } = committed;
    expect(rest).toEqual(JSON.parse(JSON.stringify(policyJsonSchema())));
  });

  test("accepts the shared example policy and rejects a typo, as an editor would (ajv)", async () => {
    const ajvModule = await import("ajv/dist/2020.js");
    // ajv is CommonJS: under NodeNext its class sits on .default of the module's default export.
    const Ajv2020 = (ajvModule.default as unknown as { default: typeof ajvModule.default.default }).default;
    const { parse } = await import("yaml");
    const { readFileSync } = await import("node:fs");
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(policyJsonSchema());
    const example = parse(readFileSync(new URL("../stacks/shared/policy.yaml", import.meta.url), "utf8"));
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...example, strategy: { type: "canary", steps: [{ percent: 5, hodl: "5m" }] } })).toBe(false);
  });
});
