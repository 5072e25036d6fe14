/**
 * Lifecycle hooks: invokes the hooks the engine asked for and records their results. Hooks never
 * move traffic themselves; the engine reads the results on its next decision.
 */
import { recordHookResult } from "../engine/decide.js";
import type { HookRequest } from "../engine/types.js";
import type { HistoryRecord, ServiceRecord } from "../aws/state.js";
import { toSlotWeights, withRetries, type ControllerContext } from "./context.js";
import { publish } from "./converge.js";

/**
 * Invokes the hooks the engine asked for (in parallel), then records their results in the
 * rollout state with a history record. Returns the keys it ran.
 */
export async function runHooks(ctx: ControllerContext, record: ServiceRecord, requests: HookRequest[], trigger: string, skip: ReadonlySet<string> = new Set()): Promise<string[]> {
  const { config, store, deps, log, emf } = ctx;
  const todo = requests.filter((r) => !skip.has(r.key));
  if (todo.length === 0) return [];
  if (!deps.hooks) {
    log.warn("the engine asks for lifecycle hooks but this controller has no hook runner; they stay pending", { hooks: todo.map((h) => h.key) });
    return [];
  }
  const runner = deps.hooks;
  const rollout = record.rollout;
  const results = await Promise.all(
    todo.map(async (r) => {
      const result = await runner.run(r, { hook: r.name, point: r.point, stepIndex: r.stepIndex, service: config.service, rolloutId: rollout.rolloutId, release: rollout.release, weights: rollout.weights });
      emf.addMetric(result.status === "pass" ? "HookPasses" : "HookNotPassed", "Count", 1);
      return { request: r, result };
    }),
  );
  const reason = results.map(({ request: r, result }) => `hook ${r.name} (${r.point}, step ${r.stepIndex + 1}) ${result.status}: ${result.reason}`).join("; ");
  log.info("hooks ran", { reason });
  await withRetries(ctx, "recording hook results", async () => {
    const current = await store.get(config.service);
    if (!current || current.rollout.rolloutId !== rollout.rolloutId) return;
    let state = current.rollout;
    for (const { request, result } of results) state = recordHookResult(state, request.key, result);
    const now = ctx.clock();
    const next: ServiceRecord = { ...current, rollout: state, version: current.version + 1, updatedAt: now };
    const history: HistoryRecord = {
      service: config.service,
      at: now,
      seq: next.version,
      kind: "decision",
      trigger,
      action: "hook-results",
      reason,
      rolloutId: state.rolloutId,
      release: state.release,
      fromPhase: current.rollout.phase,
      phase: state.phase,
      stepIndex: state.stepIndex,
      weights: state.weights,
      slotWeights: toSlotWeights(state.weights, current.baselineSlot),
    };
    await store.commit(next, current.version, [history]);
    await publish(ctx, history, next);
  });
  return todo.map((r) => r.key);
}
