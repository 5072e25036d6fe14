/**
 * The step controller: turns triggers (tick, alarm state change, command) into engine calls and
 * engine decisions into adapter calls. It decides nothing itself: `decide` and `applyCommand`
 * do. What it owns is the order of effects, reconciliation and concurrency, split by concern
 * into files that read top to bottom over one shared context (context.ts):
 *
 * - evaluate.ts: ticks and alarm events; evidence, reconciliation with the listener, pending ECS releases.
 * - commands.ts: operator and pipeline commands.
 * - converge.ts: carrying out a decision in the safe order of effects.
 * - hooks.ts: lifecycle hooks and their recorded results.
 * - status.ts: the status report.
 * - freeze.ts: the global freeze.
 *
 * A lost conditional write re-reads and re-decides, up to `maxAttempts` times (withRetries).
 *
 * Commands arrive three ways. Through the function URL (AuthType AWS_IAM) AWS has verified the
 * caller, whose ARN the policy's access section is checked against; the answer is an HTTP
 * response. By direct invoke nobody verified anything: only access.directInvoke's commands (by
 * default status and start, which ProgressiveService sends from `pulumi up`) are accepted, recorded
 * as unverified. In-process (`command()`) is the local demo's and the tests' channel.
 */
import { functionUrlResponse, isFunctionUrlEvent, readFunctionUrlEvent, type FunctionUrlEvent, type FunctionUrlResponse } from "../auth/function-url.js";
import { command, type Caller } from "./commands.js";
import { createContext, settleOwed, type CommandResponse, type ControllerDeps, type EvaluationResult, type InvocationResult, type StatusResponse } from "./context.js";
import { evaluate } from "./evaluate.js";
import { acceptHookResult } from "./hooks.js";
import { InvalidPayloadError, parseTrigger } from "./events.js";
import { status } from "./status.js";

export {
  fromSlotWeights,
  isActive,
  stableSlotOf,
  toSlotWeights,
  type CommandAccepted,
  type CommandRejected,
  type CommandResponse,
  type ControllerDeps,
  type ControllerLogger,
  type ControllerMetrics,
  type EvaluationResult,
  type InvocationResult,
  type StatusResponse,
} from "./context.js";

export interface Controller {
  /**
   * Anything the Lambda receives: validated, classified and handled. A function URL event gets an
   * HTTP response (200 accepted, 403 refused by the access policy, 409 refused by the rollout's
   * state, 400 invalid); anything else the plain result.
   */
  handle(payload: unknown): Promise<InvocationResult | FunctionUrlResponse>;
  tick(): Promise<EvaluationResult>;
  /**
   * An alarm state change without an EventBridge envelope: there is no event id or state timestamp
   * to judge its freshness, so it never takes the fast path; the alarm's current state is read.
   */
  alarm(alarmName: string, state: "OK" | "ALARM" | "INSUFFICIENT_DATA"): Promise<EvaluationResult>;
  /**
   * A command payload (`{ command: "start", release: { version: "v2" } }`). Without a caller it is
   * in-process (the local demo and tests): unverified, recorded as such.
   */
  command(payload: unknown, caller?: Caller): Promise<CommandResponse>;
  status(): Promise<StatusResponse>;
}

export function createController(deps: ControllerDeps): Controller {
  const ctx = createContext(deps);

  /** Only commands come this way (never ticks or alarm events), from the principal AWS verified. */
  async function viaFunctionUrl(event: FunctionUrlEvent): Promise<FunctionUrlResponse> {
    const req = readFunctionUrlEvent(event);
    if (!req.ok) return req.response;
    try {
      const res = await command(ctx, req.body, { principal: req.principal, ownerAccountId: req.ownerAccountId });
      return functionUrlResponse(res.ok ? 200 : res.code === "forbidden" ? 403 : 409, res);
    } catch (err) {
      if (err instanceof InvalidPayloadError) return functionUrlResponse(400, { ok: false, code: "invalid-payload", message: err.message, issues: err.issues });
      throw err;
    }
  }
  /** Answers only once the owed events this invocation started publishing are out (Lambda freezes after it answers). */
  async function settled<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } finally {
      await settleOwed(ctx);
    }
  }
  return {
    async handle(payload) {
      if (isFunctionUrlEvent(payload)) return settled(viaFunctionUrl(payload));
      const trigger = parseTrigger(payload);
      if (trigger.kind === "command") return settled(command(ctx, trigger.command, { via: "direct-invoke" }));
      if (trigger.kind === "hook-result") return settled(acceptHookResult(ctx, trigger.answer, (via) => evaluate(ctx, { kind: "tick", via })));
      return settled(evaluate(ctx, trigger));
    },
    tick: () => settled(evaluate(ctx, { kind: "tick" })),
    alarm: (alarmName, state) => settled(evaluate(ctx, { kind: "alarm", alarmName, state })),
    command: (payload, caller) => settled(command(ctx, payload, caller)),
    status: () => settled(status(ctx)),
  };
}
