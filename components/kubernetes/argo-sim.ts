/**
 * The rendered Rollout and AnalysisTemplates driven through the project's simulator (src/sim),
 * with Argo's analysis semantics from argo-analysis.ts: what Argo would do with exactly these
 * objects on simulated ALB traffic with CloudWatch's 1-3 minute lag. It reads the rendered
 * objects (steps, args, metric fields), not the policy, so what it measures is the rendered rules.
 *
 * A measurement reads the minutes CloudWatch has delivered inside the metric's window, hands
 * them to `measure` and records its phase. The default `measure` computes the verdict value
 * (countVerdictValue, the TypeScript twin of the rendered queries) and reads it with
 * phaseOfValue (the twin of the rendered conditions); the tests check both twins against the
 * rendered strings (a metric-math model, a real Prometheus, the real expr engine) and can pass
 * their own `measure` that evaluates the rendered strings directly.
 */
import type { MinuteData, SimController, WorldView } from "../../src/sim/controller.js";
import { RollgateController } from "../../src/sim/controller.js";
import { runSimulation } from "../../src/sim/simulator.js";
import type { GateMinute, Scenario, SimOutcome, TimelineDecision } from "../../src/sim/types.js";
import type { ComparisonGate, Weights } from "../../src/policy/types.js";
import {
  AnalysisRunModel,
  backgroundRunReaction,
  metricFromSpec,
  parseGoDuration,
  stepRunReaction,
  type ArgoMetric,
  type MeasurementPhase,
} from "./argo-analysis.js";
import { countVerdictValue, freshPhase, percentileVerdictValue, phaseOfValue, type QueryParams, type WindowCounts } from "./conditions.js";
import type { K8sObject, RenderedKubernetes } from "./render.js";

const MINUTE = 60_000;
const WEIGHT_TOTAL = 100;

/** One delivered minute of one gate: trials and events per side (undefined: no datapoint). */
export interface GateWindowMinute {
  start: number;
  canary?: { total: number; events: number };
  baseline?: { total: number; events: number };
  /** Percentile latency gates: the minute's percentile per side, in ms. */
  canaryMs?: number;
  baselineMs?: number;
}

export interface MeasureInput {
  /** The rendered metric (verdict or guard) as it appears in the template. */
  metric: Record<string, unknown>;
  gate: ComparisonGate;
  /** verdict: a step's; guard: the background guard; bake / fresh: the bake step's comparison and freshness metrics. */
  role: MetricRole;
  /** The window's delivered minutes, oldest first. */
  minutes: GateWindowMinute[];
  windowMs: number;
  now: number;
  /** The Rollout ends with a setWeight 100 bake step (the guard then tolerates an idle baseline). */
  bakeStep: boolean;
}

export type Measure = (input: MeasureInput) => MeasurementPhase;
export type MetricRole = "verdict" | "guard" | "bake" | "fresh";

/** The default reading: the TypeScript twins of the rendered query and conditions. */
export function defaultMeasure(query: QueryParams): Measure {
  return ({ gate, role, minutes, bakeStep }) => {
    if (role === "fresh") return freshPhase(gate, minutes.reduce((sum, m) => sum + (m.canary?.total ?? 0), 0));
    if (gate.type === "latency" && gate.mode === "percentile") {
      const value = percentileVerdictValue(
        gate,
        minutes.map((m) => ({
          canaryCount: m.canary?.total ?? 0,
          baselineCount: m.baseline?.total ?? 0,
          ...(m.canaryMs !== undefined ? { canaryMs: m.canaryMs } : {}),
          ...(m.baselineMs !== undefined ? { baselineMs: m.baselineMs } : {}),
        })),
      );
      return phaseOfValue(gate, value, role, bakeStep);
    }
    const c: WindowCounts = { canaryTotal: 0, canaryEvents: 0, baselineTotal: 0, baselineEvents: 0 };
    for (const m of minutes) {
      if (m.canary) {
        c.canaryTotal += m.canary.total;
        c.canaryEvents += m.canary.events;
      }
      if (m.baseline) {
        c.baselineTotal += m.baseline.total;
        c.baselineEvents += m.baseline.events;
      }
    }
    return phaseOfValue(gate, countVerdictValue(gate, c, query), role, bakeStep);
  };
}

interface RunSlot {
  run: AnalysisRunModel;
  role: "verdict" | "guard";
  specs: Map<string, { spec: Record<string, unknown>; gate: ComparisonGate; windowMs: number; role: MetricRole }>;
}

