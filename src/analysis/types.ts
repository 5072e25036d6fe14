/**
 * Evidence and verdicts: the contract between whoever gathers metrics (the controller's
 * CloudWatch adapter, the simulator) and the gates that judge them.
 */

/** Events and trials of one target group in one minute (e.g. 5XX + connection errors over requests). */
export interface Counts {
  /** Trials: requests, or the custom metric's total. */
  total: number;
  /** Events of interest among them: errors, slow requests, failed checkouts. */
  events: number;
}

/**
 * One minute of count evidence for both sides. `start` is the epoch ms at the start of the
 * minute. A minute that CloudWatch has not delivered yet is simply absent (never zeros).
 */
export interface CountSample {
  start: number;
  canary: Counts;
  baseline: Counts;
}

/** One minute of percentile evidence (ms); null where that side had no data that minute. */
export interface PercentileSample {
  start: number;
  canary: number | null;
  baseline: number | null;
  /** Requests behind each point, when known (for low-sample guards). */
  canaryCount?: number;
  baselineCount?: number;
}

/**
 * Evidence for one comparison gate, covering the whole rollout so far (samples from every step,
 * oldest first). Analysis may use earlier steps (the sequential test accumulates across steps);
 * minimum sample sizes count only the current step.
 */
export type GateEvidence =
  | { kind: "counts"; samples: CountSample[] }
  | { kind: "percentiles"; samples: PercentileSample[] };

export type Verdict = "pass" | "hold" | "rollback";

/** What a gate decided and why, with the numbers behind it. */
export interface GateVerdict {
  gate: string;
  type: "alarm" | "errorRate" | "latency" | "metric";
  verdict: Verdict;
  /** One line an operator can read: "error-rate: canary 0.62 % vs baseline 0.10 % (n=2,410), e-value 212 >= 100". */
  reason: string;
  evidence?: {
    /** Test statistic (e.g. the mixture e-value, or a p-value for the weaker percentile test). */
    statistic?: number;
    /** What the statistic is compared with (e.g. 1/alpha). */
    threshold?: number;
    /** Canary and baseline totals over the current step. */
    canary?: Counts;
    baseline?: Counts;
    /** Canary minus baseline in the gate's unit (percentage points or ms). */
    difference?: number;
    /** Samples (minutes) used. */
    minutes?: number;
  };
}

/** Where in the rollout a gate is being evaluated. */
export interface GateContext {
  /** Epoch ms of the decision. */
  now: number;
  rolloutStartedAt: number;
  stepStartedAt: number;
  stepIndex: number;
  /** The significance level allotted to this gate (the policy's alpha split over its comparison gates). */
  alpha: number;
  /** How count gates' sequential tests spread their prior (the policy's analysis.prior). @default "band" */
  prior?: "band" | "wide";
  /**
   * Whether count gates temper their test by the dispersion of clustered errors (dispersion.ts).
   * "none" assumes independent errors; it exists to measure what the correction buys. @default "estimate"
   */
  dispersion?: "estimate" | "none";
  /**
   * The current step's maxHold (ms). With it, count gates spend part of `alpha` on one
   * fixed-horizon look at the step's data when the step reaches maxHold (gate.ts, finalLookAlpha);
   * without it the sequential test gets the whole of `alpha`.
   */
  stepMaxHoldMs?: number;
}
