/**
 * The simulation loop: one rollout, minute by minute, with events in time order inside each minute
 * (controller ticks, CloudWatch deliveries, alarm evaluations, EventBridge alarm events, the
 * comparison policies' own timers). Traffic of a minute is drawn once the minute is over, from the
 * time-averaged canary share the controller's weights gave it; it becomes visible to the
 * controller only after its ingestion lag.
 */
import { parsePolicy } from "../policy/resolve.js";
import type { PolicyInput } from "../policy/schema.js";
import type { RolloutPolicy, Weights } from "../policy/types.js";
import { comparisonAlarms, comparisonController, type ComparisonPolicy } from "./comparisons.js";
import { RollgateController, type AlarmState, type MinuteData, type SimController, type WorldView } from "./controller.js";
import { Rng } from "./random.js";
import { DEFAULT_LATENCY, diurnalRps, trafficMinute, type LatencyModel } from "./traffic.js";

/** Share of requests an audience ring matches when the scenario does not say. */
export const DEFAULT_RING_SHARE = 0.02;
import type { AlarmSpec, Scenario, SimOutcome, SimTimeline, TimelineDecision, TimelineMinute } from "./types.js";

const MINUTE = 60_000;
/** Epoch of simulated minute 0: 2026-01-01T00:00:00Z, aligned to a minute. */
export const SIM_EPOCH = Date.UTC(2026, 0, 1);

export interface RunOptions {
  /** Record the per-minute timeline and every decision (the CLI and demo); off in benchmarks. */
  timeline?: boolean;
}

export interface RunResult {
  outcome: SimOutcome;
  timeline?: SimTimeline;
}

const enum Ev {
  Tick,
  Reveal,
  Evaluate,
  Deliver,
}

interface PendingEvent {
  at: number;
  kind: Ev;
  minute: number;
  alarm: string;
}

interface Incident {
  start: number;
  end: number;
  extra: number;
  latencyFactor: number;
}

function validateScenario(s: Scenario): void {
  const fraction = (name: keyof Scenario) => {
    const v = s[name] as number;
    if (!(typeof v === "number" && v >= 0 && v <= 1)) throw new RangeError(`scenario.${String(name)} must be a fraction between 0 and 1 (0.1 % is 0.001); got ${String(v)}`);
  };
  if (!(typeof s.rps === "number" && s.rps >= 0 && Number.isFinite(s.rps))) throw new RangeError(`scenario.rps must be a number of requests per second, 0 or more; got ${String(s.rps)}`);
  fraction("baselineErrorRate");
  fraction("canaryErrorRate");
  if (s.regressionAtMinute !== undefined && !(s.regressionAtMinute >= 0)) throw new RangeError(`scenario.regressionAtMinute must be 0 or more minutes; got ${s.regressionAtMinute}`);
  if (s.regressionRampMinutes !== undefined && !(s.regressionRampMinutes >= 0)) throw new RangeError(`scenario.regressionRampMinutes must be 0 or more minutes; got ${s.regressionRampMinutes}`);
  if (s.meanBurst !== undefined && !(s.meanBurst >= 1 && Number.isFinite(s.meanBurst))) throw new RangeError(`scenario.meanBurst must be a mean cluster size of 1 or more (1 = independent errors); got ${s.meanBurst}`);
  if (s.lagSeconds && !(s.lagSeconds[0] >= 0 && s.lagSeconds[1] >= s.lagSeconds[0])) throw new RangeError("scenario.lagSeconds must be [min, max] seconds with 0 <= min <= max");
  (s.alarms ?? []).forEach((a, i) => {
    if (a.minRequests !== undefined && !(Number.isInteger(a.minRequests) && a.minRequests >= 0)) {
      throw new RangeError(`scenario.alarms[${i}].minRequests (alarm ${a.name}) must be a whole number of requests, 0 or more; got ${String(a.minRequests)}`);
    }
  });
}

/**
 * Runs one rollout of `controller` through `scenario`, deterministically for a seed.
 * Lower level than simulateRollout: benchmarks pass their own controllers.
 */
