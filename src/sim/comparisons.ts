/**
 * Today's tools as policies the simulator can run against the same traffic: a CodeDeploy canary
 * with a CloudWatch alarm, an Argo Rollouts / Flagger style fixed-threshold analysis, and a
 * fixed-horizon statistical test re-run every minute. They are models of how those tools behave
 * with ALB metrics from CloudWatch, not the tools themselves (see docs/simulator.md).
 */
import { exactBinomialJudgement, sequentialJudgement, zTestJudgement } from "../analysis/gate.js";
import { makeRatioGrid, SequentialRateTest } from "../analysis/sequential.js";
import type { CountSample, Counts } from "../analysis/types.js";
import { weightsFor } from "../policy/resolve.js";
import { isComparisonGate, type RolloutPolicy, type Weights } from "../policy/types.js";
import { RollgateController, type ControllerStatus, type MinuteData, type SimController, type WorldView } from "./controller.js";
import type { AlarmSpec, GateMinute, TimelineDecision } from "./types.js";

const MINUTE = 60_000;
/** A measurement that neither fails nor lets the step advance. */
const HALT = "halt";
const WEIGHT_TOTAL = 999;

/** CodeDeploy `CodeDeployDefault.ECSCanary10Percent5Minutes` with an alarm-based automatic rollback. */
export interface CodeDeployPolicy {
  kind: "codedeploy";
  /** @default 10 */
  canaryPercent?: number;
  /** @default 5 */
  canaryMinutes?: number;
  /** Minutes the original task set is kept after the shift, during which an alarm still rolls back. @default 5 */
  terminationWaitMinutes?: number;
  /** The rollback alarm. @default canary 5XX rate > 1 % for 1 of 1 one-minute datapoints */
  alarm?: AlarmSpec;
}

/** A fixed error-rate threshold checked every interval with a failure limit (Argo Rollouts / Flagger). */
export interface ThresholdPolicy {
  kind: "argo" | "flagger";
  /** Canary percentages in order. Argo default 1/5/25/50; Flagger default 10..50 by 10. */
  steps?: number[];
  /** Minutes per step. Argo default 10; Flagger advances each interval (1). */
  stepMinutes?: number;
  /** Failing when the canary error rate of the newest datapoint is above this (a fraction). @default 0.01 */
  maxErrorRate?: number;
  /**
   * Argo: analysis fails when failed measurements exceed this (failureLimit). Flagger: rolls back
   * when failed checks reach it (threshold). @default 2
   */
  failureLimit?: number;
  /** Minutes between measurements (Argo's metric `interval`). @default 1 */
  intervalMinutes?: number;
  /**
   * Minutes of data one measurement spans (the query's range, e.g. a 5-minute rate): the error
   * rate over the delivered minutes that started within this window. @default 1 (the newest datapoint)
   */
  windowMinutes?: number;
}

/**
 * A test re-run every minute on the 1/5/25/50 ladder: the analysis module's fixed-horizon
 * zTestJudgement / exactBinomialJudgement on the current step's counts, as if each look were the
 * only one (no peeking correction), or, for comparison, its sequentialJudgement (the bare mixture
 * e-process over the whole rollout, without rollgate's bands and minimum samples).
 */
export interface FixedHorizonPolicy {
  kind: "z-test" | "binomial" | "sequential";
  /** @default [1, 5, 25, 50] */
  steps?: number[];
  /** @default 10 */
  stepMinutes?: number;
  /** One-sided significance level of each look. @default 0.05 */
  alpha?: number;
  /** Canary requests needed in the step before a test may fail it (as rollgate's minSamples). @default 200; 0 for "sequential" */
  minSamples?: number;
  /**
   * "every-minute" re-runs the test each minute (peeking); "step-end" looks once, on the step's
   * data at its end, with `alpha` for that look (split it across the steps yourself).
   * @default "every-minute"
   */
  look?: "every-minute" | "step-end";
}

/**
 * The oracle controller: the standard ladder (1/5/25/50 %, 10 minutes each, no holds), the same
 * CloudWatch lag, incidents and traffic, and a sequential test told the true rate ratio (all its
 * weight there) and whether errors cluster, at the standard error gate's alpha. No real test can
 * beat it on the same ladder, so it is the limit each exposure figure is compared with.
 */