/** The metric's query window: a literal in its provider block, or the run's `window` arg. */
function windowOf(spec: Record<string, unknown>, runWindowMs: number): number {
  const provider = spec.provider as { cloudWatch?: { interval?: string }; prometheus?: { query: string } };
  const interval = provider.cloudWatch?.interval;
  if (interval !== undefined) return interval.includes("{{") ? runWindowMs : (parseGoDuration(interval) ?? runWindowMs);
  const query = provider.prometheus?.query ?? "";
  if (query.includes("{{args.window}}")) return runWindowMs;
  const range = /\[(\d+[smh])\]/.exec(query);
  return range ? (parseGoDuration(range[1]) ?? runWindowMs) : runWindowMs;
}

export interface ArgoSimOptions {
  measure?: Measure;
  /** Operator answer to `pause: {}` steps: "auto" resumes at once. @default "auto" */
  approvals?: "auto" | "never";
  /** Operator answer to an InconclusiveAnalysis pause: none (the Rollout stays paused). */
}

/** A SimController that plays Argo Rollouts' controller for the rendered objects. */
export class ArgoRolloutController implements SimController {
  readonly label = "Argo Rollouts (rendered rules)";
  readonly weightTotal = WEIGHT_TOTAL;
  readonly scheduled = false;
  readonly subscribedAlarms: ReadonlySet<string> = new Set();
  readonly needs: SimController["needs"];
  private readonly steps: Array<Record<string, unknown>>;
  private readonly templates = new Map<string, K8sObject>();
  private readonly gates = new Map<string, ComparisonGate>();
  private readonly thresholdIndex = new Map<string, number>();
  private readonly measure: Measure;
  private readonly bakeStep: boolean;
  private stepIndex = 0;
  private stepStartedAt = 0;
  private weight = 0;
  private state: "progressing" | "promoted" | "rolled-back" | "paused" = "progressing";
  private inconclusivePause = false;
  private stepRun?: RunSlot;
  private background?: RunSlot;
  private lastReason = "not started";

  constructor(
    private readonly rendered: RenderedKubernetes,
    query: QueryParams,
    private readonly options: ArgoSimOptions = {},
  ) {
    const strategy = rendered.rollout.spec.strategy as { canary?: { steps: Array<Record<string, unknown>> } };
    if (!strategy.canary) throw new Error("the Argo simulator drives canary Rollouts only");
    this.steps = strategy.canary.steps;
    this.bakeStep = this.steps.some((s) => s.setWeight === 100);
    for (const t of rendered.analysisTemplates) this.templates.set(t.metadata.name, t);
    const thresholds: number[] = [];
    const percentiles = new Set<number>([99]);
    for (const g of rendered.policy.gates) {
      if (g.type === "alarm") continue;
      this.gates.set(g.name, g);
      if (g.type === "latency" && g.mode === "threshold") {
        this.thresholdIndex.set(g.name, thresholds.length);
        thresholds.push(g.thresholdMs!);
      }
      if (g.type === "latency" && g.mode === "percentile") percentiles.add(g.percentile);
    }
    this.needs = { percentiles: [...percentiles], thresholdsMs: thresholds, metric: [...this.gates.values()].some((g) => g.type === "metric") };
    this.measure = options.measure ?? defaultMeasure(query);
  }

  plannedMinutes(): number {
    // The longest the steps can take: every verdict's initialDelay plus count intervals, or the pause.
    let ms = 0;
    for (const s of this.steps) {
      if (s.pause) ms += parseGoDuration((s.pause as { duration?: string }).duration) ?? 0;
      const analysis = s.analysis as { templates: Array<{ templateName: string }> } | undefined;
      if (!analysis) continue;
      let longest = 0;
      for (const ref of analysis.templates) {
        for (const m of (this.templates.get(ref.templateName)?.spec.metrics as Array<Record<string, unknown>> | undefined) ?? []) {
          const spec = metricFromSpec(m);
          longest = Math.max(longest, (spec.initialDelayMs ?? 0) + (spec.count ?? 1) * (spec.intervalMs ?? MINUTE) + MINUTE);
        }
      }
      ms += longest;
    }
    return Math.ceil(ms / MINUTE) + 5;
  }

  start(now: number, world: WorldView): TimelineDecision[] {
    this.stepIndex = 0;
    return this.enterSteps(now, world);
  }