export function runSimulation(controller: SimController, scenarioIn: Scenario, seed: number, options: RunOptions = {}): RunResult {
  validateScenario(scenarioIn);
  const scenario = scenarioIn;
  const rng = new Rng(seed);
  const withTimeline = options.timeline ?? false;

  const [lagMin, lagMax] = scenario.lagSeconds ?? [60, 180];
  const [evMin, evMax] = scenario.eventDelaySeconds ?? [1, 15];
  const amplitude = scenario.diurnalAmplitude ?? 0.4;
  const startOfDay = scenario.startTimeOfDay ?? rng.next();
  const baseLatency: LatencyModel = scenario.baselineLatency ?? DEFAULT_LATENCY;
  const latencyFactor = scenario.canaryLatencyFactor ?? 1;
  const horizon = Math.ceil(scenario.horizonMinutes ?? controller.plannedMinutes() + 30);
  const alarms: AlarmSpec[] = scenario.alarms ?? [];
  const metricModel = controller.needs.metric ? (scenario.metric ?? { trialsPerRequest: 0.1, baselineRate: 0.02 }) : undefined;

  // Phases drawn once per run: where in its minute the rollout starts, when the schedule fires
  // (EventBridge rate(1 minute) has its own second), when CloudWatch evaluates alarms.
  const startedAt = SIM_EPOCH + Math.floor(rng.next() * MINUTE);
  const tickPhase = Math.floor(rng.next() * MINUTE);
  const evalPhase = Math.floor(rng.next() * MINUTE);
  const onset = startedAt + (scenario.regressionAtMinute ?? 0) * MINUTE;

  const incidents: Incident[] = [];
  if (scenario.incidents && scenario.incidents.perHour > 0) {
    const inc = scenario.incidents;
    const [dMin, dMax] = inc.minutes ?? [2, 8];
    const [eMin, eMax] = inc.extraErrorRate ?? [0.01, 0.05];
    // Incidents already under way when the rollout starts count too: begin the process an hour early.
    let t = SIM_EPOCH - 60 * MINUTE + rng.exponential((60 * MINUTE) / inc.perHour);
    while (t < SIM_EPOCH + horizon * MINUTE) {
      const d = rng.uniform(dMin, dMax) * MINUTE;
      incidents.push({ start: t, end: t + d, extra: rng.uniform(eMin, eMax), latencyFactor: inc.latencyFactor ?? 1.5 });
      t += rng.exponential((60 * MINUTE) / inc.perHour);
    }
  }

  const minutes: MinuteData[] = [];
  const revealed: MinuteData[] = [];
  const alarmStates: Record<string, AlarmState> = {};
  for (const a of alarms) alarmStates[a.name] = "OK";
  const world: WorldView = { revealed, alarms: alarmStates, startedAt };

  const queue: PendingEvent[] = [];
  const push = (at: number, kind: Ev, minute = -1, alarm = "") => queue.push({ at, kind, minute, alarm });
  let nextEvaluate = Infinity;

  const decisionsLog: TimelineDecision[] = [];
  const timelineMinutes: TimelineMinute[] = [];
  let decisions = 0;
  let share = 0;
  let weights: Weights = { stable: controller.weightTotal, canary: 0 };
  let maxShare = 0;
  let rolledBackAt: number | undefined;
  let promotedAt: number | undefined;
  let started = false;

  const note = (ds: TimelineDecision[]) => {
    decisions += ds.length;
    if (withTimeline) for (const d of ds) decisionsLog.push({ ...d, atMs: d.atMs - startedAt });
    weights = controller.weights();
    // Ring rules match before the weighted rule: their audience goes to the canary, and the
    // weights split the rest.
    const ringShare = Math.min(1, (controller.rings?.() ?? []).reduce((sum, ring) => sum + (scenario.ringShares?.[ring] ?? DEFAULT_RING_SHARE), 0));
    share = ringShare + (1 - ringShare) * (weights.canary / controller.weightTotal);
    if (share > maxShare) maxShare = share;
  };

  let tickAt = SIM_EPOCH + tickPhase;
  while (tickAt <= startedAt) tickAt += MINUTE;
  if (controller.scheduled) push(tickAt, Ev.Tick);

  const handle = (ev: PendingEvent, which: number, at: number): void => {
    queue[which] = queue[queue.length - 1]!;
    queue.pop();
    switch (ev.kind) {
      case Ev.Tick:
        note(controller.tick(at, world));
        push(at + MINUTE, Ev.Tick);
        break;
      case Ev.Reveal: {
        revealed.push(minutes[ev.minute]!);
        // CloudWatch evaluates alarms once a minute, on the data it has by then.
        if (alarms.length > 0 && nextEvaluate === Infinity) {
          let e = SIM_EPOCH + evalPhase;
          while (e < at) e += MINUTE;
          nextEvaluate = e;
          push(e, Ev.Evaluate);
        }
        break;
      }
      case Ev.Evaluate: {
        nextEvaluate = Infinity;
        evaluateAlarms(alarms, minutes, revealed, alarmStates, (name) => {
          if (controller.subscribedAlarms.has(name)) push(at + rng.uniform(evMin, evMax) * 1000, Ev.Deliver, -1, name);
        });
        break;
      }
      case Ev.Deliver:
        if (started) note(controller.alarm(at, world, ev.alarm));
        break;
    }
  };

  let exposedRequests = 0;
  let excessErrors = 0;
  let m = 0;
  for (; m < horizon; m++) {
    const mStart = SIM_EPOCH + m * MINUTE;
    const mEnd = mStart + MINUTE;
    let integral = 0;
    let last = mStart;
    for (;;) {
      // Next event: the start, the earliest queued event, or the controller's own timer.
      let at = Infinity;
      let which = -1;
      if (!started) at = startedAt;
      for (let i = 0; i < queue.length; i++) {
        if (queue[i]!.at < at) {
          at = queue[i]!.at;
          which = i;
        }
      }
      const wake = started ? controller.wakeAt() : undefined;
      const isWake = wake !== undefined && wake < at;
      if (isWake) at = wake;
      if (at >= mEnd) break;
      integral += share * (at - last);
      last = at;
      if (!started && which === -1 && !isWake) {
        started = true;
        note(controller.start(at, world));
      } else if (isWake) {
        note(controller.wake(at, world));
      } else {
        handle(queue[which]!, which, at);
      }
      const st = controller.status();
      if (st === "rolled-back" && rolledBackAt === undefined) rolledBackAt = at;
      if (share >= 1 && promotedAt === undefined) promotedAt = at;
    }
    integral += share * (mEnd - last);
    const avgShare = integral / MINUTE;

    // The minute's traffic under the weights it actually had.
    const overlap = (a: number, b: number) => Math.max(0, Math.min(b, mEnd) - Math.max(a, mStart)) / MINUTE;
    // Share of the minute after the onset, weighted by how far a ramping regression has grown.
    const ramp = (scenario.regressionRampMinutes ?? 0) * MINUTE;
    const after = overlap(onset, Infinity);
    const grown = ramp > 0 ? Math.min(1, Math.max(0, (mStart + MINUTE / 2 - onset) / ramp)) : 1;
    const badFraction = after * grown;
    let extra = 0;
    let incidentLatency = 1;
    let incident = false;
    for (const inc of incidents) {
      const f = overlap(inc.start, inc.end);
      if (f > 0) {
        extra += f * inc.extra;
        incidentLatency = Math.max(incidentLatency, 1 + f * (inc.latencyFactor - 1));
        incident = true;
      }
    }
    const pb = Math.min(1, scenario.baselineErrorRate + extra);
    const pcBad = scenario.canaryErrorRate;
    const pc = Math.min(1, badFraction * pcBad + (1 - badFraction) * scenario.baselineErrorRate + extra);
    const canaryLatencyFactor = 1 + badFraction * (latencyFactor - 1);
    const dayFraction = startOfDay + (mStart - startedAt) / (1440 * MINUTE);
    const traffic = trafficMinute(
      {
        rps: diurnalRps(scenario.rps, amplitude, dayFraction),
        canaryShare: avgShare,
        baselineErrorRate: pb,
        canaryErrorRate: pc,
        baselineLatency: { medianMs: baseLatency.medianMs * incidentLatency, sigma: baseLatency.sigma },
        canaryLatency: { medianMs: baseLatency.medianMs * incidentLatency * canaryLatencyFactor, sigma: baseLatency.sigma },
        ...(scenario.overdispersion !== undefined ? { overdispersion: scenario.overdispersion } : {}),
        ...(scenario.meanBurst !== undefined ? { meanBurst: scenario.meanBurst } : {}),
        percentiles: controller.needs.percentiles,
        thresholdsMs: controller.needs.thresholdsMs,
      },
      rng,
    );
    const minute: MinuteData = { index: m, start: mStart, visibleAt: mEnd + Math.round(rng.uniform(lagMin, lagMax) * 1000), canaryShare: avgShare, traffic };
    if (metricModel) {
      const ct = rng.binomial(traffic.canary.requestCount, metricModel.trialsPerRequest);
      const bt = rng.binomial(traffic.baseline.requestCount, metricModel.trialsPerRequest);
      const canaryRate = badFraction * (metricModel.canaryRate ?? metricModel.baselineRate) + (1 - badFraction) * metricModel.baselineRate;
      minute.metric = { canaryTrials: ct, canaryEvents: rng.binomial(ct, canaryRate), baselineTrials: bt, baselineEvents: rng.binomial(bt, metricModel.baselineRate) };
    }
    minutes.push(minute);
    push(minute.visibleAt, Ev.Reveal, m);

    if (after > 0) {
      // Requests are spread evenly over the minute, so the exposed share is the time after the
      // onset; excess errors follow the grown rate.
      const exposed = traffic.canary.requestCount * after;
      exposedRequests += exposed;
      excessErrors += exposed * grown * (pcBad - scenario.baselineErrorRate);
    }
    if (withTimeline) {
      timelineMinutes.push({
        minute: m,
        start: mStart,
        weights,
        canaryShare: avgShare,
        visibleAt: minute.visibleAt,
        incident,
        canaryBad: badFraction > 0 && (pcBad !== scenario.baselineErrorRate || latencyFactor !== 1),
        traffic,
        gates: controller.gateValues(minute),
      });
    }

    const st = controller.status();
    const ended = st === "promoted" || st === "rolled-back" || st === "aborted";
    if (ended && (!scenario.observeUntilHorizon || share === 0)) {
      m++;
      break;
    }
    // Nobody resumes a paused rollout here: stop, unless the exposure window must run to its end
    // (a paused canary is still guarded, and still serves its share).
    if (st === "paused" && (controller.awaitingOperator?.() || scenario.approvals === "never") && !scenario.observeUntilHorizon) {
      m++;
      break;
    }
  }

  const status = controller.status();
  const outcome: SimOutcome = {
    result: status === "progressing" ? "unfinished" : status,
    reason: controller.reason(),
    maxCanaryShare: maxShare,
    exposedRequests,
    excessErrors,
    decisions,
    minutesSimulated: m,
  };
  if (promotedAt !== undefined) outcome.promotedAtMs = promotedAt - startedAt;
  if (rolledBackAt !== undefined) {
    outcome.rolledBackAtMs = rolledBackAt - startedAt;
    if (rolledBackAt >= onset) outcome.detectionMs = rolledBackAt - onset;
  }
  return { outcome, ...(withTimeline ? { timeline: { minutes: timelineMinutes, decisions: decisionsLog } } : {}) };
}

