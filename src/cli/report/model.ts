/**
 * What a rollout report shows, independent of where it came from (the state table's audit trail
 * plus CloudWatch, or a simulation's timeline). The SVG renderer only reads this.
 */

export interface ReportGateSeries {
  name: string;
  /** Unit of the values: "%" for rates, "ms" for latency percentiles. */
  unit: "%" | "ms";
  /** What the values are, e.g. "5xx rate (%)". */
  label?: string;
  /** One point per minute; null where that side had no data. */
  points: Array<{ t: number; canary: number | null; baseline: number | null }>;
}

export interface ReportDecision {
  t: number;
  /** advance, promote, rollback, pause, kill, approve ... */
  action: string;
  reason: string;
  trigger?: string;
}

export interface ReportStep {
  from: number;
  to: number;
  /** "1 %", "ring beta", "100 %". */
  label: string;
}

export interface ReportData {
  title: string;
  subtitle?: string;
  /** Epoch ms of the left and right edges. */
  start: number;
  end: number;
  /** Canary share in percent as a step function: each point holds until the next. */
  weights: Array<{ t: number; canaryPercent: number }>;
  steps: ReportStep[];
  gates: ReportGateSeries[];
  decisions: ReportDecision[];
  /** promoted, rolled-back, aborted, or the phase it is in. */
  outcome: string;
}

/** Decision actions worth a marker (holds and no-ops would bury the chart). */
export const MARKED_ACTIONS = new Set(["start", "advance", "promote", "finalize", "rollback", "pause-for-approval", "pause", "resume", "approve", "abort", "kill", "freeze", "unfreeze"]);
