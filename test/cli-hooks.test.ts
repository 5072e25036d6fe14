/**
 * `rollgate status` and `watch` show the lifecycle hooks running now: asynchronous executions
 * without an answer, with their deadline, or the sends Lambda has not accepted yet.
 */
import { describe, expect, test } from "vitest";
import type { ServiceRecord } from "../src/aws/state.js";
import { styleFor } from "../src/cli/format.js";
import { hookLines, renderStatus, renderWatchFrame, viewJson, type ServiceView } from "../src/cli/view.js";
import type { HookRun, RolloutState } from "../src/engine/types.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const plain = styleFor(false, {});
const run = (over: Partial<HookRun>): HookRun => ({ executionId: "e-1", key: "beforeStep:1:smoke", name: "smoke", point: "beforeStep", stepIndex: 1, functionArn: "arn:aws:lambda:us-east-1:123456789012:function:smoke", timeoutMs: 300_000, attempt: 1, startedAt: T0, invokes: 1, lastInvokeAt: T0, ...over });
function viewWith(runs: HookRun[], results: RolloutState["hookResults"] = {}): ServiceView {
  const rollout = { rolloutId: "r1", phase: "progressing", release: { stable: "v1", canary: "v2" }, stepIndex: 1, stepStartedAt: T0, startedAt: T0, weights: { stable: 899, canary: 100 }, lastKnownGood: { stable: 999, canary: 0 }, approvals: [], entering: true, hookRuns: Object.fromEntries(runs.map((r) => [r.key, r])), hookResults: results } as RolloutState;
  const record = { service: "checkout", version: 3, rollout, baselineSlot: "blue", killSwitch: false, applied: true, updatedAt: T0 } as ServiceRecord;
  return { service: "checkout", now: T0 + 60_000, record, freeze: { frozen: false, version: 0 }, history: [] };
}

describe("running hooks in status and watch", () => {
  test("a running execution shows its deadline and the time left; an unaccepted one its sends and last error", () => {
    const view = viewWith([run({ invokedAt: T0, deadline: T0 + 300_000 }), run({ key: "afterStep:1:load", name: "load", point: "afterStep", executionId: "e-2", invokes: 2, lastError: "TooManyRequestsException: Rate exceeded" })]);
    const lines = hookLines(view, plain);
    expect(lines[0]).toMatch(/^smoke \(beforeStep, step 2, attempt 1\) running since .*, answer due .* \(4m left\)$/);
    expect(lines[1]).toBe("load (afterStep, step 2, attempt 1) sent, not accepted by Lambda yet (2 sends; last: TooManyRequestsException: Rate exceeded)");
    expect(renderStatus(view, plain)).toMatch(/\n {2}hooks {5}smoke \(beforeStep/);
    expect(renderWatchFrame(view, plain)).toMatch(/\n {2}hooks {3}smoke \(beforeStep/);
    expect(viewJson(view).runningHooks).toEqual([
      { name: "smoke", point: "beforeStep", stepIndex: 1, attempt: 1, executionId: "e-1", invokes: 1, accepted: true, deadline: "2026-01-01T12:05:00.000Z" },
      { name: "load", point: "afterStep", stepIndex: 1, attempt: 1, executionId: "e-2", invokes: 2, accepted: false, deadline: null },
    ]);
  });
  test("an answered execution is not shown", () => {
    const view = viewWith([run({ invokedAt: T0, deadline: T0 + 300_000 })], { "beforeStep:1:smoke": { status: "pass", reason: "ok", at: T0 + 1, executionId: "e-1" } });
    expect(hookLines(view, plain)).toEqual([]);
    expect(viewJson(view).runningHooks).toEqual([]);
    expect(renderStatus(view, plain)).not.toMatch(/hooks/);
  });
});