/**
 * M-of-N evaluation of each alarm over the newest N one-minute periods; missing data is not
 * breaching. A period whose side(s) served fewer than the alarm's minRequests is missing.
 */
function evaluateAlarms(
  alarms: AlarmSpec[],
  minutes: MinuteData[],
  revealed: MinuteData[],
  states: Record<string, AlarmState>,
  onAlarm: (name: string) => void,
): void {
  let newest = -1;
  for (const r of revealed) if (r.index > newest) newest = r.index;
  if (newest < 0) return;
  for (const a of alarms) {
    const n = a.evaluationPeriods ?? 1;
    const mNeeded = a.datapointsToAlarm ?? 1;
    let breaching = 0;
    for (let i = Math.max(0, newest - n + 1); i <= newest; i++) {
      const mm = minutes[i]!;
      if (revealedAt(mm, revealed) === false) continue;
      const c = mm.traffic.canary;
      const b = mm.traffic.baseline;
      // The components' IF(req >= minRequestsPerPeriod, ...) guard: too few requests is no datapoint.
      const guard = a.minRequests ?? 0;
      if (!c.hasData || c.requestCount < guard) continue;
      const paired = a.metric === "errorRateDifference" || a.metric === "errorRateGap";
      if (paired && (!b.hasData || b.requestCount < guard)) continue;
      const diff = paired ? c.http5xxCount / c.requestCount - b.http5xxCount / b.requestCount : 0;
      const value =
        a.metric === "canaryErrorRate"
          ? c.http5xxCount / c.requestCount
          : a.metric === "errorRateDifference"
            ? diff
            : a.metric === "errorRateGap"
              ? Math.abs(diff)
              : (c.latencyMs["p99"] ?? 0);
      if (value > a.threshold) breaching++;
    }
    const next: AlarmState = breaching >= mNeeded ? "ALARM" : "OK";
    if (next === "ALARM" && states[a.name] !== "ALARM") onAlarm(a.name);
    states[a.name] = next;
  }
}

