/**
 * Shared pieces of the simulator benchmark: the policies compared, the scenarios, one batch of
 * seeded runs (what a worker executes), and the summary statistics.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { parsePolicy, PRESETS } from "../src/policy/index.js";
import { controllerFor, runSimulation, type AlarmSpec, type Scenario, type SimPolicy } from "../src/sim/index.js";

/**
 * Canary 5XX rate more than 5 points above the baseline's in one minute (metric math across both
 * target groups). minRequests 10 mirrors HealthGates' default minRequestsPerPeriod: a minute in
 * which either target group served fewer than 10 requests has no datapoint, as in the real alarm.
 */
export const DIFF_ALARM: AlarmSpec = {
  name: "canary-5xx-vs-baseline",
  metric: "errorRateDifference",
  threshold: 0.05,
  datapointsToAlarm: 1,
  evaluationPeriods: 1,
  minRequests: 10,
};

export const POLICY_NAMES = [
  "rollgate low",
  "rollgate standard",
  "rollgate high",
  "rollgate default",
  "rollgate standard + alarm",
  "CodeDeploy canary 10%/5m",
  "Argo-style 1/5/25/50",
  "Flagger-style step 10",
  "z-test every minute",
  "binomial every minute",
  "sequential every minute",
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** The shared example policy the stacks use (stacks/shared/policy.yaml): what a new user starts from. */
function defaultPolicyInput(): unknown {
  const path = fileURLToPath(new URL("../stacks/shared/policy.yaml", import.meta.url));
  return parseYaml(readFileSync(path, "utf8"));
}

export function policyByName(name: PolicyName): SimPolicy {
  switch (name) {
    case "rollgate low":
      return parsePolicy({ profile: "low" });
    case "rollgate standard":
      return parsePolicy({ profile: "standard" });
    case "rollgate high":
      return parsePolicy({ profile: "high" });
    case "rollgate default":
      return parsePolicy(defaultPolicyInput());
    case "rollgate standard + alarm":
      // The standard preset plus an alarm gate on a canary-minus-baseline 5XX alarm: the fast path.
      return parsePolicy({ profile: "standard", gates: [...(PRESETS.standard.gates ?? []), { type: "alarm", name: "canary-5xx", alarms: [DIFF_ALARM.name] }] });
    case "CodeDeploy canary 10%/5m":
      return { kind: "codedeploy" };
    case "Argo-style 1/5/25/50":
      return { kind: "argo" };
    case "Flagger-style step 10":
      return { kind: "flagger" };
    case "z-test every minute":
      return { kind: "z-test" };
    case "binomial every minute":
      return { kind: "binomial" };
    case "sequential every minute":
      return { kind: "sequential" };
  }
}

/** Shared incidents: one every four hours on average, 2-8 minutes, +1..5 % errors on both groups. */
export const INCIDENTS = { perHour: 0.25, minutes: [2, 8] as [number, number], extraErrorRate: [0.01, 0.05] as [number, number] };

// Every scenario carries the comparison alarm; only a policy with a gate naming it subscribes to its events.
const alarms = [DIFF_ALARM];
export const SCENARIOS: Record<string, Scenario> = {
  "aa-100rps": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, incidents: INCIDENTS, alarms },
  "aa-100rps-no-incidents": { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, alarms },
  "aa-10rps-overdispersed": { rps: 10, baselineErrorRate: 0.001, canaryErrorRate: 0.001, incidents: INCIDENTS, overdispersion: 20, alarms },
};
for (const rps of [10, 100, 1000]) {
  for (const [label, rate] of [["0.6pct", 0.006], ["20pct", 0.2]] as const) {
    SCENARIOS[`bad-${label}-${rps}rps`] = {
      rps,
      baselineErrorRate: 0.001,
      canaryErrorRate: rate,
      regressionAtMinute: 0,
      incidents: INCIDENTS,
      alarms,
      observeUntilHorizon: true,
      horizonMinutes: 120,
    };
  }
}

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
  const policy = policyByName(job.policy);
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
