/**
 * The rollout state machine and the engine's inputs and outputs.
 *
 *   idle --start--> progressing --advance--> progressing ... --promote--> promoted
 *                     |   ^  \
 *            pause/   |   |   `--rollback (gate, alarm, kill, timeout)--> rolled-back
 *   approval/timeout/ v   | resume/approve
 *   drift           paused --abort--> aborted
 *
 * promoted, rolled-back and aborted are terminal for a rollout; the next release starts a new one.
 * With policy.promotion.bake, promoted first bakes at 100 % (finalizeAt set, still guarded by
 * alarm gates and the kill switch) and becomes terminal with the "finalize" action.
 * A paused rollout is still guarded: a failing gate or alarm rolls it back.
 */
import type { GateEvidence, GateVerdict } from "../analysis/types.js";
import type { HookPoint, Weights } from "../policy/types.js";

export type Phase = "idle" | "progressing" | "paused" | "promoted" | "rolled-back" | "aborted";
export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(["promoted", "rolled-back", "aborted"]);

export type PauseReason = "operator" | "approval" | "timeout" | "drift";

export type Action = "advance" | "hold" | "pause-for-approval" | "promote" | "finalize" | "rollback" | "noop";

/** Version labels of the two sides of a release. */
export interface Release {
  /** Version serving now (the stable slot). */
  stable: string;
  /** Version being released (the canary slot). */
  canary: string;
}

export interface RolloutState {
  rolloutId: string;
  phase: Phase;
  release: Release;
  /** Index of the current step in policy.steps; -1 before the first step. */
  stepIndex: number;
  /** Epoch ms when the current step's weights were applied (or its hold restarted). */
  stepStartedAt: number;
  /** Epoch ms when the rollout started. */
  startedAt: number;
  /** Weights the controller last applied. */
  weights: Weights;
  /** Where a rollback goes: the all-stable weights recorded when the rollout started. */
  lastKnownGood: Weights;
  pause?: { reason: PauseReason; since: number; note?: string };
  /** Step indexes an operator approved. */
  approvals: number[];
  /**
   * The current step is chosen but its weights are not applied yet: its beforeStep hooks are
   * still running. `weights` are still the previous step's.
   */
  entering?: boolean;
  /** Results of lifecycle hooks, by hookKey(point, stepIndex, name). */
  hookResults?: Record<string, HookResult>;
  /**
   * The latest execution of each lifecycle hook, by hookKey: hooks run asynchronously (Lambda
   * InvocationType "Event") and report back later, so the record of a started execution is what
   * makes its result acceptable exactly once (src/engine/hooks.ts).
   */
  hookRuns?: Record<string, HookRun>;
  /**
   * Set while a promoted release bakes at 100 % (policy.promotion.bake): the rollout is not
   * over until then, alarm gates still guard it, and a rollback returns to the old slot.
   */
  finalizeAt?: number;
  /** Epoch ms the rollout reached a terminal phase, and why. */
  endedAt?: number;
  outcome?: string;
}

/** A lifecycle hook's answer. A timeout counts as a failure. */
export interface HookResult {
  status: "pass" | "fail" | "retry-later" | "timeout";
  reason: string;
  at: number;
  /** The execution the answer belongs to (absent in records written before hooks ran asynchronously). */
  executionId?: string;
}

/**
 * One execution of a lifecycle hook. Committed before the hook is invoked (a crash after the invoke
 * re-invokes the same execution id: at least once), confirmed when Lambda accepted the invocation.
 */