function revealedAt(m: MinuteData, revealed: MinuteData[]): boolean {
  // Minutes are revealed at most a few minutes out of order; scan from the end.
  for (let i = revealed.length - 1, k = 0; i >= 0 && k < 10; i--, k++) if (revealed[i] === m) return true;
  return false;
}

/** Policies the simulator runs: a rollgate RolloutPolicy (through the real engine) or a comparison policy. */
export type SimPolicy = RolloutPolicy | ComparisonPolicy;

function isResolvedPolicy(p: unknown): p is RolloutPolicy {
  return typeof p === "object" && p !== null && Array.isArray((p as RolloutPolicy).steps) && typeof (p as RolloutPolicy).weightTotal === "number";
}

export interface SimulateRolloutInput {
  /** A resolved policy, a policy as written (resolved here with parsePolicy), or a comparison policy. */
  policy: SimPolicy | PolicyInput;
  scenario: Scenario;
  seed: number;
  /** Record the timeline (default true). */
  timeline?: boolean;
  /** Receives the duration of each `decide` call in ns (rollgate policies only). */
  onDecideNs?: (ns: number) => void;
}

export interface SimulateRolloutResult {
  outcome: SimOutcome;
  timeline: SimTimeline;
}

export function isComparisonPolicy(p: SimPolicy): p is ComparisonPolicy {
  return "kind" in p;
}

