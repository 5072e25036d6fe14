/**
 * A model of Argo Rollouts' analysis semantics: when an AnalysisRun's metric measures, how its
 * measurements add up to a metric phase, how metric phases make the run's phase, and what the
 * Rollout does with a step or background run's phase. The simulator (argo-sim.ts) drives the
 * rendered Rollout with it, and the tests use it to show what Argo does with the rendered
 * templates. Pure and clock-free: times are arguments.
 *
 * It follows the controller source of argoproj/argo-rollouts at commit 9f8d111 (2026-08-17); the
 * comments cite file and lines. What it leaves out (dry-run metrics, measurement retention,
 * Job/Kayenta providers' Resume, nested templates) the rendered objects do not use, except
 * dry-run, which is modelled because an operator may add it (`dryRun` skips a metric's phase in
 * the run's verdict).
 */

export type Phase = "Pending" | "Running" | "Successful" | "Failed" | "Inconclusive" | "Error";
export type MeasurementPhase = "Successful" | "Failed" | "Inconclusive" | "Error";

/** The Argo Metric fields that drive the schedule and the assessment (analysis_types.go lines 90-128). */
export interface ArgoMetric {
  name: string;
  /** Go duration in ms; undefined: a single measurement unless count says otherwise. */
  intervalMs?: number;
  initialDelayMs?: number;
  count?: number;
  failureLimit?: number;
  inconclusiveLimit?: number;
  consecutiveErrorLimit?: number;
  consecutiveSuccessLimit?: number;
  dryRun?: boolean;
}

/** analysis/analysis.go line 30: an errored measurement is retried after 10 s, whatever the interval. */
export const ERROR_RETRY_MS = 10_000;
/** utils/defaults/defaults.go line 37. */
export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

/**
 * EffectiveCount (analysis_types.go lines 159-169): neither count nor interval means 1; an
 * interval without a count means "indefinitely" (undefined).
 */
export function effectiveCount(m: ArgoMetric): number | undefined {
  if (!m.count) return m.intervalMs === undefined ? 1 : undefined;
  return m.count;
}

/** analysisutil.ValidateMetric (utils/analysis/factory.go lines 149-218): the run errors on these. */
export function validateMetric(m: ArgoMetric): string | undefined {
  const count = m.count ?? 0;
  const failureLimit = m.failureLimit ?? 0;
  const csl = m.consecutiveSuccessLimit ?? 0;
  const inconclusiveLimit = m.inconclusiveLimit ?? 0;
  if (csl < 0) return "consecutiveSuccessLimit must be >= 0";
  if (failureLimit < -1) return "failureLimit must be >= 0, or -1 to be disabled";
  if (csl === 0 && failureLimit === -1) return "failureLimit and consecutiveSuccessLimit cannot both be disabled";
  if (inconclusiveLimit < 0) return "inconclusiveLimit must be >= 0";
  if (m.consecutiveErrorLimit !== undefined && m.consecutiveErrorLimit < 0) return "consecutiveErrorLimit must be >= 0";
  if (count > 0) {
    if (failureLimit >= 0 && count < failureLimit + csl) return `count (${count}) must be >= failureLimit + consecutiveSuccessLimit (${failureLimit} + ${csl}) if both >= 0`;
    if (failureLimit < 0 && count < csl) return "count must be >= consecutiveSuccessLimit";
    if (count < inconclusiveLimit) return "count must be >= inconclusiveLimit";
  }
  if (count > 1 && m.intervalMs === undefined) return "interval must be specified when count > 1";
  return undefined;
}

/** A metric's running tally (v1alpha1.MetricResult). */
export interface MetricResult {
  phase: Phase;
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  consecutiveSuccess: number;
  /** Finish time of the newest measurement and its phase. */
  last?: { at: number; phase: MeasurementPhase };
  measurements: number;
}

export function newResult(): MetricResult {
  return { phase: "Pending", count: 0, successful: 0, failed: 0, inconclusive: 0, error: 0, consecutiveError: 0, consecutiveSuccess: 0, measurements: 0 };
}