  tick(): TimelineDecision[] {
    return [];
  }
  alarm(): TimelineDecision[] {
    return [];
  }

  wakeAt(): number | undefined {
    if (this.state !== "progressing" && !(this.state === "paused" && this.inconclusivePause)) return undefined;
    const times = [this.stepRun?.run.nextAt(), this.background?.run.nextAt(), this.pauseEndsAt()].filter((t): t is number => t !== undefined);
    return times.length ? Math.min(...times) : undefined;
  }

  wake(now: number, world: WorldView): TimelineDecision[] {
    const out: TimelineDecision[] = [];
    if (this.background && !this.background.run.done) this.reconcileRun(this.background, now, world);
    if (this.stepRun && !this.stepRun.run.done) this.reconcileRun(this.stepRun, now, world);
    // The Rollout reacts: background first (rollout/analysis.go reconcileAnalysisRuns order is step
    // then background, but both are read in the same reconcile; an abort from either wins).
    if (this.background) {
      const reaction = backgroundRunReaction(this.background.run.phase, this.inconclusivePause);
      if (reaction === "abort") return [this.abort(now, `background analysis ${this.background.run.phase}: ${this.background.run.message}`)];
      if (reaction === "pause-inconclusive") out.push(this.pauseInconclusive(now, "background analysis Inconclusive"));
    }
    if (this.stepRun && this.state === "progressing") {
      const reaction = stepRunReaction(this.stepRun.run.phase);
      if (reaction === "abort") return [...out, this.abort(now, `step ${this.stepIndex} analysis ${this.stepRun.run.phase}: ${this.stepRun.run.message}`)];
      if (reaction === "pause-inconclusive") out.push(this.pauseInconclusive(now, `step ${this.stepIndex} analysis Inconclusive`));
      if (reaction === "advance") {
        this.stepRun = undefined;
        this.stepIndex++;
        out.push(...this.enterSteps(now, world));
      }
    } else if (this.state === "progressing" && this.pauseEndsAt() !== undefined && now >= this.pauseEndsAt()!) {
      this.stepIndex++;
      out.push(...this.enterSteps(now, world));
    }
    return out;
  }

  weights(): Weights {
    return { stable: WEIGHT_TOTAL - this.weight, canary: this.weight };
  }
  status() {
    return this.state;
  }
  awaitingOperator(): boolean {
    return this.state === "paused";
  }
  reason(): string {
    return this.lastReason;
  }
  gateValues(): Record<string, GateMinute> {
    return {};
  }

  private pauseEndsAt(): number | undefined {
    const step = this.steps[this.stepIndex];
    const duration = step?.pause ? parseGoDuration((step.pause as { duration?: string }).duration) : undefined;
    return duration !== undefined ? this.stepStartedAt + duration : undefined;
  }

  /** Walks steps that complete at once (setWeight, setCanaryScale, approved pauses) and starts the next waiting one. */
  private enterSteps(now: number, world: WorldView): TimelineDecision[] {
    const out: TimelineDecision[] = [];
    for (; this.stepIndex < this.steps.length; this.stepIndex++) {
      const step = this.steps[this.stepIndex]!;
      this.stepStartedAt = now;
      // Background analysis starts once the Rollout reaches startingStep (rollout/analysis.go line 358).
      this.maybeStartBackground(now);
      if (typeof step.setWeight === "number") {
        this.weight = step.setWeight;
        out.push(this.act(now, "advance", `setWeight ${step.setWeight}`));
        continue;
      }
      if (step.setCanaryScale) continue;
      if (step.pause) {
        const duration = (step.pause as { duration?: string }).duration;
        if (duration !== undefined) return out;
        if ((this.options.approvals ?? "auto") === "auto") continue;
        this.state = "paused";
        out.push(this.act(now, "hold", "paused for approval"));
        return out;
      }
      if (step.analysis) {
        this.stepRun = this.newRun(step.analysis as { templates: Array<{ templateName: string }>; args: Array<{ name: string; value?: string }> }, now, "verdict");
        return out;
      }
    }
    // After the last step Argo promotes: all traffic to the new version, analysis ends.
    this.weight = WEIGHT_TOTAL;
    this.state = "promoted";
    this.background?.run.terminate();
    out.push(this.act(now, "promote", "all steps complete: promoted"));
    return out;
  }

