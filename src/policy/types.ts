/**
 * The resolved RolloutPolicy: what the engine, the controller and the components consume.
 * Profiles are applied, shorthands expanded to explicit steps, defaults filled in, durations in
 * milliseconds and percentages mapped to integer ALB weights.
 */
import type { AccessPolicy } from "./access.js";
import type { PolicyInput, ProfileName } from "./schema.js";

/** Integer ALB weights of the two target groups. Both are 0..999 and sum to the policy's weightTotal. */
export interface Weights {
  stable: number;
  canary: number;
}

export type MissingData = "hold" | "rollback";
export type TimeoutAction = "rollback" | "pause";
export type DriftAction = "hold" | "rollback" | "reapply";
export type StrategyType = "canary" | "linear" | "exponential" | "blueGreen";

export interface AlarmGate {
  type: "alarm";
  name: string;
  alarms: string[];
  onMissingData: MissingData;
}

interface ComparisonGateBase {
  name: string;
  /** Hold when the canary is worse by more than this (unit depends on the gate: points or ms). */
  holdBand: number;
  /** Roll back when the canary is, with confidence, worse by more than this. */
  rollbackBand: number;
  /**
   * Relative bands (count gates): a share of the baseline rate (0.3 for "30%"). The band in
   * force is then the larger of holdBand / rollbackBand (points, the floor) and this share of
   * the rollout's baseline rate. Absent: absolute bands only.
   */
  holdBandRelative?: number;
  rollbackBandRelative?: number;
  /** Minimum canary samples in the step before the gate may pass. */
  minSamples: number;
  onMissingData: MissingData;
  /** Which direction is a regression. */
  worseWhen: "higher" | "lower";
}

/** Failed requests (target 5XX + connection errors) over requests. Bands in percentage points. */
export interface ErrorRateGate extends ComparisonGateBase {
  type: "errorRate";
}

/**
 * Latency. With `thresholdMs` (mode "threshold"), requests slower than the threshold are counted
 * and compared as a share (bands in percentage points). Otherwise (mode "percentile") per-minute
 * percentile points are compared (bands in ms): the weaker option.
 */
export interface LatencyGate extends ComparisonGateBase {
  type: "latency";
  mode: "threshold" | "percentile";
  thresholdMs?: number;
  percentile: number;
}

/** A custom count metric (events over total) with a variant dimension. Bands in percentage points. */
export interface MetricGate extends ComparisonGateBase {
  type: "metric";
  namespace: string;
  events: string;
  total: string;
  variantDimension: string;
  dimensions: Record<string, string>;
}

export type ComparisonGate = ErrorRateGate | LatencyGate | MetricGate;
export type Gate = AlarmGate | ComparisonGate;

export interface ResolvedStep {
  /** Position in the ladder, from 0. */
  index: number;
  /** Canary traffic percentage as written (after shorthand expansion). */
  percent: number;
  /** The integer weights this step applies. */
  weights: Weights;
  holdMs: number;
  /** Longest the step may be held by undecided gates before onTimeout applies. */
  maxHoldMs: number;
  onTimeout: TimeoutAction;
  /** Pause for an operator's approval once the hold and gates pass. */
  approval: boolean;
  /** Names of the gates checked in this step. */
  gates: string[];
  /** Set on a ring step: the audience ring this step adds. Its weights stay all-stable. */
  ring?: string;
  /** Rings routed to the canary while this step is current (cumulative: earlier rings stay). */
  rings: string[];
}

/** An audience ring matched by an ALB rule (conditions are ANDed by ALB; values within one are ORed). */
export interface Ring {
  name: string;
  match: {
    headers: Array<{ name: string; values: string[] }>;
    cookie?: { name: string; value: string };
    sourceIps: string[];
  };
}

export type HookPoint = "beforeStep" | "afterStep" | "beforePromote" | "afterRollback";

export interface Hook {
  name: string;
  /** Key in hookFunctions. */
  function: string;
  /** The Lambda ARN the hook invokes. */
  functionArn: string;
  at: HookPoint[];
  /** 0-based step indexes for beforeStep/afterStep; undefined = every step. */
  steps?: number[];
  timeoutMs: number;
}

export interface RolloutPolicy {
  profile?: ProfileName;
  strategy: StrategyType;
  steps: ResolvedStep[];
  gates: Gate[];
  /** False-rollback budget per rollout, shared by all comparison gates. */
  alpha: number;
  /**
   * How count gates' sequential tests spread their prior over effect sizes: "band" centres it on
   * each gate's rollback band, "wide" spreads it evenly from 1.05x to 1000x. Resolve sets it;
   * hand-built policies without it get "band".
   */
  prior?: "band" | "wide";
  onDrift: DriftAction;
  weightTotal: number;
  /** After promotion: bake at 100 % (old slot warm, alarm gates guarding), then finalize. */
  promotion: { bakeMs: number; scaleDown: boolean };
  rings: Ring[];
  hooks: Hook[];
  /** Lambda functions hooks may invoke, by key. */
  hookFunctions: Record<string, string>;
  /**
   * Who may run which command (principal ARN patterns per command group). Resolve sets it;
   * hand-built policies without it get the defaults (any principal of the controller's account).
   */
  access?: AccessPolicy;
  /** The merged input (profile plus overrides): plain JSON that parsePolicy accepts again. */
  source: PolicyInput;
}

export function isComparisonGate(gate: Gate): gate is ComparisonGate {
  return gate.type !== "alarm";
}