const completed = (p: Phase) => p === "Successful" || p === "Failed" || p === "Inconclusive" || p === "Error";

/**
 * When the metric takes its next measurement, or undefined when it takes none
 * (generateMetricTasks, analysis.go lines 176-250): the first after initialDelay from the run's
 * start (lines 204-222), then `interval` after the previous one finished, or 10 s after an error
 * (lines 233-246); none once count is reached (lines 224-229) or while terminating (200-203).
 */
export function nextMeasurementAt(m: ArgoMetric, r: MetricResult, runStartedAt: number, terminating: boolean): number | undefined {
  if (completed(r.phase) || terminating) return undefined;
  if (!r.last) return runStartedAt + (m.initialDelayMs ?? 0);
  const count = effectiveCount(m);
  if (count !== undefined && r.count >= count) return undefined;
  const interval = r.last.phase === "Error" ? ERROR_RETRY_MS : (m.intervalMs ?? ERROR_RETRY_MS);
  // "if timeutil.Now().After(lastMeasurement.FinishedAt.Add(interval))" (line 243): strictly after.
  return r.last.at + interval + 1;
}

/** Adds one finished measurement to the tally (runMeasurements, analysis.go lines 378-407). */
export function recordMeasurement(r: MetricResult, phase: MeasurementPhase, at: number): MetricResult {
  const n = { ...r, measurements: r.measurements + 1, last: { at, phase } };
  switch (phase) {
    case "Successful":
      n.successful++;
      n.count++;
      n.consecutiveError = 0;
      n.consecutiveSuccess++;
      break;
    case "Failed":
      n.failed++;
      n.count++;
      n.consecutiveError = 0;
      n.consecutiveSuccess = 0;
      break;
    case "Inconclusive":
      n.inconclusive++;
      n.count++;
      n.consecutiveError = 0;
      n.consecutiveSuccess = 0;
      break;
    case "Error":
      // Errors do not count towards count (line 401-405): an outage stretches a counted metric.
      n.error++;
      n.consecutiveError++;
      n.consecutiveSuccess = 0;
      break;
  }
  if (n.phase === "Pending") n.phase = "Running";
  return n;
}

/**
 * assessMetricFailureInconclusiveOrError (analysis.go lines 658-687). The checks run in this
 * order and a later one overwrites an earlier one's phase: failed > failureLimit (unless -1),
 * then inconclusive > inconclusiveLimit, then consecutiveError > consecutiveErrorLimit.
 */
export function failureInconclusiveOrError(m: ArgoMetric, r: MetricResult): Phase | undefined {
  let phase: Phase | undefined;
  const failureLimit = m.failureLimit ?? 0;
  if (failureLimit >= 0 && r.failed > failureLimit) phase = "Failed";
  if (r.inconclusive > (m.inconclusiveLimit ?? 0)) phase = "Inconclusive";
  if (r.consecutiveError > (m.consecutiveErrorLimit ?? DEFAULT_CONSECUTIVE_ERROR_LIMIT)) phase = "Error";
  return phase;
}

/** assessMetricStatus (analysis.go lines 579-656). */
export function assessMetric(m: ArgoMetric, r: MetricResult, terminating: boolean): Phase {
  if (completed(r.phase)) return r.phase;
  if (r.measurements === 0) return terminating ? "Successful" : "Pending";
  const bad = failureInconclusiveOrError(m, r);
  if (bad) return bad;
  const csl = m.consecutiveSuccessLimit ?? 0;
  if (csl > 0 && r.consecutiveSuccess >= csl) return "Successful"; // lines 606-610
  const count = effectiveCount(m);
  if (count !== undefined && r.count >= count) {
    // lines 615-649: count reached without consecutiveSuccessLimit: Inconclusive when failureLimit
    // still applies, Failed when it is disabled (-1), Successful without a success limit.
    const failureApplicable = (m.failureLimit ?? 0) >= 0;
    const successApplicable = csl > 0;
    if (failureApplicable && successApplicable) return "Inconclusive";
    if (successApplicable) return "Failed";
    return "Successful";
  }
  return terminating ? "Successful" : "Running"; // lines 650-655: an indefinite metric ends with the run
}