  private maybeStartBackground(now: number): void {
    if (this.background) return;
    const analysis = (this.rendered.rollout.spec.strategy as { canary: { analysis?: { templates: Array<{ templateName: string }>; startingStep?: number; args: Array<{ name: string; value?: string }> } } }).canary.analysis;
    if (!analysis) return;
    if (this.stepIndex < (analysis.startingStep ?? 0)) return;
    this.background = this.newRun(analysis, now, "guard");
  }

  private newRun(analysis: { templates: Array<{ templateName: string }>; args: Array<{ name: string; value?: string }> }, now: number, role: "verdict" | "guard"): RunSlot {
    const windowArg = analysis.args.find((a) => a.name === "window")?.value;
    const windowMs = parseGoDuration(windowArg) ?? 10 * MINUTE;
    const metrics: ArgoMetric[] = [];
    const specs = new Map<string, { spec: Record<string, unknown>; gate: ComparisonGate; windowMs: number; role: MetricRole }>();
    for (const ref of analysis.templates) {
      const t = this.templates.get(ref.templateName);
      if (!t) continue; // a user template (smoke test): not simulated
      const bake = t.metadata.name.endsWith("-bake");
      for (const spec of t.spec.metrics as Array<Record<string, unknown>>) {
        const name = String(spec.name);
        const gate = this.gates.get(name.replace(/-(guard|fresh)$/, ""));
        if (!gate) continue;
        metrics.push(metricFromSpec(spec));
        const metricRole: MetricRole = bake ? (name.endsWith("-fresh") ? "fresh" : "bake") : role;
        specs.set(name, { spec, gate, windowMs: windowOf(spec, windowMs), role: metricRole });
      }
    }
    return { run: new AnalysisRunModel(role, metrics, now), role, specs };
  }

  private reconcileRun(slot: RunSlot, now: number, world: WorldView): void {
    slot.run.reconcile(now, (metric) => {
      const { spec, gate, windowMs, role } = slot.specs.get(metric.name)!;
      return this.measure({ metric: spec, gate, role, minutes: this.window(gate, world, now, windowMs), windowMs, now, bakeStep: this.bakeStep });
    });
  }

  /** GetMetricData over [now - window, now): the delivered one-minute datapoints inside it. */
  private window(gate: ComparisonGate, world: WorldView, now: number, windowMs: number): GateWindowMinute[] {
    const out: GateWindowMinute[] = [];
    for (const m of world.revealed) {
      if (m.start < now - windowMs || m.start + MINUTE > now || m.visibleAt > now) continue;
      out.push(this.gateMinute(gate, m));
    }
    return out.sort((a, b) => a.start - b.start);
  }

  private gateMinute(gate: ComparisonGate, m: MinuteData): GateWindowMinute {
    const c = m.traffic.canary;
    const b = m.traffic.baseline;
    if (gate.type === "metric") {
      const mm = m.metric;
      return {
        start: m.start,
        ...(mm && mm.canaryTrials > 0 ? { canary: { total: mm.canaryTrials, events: mm.canaryEvents } } : {}),
        ...(mm && mm.baselineTrials > 0 ? { baseline: { total: mm.baselineTrials, events: mm.baselineEvents } } : {}),
      };
    }
    const events = (side: typeof c) => (gate.type === "latency" ? (side.slowCounts[this.thresholdIndex.get(gate.name) ?? 0] ?? 0) : side.http5xxCount);
    const key = gate.type === "latency" && gate.mode === "percentile" ? `p${gate.percentile}` : undefined;
    return {
      start: m.start,
      ...(key && c.hasData && c.latencyMs[key] !== undefined ? { canaryMs: c.latencyMs[key] } : {}),
      ...(key && b.hasData && b.latencyMs[key] !== undefined ? { baselineMs: b.latencyMs[key] } : {}),
      ...(c.hasData ? { canary: { total: c.requestCount, events: events(c) } } : {}),
      ...(b.hasData ? { baseline: { total: b.requestCount, events: events(b) } } : {}),
    };
  }

  private pauseInconclusive(now: number, why: string): TimelineDecision {
    this.inconclusivePause = true;
    this.state = "paused";
    return this.act(now, "hold", `${why}: paused (InconclusiveAnalysis) until an operator promotes or aborts`);
  }

  private abort(now: number, why: string): TimelineDecision {
    this.weight = 0;
    this.state = "rolled-back";
    this.stepRun?.run.terminate();
    this.background?.run.terminate();
    return this.act(now, "rollback", `aborted: ${why}`);
  }

