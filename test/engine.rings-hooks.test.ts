import { describe, expect, test } from "vitest";
import { applyCommand, decide, hookKey, idleState, recordHookResult, type Evidence, type RolloutState } from "../src/engine/index.js";
import { parsePolicy, safeParsePolicy } from "../src/policy/index.js";

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0);
const SMOKE = "arn:aws:lambda:us-east-1:111122223333:function:checkout-smoke";
const controls = { freeze: false, killSwitch: false };

const policy = parsePolicy({
  rings: [
    { name: "internal", match: { headers: [{ name: "x-employee", values: ["true"] }] } },
    { name: "early", match: { cookie: { name: "beta", value: "1" }, sourceIps: ["10.0.0.0/8"] } },
  ],
  hookFunctions: { smoke: SMOKE },
  hooks: [
    { name: "smoke", function: "smoke", at: ["beforeStep"], steps: [3] },
    { name: "notify", function: "smoke", at: ["afterRollback"] },
  ],
  strategy: {
    type: "canary",
    steps: [
      { ring: "internal", hold: "10m" },
      { ring: "early", hold: "10m" },
      { percent: 5, hold: "10m" },
    ],
  },
  gates: [{ type: "alarm", name: "health", alarms: ["a"] }],
});

const ok: Evidence = { alarms: { a: "OK" }, gates: {}, freeze: false, killSwitch: false };

function start(): RolloutState {
  const r = applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r1", release: { stable: "v1", canary: "v2" } }, controls, T0);
  if (!r.ok) throw new Error(r.message);
  return r.decision.state;
}

describe("ring steps", () => {
  test("resolve to all-stable weights with cumulative rings", () => {
    expect(policy.steps.map((s) => [s.ring, s.rings, s.weights.canary])).toEqual([
      ["internal", ["internal"], 0],
      ["early", ["internal", "early"], 0],
      [undefined, ["internal", "early"], 50],
    ]);
  });

  test("the decision says which rings route to the canary, and none after a rollback", () => {
    const r = applyCommand(policy, idleState(policy), { type: "start", rolloutId: "r1", release: { stable: "v1", canary: "v2" } }, controls, T0);
    expect(r.ok && r.decision.rings).toEqual(["internal"]);
    const s1 = decide(policy, start(), ok, T0 + 10 * MIN);
    expect(s1).toMatchObject({ action: "advance", rings: ["internal", "early"], weights: { stable: 999, canary: 0 } });
    const rolled = decide(policy, s1.state, { ...ok, alarms: { a: "ALARM" } }, T0 + 11 * MIN);
    expect(rolled).toMatchObject({ action: "rollback", rings: [] });
  });
});

describe("lifecycle hooks", () => {
  test("beforeStep hooks hold the traffic shift until they pass", () => {
    const atEarly = decide(policy, start(), ok, T0 + 10 * MIN).state;
    const entering = decide(policy, atEarly, ok, T0 + 20 * MIN);
    expect(entering.action).toBe("hold");
    expect(entering.state).toMatchObject({ stepIndex: 2, entering: true, weights: { stable: 999, canary: 0 } });
    expect(entering.hooks).toEqual([{ key: hookKey("beforeStep", 2, "smoke"), name: "smoke", point: "beforeStep", stepIndex: 2, functionArn: SMOKE, timeoutMs: 60_000 }]);
    expect(entering.rings).toEqual(["internal", "early"]);

    const retry = recordHookResult(entering.state, hookKey("beforeStep", 2, "smoke"), { status: "retry-later", reason: "warming up", at: T0 + 20 * MIN });
    expect(decide(policy, retry, ok, T0 + 21 * MIN)).toMatchObject({ action: "hold", hooks: [{ name: "smoke" }] });

    const passed = recordHookResult(entering.state, hookKey("beforeStep", 2, "smoke"), { status: "pass", reason: "200 OK", at: T0 + 21 * MIN });
    const entered = decide(policy, passed, ok, T0 + 22 * MIN);
    expect(entered).toMatchObject({ action: "advance", applyWeights: true, weights: { stable: 949, canary: 50 }, hooks: [] });
    expect(entered.state.entering).toBeUndefined();
    expect(entered.state.stepStartedAt).toBe(T0 + 22 * MIN);
  });

  test("a failing or timed-out hook is a failing gate: rollback with its reason, and afterRollback hooks fire", () => {
    const atEarly = decide(policy, start(), ok, T0 + 10 * MIN).state;
    const entering = decide(policy, atEarly, ok, T0 + 20 * MIN).state;
    for (const status of ["fail", "timeout"] as const) {
      const failed = recordHookResult(entering, hookKey("beforeStep", 2, "smoke"), { status, reason: "HTTP 503 on /health", at: T0 + 21 * MIN });
      const d = decide(policy, failed, ok, T0 + 21 * MIN);
      expect(d.action).toBe("rollback");
      expect(d.reason).toContain(`hook smoke (beforeStep) ${status === "fail" ? "failed" : "timed out"}: HTTP 503 on /health`);
      expect(d.hooks.map((h) => h.key)).toEqual([hookKey("afterRollback", 2, "notify")]);
      expect(d.state.entering).toBeUndefined();
    }
  });
});