export interface OraclePolicy {
  kind: "oracle";
  /** The true canary / baseline error rate ratio after the onset (1 or less: never rolls back). */
  ratio: number;
  /** Errors cluster (the test is then tempered as rollgate's is). @default false */
  clustered?: boolean;
  /** @default [1, 5, 25, 50] */
  steps?: number[];
  /** @default 10 */
  stepMinutes?: number;
  /** @default 0.005 */
  alpha?: number;
}

/**
 * The holding oracle: rollgate's own controller and engine on `policy` (default: the standard
 * profile), so the same ladder, holds, maxHold, lag, incidents and advance rule (a step advances
 * only once its hold is over and its gates would pass), with one difference: its gates never
 * roll back, and a test told the true effect does (the likelihood ratio of the true canary /
 * baseline error ratio against 1 over the rollout's delivered error counts, at `alpha`, with
 * no prior to pay for; tempered like rollgate's when errors cluster). It is the limit a
 * controller that holds like rollgate can reach on the same traffic.
 */
export interface HoldingOraclePolicy {
  kind: "holding-oracle";
  ratio: number;
  /**
   * Temper its test as rollgate's is (the dispersion estimated from the totals, at most 2 nats a
   * minute): right when errors cluster; with independent errors it shows what that correction costs.
   * @default false
   */
  clustered?: boolean;
  /** @default 0.005 (the standard error gate's) */
  alpha?: number;
  /** The resolved policy whose ladder and gates it holds by. */
  policy: RolloutPolicy;
}

export type ComparisonPolicy = CodeDeployPolicy | ThresholdPolicy | FixedHorizonPolicy | OraclePolicy | HoldingOraclePolicy;

export const CODEDEPLOY_ALARM: AlarmSpec = { name: "codedeploy-canary-5xx", metric: "canaryErrorRate", threshold: 0.01, datapointsToAlarm: 1, evaluationPeriods: 1 };

function rate(c: Counts): number | null {
  return c.total > 0 ? (100 * c.events) / c.total : null;
}

function errorGateMinute(m: MinuteData): Record<string, GateMinute> {
  const c = m.traffic.canary;
  const b = m.traffic.baseline;
  return {
    "error-rate": {
      canary: c.hasData ? rate({ total: c.requestCount, events: c.http5xxCount }) : null,
      baseline: b.hasData ? rate({ total: b.requestCount, events: b.http5xxCount }) : null,
    },
  };
}

abstract class BaseComparison implements SimController {
  readonly weightTotal = WEIGHT_TOTAL;
  readonly scheduled = false;
  readonly subscribedAlarms: ReadonlySet<string> = new Set<string>();
  readonly needs = { percentiles: [99], thresholdsMs: [] as number[], metric: false };
  protected current: Weights = weightsFor(0, WEIGHT_TOTAL);
  protected state: ControllerStatus = "progressing";
  protected lastReason = "not started";
  protected startedAt = 0;
  abstract readonly label: string;
  abstract plannedMinutes(): number;
  abstract start(now: number, world: WorldView): TimelineDecision[];
  abstract wakeAt(): number | undefined;
  abstract wake(now: number, world: WorldView): TimelineDecision[];

  tick(): TimelineDecision[] {
    return [];
  }
  alarm(_now: number, _world: WorldView, _name: string): TimelineDecision[] {
    return [];
  }
  weights(): Weights {
    return this.current;
  }
  status(): ControllerStatus {
    return this.state;
  }
  reason(): string {
    return this.lastReason;
  }
  gateValues(m: MinuteData): Record<string, GateMinute> {
    return errorGateMinute(m);
  }
  protected act(now: number, trigger: TimelineDecision["trigger"], action: TimelineDecision["action"], reason: string): TimelineDecision {
    this.lastReason = reason;
    return { atMs: now, trigger, action, weights: this.current, reason };
  }
  protected rollback(now: number, trigger: TimelineDecision["trigger"], reason: string): TimelineDecision {
    this.current = weightsFor(0, WEIGHT_TOTAL);
    this.state = "rolled-back";
    return this.act(now, trigger, "rollback", reason);
  }
}