/** Controller and alarms for a policy, with the scenario's alarms merged in. */
export function controllerFor(policy: SimPolicy, scenario: Scenario, onDecideNs?: (ns: number) => void): { controller: SimController; scenario: Scenario } {
  if (isComparisonPolicy(policy)) {
    const own = comparisonAlarms(policy);
    const names = new Set((scenario.alarms ?? []).map((a) => a.name));
    return { controller: comparisonController(policy), scenario: { ...scenario, alarms: [...(scenario.alarms ?? []), ...own.filter((a) => !names.has(a.name))] } };
  }
  return {
    controller: new RollgateController(policy, { approvals: scenario.approvals ?? "auto", ...(onDecideNs ? { onDecideNs } : {}) }),
    scenario,
  };
}

/**
 * Simulates one rollout of `policy` under `scenario`, deterministically for `seed`: the per-minute
 * timeline (weights, traffic, per-gate canary and baseline values), every decision with its
 * reason, and the outcome (promoted or rolled back, when, and the bad traffic served).
 *
 * @example
 *   const { outcome } = simulateRollout({ policy: parsePolicy({ profile: "standard" }),
 *     scenario: { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.2 }, seed: 1 });
 *   outcome.result; // "rolled-back"
 */
export function simulateRollout(input: SimulateRolloutInput): SimulateRolloutResult {
  if (!Number.isInteger(input.seed)) throw new RangeError(`simulateRollout: seed must be an integer; got ${String(input.seed)}`);
  const policy: SimPolicy = isResolvedPolicy(input.policy) || "kind" in input.policy ? (input.policy as SimPolicy) : parsePolicy(input.policy);
  const { controller, scenario } = controllerFor(policy, input.scenario, input.onDecideNs);
  const r = runSimulation(controller, scenario, input.seed, { timeline: input.timeline ?? true });
  return { outcome: r.outcome, timeline: r.timeline ?? { minutes: [], decisions: [] } };
}