describe("ring and hook policy errors name the field", () => {
  const base = { strategy: { type: "canary", steps: [{ ring: "internal", hold: "10m" }, { percent: 5, hold: "10m" }] } };
  test.each([
    ["a ring with no match", { ...base, rings: [{ name: "internal", match: {} }] }, "rings[0].match", "at least one of headers, cookie or sourceIps"],
    ["a step naming an unknown ring", { ...base, rings: [{ name: "staff", match: { sourceIps: ["10.0.0.0/8"] } }] }, "strategy.steps[0].ring", 'unknown ring "internal"; defined rings: staff'],
    ["a ring after a percentage step", { rings: [{ name: "internal", match: { sourceIps: ["10.0.0.0/8"] } }], strategy: { type: "canary", steps: [{ percent: 5, hold: "10m" }, { ring: "internal", hold: "10m" }] } }, "strategy.steps[1].ring", "must come before percentage steps"],
    ["a step with ring and percent", { rings: [{ name: "internal", match: { sourceIps: ["10.0.0.0/8"] } }], strategy: { type: "canary", steps: [{ ring: "internal", percent: 5, hold: "10m" }] } }, "strategy.steps[0].ring", "not both"],
    ["a bad CIDR", { ...base, rings: [{ name: "internal", match: { sourceIps: ["office"] } }] }, "rings[0].match.sourceIps[0]", "not a CIDR block"],
    ["a hook on a function not declared", { ...base, rings: [{ name: "internal", match: { sourceIps: ["10.0.0.0/8"] } }], hooks: [{ name: "smoke", function: "smoke", at: ["afterStep"] }] }, "hooks[0].function", "not declared in hookFunctions"],
    ["a hook function that is not an ARN", { ...base, hookFunctions: { smoke: "checkout-smoke" } }, "hookFunctions.smoke", "must be a Lambda function ARN"],
    ["a hook on a step that does not exist", { ...base, rings: [{ name: "internal", match: { sourceIps: ["10.0.0.0/8"] } }], hookFunctions: { s: SMOKE }, hooks: [{ name: "smoke", function: "s", at: ["afterStep"], steps: [9] }] }, "hooks[0].steps[0]", "step 9 does not exist"],
    ["a hook timeout beyond Lambda's", { ...base, rings: [{ name: "internal", match: { sourceIps: ["10.0.0.0/8"] } }], hookFunctions: { s: SMOKE }, hooks: [{ name: "smoke", function: "s", at: ["afterStep"], timeout: "20m" }] }, "hooks[0].timeout", "between 1s and 15m"],
    ["an unknown hook point", { ...base, hookFunctions: { s: SMOKE }, hooks: [{ name: "smoke", function: "s", at: ["beforeDeploy"] }] }, "hooks[0].at[0]", "must be one of"],
  ])("%s", (_name, input, path, fragment) => {
    const r = safeParsePolicy(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(r.issues)).toBeDefined();
    expect(hit!.message).toContain(fragment);
  });
});

describe("reasons name ring steps by their ring", () => {
  test("a ring step is described by its audience, not by 0 %", () => {
    const d = decide(policy, start(), ok, T0 + 3 * MIN);
    expect(d.reason).toContain("step 1/3 (ring internal)");
  });
});