/** IsWorse ordering of phases (utils/analysis/helpers.go): Error > Failed > Inconclusive > Successful. */
const RANK: Record<Phase, number> = { Pending: 0, Running: 1, Successful: 2, Inconclusive: 3, Failed: 4, Error: 5 };

/**
 * An AnalysisRun: its metrics, their tallies, and its phase (reconcileAnalysisRun and
 * assessRunStatus, analysis.go lines 43-140 and 436-573). A run is "terminating" once any
 * non-dry-run metric ended Failed, Error or Inconclusive, or when the Rollout terminated it
 * (helpers.go IsTerminating lines 84-101); then no new measurements are taken, indefinite metrics
 * count as Successful, and the run takes the worst phase of its metrics.
 */
export class AnalysisRunModel {
  readonly results = new Map<string, MetricResult>();
  phase: Phase = "Running";
  terminated = false;
  /** Why the run ended, as Argo's status message says it. */
  message = "";

  constructor(
    readonly name: string,
    readonly metrics: ArgoMetric[],
    readonly startedAt: number,
  ) {
    for (const m of metrics) {
      const problem = validateMetric(m);
      if (problem) {
        // reconcileAnalysisRun lines 69-77: an invalid spec errors the whole run at once.
        this.phase = "Error";
        this.message = `Analysis spec invalid: ${m.name}: ${problem}`;
      }
      this.results.set(m.name, newResult());
    }
  }

  get done(): boolean {
    return completed(this.phase);
  }

  terminating(): boolean {
    if (this.terminated) return true;
    for (const m of this.metrics) {
      const p = this.results.get(m.name)!.phase;
      if (!m.dryRun && (p === "Failed" || p === "Error" || p === "Inconclusive")) return true;
    }
    return false;
  }

