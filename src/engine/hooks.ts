/**
 * Lifecycle hook executions: pure bookkeeping of hooks that run asynchronously and report back.
 *
 * A hook may run up to its timeout (15 minutes at most), far longer than one controller invocation,
 * so the controller never waits for it. Instead, like CodeDeploy's lifecycle hooks
 * (PutLifecycleEventHookExecutionStatus with a lifecycleEventHookExecutionId), every execution gets a
 * random execution id, recorded in the rollout state before the hook is invoked, and its answer is
 * accepted once, for that id, before its deadline:
 *
 *   requested --planHooks--> recorded (invokes+1) --Lambda 202--> confirmed (deadline set)
 *        confirmed --result before the deadline--> answered (recorded once)
 *        confirmed --deadline passes, no result--> timeout (a failure)
 *        answered "retry-later" --HOOK_RETRY_DELAY_MS--> a new execution (attempt+1)
 *
 * At least once: an execution recorded but not confirmed (the send failed, or the invocation died
 * between its commit and Lambda's answer) is sent again with the same execution id, so a hook must
 * be idempotent per execution id. An answer is recorded at most once: a duplicate, a late answer,
 * and an answer for an execution the rollout does not know are ignored with a reason.
 */
import { formatDuration } from "../policy/duration.js";
import { recordHookResult } from "./decide.js";
import type { HookRequest, HookResult, HookRun, RolloutState } from "./types.js";

/** An execution sent less than this long ago is taken as in flight: another invocation does not send it again. */
export const HOOK_INVOKE_GRACE_MS = 30_000;
/** After a hook answers "retry-later", the next execution starts no sooner than this. */
export const HOOK_RETRY_DELAY_MS = 30_000;
/**
 * An execution Lambda never accepted is given up after this many sends and its own timeout: the
 * hook function is missing, or the controller may not invoke it. That is a failure, not a pass.
 */
export const HOOK_MAX_SENDS = 3;

/** What the controller does about hooks in one invocation. */
export interface HookPlan {
  /** Executions to record (new ones, or unconfirmed ones due for another send) and then invoke. */
  send: HookRun[];
  /** Results to record now: executions past their deadline, and ones Lambda never accepted. */
  expire: Array<{ run: HookRun; result: HookResult }>;
}

/** The result recorded for an execution, if any. */
export function hookResultOf(state: RolloutState, run: HookRun): HookResult | undefined {
  const r = state.hookResults?.[run.key];
  return r?.executionId === run.executionId ? r : undefined;
}

/** When an execution's answer is due: its timeout after Lambda accepted it (or after it was last sent). */
export function deadlineOf(run: HookRun): number {
  return run.deadline ?? (run.lastInvokeAt ?? run.startedAt) + run.timeoutMs;
}

/** Executions without an answer yet. */
export function runningHooks(state: RolloutState): HookRun[] {
  return Object.values(state.hookRuns ?? {}).filter((run) => !hookResultOf(state, run));
}

/**
 * Level-triggered over the state: which executions to start or send again, and which ran out of
 * time. `requests` are the hooks the engine asks for now; executions already recorded are checked
 * whether or not the engine still asks for them (an afterRollback hook, a step left early).
 */
export function planHooks(state: RolloutState, requests: readonly HookRequest[], now: number, newExecutionId: () => string): HookPlan {
  const send: HookRun[] = [];
  const expire: HookPlan["expire"] = [];
  for (const run of runningHooks(state)) {
    if (run.invokedAt !== undefined) {
      if (now >= deadlineOf(run)) {
        expire.push({
          run,
          result: {
            status: "timeout",
            reason: `no result within ${formatDuration(run.timeoutMs)} (execution ${run.executionId}, accepted by Lambda at ${new Date(run.invokedAt).toISOString()}); a hook answers through its Lambda destination or a hook-result callback`,
            at: now,
            executionId: run.executionId,
          },
        });
      }
      continue;
    }
    if (run.invokes >= HOOK_MAX_SENDS && now >= run.startedAt + run.timeoutMs) {
      expire.push({
        run,
        result: {
          status: "fail",
          reason: `could not be invoked: ${run.invokes} attempts since ${new Date(run.startedAt).toISOString()} were not accepted by Lambda${run.lastError ? ` (last: ${run.lastError})` : ""}`,
          at: now,
          executionId: run.executionId,
        },
      });
      continue;
    }
    if (run.lastInvokeAt === undefined || now - run.lastInvokeAt >= HOOK_INVOKE_GRACE_MS) send.push({ ...run, invokes: run.invokes + 1, lastInvokeAt: now });
  }
  for (const req of requests) {
    const run = state.hookRuns?.[req.key];
    const answered = run ? hookResultOf(state, run) : undefined;
    const fresh = !run || (answered?.status === "retry-later" && now - answered.at >= HOOK_RETRY_DELAY_MS);
    if (!fresh || send.some((s) => s.key === req.key)) continue;
    send.push({
      executionId: newExecutionId(),
      key: req.key,
      name: req.name,
      point: req.point,
      stepIndex: req.stepIndex,
      functionArn: req.functionArn,
      timeoutMs: req.timeoutMs,
      attempt: (run?.attempt ?? 0) + 1,
      startedAt: now,
      invokes: 1,
      lastInvokeAt: now,
    });
  }
  return { send, expire };
}

