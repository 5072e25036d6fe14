/**
 * Lifecycle hooks: starts the hooks the engine asks for, watches their deadlines, and records their
 * answers exactly once. Hooks never move traffic themselves; the engine reads their results on its
 * next decision. Nothing here waits for a hook: it is invoked asynchronously and answers through its
 * Lambda destination or a hook-result callback (src/engine/hooks.ts has the rules).
 *
 * Order of effects for a start: commit the execution (version-conditioned) -> invoke (Event) ->
 * commit Lambda's acceptance (deadline). A crash after the first commit leaves an unconfirmed
 * execution, which the next invocation sends again with the same executionId (at least once).
 */
import { randomUUID } from "node:crypto";
import { acceptHookAnswer, applyHookPlan, confirmHookSends, planHooks, runningHooks } from "../engine/hooks.js";
import type { HookRequest, HookRun, RolloutState } from "../engine/types.js";
import type { HistoryRecord, ServiceRecord } from "../aws/state.js";
import type { HookPayload } from "../aws/hooks.js";
import { formatDuration } from "../policy/duration.js";
import { toSlotWeights, withRetries, type ControllerContext, type EvaluationResult } from "./context.js";
import { publish } from "./converge.js";
import { plainReason, type ReceivedHookAnswer } from "./hook-answers.js";

const describe = (run: Pick<HookRun, "name" | "point" | "stepIndex">) => `hook ${run.name} (${run.point}, step ${run.stepIndex + 1})`;

function historyOf(ctx: ControllerContext, current: ServiceRecord, next: ServiceRecord, trigger: string, action: string, reason: string): HistoryRecord {
  const state = next.rollout;
  return {
    service: ctx.config.service,
    at: next.updatedAt,
    seq: next.version,
    kind: "decision",
    trigger,
    action,
    reason,
    rolloutId: state.rolloutId,
    release: state.release,
    fromPhase: current.rollout.phase,
    phase: state.phase,
    stepIndex: state.stepIndex,
    weights: state.weights,
    slotWeights: toSlotWeights(state.weights, current.baselineSlot),
  };
}

function payloadOf(ctx: ControllerContext, state: RolloutState, run: HookRun): HookPayload {
  return {
    hook: run.name,
    point: run.point,
    stepIndex: run.stepIndex,
    service: ctx.config.service,
    rolloutId: state.rolloutId,
    release: state.release,
    weights: state.weights,
    executionId: run.executionId,
    attempt: run.attempt,
    timeoutMs: run.timeoutMs,
    deadline: new Date((run.lastInvokeAt ?? run.startedAt) + run.timeoutMs).toISOString(),
  };
}

/**
 * Starts the hooks the engine asked for that have no execution yet (or asked to be retried), sends
 * again executions Lambda has not accepted, and records timeouts of executions past their deadline.
 * Returns the hook keys whose results it recorded (the caller decides again with them).
 */