  /** Earliest time any metric wants to measure. */
  nextAt(): number | undefined {
    if (this.done) return undefined;
    const terminating = this.terminating();
    let t: number | undefined;
    for (const m of this.metrics) {
      const at = nextMeasurementAt(m, this.results.get(m.name)!, this.startedAt, terminating);
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  /**
   * One reconcile at `now`: measure every metric that is due (with `measure`), then assess. A run
   * that became terminating in this reconcile settles its phase in the next one, as in Argo
   * (IsTerminating is read before measuring); `reconcile` loops once more for that.
   */
  reconcile(now: number, measure: (metric: ArgoMetric) => MeasurementPhase): Phase {
    if (this.done) return this.phase;
    const terminating = this.terminating();
    for (const m of this.metrics) {
      const r = this.results.get(m.name)!;
      const at = nextMeasurementAt(m, r, this.startedAt, terminating);
      if (at !== undefined && at <= now) this.results.set(m.name, recordMeasurement(r, measure(m), now));
    }
    this.assess();
    if (!this.done && this.terminating()) this.assess();
    return this.phase;
  }

  /** The Rollout asks the run to stop (cancelAnalysisRuns: spec.terminate = true). */
  terminate(): void {
    if (this.done) return;
    this.terminated = true;
    this.assess();
  }

  private assess(): void {
    const terminating = this.terminating();
    let worst: Phase | undefined;
    let everythingCompleted = true;
    for (const m of this.metrics) {
      const r = this.results.get(m.name)!;
      const phase = assessMetric(m, r, terminating);
      if (phase !== r.phase) this.results.set(m.name, { ...r, phase });
      if (!completed(phase)) {
        everythingCompleted = false;
        continue;
      }
      if (m.dryRun) {
        // lines 524-529: a dry-run metric never makes the run worse.
        if (worst === undefined) worst = "Successful";
        continue;
      }
      if (worst === undefined || RANK[phase] > RANK[worst]) {
        worst = phase;
        const why = failureInconclusiveOrError(m, r);
        this.message = why ? `Metric "${m.name}" assessed ${phase}` : this.message;
      }
    }
    if (terminating) {
      this.phase = worst ?? "Successful"; // lines 560-568
      return;
    }
    if (everythingCompleted && worst !== undefined) this.phase = worst;
  }
}

/** What the Rollout does with a run's phase. */
export type RolloutReaction = "none" | "advance" | "pause-inconclusive" | "abort";

/**
 * The canary step run (reconcileStepBasedAnalysisRun, rollout/analysis.go lines 407-446):
 * Inconclusive adds the InconclusiveAnalysis pause, Error/Failed abort, Successful lets the step
 * complete (canary.go moves to the next step once the run is Successful).
 */
export function stepRunReaction(phase: Phase): RolloutReaction {
  if (phase === "Inconclusive") return "pause-inconclusive";
  if (phase === "Error" || phase === "Failed") return "abort";
  if (phase === "Successful") return "advance";
  return "none";
}

/**
 * The background run (reconcileBackgroundAnalysisRun, rollout/analysis.go lines 350-387). While
 * the Rollout carries the InconclusiveAnalysis pause condition the function returns at line 362
 * BEFORE it looks at the run's phase: a Failed or Errored guard aborts nothing until an operator
 * lifts the pause. A pause step (`pause: {}` or `pause: {duration}`, PauseReasonCanaryPauseStep)
 * does not stop it.
 */
export function backgroundRunReaction(phase: Phase, inconclusivePause: boolean): RolloutReaction {
  if (inconclusivePause) return "none";
  if (phase === "Inconclusive") return "pause-inconclusive";
  if (phase === "Error" || phase === "Failed") return "abort";
  return "none";
}

/**
 * The blue-green pre/post-promotion runs (setPauseOrAbortForBlueGreen, rollout/analysis.go lines
 * 152-171): Inconclusive pauses, Error/Failed abort. Pre-promotion must be Successful before the
 * active Service switches (bluegreen.go). Post-promotion starts once the active Service selects
 * the new ReplicaSet (analysis.go lines 300-348); until it is Successful Status.StableRS stays the
 * previous ReplicaSet (sync.go lines 1307-1313), which is kept at full size (bluegreen.go lines
 * 74-86) and which an abort points the active Service back at (service.go lines 112-114).
 * scaleDownDelaySeconds applies only after promotion (replicaset.go lines 346-384). The render's
 * bake step (render.ts planBake) relies on the canary strategy's equivalent of these rules.
 */
export function blueGreenRunReaction(phase: Phase): RolloutReaction {
  if (phase === "Inconclusive") return "pause-inconclusive";
  if (phase === "Error" || phase === "Failed") return "abort";
  if (phase === "Successful") return "advance";
  return "none";
}

/** Go duration ("1m30s", "90s", "2h") to ms; undefined when it is not one. */
export function parseGoDuration(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched += m[0].length;
  }
  return matched === s.length && matched > 0 ? total : undefined;
}

/** The model's metric from a rendered AnalysisTemplate metric (int-or-string fields as numbers). */
export function metricFromSpec(spec: Record<string, unknown>, dryRun = false): ArgoMetric {
  const int = (k: string) => (spec[k] === undefined ? undefined : Number(spec[k]));
  return {
    name: String(spec.name),
    ...(spec.interval !== undefined ? { intervalMs: parseGoDuration(String(spec.interval)) } : {}),
    ...(spec.initialDelay !== undefined ? { initialDelayMs: parseGoDuration(String(spec.initialDelay)) } : {}),
    ...(int("count") !== undefined ? { count: int("count") } : {}),
    ...(int("failureLimit") !== undefined ? { failureLimit: int("failureLimit") } : {}),
    ...(int("inconclusiveLimit") !== undefined ? { inconclusiveLimit: int("inconclusiveLimit") } : {}),
    ...(int("consecutiveErrorLimit") !== undefined ? { consecutiveErrorLimit: int("consecutiveErrorLimit") } : {}),
    ...(int("consecutiveSuccessLimit") !== undefined ? { consecutiveSuccessLimit: int("consecutiveSuccessLimit") } : {}),
    ...(dryRun ? { dryRun } : {}),
  };
}
