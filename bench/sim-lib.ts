/**
 * Shared pieces of the simulator benchmark: the policies compared, the scenarios, one batch of
 * seeded runs (what a worker executes), and the summary statistics.
 */
import { parsePolicy, PRESETS } from "../src/policy/index.js";
import { CODEDEPLOY_ALARM, controllerFor, runSimulation, type AlarmSpec, type Scenario, type SimPolicy } from "../src/sim/index.js";

/**
 * HealthGates' comparison alarm as the component creates it by default (components/health-gates.ts):
 * ABS(blue rate - green rate) over one-minute periods, 3 of 5 breaching, each slot needing
 * minRequestsPerPeriod (10) requests for a datapoint. Its threshold is set per scenario the way
 * docs/components.md tells users to set comparisonThresholdPercent for their base rate and traffic
 * (comparisonThresholdPercent below).
 */
export const DIFF_ALARM_NAME = "canary-vs-stable";

/**
 * The docs' rule (docs/components.md, comparisonThresholdPercent): at least
 * max(2, 3 x 100 x sqrt(p / n)) points, with p the highest error rate both slots see together
 * (a shared incident: here the scenario's base rate plus the incidents' worst +5 %) and n the
 * canary's requests a minute at the first step: three times the per-minute noise of the canary's
 * rate there, so noisy minutes practically never make 3 of 5.
 */
export function comparisonThresholdPercent(highRate: number, rps: number, firstStepShare = 0.01): number {
  const n = Math.max(1, rps * 60 * firstStepShare);
  return Math.max(2, 3 * 100 * Math.sqrt(highRate / n));
}

export function healthGatesAlarm(baseRate: number, rps: number): AlarmSpec {
  const highRate = Math.min(1, baseRate + INCIDENTS.extraErrorRate[1]);
  return { name: DIFF_ALARM_NAME, metric: "errorRateGap", threshold: comparisonThresholdPercent(highRate, rps) / 100, datapointsToAlarm: 3, evaluationPeriods: 5, minRequests: 10 };
}

export const POLICY_NAMES = [
  "rollgate low",
  "rollgate standard",
  "rollgate high",
  "rollgate standard + alarm",
  "oracle holding like standard",
  "oracle holding, tempered like rollgate",
  "oracle advancing every 10 min",
  "CodeDeploy 10%/5m, alarm >= 10 req",
  "Argo 5m window/interval, failureLimit 3",
  "Argo newest minute, failureLimit 2",
  "Flagger threshold 5",
  "Flagger threshold 10",
  "z-test at step end, alpha 0.005/4",
  "binomial at step end, alpha 0.005/4",
  "z-test every minute, alpha 0.05",
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** The CodeDeploy rollback alarm with the components' request guard (HealthGates' minRequestsPerPeriod default). */
export const CODEDEPLOY_GUARDED_ALARM: AlarmSpec = { ...CODEDEPLOY_ALARM, name: "codedeploy-canary-5xx-guarded", minRequests: 10 };

