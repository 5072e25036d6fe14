/**
 * The controllers the simulator drives: rollgate's own (the real engine, `decide`, called the way
 * the Lambda calls it) and the comparison policies in comparisons.ts. They all see the world the
 * same way: minutes CloudWatch has delivered, and alarm states.
 */
import { makeRatioGrid, SequentialRateTest } from "../analysis/sequential.js";
import type { CountSample, GateEvidence, PercentileSample } from "../analysis/types.js";
import { applyCommand, canaryRings, decide, idleState, recordHookResult } from "../engine/decide.js";
import type { Decision, Evidence, RolloutState } from "../engine/types.js";
import { isComparisonGate, type ComparisonGate, type RolloutPolicy, type Weights } from "../policy/types.js";
import type { TrafficMinute } from "./traffic.js";
import type { GateMinute, SimResult, SimTrigger, TimelineDecision } from "./types.js";

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** One simulated minute as CloudWatch holds it. */
export interface MinuteData {
  index: number;
  /** Epoch ms of the minute's start. */
  start: number;
  /** Epoch ms when the minute's datapoints become visible to GetMetricData. */
  visibleAt: number;
  canaryShare: number;
  traffic: TrafficMinute;
  /** Custom count metric, when the controller asked for one. */
  metric?: { canaryTrials: number; canaryEvents: number; baselineTrials: number; baselineEvents: number };
}

/** What a controller may look at: only delivered minutes and alarm states, like the real one. */
export interface WorldView {
  /** Minutes delivered by CloudWatch so far, in the order they arrived. */
  readonly revealed: readonly MinuteData[];
  readonly alarms: Readonly<Record<string, AlarmState>>;
  /** Epoch ms the rollout started. */
  readonly startedAt: number;
}

export type ControllerStatus = SimResult | "progressing";

export interface SimController {
  readonly label: string;
  readonly weightTotal: number;
  /** True when driven by the one-minute schedule (rollgate); false when it keeps its own timers. */
  readonly scheduled: boolean;
  /** Alarms whose state-change events reach this controller. */
  readonly subscribedAlarms: ReadonlySet<string>;
  /** What the traffic generator must produce for it. */
  readonly needs: { percentiles: number[]; thresholdsMs: number[]; metric: boolean };
  /** Minutes the rollout takes at most when nothing goes wrong. */
  plannedMinutes(): number;
  start(now: number, world: WorldView): TimelineDecision[];
  tick(now: number, world: WorldView): TimelineDecision[];
  alarm(now: number, world: WorldView, name: string): TimelineDecision[];
  /** Own timer (comparison policies): next epoch ms it wants to act, if any. */
  wakeAt(): number | undefined;
  wake(now: number, world: WorldView): TimelineDecision[];
  weights(): Weights;
  /** Audience rings routed to the canary by their ALB rules now (rollgate only). */
  rings?(): string[];
  status(): ControllerStatus;
  /** True when only an operator can move the rollout on (paused by a timeout, drift or by hand). */
  awaitingOperator?(): boolean;
  reason(): string;
  /** Per-gate values of one minute, for the timeline. */
  gateValues(m: MinuteData): Record<string, GateMinute>;
}

const pct = (events: number, total: number): number | null => (total > 0 ? (100 * events) / total : null);

/** Evidence samples of one comparison gate from one delivered minute; undefined when CloudWatch has none. */
export function gateSample(gate: ComparisonGate, m: MinuteData, thresholdIndex: number): CountSample | PercentileSample | undefined {
  const c = m.traffic.canary;
  const b = m.traffic.baseline;
  if (gate.type === "latency" && gate.mode === "percentile") {
    if (!c.hasData && !b.hasData) return undefined;
    const key = `p${gate.percentile}`;
    return {
      start: m.start,
      canary: c.hasData ? (c.latencyMs[key] ?? null) : null,
      baseline: b.hasData ? (b.latencyMs[key] ?? null) : null,
      canaryCount: c.requestCount,
      baselineCount: b.requestCount,
    };
  }
  if (gate.type === "metric") {
    const mm = m.metric;
    if (!mm || mm.canaryTrials === 0 || mm.baselineTrials === 0) return undefined;
    return { start: m.start, canary: { total: mm.canaryTrials, events: mm.canaryEvents }, baseline: { total: mm.baselineTrials, events: mm.baselineEvents } };
  }
  // Counts need both sides: with no RequestCount datapoint on one side the minute cannot be paired.
  // A side with requests but no 5XX datapoint is a real zero (the adapter fills it).
  if (!c.hasData || !b.hasData) return undefined;
  if (gate.type === "latency") {
    return {
      start: m.start,
      canary: { total: c.requestCount, events: c.slowCounts[thresholdIndex] ?? 0 },
      baseline: { total: b.requestCount, events: b.slowCounts[thresholdIndex] ?? 0 },
    };
  }
  return { start: m.start, canary: { total: c.requestCount, events: c.http5xxCount }, baseline: { total: b.requestCount, events: b.http5xxCount } };
}