class CodeDeployController extends BaseComparison {
  readonly label = "CodeDeploy canary 10 % 5 min + alarm";
  override readonly subscribedAlarms: ReadonlySet<string>;
  readonly alarmSpec: AlarmSpec;
  private readonly percent: number;
  private readonly canaryMs: number;
  private readonly waitMs: number;
  private shifted = false;

  constructor(p: CodeDeployPolicy) {
    super();
    this.percent = p.canaryPercent ?? 10;
    this.canaryMs = (p.canaryMinutes ?? 5) * MINUTE;
    this.waitMs = (p.terminationWaitMinutes ?? 5) * MINUTE;
    this.alarmSpec = p.alarm ?? CODEDEPLOY_ALARM;
    this.subscribedAlarms = new Set([this.alarmSpec.name]);
  }
  plannedMinutes(): number {
    return (this.canaryMs + this.waitMs) / MINUTE;
  }
  start(now: number, world: WorldView): TimelineDecision[] {
    this.startedAt = now;
    this.current = weightsFor(this.percent, WEIGHT_TOTAL);
    const out = [this.act(now, "start", "advance", `shifted ${this.percent} % to the replacement task set`)];
    if (world.alarms[this.alarmSpec.name] === "ALARM") out.push(this.rollback(now, "alarm", `alarm ${this.alarmSpec.name} in ALARM`));
    return out;
  }
  override alarm(now: number, _world: WorldView, name: string): TimelineDecision[] {
    if (this.state !== "progressing") return [];
    return [this.rollback(now, "alarm", `alarm ${name} in ALARM: automatic rollback`)];
  }
  wakeAt(): number | undefined {
    if (this.state !== "progressing") return undefined;
    return this.shifted ? this.startedAt + this.canaryMs + this.waitMs : this.startedAt + this.canaryMs;
  }
  wake(now: number, world: WorldView): TimelineDecision[] {
    if (!this.shifted) {
      this.shifted = true;
      this.current = weightsFor(100, WEIGHT_TOTAL);
      const out = [this.act(now, "timer", "promote", "canary interval over: shifted 100 % to the replacement task set")];
      if (world.alarms[this.alarmSpec.name] === "ALARM") out.push(this.rollback(now, "alarm", `alarm ${this.alarmSpec.name} in ALARM`));
      return out;
    }
    this.state = "promoted";
    return [this.act(now, "timer", "noop", "termination wait over: original task set terminated, deployment succeeded")];
  }
  override status(): ControllerStatus {
    // Traffic is at 100 % after the shift, but the deployment can still roll back until the wait ends.
    return this.state;
  }
}

/** The newest delivered minute's canary counts within `windowMs` of now (what a query for "the last datapoint" returns). */
function newestCanary(world: WorldView, now: number, windowMs: number): Counts | undefined {
  let best: MinuteData | undefined;
  for (let i = world.revealed.length - 1, seen = 0; i >= 0 && seen < 8; i--, seen++) {
    const m = world.revealed[i]!;
    if (m.start < now - windowMs) continue;
    if (!m.traffic.canary.hasData) continue;
    if (!best || m.start > best.start) best = m;
  }
  return best ? { total: best.traffic.canary.requestCount, events: best.traffic.canary.http5xxCount } : undefined;
}

class LadderController extends BaseComparison {
  readonly label: string;
  private stepIndex = -1;
  private stepStartedAt = 0;
  private nextAt = 0;
  private failures = 0;
  private cursor = 0;
  private readonly samples: CountSample[] = [];
  private oracleCursor = 0;
  private readonly steps: number[];
  private readonly stepMs: number;

  private lastMeasureAt = -Infinity;
  private oracle: SequentialRateTest | undefined;