/** The policy a name stands for in a scenario (the oracle is told the scenario's true effect). */
export function policyByName(name: PolicyName, scenarioKey?: string): SimPolicy {
  switch (name) {
    case "rollgate low":
      return parsePolicy({ profile: "low" });
    case "rollgate standard":
      return parsePolicy({ profile: "standard" });
    case "rollgate high":
      return parsePolicy({ profile: "high" });
    case "rollgate standard + alarm":
      // The standard preset plus an alarm gate on a canary-minus-baseline 5XX alarm: the fast path.
      return parsePolicy({ profile: "standard", gates: [...(PRESETS.standard.gates ?? []), { type: "alarm", name: "canary-5xx", alarms: [DIFF_ALARM_NAME] }] });
    case "oracle holding like standard": {
      // rollgate standard's controller, ladder, holds and advance rule; only the rollback test is told the truth.
      const sc = scenarioKey ? SCENARIOS[scenarioKey] : undefined;
      const ratio = sc ? sc.canaryErrorRate / sc.baselineErrorRate : 1;
      return { kind: "holding-oracle", ratio, clustered: (sc?.meanBurst ?? 1) > 1, policy: parsePolicy({ profile: "standard" }) };
    }
    case "oracle holding, tempered like rollgate": {
      // The same, but its test pays rollgate's dispersion correction (tempering by the estimated
      // dispersion, at most 2 nats a minute) even when errors are independent: what is left
      // between this row and rollgate standard is the prior and the final look's half of alpha.
      const sc = scenarioKey ? SCENARIOS[scenarioKey] : undefined;
      const ratio = sc ? sc.canaryErrorRate / sc.baselineErrorRate : 1;
      return { kind: "holding-oracle", ratio, clustered: true, policy: parsePolicy({ profile: "standard" }) };
    }
    case "oracle advancing every 10 min": {
      const sc = scenarioKey ? SCENARIOS[scenarioKey] : undefined;
      const ratio = sc ? sc.canaryErrorRate / sc.baselineErrorRate : 1;
      return { kind: "oracle", ratio, clustered: (sc?.meanBurst ?? 1) > 1 };
    }
    case "CodeDeploy 10%/5m, alarm >= 10 req":
      return { kind: "codedeploy", alarm: CODEDEPLOY_GUARDED_ALARM };
    case "Argo 5m window/interval, failureLimit 3":
      return { kind: "argo", intervalMinutes: 5, windowMinutes: 5, failureLimit: 3 };
    case "Argo newest minute, failureLimit 2":
      return { kind: "argo" };
    case "Flagger threshold 5":
      return { kind: "flagger", failureLimit: 5 };
    case "Flagger threshold 10":
      return { kind: "flagger", failureLimit: 10 };
    case "z-test at step end, alpha 0.005/4":
      return { kind: "z-test", look: "step-end", alpha: 0.005 / 4 };
    case "binomial at step end, alpha 0.005/4":
      return { kind: "binomial", look: "step-end", alpha: 0.005 / 4 };
    case "z-test every minute, alpha 0.05":
      return { kind: "z-test" };
  }
}

/** Shared incidents: one every four hours on average, 2-8 minutes, +1..5 % errors on both groups. */
export const INCIDENTS = { perHour: 0.25, minutes: [2, 8] as [number, number], extraErrorRate: [0.01, 0.05] as [number, number] };

// Every scenario carries the comparison alarm (added below, its threshold set for the scenario's
// base rate and traffic); only a policy with a gate naming it subscribes to its events.
const common = { incidents: INCIDENTS };
const bad = { ...common, observeUntilHorizon: true, horizonMinutes: 120 };
/** Identical releases (A/A): the false-rollback scenarios. Diurnal swing (+/- 40 %) and incidents everywhere. */
export const AA_SCENARIOS: Record<string, Scenario> = {
  "aa 0.1 % 100 rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, ...common },
  "aa 0.1 % 100 rps bursts 5": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, meanBurst: 5, ...common },
  "aa 0.1 % 1000 rps bursts 20": { rps: 1000, baselineErrorRate: 0.001, canaryErrorRate: 0.001, meanBurst: 20, ...common },
  "aa 0.01 % 1000 rps": { rps: 1000, baselineErrorRate: 0.0001, canaryErrorRate: 0.0001, ...common },
  "aa 2 % 100 rps": { rps: 100, baselineErrorRate: 0.02, canaryErrorRate: 0.02, ...common },
  "aa 5 % 100 rps": { rps: 100, baselineErrorRate: 0.05, canaryErrorRate: 0.05, ...common },
};
/** Bad releases: exposure until the canary weight is back at 0, over a 120-minute window. */
export const BAD_SCENARIOS: Record<string, Scenario> = {
  "0.1 -> 0.6 % 10 rps": { rps: 10, baselineErrorRate: 0.001, canaryErrorRate: 0.006, ...bad },
  "0.1 -> 0.6 % 100 rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.006, ...bad },
  "0.1 -> 0.6 % 1000 rps": { rps: 1000, baselineErrorRate: 0.001, canaryErrorRate: 0.006, ...bad },
  "0.1 -> 20 % 100 rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.2, ...bad },
  "0.1 -> 0.6 % 100 rps bursts 5": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.006, meanBurst: 5, ...bad },
  "0.1 -> 0.6 % 100 rps from minute 25": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.006, regressionAtMinute: 25, ...bad },
  "0.1 -> 2 % leak over 60 min 100 rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.02, regressionRampMinutes: 60, ...bad },
  "0.01 -> 0.1 % 1000 rps": { rps: 1000, baselineErrorRate: 0.0001, canaryErrorRate: 0.001, ...bad },
  "2 -> 3 % 100 rps": { rps: 100, baselineErrorRate: 0.02, canaryErrorRate: 0.03, ...bad },
  "5 -> 7.5 % 100 rps": { rps: 100, baselineErrorRate: 0.05, canaryErrorRate: 0.075, ...bad },
  "latency x1.5 100 rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, canaryLatencyFactor: 1.5, ...bad },
};
for (const sc of [...Object.values(AA_SCENARIOS), ...Object.values(BAD_SCENARIOS)]) sc.alarms = [healthGatesAlarm(sc.baselineErrorRate, sc.rps)];
export const SCENARIOS: Record<string, Scenario> = { ...AA_SCENARIOS, ...BAD_SCENARIOS };