function gateMinute(gate: ComparisonGate, m: MinuteData, thresholdIndex: number): GateMinute {
  const s = gateSample(gate, m, thresholdIndex);
  if (!s) return { canary: null, baseline: null };
  if (typeof s.canary === "number" || s.canary === null) {
    const p = s as PercentileSample;
    return { canary: p.canary, baseline: p.baseline };
  }
  const cs = s as CountSample;
  return { canary: pct(cs.canary.events, cs.canary.total), baseline: pct(cs.baseline.events, cs.baseline.total) };
}

export interface RollgateControllerOptions {
  approvals?: "auto" | "never";
  /** Called with the nanoseconds each `decide` call took (engine plus analysis). */
  onDecideNs?: (ns: number) => void;
  /**
   * The holding oracle (comparisons.ts): a rollback test told the true canary / baseline error
   * ratio (the likelihood ratio of that ratio against 1 over the rollout's error counts, no
   * prior to pay for), checked before every decision; when it reaches 1/alpha the rollout is
   * rolled back. The policy's own gates still decide holding and advancing.
   */
  oracle?: { ratio: number; clustered: boolean; alpha: number };
  /** Row label. @default "rollgate <profile>" */
  label?: string;
}

/**
 * rollgate's controller as the Lambda runs it: on every tick and on every gate-alarm event it
 * gathers the evidence (delivered minutes of the whole rollout, alarm states), calls the real
 * `decide`, and writes the decision's weights when it says so.
 */
export class RollgateController implements SimController {
  readonly label: string;
  readonly weightTotal: number;
  readonly scheduled = true;
  readonly subscribedAlarms: ReadonlySet<string>;
  readonly needs: SimController["needs"];
  private state: RolloutState;
  private readonly evidence: Evidence;
  private readonly comparisonGates: ComparisonGate[];
  private readonly thresholdIndex = new Map<string, number>();
  private readonly samples = new Map<string, Array<CountSample | PercentileSample>>();
  private readonly alarmNames: string[];
  private cursor = 0;
  private lastReason = "not started";
  private readonly oracle: SequentialRateTest | undefined;

  constructor(
    readonly policy: RolloutPolicy,
    private readonly options: RollgateControllerOptions = {},
  ) {
    this.label = options.label ?? (policy.profile ? `rollgate ${policy.profile}` : "rollgate");
    const o = options.oracle;
    if (o && o.ratio > 1) {
      this.oracle = new SequentialRateTest("higher", makeRatioGrid({ min: o.ratio, max: o.ratio, points: 1 }), { dispersion: o.clustered ? "estimate" : "none" });
    }
    this.weightTotal = policy.weightTotal;
    this.state = idleState(policy);
    this.comparisonGates = policy.gates.filter(isComparisonGate);
    this.alarmNames = [...new Set(policy.gates.flatMap((g) => (g.type === "alarm" ? g.alarms : [])))];
    this.subscribedAlarms = new Set(this.alarmNames);
    const percentiles = new Set<number>([99]);
    const thresholds: number[] = [];
    let metric = false;
    const gates: Record<string, GateEvidence> = {};
    for (const gate of this.comparisonGates) {
      if (gate.type === "latency" && gate.mode === "percentile") percentiles.add(gate.percentile);
      if (gate.type === "latency" && gate.mode === "threshold" && gate.thresholdMs !== undefined) {
        this.thresholdIndex.set(gate.name, thresholds.length);
        thresholds.push(gate.thresholdMs);
      }
      if (gate.type === "metric") metric = true;
      const list: Array<CountSample | PercentileSample> = [];
      this.samples.set(gate.name, list);
      gates[gate.name] = (gate.type === "latency" && gate.mode === "percentile"
        ? { kind: "percentiles", samples: list }
        : { kind: "counts", samples: list }) as GateEvidence;
    }
    this.needs = { percentiles: [...percentiles].sort((a, b) => a - b), thresholdsMs: thresholds, metric };
    this.evidence = { alarms: {}, gates, freeze: false, killSwitch: false };
  }

  plannedMinutes(): number {
    return this.policy.steps.reduce((sum, s) => sum + s.maxHoldMs, 0) / 60_000;
  }

