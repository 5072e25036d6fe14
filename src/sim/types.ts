/**
 * Scenario, timeline and outcome types of the simulator.
 */
import type { Action } from "../engine/types.js";
import type { GateVerdict } from "../analysis/types.js";
import type { Weights } from "../policy/types.js";
import type { LatencyModel, TrafficMinute } from "./traffic.js";

/** Incidents that hit both target groups at once (a dependency failing, a noisy neighbour). */
export interface IncidentModel {
  /** Mean number of incidents per hour (a Poisson process). */
  perHour: number;
  /** Duration range of one incident, in minutes. @default [2, 8] */
  minutes?: [number, number];
  /** Extra error probability per request during an incident, drawn uniformly. @default [0.01, 0.05] */
  extraErrorRate?: [number, number];
  /** Latency multiplier during an incident. @default 1.5 */
  latencyFactor?: number;
}

/**
 * A CloudWatch alarm on the canary target group, evaluated on one-minute periods with "M out of N"
 * datapoints. Missing data is treated as not breaching (the usual setting for canary alarms,
 * whose target group has no traffic before a release).
 */
export interface AlarmSpec {
  name: string;
  /**
   * canaryErrorRate: HTTPCode_Target_5XX_Count / RequestCount of the canary (a fraction);
   * errorRateDifference: canary minus baseline error rate (metric math across the two target
   * groups, a fraction; a minute without both sides is missing); errorRateGap: its absolute
   * value, as HealthGates' slot-symmetric comparison alarm computes it (ABS(b_rate - g_rate));
   * canaryLatencyP99: p99 TargetResponseTime in ms.
   */
  metric: "canaryErrorRate" | "errorRateDifference" | "errorRateGap" | "canaryLatencyP99";
  /** Breaching when the value is greater than this. */
  threshold: number;
  /** M. @default 1 */
  datapointsToAlarm?: number;
  /** N. @default 1 */
  evaluationPeriods?: number;
  /**
   * Fewest requests a period needs to have a datapoint: a period whose side(s) served fewer
   * requests than this is missing (so not breaching), as the components' alarms make it with
   * `IF(req >= minRequestsPerPeriod, ...)` (HealthGates, default 10). canaryErrorRate and
   * canaryLatencyP99 count the canary's requests; errorRateDifference and errorRateGap need both target groups
   * at or above it, as HealthGates guards each slot's rate before taking the difference.
   * @default 0 (no guard)
   */
  minRequests?: number;
}

/** The world a rollout meets: traffic, error and latency rates, faults and CloudWatch's delays. */
export interface Scenario {
  /** Mean requests per second over both target groups (the daily mean of the diurnal swing). */
  rps: number;
  /** Error probability per request of the stable version (0.001 = 0.1 %). */
  baselineErrorRate: number;
  /** Error probability per request of the canary once its regression has started. */
  canaryErrorRate: number;
  /** Minutes after the rollout starts when the canary turns bad (before: same as the baseline). @default 0 */
  regressionAtMinute?: number;
  /**
   * A regression that grows (a leak): the canary's error rate and latency factor rise linearly
   * from the baseline's at the onset to canaryErrorRate / canaryLatencyFactor this many minutes
   * later, and stay there. @default 0 (a step)
   */
  regressionRampMinutes?: number;
  /** Mean size of error clusters landing on one side (sticky clients' retries). @default 1 (independent errors) */
  meanBurst?: number;
  /** Latency of the stable version. @default { medianMs: 80, sigma: 0.5 } */
  baselineLatency?: LatencyModel;
  /** Canary latency multiplier once the regression has started. @default 1 */
  canaryLatencyFactor?: number;
  /** Amplitude of the daily swing of the request rate (0.4 = +/- 40 %). @default 0.4 */
  diurnalAmplitude?: number;
  /** Time of day when the rollout starts, 0..1 (0.5 = noon). @default drawn from the seed */
  startTimeOfDay?: number;
  /** Gamma shape of per-minute overdispersion (negative binomial counts). @default Infinity (Poisson) */
  overdispersion?: number;
  /** Shared incidents. @default none */
  incidents?: IncidentModel;
  /** A custom count metric for metric gates: trials per request and event rates. @default { trialsPerRequest: 0.1, baselineRate: 0.02, canaryRate: baselineRate } */
  metric?: { trialsPerRequest: number; baselineRate: number; canaryRate?: number };
  /** CloudWatch ingestion lag of a minute, drawn uniformly, in seconds after the minute ends. @default [60, 180] */
  lagSeconds?: [number, number];
  /** Delay of an alarm state change event through EventBridge to the controller, in seconds. @default [1, 15] */
  eventDelaySeconds?: [number, number];
  /** Alarms evaluated on the canary target group. @default none */
  alarms?: AlarmSpec[];
  /** Minutes simulated at most. @default the policy's total maxHold plus 30 */
  horizonMinutes?: number;
  /**
   * Keep serving traffic after the rollout ended until the horizon, so a bad release that was
   * promoted keeps adding to the exposure. @default false
   */
  observeUntilHorizon?: boolean;
  /**
   * Share of all requests each audience ring's ALB rule matches (e.g. employees), by ring name.
   * While a ring routes to the canary, its requests go there before the weighted split.
   * @default 0.02 for every ring
   */
  ringShares?: Record<string, number>;
  /** How an approval step is answered: "auto" approves at once, "never" leaves it paused. @default "auto" */
  approvals?: "auto" | "never";
}

export type SimTrigger = "start" | "tick" | "alarm" | "timer" | "approve" | "hook";

/** One decision the controller took, as the timeline shows it. */
export interface TimelineDecision {
  /** Milliseconds since the rollout started. */
  atMs: number;
  trigger: SimTrigger;
  action: Action | "shift" | "measure";
  weights: Weights;
  reason: string;
  verdicts?: GateVerdict[];
}

/** What one gate saw in one minute (a rate in %, or a latency in ms); null where a side had no data. */
export interface GateMinute {
  canary: number | null;
  baseline: number | null;
}

export interface TimelineMinute {
  /** Minute index (0 is the minute the rollout started in). */
  minute: number;
  /** Epoch ms of the minute's start. */
  start: number;
  /** Weights in effect at the end of the minute. */
  weights: Weights;
  /** Time-averaged canary share of traffic over the minute (0..1). */
  canaryShare: number;
  /** Epoch ms when CloudWatch made the minute visible to the controller. */
  visibleAt: number;
  incident: boolean;
  canaryBad: boolean;
  traffic: TrafficMinute;
  /** Per comparison gate (rollgate policies) or the policy's metric (comparison policies). */
  gates: Record<string, GateMinute>;
}

export type SimResult = "promoted" | "rolled-back" | "aborted" | "paused" | "unfinished";

export interface SimOutcome {
  result: SimResult;
  reason: string;
  /** Milliseconds since the rollout start when the canary first carried 100 % of the traffic. */
  promotedAtMs?: number;
  /** Milliseconds since the rollout start when the weights went back to all-stable. */
  rolledBackAtMs?: number;
  /** Regression onset to weights restored, ms (only for a rollback after the onset). */
  detectionMs?: number;
  /** Highest canary share (0..1) the rollout reached. */
  maxCanaryShare: number;
  /** Canary requests served after the regression onset until the canary weight reached 0 (or the horizon). */
  exposedRequests: number;
  /** Expected errors beyond what the stable version would have served to those requests. */
  excessErrors: number;
  /** Engine (or comparison-policy) decisions taken. */
  decisions: number;
  minutesSimulated: number;
}

export interface SimTimeline {
  minutes: TimelineMinute[];
  decisions: TimelineDecision[];
}