  constructor(private readonly p: ThresholdPolicy | FixedHorizonPolicy | OraclePolicy) {
    super();
    const flagger = p.kind === "flagger";
    this.steps = p.steps ?? (flagger ? [10, 20, 30, 40, 50] : [1, 5, 25, 50]);
    this.stepMs = (p.stepMinutes ?? (flagger ? 1 : 10)) * MINUTE;
    if (p.kind === "oracle" && p.ratio > 1) {
      this.oracle = new SequentialRateTest("higher", makeRatioGrid({ min: p.ratio, max: p.ratio, points: 1 }), { dispersion: p.clustered ? "estimate" : "none" });
    }
    this.label =
      p.kind === "oracle"
        ? `oracle (told ratio ${Number(p.ratio.toPrecision(3))}) ${this.steps.join("/")} %`
        : p.kind === "argo"
        ? `Argo-style ${this.steps.join("/")} %, ${(p as ThresholdPolicy).windowMinutes ?? 1}-min error rate > ${pctLabel((p as ThresholdPolicy).maxErrorRate ?? 0.01)} every ${(p as ThresholdPolicy).intervalMinutes ?? 1} min, failureLimit ${(p as ThresholdPolicy).failureLimit ?? 2}`
        : p.kind === "flagger"
          ? `Flagger-style stepWeight ${this.steps[0]}, error > ${pctLabel((p as ThresholdPolicy).maxErrorRate ?? 0.01)}, threshold ${(p as ThresholdPolicy).failureLimit ?? 2}`
          : `${p.kind === "z-test" ? "z-test" : p.kind === "binomial" ? "exact binomial" : "sequential e-process"} ${(p as FixedHorizonPolicy).look === "step-end" ? "once at each step's end" : "every minute"}, alpha ${(p as FixedHorizonPolicy).alpha ?? 0.05}`;
  }
  plannedMinutes(): number {
    return (this.steps.length * this.stepMs) / MINUTE;
  }
  start(now: number): TimelineDecision[] {
    this.startedAt = now;
    this.stepIndex = 0;
    this.stepStartedAt = now;
    this.nextAt = now + MINUTE;
    this.current = weightsFor(this.steps[0]!, WEIGHT_TOTAL);
    return [this.act(now, "start", "advance", `set weight ${this.steps[0]} %`)];
  }
  wakeAt(): number | undefined {
    return this.state === "progressing" ? this.nextAt : undefined;
  }
  wake(now: number, world: WorldView): TimelineDecision[] {
    this.nextAt = now + MINUTE;
    const failed = this.measure(now, world);
    if (failed === HALT) return [];
    if (failed) return [this.rollback(now, "timer", failed)];
    if (now - this.stepStartedAt >= this.stepMs) {
      if (this.stepIndex + 1 >= this.steps.length) {
        this.current = weightsFor(100, WEIGHT_TOTAL);
        this.state = "promoted";
        return [this.act(now, "timer", "promote", "last step done: promoted to 100 %")];
      }
      this.stepIndex++;
      this.stepStartedAt = now;
      this.current = weightsFor(this.steps[this.stepIndex]!, WEIGHT_TOTAL);
      return [this.act(now, "timer", "advance", `set weight ${this.steps[this.stepIndex]} %`)];
    }
    return [];
  }

