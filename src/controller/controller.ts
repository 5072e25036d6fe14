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
 */
import { command } from "./commands.js";
import { createContext, type CommandResponse, type ControllerDeps, type EvaluationResult, type InvocationResult, type StatusResponse } from "./context.js";
import { evaluate } from "./evaluate.js";
import { parseTrigger } from "./events.js";
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
  /** Anything the Lambda receives: validated, classified and handled. */
  handle(payload: unknown): Promise<InvocationResult>;
  tick(): Promise<EvaluationResult>;
  alarm(alarmName: string, state: "OK" | "ALARM" | "INSUFFICIENT_DATA"): Promise<EvaluationResult>;
  /** A command payload (`{ command: "start", release: { version: "v2" } }`), in-process or from the Lambda. */
  command(payload: unknown): Promise<CommandResponse>;
  status(): Promise<StatusResponse>;
}

export function createController(deps: ControllerDeps): Controller {
  const ctx = createContext(deps);
  return {
    async handle(payload) {
      const trigger = parseTrigger(payload);
      if (trigger.kind === "command") return command(ctx, trigger.command);
      return evaluate(ctx, trigger);
    },
    tick: () => evaluate(ctx, { kind: "tick" }),
    alarm: (alarmName, state) => evaluate(ctx, { kind: "alarm", alarmName, state }),
    command: (payload) => command(ctx, payload),
    status: () => status(ctx),
  };
}