export async function runHooks(ctx: ControllerContext, record: ServiceRecord, requests: HookRequest[], trigger: string, skip: ReadonlySet<string> = new Set()): Promise<string[]> {
  const { config, store, deps, log, emf } = ctx;
  const runner = deps.hooks;
  if (!runner) {
    if (requests.length > 0) log.warn("the engine asks for lifecycle hooks but this controller has no hook runner; they stay pending", { hooks: requests.map((h) => h.key) });
    return [];
  }
  const asked = requests.filter((r) => !skip.has(r.key));
  // Nothing asked for and nothing running in the record this invocation holds: no read at all.
  if (asked.length === 0 && runningHooks(record.rollout).length === 0) return [];
  // 1. Record what will be sent (and what ran out of time) before anything is sent.
  const planned = await withRetries(ctx, "recording hook executions", async () => {
    const current = await store.get(config.service);
    if (!current) return undefined;
    // Requests of another rollout (a concurrent start) are dropped; its own executions are still checked.
    const plan = planHooks(current.rollout, current.rollout.rolloutId === record.rollout.rolloutId ? asked : [], ctx.clock(), randomUUID);
    if (plan.send.length === 0 && plan.expire.length === 0) return undefined;
    const now = ctx.clock();
    const next: ServiceRecord = { ...current, rollout: applyHookPlan(current.rollout, plan), version: current.version + 1, updatedAt: now };
    const reasons = [
      ...plan.expire.map(({ run, result }) => `${describe(run)} ${result.status === "timeout" ? "timed out" : "failed"}: ${result.reason}`),
      ...plan.send.map((run) =>
        run.invokes === 1
          ? `${describe(run)} started: execution ${run.executionId} (attempt ${run.attempt}), answer due within ${formatDuration(run.timeoutMs)} of Lambda accepting it`
          : `${describe(run)} execution ${run.executionId} sent again (send ${run.invokes}): Lambda had not accepted it${run.lastError ? ` (${run.lastError})` : " (the invocation that sent it ended first)"}`,
      ),
    ];
    const history = historyOf(ctx, current, next, trigger, plan.expire.length > 0 ? "hook-results" : "hook-started", reasons.join("; "));
    await store.commit(next, current.version, [history]);
    await publish(ctx, history, next);
    return { plan, record: next };
  });
  if (!planned) return [];
  const { plan } = planned;
  if (plan.expire.length > 0) {
    emf.addMetric("HookTimeouts", "Count", plan.expire.filter((e) => e.result.status === "timeout").length);
    log.warn("hook executions ended without an answer", { hooks: plan.expire.map((e) => ({ key: e.run.key, executionId: e.run.executionId, status: e.result.status })) });
  }
  if (plan.send.length === 0) return plan.expire.map((e) => e.run.key);

  // 2. Send; Lambda's 202 is all there is to wait for.
  const state = planned.record.rollout;
  const sent = await Promise.all(
    plan.send.map(async (run) => {
      try {
        const { requestId } = await runner.start(run.functionArn, payloadOf(ctx, state, run));
        emf.addMetric("HooksStarted", "Count", 1);
        return { executionId: run.executionId, at: ctx.clock(), ...(requestId ? { requestId } : {}) };
      } catch (err) {
        emf.addMetric("HookSendFailures", "Count", 1);
        log.warn("sending a hook invocation failed; it is sent again on a later invocation", { hook: run.key, executionId: run.executionId, error: (err as Error).message });
        // Bounded, plain text: it is recorded and printed by `rollgate status`.
        return { executionId: run.executionId, error: plainReason(`${(err as Error).name}: ${(err as Error).message}`).slice(0, 300) };
      }
    }),
  );

  // 3. Record Lambda's acceptance: the deadline counts from it.
  await withRetries(ctx, "confirming hook invocations", async () => {
    const current = await store.get(config.service);
    if (!current || current.rollout.rolloutId !== state.rolloutId) return;
    const rollout = confirmHookSends(current.rollout, sent);
    if (JSON.stringify(rollout.hookRuns) === JSON.stringify(current.rollout.hookRuns)) return;
    await store.commit({ ...current, rollout, version: current.version + 1, updatedAt: ctx.clock() }, current.version, []);
  });
  return plan.expire.map((e) => e.run.key);
}

/** What a hook answer invocation returns: the evaluation that followed, and what became of the answer. */
export interface HookAnswerResult extends EvaluationResult {
  hookAnswer: { executionId: string; status: ReceivedHookAnswer["status"]; recorded: boolean; reason: string };
}

/**
 * Records a hook's answer once (version-conditioned; a lost race re-reads and re-judges), or records
 * why it was ignored. Then decides at once with it, so a passing beforeStep hook shifts traffic now.
 */
export async function acceptHookResult(
  ctx: ControllerContext,
  answer: ReceivedHookAnswer,
  decideNow: (label: string) => Promise<EvaluationResult>,
): Promise<HookAnswerResult> {
  const { config, store, log, emf } = ctx;
  const label = `hook-result:${answer.via}`;
  const outcome = await withRetries(ctx, "recording a hook answer", async () => {
    const current = await store.get(config.service);
    const now = ctx.clock();
    if (!current) return { recorded: false, reason: `no rollout of ${config.service} has run yet` };
    const judged = acceptHookAnswer(current.rollout, answer, now);
    const rollout = judged.state ?? current.rollout;
    const next: ServiceRecord = { ...current, rollout, version: current.version + 1, updatedAt: now };
    const where = answer.requestId ? ` (Lambda request ${answer.requestId.slice(0, 64)})` : "";
    const history =
      judged.kind === "recorded"
        ? historyOf(ctx, current, next, label, "hook-results", `${describe(judged.run)} ${judged.result.status}: ${judged.result.reason}${where}`)
        : historyOf(ctx, current, next, label, "hook-result-ignored", `${answer.status} answer ignored: ${judged.reason}${judged.state ? "; the timeout is recorded" : ""}${where}`);
    await store.commit(next, current.version, [history]);
    // Every history record is an event (the outbox would send it later otherwise).
    await publish(ctx, history, next);
    return { recorded: judged.kind === "recorded", reason: judged.kind === "recorded" ? `${judged.result.status}: ${judged.result.reason}` : judged.reason };
  });
  if (outcome.recorded) emf.addMetric(answer.status === "pass" ? "HookPasses" : "HookNotPassed", "Count", 1);
  else {
    emf.addMetric("HookAnswersIgnored", "Count", 1);
    log.warn("hook answer ignored", { executionId: answer.executionId, status: answer.status, why: outcome.reason });
  }
  const evaluation = await decideNow(label);
  return { ...evaluation, hookAnswer: { executionId: answer.executionId, status: answer.status, recorded: outcome.recorded, reason: outcome.reason } };
}