  /** One measurement; returns the rollback reason when the analysis fails. */
  private measure(now: number, world: WorldView): string | undefined {
    const p = this.p;
    if (p.kind === "oracle") {
      this.ingest(world);
      if (!this.oracle) return undefined;
      for (; this.oracleCursor < this.samples.length; this.oracleCursor++) {
        const x = this.samples[this.oracleCursor]!;
        this.oracle.push(x.canary.events, x.canary.total, x.baseline.events, x.baseline.total);
      }
      return this.oracle.maxLogEValue >= -Math.log(p.alpha ?? 0.005) ? `oracle test (true ratio ${p.ratio}) reached 1/${p.alpha ?? 0.005}` : undefined;
    }
    if (p.kind === "argo" || p.kind === "flagger") {
      const limit = p.failureLimit ?? 2;
      const max = p.maxErrorRate ?? 0.01;
      // Argo measures every `interval`; between measurements nothing is judged.
      const interval = (p.intervalMinutes ?? 1) * MINUTE;
      if (now - this.lastMeasureAt < interval - 1000) return undefined;
      this.lastMeasureAt = now;
      const window = p.windowMinutes ?? 1;
      const c = window > 1 ? windowCanary(world, now, window * MINUTE) : newestCanary(world, now, 5 * MINUTE);
      // No datapoint yet (CloudWatch lag): Argo records an error, not a failure; Flagger halts
      // advancement. Neither counts towards the limit here, which is the generous reading.
      if (!c) return this.p.kind === "flagger" ? HALT : undefined;
      if (c.events / c.total > max) this.failures++;
      const over = p.kind === "argo" ? this.failures > limit : this.failures >= limit;
      return over ? `${this.failures} failed measurements (error rate above ${pctLabel(max)}; limit ${limit})` : undefined;
    }
    const fh = p as FixedHorizonPolicy;
    this.ingest(world);
    // Looking once at the step's end: only on the minute the step would advance.
    if (fh.look === "step-end" && now - this.stepStartedAt < this.stepMs) return undefined;
    let canaryInStep = 0;
    for (const x of this.samples) if (x.start >= this.stepStartedAt) canaryInStep += x.canary.total;
    if (canaryInStep < (fh.minSamples ?? (fh.kind === "sequential" ? 0 : 200))) return undefined;
    const alpha = fh.alpha ?? 0.05;
    const judge = fh.kind === "z-test" ? zTestJudgement : fh.kind === "binomial" ? exactBinomialJudgement : sequentialJudgement;
    return judge(this.samples, { stepStartedAt: this.stepStartedAt }, alpha) === "rollback"
      ? fh.kind === "sequential"
        ? `sequential e-process over the whole rollout reached 1/${alpha} at step ${this.stepIndex + 1} (${this.steps[this.stepIndex]} %)`
        : `${fh.kind} on step ${this.stepIndex + 1} (${this.steps[this.stepIndex]} %): p <= ${alpha} over ${canaryInStep} canary requests`
      : undefined;
  }

  private ingest(world: WorldView): void {
    for (; this.cursor < world.revealed.length; this.cursor++) {
      const m = world.revealed[this.cursor]!;
      const c = m.traffic.canary;
      const b = m.traffic.baseline;
      if (!c.hasData || !b.hasData) continue;
      const sample: CountSample = { start: m.start, canary: { total: c.requestCount, events: c.http5xxCount }, baseline: { total: b.requestCount, events: b.http5xxCount } };
      let i = this.samples.length;
      while (i > 0 && this.samples[i - 1]!.start > sample.start) i--;
      this.samples.splice(i, 0, sample);
    }
  }
}

function pctLabel(fraction: number): string {
  return `${Number((fraction * 100).toFixed(3))} %`;
}

/** Canary counts over the delivered minutes that started within `windowMs` before now (a range query). */
function windowCanary(world: WorldView, now: number, windowMs: number): Counts | undefined {
  let total = 0;
  let events = 0;
  for (let i = world.revealed.length - 1, seen = 0; i >= 0 && seen < 16; i--, seen++) {
    const m = world.revealed[i]!;
    if (m.start < now - windowMs || !m.traffic.canary.hasData) continue;
    total += m.traffic.canary.requestCount;
    events += m.traffic.canary.http5xxCount;
  }
  return total > 0 ? { total, events } : undefined;
}

/** The policy with every comparison gate's rollback switched off (holding and passing unchanged). */
export function withoutGateRollbacks(policy: RolloutPolicy): RolloutPolicy {
  return {
    ...policy,
    gates: policy.gates.map((g) => (isComparisonGate(g) ? { ...g, rollbackBand: Number.POSITIVE_INFINITY, rollbackBandRelative: undefined } : g)),
  };
}

/** Builds the controller of a comparison policy. */
export function comparisonController(policy: ComparisonPolicy): SimController {
  if (policy.kind === "holding-oracle") {
    const alpha = policy.alpha ?? 0.005;
    return new RollgateController(withoutGateRollbacks(policy.policy), {
      oracle: { ratio: policy.ratio, clustered: policy.clustered ?? false, alpha },
      label: `holding oracle (told ratio ${Number(policy.ratio.toPrecision(3))}, alpha ${alpha})`,
    });
  }
  return policy.kind === "codedeploy" ? new CodeDeployController(policy) : new LadderController(policy);
}

/** The alarms a comparison policy needs CloudWatch to evaluate. */
export function comparisonAlarms(policy: ComparisonPolicy): AlarmSpec[] {
  return policy.kind === "codedeploy" ? [policy.alarm ?? CODEDEPLOY_ALARM] : [];
}