/** Records the plan's executions and expired results in the state (what the controller commits before invoking). */
export function applyHookPlan(state: RolloutState, plan: HookPlan): RolloutState {
  let next: RolloutState = { ...state, hookRuns: { ...state.hookRuns } };
  for (const run of plan.send) next.hookRuns![run.key] = run;
  for (const { run, result } of plan.expire) next = recordHookResult(next, run.key, result);
  return next;
}

/** Marks executions Lambda accepted (deadline from now), and records why the others could not be sent. */
export function confirmHookSends(state: RolloutState, sent: ReadonlyArray<{ executionId: string; at: number; requestId?: string } | { executionId: string; error: string }>): RolloutState {
  const runs = { ...state.hookRuns };
  for (const s of sent) {
    const run = Object.values(runs).find((r) => r.executionId === s.executionId);
    // Replaced or answered meanwhile: nothing to confirm.
    if (!run || hookResultOf(state, run)) continue;
    if ("error" in s) runs[run.key] = { ...run, lastError: s.error };
    else if (run.invokedAt === undefined) {
      const { lastError: _e, ...rest } = run;
      runs[run.key] = { ...rest, invokedAt: s.at, deadline: s.at + run.timeoutMs, ...(s.requestId ? { requestId: s.requestId } : {}) };
    }
  }
  return { ...state, hookRuns: runs };
}

/** A hook's answer as it reached the controller (a Lambda destination's record or a hook-result callback). */
export interface HookAnswer {
  executionId: string;
  status: HookResult["status"] | "running";
  reason: string;
  /** The rollout the execution was started for, when the answer says (a destination record does). */
  rolloutId?: string;
  /** The function that answered, when the answer says (a destination record does; it may carry a qualifier). */
  functionArn?: string;
}

/** A function ARN without its qualifier (`:$LATEST`, a version or an alias). */
export function unqualified(arn: string): string {
  const m = /^(arn:[^:]+:lambda:[^:]*:\d{12}:function:[^:]+)(?::.+)?$/.exec(arn);
  return m ? m[1]! : arn;
}

export type HookAnswerOutcome =
  | { kind: "recorded"; state: RolloutState; run: HookRun; result: HookResult }
  | {
      kind: "ignored";
      reason: string;
      run?: HookRun;
      /** Set when the answer came after the deadline and the timeout was not recorded yet: record this state. */
      state?: RolloutState;
    };

/**
 * Accepts an answer exactly once: for an execution of the current rollout that has no answer yet,
 * before its deadline. Anything else is ignored with the reason; a late answer records the timeout
 * it implies (if no tick has yet), so it can never turn a timeout into a pass.
 */
export function acceptHookAnswer(state: RolloutState, answer: HookAnswer, now: number): HookAnswerOutcome {
  const id = answer.executionId;
  if (answer.rolloutId !== undefined && answer.rolloutId !== state.rolloutId) {
    return { kind: "ignored", reason: `execution ${id} belongs to rollout ${answer.rolloutId}, not the current rollout ${state.rolloutId}` };
  }
  const run = Object.values(state.hookRuns ?? {}).find((r) => r.executionId === id);
  if (!run) return { kind: "ignored", reason: `no execution ${id} in rollout ${state.rolloutId} (from an earlier rollout, replaced by a later attempt, or never started)` };
  const what = `hook ${run.name} (${run.point}, step ${run.stepIndex + 1}) execution ${id}`;
  if (answer.functionArn !== undefined && unqualified(answer.functionArn) !== unqualified(run.functionArn)) {
    return { kind: "ignored", run, reason: `${what} was started on ${run.functionArn}, but this answer comes from ${answer.functionArn}` };
  }
  const recorded = hookResultOf(state, run);
  if (recorded) return { kind: "ignored", run, reason: `${what} already has its result (${recorded.status} at ${new Date(recorded.at).toISOString()}); this ${answer.status} is a duplicate or came too late` };
  const deadline = deadlineOf(run);
  if (now > deadline) {
    const late = `${what} answered ${answer.status} ${formatDuration(now - deadline)} after its deadline (${new Date(deadline).toISOString()})`;
    const timeout: HookResult = { status: "timeout", reason: `no result within ${formatDuration(run.timeoutMs)}; ${late}`, at: now, executionId: id };
    return { kind: "ignored", run, reason: late, state: recordHookResult(state, run.key, timeout) };
  }
  if (answer.status === "running") {
    return { kind: "ignored", run, reason: `${what} answered "running" (not a final answer): its result must come as a hook-result callback before ${new Date(deadline).toISOString()}` };
  }
  const result: HookResult = { status: answer.status, reason: answer.reason, at: now, executionId: id };
  return { kind: "recorded", state: recordHookResult(state, run.key, result), run, result };
}