  /** Pulls newly delivered minutes into the per-gate evidence, kept oldest first. */
  private ingest(world: WorldView): void {
    for (; this.cursor < world.revealed.length; this.cursor++) {
      const m = world.revealed[this.cursor]!;
      // The oracle's test sees the same delivered minutes (the sum of a fixed ratio's log
      // likelihood ratios does not depend on the order they arrive in).
      if (this.oracle && m.traffic.canary.hasData && m.traffic.baseline.hasData) {
        this.oracle.push(m.traffic.canary.http5xxCount, m.traffic.canary.requestCount, m.traffic.baseline.http5xxCount, m.traffic.baseline.requestCount);
      }
      for (const gate of this.comparisonGates) {
        const sample = gateSample(gate, m, this.thresholdIndex.get(gate.name) ?? 0);
        if (!sample) continue;
        const list = this.samples.get(gate.name)!;
        let i = list.length;
        while (i > 0 && list[i - 1]!.start > sample.start) i--;
        list.splice(i, 0, sample);
      }
    }
    // An alarm the scenario does not model is one that stays OK (an external alarm nobody trips).
    for (const name of this.alarmNames) this.evidence.alarms[name] = world.alarms[name] ?? "OK";
  }

  private run(now: number, trigger: SimTrigger): TimelineDecision[] {
    const o = this.options.oracle;
    if (this.oracle && o && this.oracle.maxLogEValue >= -Math.log(o.alpha)) {
      // The engine's rollback: back to the last known good weights, the rollout ended.
      const { pause: _p, entering: _e, finalizeAt: _f, ...rest } = this.state;
      const reason = `oracle test (told the true ratio ${Number(o.ratio.toPrecision(3))}) reached 1/${o.alpha}`;
      this.state = { ...rest, phase: "rolled-back", weights: this.state.lastKnownGood, endedAt: now, outcome: reason };
      this.lastReason = reason;
      return [{ atMs: now, trigger, action: "rollback", weights: this.state.weights, reason }];
    }
    const out: TimelineDecision[] = [];
    let d = this.timedDecide(now);
    // Lifecycle hooks are the user's Lambdas; the simulator answers them "pass" at once.
    for (let i = 0; i < 8 && d.hooks.length > 0 && d.action !== "rollback"; i++) {
      out.push(record(now, trigger, d));
      let s = d.state;
      for (const h of d.hooks) s = recordHookResult(s, h.key, { status: "pass", reason: "simulated", at: now });
      this.state = s;
      d = this.timedDecide(now);
      trigger = "hook";
    }
    this.state = d.state;
    out.push(record(now, trigger, d));
    this.lastReason = d.reason;
    if (d.action === "pause-for-approval" && (this.options.approvals ?? "auto") === "auto") {
      const r = applyCommand(this.policy, this.state, { type: "approve", note: "simulated operator" }, this.evidence, now);
      if (r.ok) {
        this.state = r.decision.state;
        this.lastReason = r.decision.reason;
        out.push(record(now, "approve", r.decision));
      }
    }
    return out;
  }

  private timedDecide(now: number): Decision {
    if (!this.options.onDecideNs) return decide(this.policy, this.state, this.evidence, now);
    const t0 = process.hrtime.bigint();
    const d = decide(this.policy, this.state, this.evidence, now);
    this.options.onDecideNs(Number(process.hrtime.bigint() - t0));
    return d;
  }

  start(now: number, world: WorldView): TimelineDecision[] {
    this.ingest(world);
    const r = applyCommand(this.policy, this.state, { type: "start", rolloutId: "sim", release: { stable: "v1", canary: "v2" } }, this.evidence, now);
    if (!r.ok) throw new Error(`simulator: the engine refused to start: ${r.message}`);
    this.state = r.decision.state;
    this.lastReason = r.decision.reason;
    return [record(now, "start", r.decision)];
  }

  tick(now: number, world: WorldView): TimelineDecision[] {
    if (this.status() !== "progressing" && this.status() !== "paused") return [];
    this.ingest(world);
    return this.run(now, "tick");
  }

  alarm(now: number, world: WorldView): TimelineDecision[] {
    return this.tick(now, world).map((d) => ({ ...d, trigger: d.trigger === "tick" ? "alarm" : d.trigger }));
  }

  wakeAt(): number | undefined {
    return undefined;
  }

  wake(): TimelineDecision[] {
    return [];
  }

  weights(): Weights {
    return this.state.weights;
  }

  rings(): string[] {
    return canaryRings(this.policy, this.state);
  }

  status(): ControllerStatus {
    switch (this.state.phase) {
      case "promoted":
      case "rolled-back":
      case "aborted":
      case "paused":
        return this.state.phase;
      default:
        return "progressing";
    }
  }

  awaitingOperator(): boolean {
    return this.state.phase === "paused" && this.state.pause?.reason !== "approval";
  }

  reason(): string {
    return this.lastReason;
  }

  gateValues(m: MinuteData): Record<string, GateMinute> {
    const out: Record<string, GateMinute> = {};
    for (const gate of this.comparisonGates) out[gate.name] = gateMinute(gate, m, this.thresholdIndex.get(gate.name) ?? 0);
    return out;
  }
}

function record(now: number, trigger: SimTrigger, d: Decision): TimelineDecision {
  return { atMs: now, trigger, action: d.action, weights: d.weights, reason: d.reason, verdicts: d.verdicts };
}