  private act(now: number, action: TimelineDecision["action"], reason: string): TimelineDecision {
    this.lastReason = reason;
    return { atMs: now, trigger: "timer", action, weights: this.weights(), reason };
  }
}

export interface ArgoRunSummary {
  runs: number;
  promoted: number;
  rolledBack: number;
  paused: number;
  unfinished: number;
  /** Mean minutes from the regression onset to the abort, over the rolled-back runs. */
  meanDetectionMinutes?: number;
  outcomes: SimOutcome[];
}

/** Runs the rendered objects through `runs` seeded rollouts of `scenario`. */
export function simulateRendered(rendered: RenderedKubernetes, query: QueryParams, scenario: Scenario, runs: number, seed = 1, options: ArgoSimOptions = {}): ArgoRunSummary {
  const outcomes: SimOutcome[] = [];
  for (let i = 0; i < runs; i++) {
    const controller = new ArgoRolloutController(rendered, query, options);
    outcomes.push(runSimulation(controller, { ...scenario, approvals: options.approvals ?? "auto" }, seed + i).outcome);
  }
  const detections = outcomes.filter((o) => o.result === "rolled-back" && o.detectionMs !== undefined).map((o) => o.detectionMs! / MINUTE);
  return {
    runs,
    promoted: outcomes.filter((o) => o.result === "promoted").length,
    rolledBack: outcomes.filter((o) => o.result === "rolled-back").length,
    paused: outcomes.filter((o) => o.result === "paused").length,
    unfinished: outcomes.filter((o) => o.result === "unfinished").length,
    ...(detections.length ? { meanDetectionMinutes: detections.reduce((a, b) => a + b, 0) / detections.length } : {}),
    outcomes,
  };
}

/** What the render measures at a declared rps: identical versions, 0.1 % errors on both. */
export interface NoiseFigures {
  rps: number;
  runs: number;
  /** Share of healthy rollouts the rendered rules roll back. */
  falseRollbackRate: number;
  /** Share of healthy rollouts that end paused (a verdict still undecided at maxHold). */
  pausedRate: number;
}

export const NOISE_RUNS = 300;
export const NOISE_SEED = 20_261_203;
/** Baseline (and canary) error rate of the healthy scenario. */
export const NOISE_ERROR_RATE = 0.001;

export function noiseFigures(rendered: RenderedKubernetes, query: QueryParams, rps: number, runs = NOISE_RUNS): NoiseFigures {
  const s = simulateRendered(rendered, query, { rps, baselineErrorRate: NOISE_ERROR_RATE, canaryErrorRate: NOISE_ERROR_RATE }, runs, NOISE_SEED);
  return { rps, runs, falseRollbackRate: s.rolledBack / runs, pausedRate: (s.paused + s.unfinished) / runs };
}

/** Bad-canary detection of the rendered rules beside the AWS flavour's engine, on the same traffic. */
export interface DetectionFigures {
  rps: number;
  runs: number;
  /** Canary error rate of the bad scenario: the baseline's plus twice the errorRate gate's rollback band. */
  canaryErrorRate: number;
  /** Share of bad canaries the rendered rules roll back. */
  argo: number;
  /** Share the AWS flavour (the engine, RollgateController) rolls back. */
  aws: number;
}

export const DETECTION_RUNS = 150;
const DETECTION_SEED = 40_261_203;

/** Undefined when the policy has no errorRate gate (the figure is defined on it). */
export function detectionFigures(rendered: RenderedKubernetes, query: QueryParams, rps: number, runs = DETECTION_RUNS): DetectionFigures | undefined {
  const gate = rendered.policy.gates.find((g) => g.type === "errorRate");
  if (!gate || gate.type !== "errorRate") return undefined;
  const canaryErrorRate = Math.min(1, NOISE_ERROR_RATE + (2 * gate.rollbackBand) / 100);
  const scenario: Scenario = { rps, baselineErrorRate: NOISE_ERROR_RATE, canaryErrorRate };
  const argo = simulateRendered(rendered, query, scenario, runs, DETECTION_SEED).rolledBack / runs;
  let aws = 0;
  for (let i = 0; i < runs; i++) {
    if (runSimulation(new RollgateController(rendered.policy), { ...scenario, approvals: "auto" }, DETECTION_SEED + i).outcome.result === "rolled-back") aws++;
  }
  return { rps, runs, canaryErrorRate, argo, aws: aws / runs };
}