export interface HookRun {
  /** Random, unguessable: the hook's result is accepted only for it (it is the callback's capability). */
  executionId: string;
  key: string;
  name: string;
  point: HookPoint;
  stepIndex: number;
  functionArn: string;
  timeoutMs: number;
  /** 1 for the first execution of this hook at this point; +1 for each retry after "retry-later". */
  attempt: number;
  /** Epoch ms the execution was recorded. */
  startedAt: number;
  /** How many times the invocation was sent (more than 1 after a failed request or a crash). */
  invokes: number;
  /** Epoch ms of the last send; another invocation does not re-send within HOOK_INVOKE_GRACE_MS of it. */
  lastInvokeAt?: number;
  /** Epoch ms Lambda accepted the asynchronous invocation (HTTP 202): the deadline counts from here. */
  invokedAt?: number;
  /** invokedAt + timeoutMs: no result by then is a timeout. */
  deadline?: number;
  /** Lambda's request id of the accepted invocation (to find the hook's logs). */
  requestId?: string;
  /** Why the last send failed, when it did. */
  lastError?: string;
}

/** A hook the controller must invoke now (then record the result and decide again). */
export interface HookRequest {
  key: string;
  name: string;
  point: HookPoint;
  stepIndex: number;
  functionArn: string;
  timeoutMs: number;
}

/** What the world looks like at decision time. Absent fields are missing data, never healthy. */
export interface Evidence {
  /** Gate alarm states by alarm name; an alarm with no entry is missing data. */
  alarms: Record<string, "OK" | "ALARM" | "INSUFFICIENT_DATA">;
  /** Per comparison gate (by gate name). */
  gates: Record<string, GateEvidence>;
  /** Global freeze: blocks every advance, promotion and start. */
  freeze: boolean;
  /** Per-service kill switch: an in-flight rollout rolls back at once. */
  killSwitch: boolean;
  /** Weights read from the listener, for drift detection; absent when not read. */
  actualWeights?: Weights;
  /**
   * Weight (scaled to the policy's total) the listener sends to target groups other than the two
   * slots. Above 0 is drift even when the two slots' weights match the recorded ones.
   */
  trafficElsewhere?: number;
  /**
   * The stable slot has no healthy targets (read only when drift would be held). Drift that moves
   * traffic toward it is then re-applied even under onDrift=hold.
   */
  stableSlotEmpty?: boolean;
}

export interface Decision {
  action: Action;
  /** Weights that must be in effect after this decision. */
  weights: Weights;
  /**
   * Whether the controller writes `weights` to the listener: true for advance, promote, rollback,
   * resume and a re-applied drift (onDrift=reapply, or unsafe drift under hold); false for hold and noop (a drift hold leaves the listener alone).
   * Writing is idempotent, so a repeated rollback writes the same weights again.
   */
  applyWeights: boolean;
  /** The state to persist (equal to the input state when nothing changed). */
  state: RolloutState;
  /** Human-readable reason, recorded in the audit trail. */
  reason: string;
  /** True when phase, step or weights changed (a transition worth a history record and an event). */
  transition: boolean;
  verdicts: GateVerdict[];
  /** Set when the listener disagreed with the recorded weights. */
  drift?: { actual: Weights; recorded: Weights; elsewhere?: number };
  /** Audience rings that must route to the canary after this decision (the rest route to stable). */
  rings: string[];
  /** On "finalize" (and on a promotion without bake): scale the old slot down. */
  scaleDownOldSlot?: boolean;
  /** Lifecycle hooks to invoke now. afterRollback hooks are informational: they cannot undo a rollback. */
  hooks: HookRequest[];
}

/** Operator and pipeline commands the engine applies to a rollout. */
export type Command =
  | { type: "start"; rolloutId: string; release: Release }
  | { type: "promote"; note?: string }
  | { type: "abort"; note?: string }
  | { type: "approve"; note?: string }
  | { type: "pause"; note?: string }
  | { type: "resume"; note?: string }
  | { type: "kill"; note?: string };

export type CommandErrorCode = "frozen" | "killed" | "in-progress" | "not-active" | "not-paused" | "nothing-to-approve";

/** A command that cannot apply in the current state: the reason, and nothing changed. */
export interface CommandRejection {
  ok: false;
  code: CommandErrorCode;
  message: string;
}

export type CommandResult = { ok: true; decision: Decision } | CommandRejection;