export interface Job {
  policy: PolicyName;
  scenario: string;
  seedFrom: number;
  runs: number;
  measureDecide: boolean;
}

/** Per-run figures as parallel columns (cheap to post between threads). */
export interface JobResult {
  job: Job;
  /** 0 promoted, 1 rolled back, 2 paused, 3 unfinished, 4 aborted. */
  result: Float64Array;
  promotedMin: Float64Array;
  detectionMin: Float64Array;
  maxShare: Float64Array;
  exposed: Float64Array;
  excess: Float64Array;
  /** 1 when the rollback came from a step timeout (onTimeout=rollback), not a gate or alarm. */
  timeout: Float64Array;
  decisions: number;
  decideNs: Float64Array;
  wallMs: number;
}

const RESULT_CODE = { promoted: 0, "rolled-back": 1, paused: 2, unfinished: 3, aborted: 4 } as const;
/** Decide timings kept per job (every call up to this many). */
const MAX_TIMINGS = 50_000;

export function runJob(job: Job): JobResult {
  const t0 = performance.now();
  const policy = policyByName(job.policy, job.scenario);
  const scenario = SCENARIOS[job.scenario];
  if (!scenario) throw new Error(`unknown scenario ${job.scenario}`);
  const n = job.runs;
  const out: JobResult = {
    job,
    result: new Float64Array(n),
    promotedMin: new Float64Array(n),
    detectionMin: new Float64Array(n),
    maxShare: new Float64Array(n),
    exposed: new Float64Array(n),
    excess: new Float64Array(n),
    timeout: new Float64Array(n),
    decisions: 0,
    decideNs: new Float64Array(job.measureDecide ? MAX_TIMINGS : 0),
    wallMs: 0,
  };
  let timings = 0;
  const onDecideNs = job.measureDecide
    ? (ns: number) => {
        if (timings < MAX_TIMINGS) out.decideNs[timings++] = ns;
      }
    : undefined;
  for (let i = 0; i < n; i++) {
    const { controller, scenario: sc } = controllerFor(policy, scenario, onDecideNs);
    const { outcome } = runSimulation(controller, sc, job.seedFrom + i);
    out.result[i] = RESULT_CODE[outcome.result];
    out.promotedMin[i] = outcome.promotedAtMs !== undefined ? outcome.promotedAtMs / 60_000 : Infinity;
    out.detectionMin[i] = outcome.detectionMs !== undefined ? outcome.detectionMs / 60_000 : Infinity;
    out.maxShare[i] = outcome.maxCanaryShare;
    out.exposed[i] = outcome.exposedRequests;
    out.excess[i] = outcome.excessErrors;
    out.timeout[i] = outcome.result === "rolled-back" && /onTimeout=rollback/.test(outcome.reason) ? 1 : 0;
    out.decisions += outcome.decisions;
  }
  out.decideNs = out.decideNs.slice(0, timings);
  out.wallMs = performance.now() - t0;
  return out;
}

/** Quantile (type 7, as numpy's default) of values, Infinity included. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const a = Float64Array.from(values).sort();
  if (a.length === 0) return Number.NaN;
  const h = (a.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  if (a[hi] === Infinity) return h === lo ? a[lo]! : Infinity;
  return a[lo]! + (h - lo) * (a[hi]! - a[lo]!);
}

/** 95 % Wilson interval of a proportion. */
export function wilson(successes: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const p = successes / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const r = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [(c - r) / d, (c + r) / d];
}
