/**
 * The pure bookkeeping of asynchronous hook executions (src/engine/hooks.ts): when an execution
 * is started, sent again, given up or timed out, and which answers count. The controller's use of
 * it against moto is in controller-hooks.test.ts.
 */
import { describe, expect, test } from "vitest";
import { acceptHookAnswer, applyHookPlan, confirmHookSends, HOOK_INVOKE_GRACE_MS, hookKey, planHooks, type HookRequest, type HookRun, type RolloutState } from "../src/engine/index.js";

const FN = "arn:aws:lambda:us-east-1:123456789012:function:smoke";
const T0 = Date.UTC(2026, 0, 1);
const req: HookRequest = { key: hookKey("beforeStep", 1, "smoke"), name: "smoke", point: "beforeStep", stepIndex: 1, functionArn: FN, timeoutMs: 60_000 };
const base = { rolloutId: "r1", phase: "progressing", release: { stable: "v1", canary: "v2" }, stepIndex: 1, stepStartedAt: T0, startedAt: T0, weights: { stable: 899, canary: 100 }, lastKnownGood: { stable: 999, canary: 0 }, approvals: [] } as RolloutState;
let ids = 0;
const nextId = () => `exec-${String(++ids).padStart(4, "0")}`;
const withRun = (run: Partial<HookRun>): RolloutState => ({ ...base, hookRuns: { [req.key]: { executionId: "exec-aaaa", key: req.key, name: "smoke", point: "beforeStep", stepIndex: 1, functionArn: FN, timeoutMs: 60_000, attempt: 1, startedAt: T0, invokes: 1, lastInvokeAt: T0, ...run } } });

describe("planHooks", () => {
  test("a requested hook without an execution starts one; an unconfirmed one is sent again only after the grace", () => {
    const plan = planHooks(base, [req], T0, nextId);
    expect(plan.send).toHaveLength(1);
    expect(plan.send[0]).toMatchObject({ key: req.key, attempt: 1, invokes: 1, lastInvokeAt: T0 });
    const state = applyHookPlan(base, plan);
    expect(planHooks(state, [req], T0 + HOOK_INVOKE_GRACE_MS - 1, nextId)).toEqual({ send: [], expire: [] });
    const again = planHooks(state, [req], T0 + HOOK_INVOKE_GRACE_MS, nextId);
    expect(again.send).toEqual([{ ...plan.send[0], invokes: 2, lastInvokeAt: T0 + HOOK_INVOKE_GRACE_MS }]);
  });

  test("a confirmed execution is left alone until its deadline, then times out, whether or not the engine still asks", () => {
    const state = confirmHookSends(withRun({}), [{ executionId: "exec-aaaa", at: T0 + 1_000, requestId: "req-1" }]);
    expect(state.hookRuns![req.key]).toMatchObject({ invokedAt: T0 + 1_000, deadline: T0 + 61_000, requestId: "req-1" });
    expect(planHooks(state, [req], T0 + 60_999, nextId)).toEqual({ send: [], expire: [] });
    const plan = planHooks(state, [], T0 + 61_000, nextId);
    expect(plan.send).toEqual([]);
    expect(plan.expire).toHaveLength(1);
    expect(plan.expire[0]!.result).toMatchObject({ status: "timeout", executionId: "exec-aaaa" });
    expect(plan.expire[0]!.result.reason).toMatch(/^no result within 1m \(execution exec-aaaa, accepted by Lambda at 2026-01-01T00:00:01.000Z\)/);
  });

  test("an execution Lambda refused 3 times is a failure once its timeout has passed, never a pass", () => {
    const refused = withRun({ invokes: 3, lastInvokeAt: T0 + 50_000, lastError: "ResourceNotFoundException: Function not found" });
    expect(planHooks(refused, [req], T0 + 59_999, nextId).expire).toEqual([]);
    const plan = planHooks(refused, [req], T0 + 60_000, nextId);
    expect(plan.send).toEqual([]);
    expect(plan.expire[0]!.result).toMatchObject({ status: "fail" });
    expect(plan.expire[0]!.result.reason).toMatch(/could not be invoked: 3 attempts .* \(last: ResourceNotFoundException: Function not found\)/);
  });
});

describe("acceptHookAnswer", () => {
  const running = confirmHookSends(withRun({}), [{ executionId: "exec-aaaa", at: T0 }]);
  test.each([
    ["another function", { functionArn: "arn:aws:lambda:us-east-1:123456789012:function:other:$LATEST" }, /was started on .*function:smoke, but this answer comes from .*function:other/],
    ["an unknown execution", { executionId: "exec-zzzz" }, /no execution exec-zzzz in rollout r1/],
    ["another rollout", { rolloutId: "r0" }, /belongs to rollout r0, not the current rollout r1/],
  ])("an answer from %s is ignored", (_what, over, reason) => {
    const out = acceptHookAnswer(running, { executionId: "exec-aaaa", status: "pass", reason: "ok", ...over }, T0 + 1_000);
    expect(out.kind).toBe("ignored");
    expect(out.kind === "ignored" && out.reason).toMatch(reason);
    expect(out.kind === "ignored" && out.state).toBeUndefined();
  });

  test("the function's qualifier does not matter; the answer is recorded with its execution id", () => {
    const out = acceptHookAnswer(running, { executionId: "exec-aaaa", status: "pass", reason: "ok", functionArn: `${FN}:$LATEST` }, T0 + 1_000);
    expect(out).toMatchObject({ kind: "recorded", result: { status: "pass", executionId: "exec-aaaa", at: T0 + 1_000 } });
  });
});
