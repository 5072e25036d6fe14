/**
 * An AWS AppConfig deployment strategy derived from the same RolloutPolicy that drives the ALB
 * canary, so a flag release and a traffic release of one service walk comparable ladders and are
 * judged by the same alarms.
 *
 * AppConfig has exactly two growth shapes (AppConfig user guide, "Working with deployment
 * strategies"; CreateDeploymentStrategy API reference):
 *   LINEAR       growthFactor G is the increment: G, 2G, 3G ... 100 %, evenly spaced over
 *                deploymentDurationInMinutes.
 *   EXPONENTIAL  G*(2^N): G, 2G, 4G, 8G ... 100 %. G is the *first* exposure and the ratio is always
 *                2, so a policy factor other than 2 has no AppConfig equivalent.
 * Limits: growthFactor 1.0..100.0, deploymentDurationInMinutes and finalBakeTimeInMinutes 0..1440
 * (integers), at most 5 monitors (alarms) per environment.
 *
 * Everything here is pure: the caller decides what to do with issues (a component turns them
 * into a preview error; the CLI prints them).
 */
import type { PolicyIssue } from "../policy/errors.js";
import type { RolloutPolicy } from "../policy/types.js";

export const APPCONFIG_LIMITS = {
  growthFactor: { min: 1, max: 100 },
  deploymentDurationMinutes: { min: 0, max: 1440 },
  finalBakeMinutes: { min: 0, max: 1440 },
  /** Monitors (CloudWatch alarms) per AppConfig environment. */
  monitors: 5,
} as const;

/**
 * AppConfig's growth types. An `as const` object rather than a bare literal union, because
 * Pulumi's component schema analyzer turns only this form (or an enum) into a schema enum.
 */
export const AppConfigGrowthType = { LINEAR: "LINEAR", EXPONENTIAL: "EXPONENTIAL" } as const;
export type AppConfigGrowthType = (typeof AppConfigGrowthType)[keyof typeof AppConfigGrowthType];

/** What the component writes into `aws.appconfig.DeploymentStrategy`, plus the derived ladder for docs and tests. */
export interface AppConfigStrategy {
  growthType: AppConfigGrowthType;
  growthFactor: number;
  deploymentDurationInMinutes: number;
  finalBakeTimeInMinutes: number;
  /** Always "NONE" (no replication to SSM documents). A string, not the literal type, for Pulumi's schema analyzer. */
  replicateTo: string;
  /** Percentages AppConfig walks through; the last is always 100. */
  increments: number[];
  /** Minutes each increment holds (deploymentDurationInMinutes / increments.length). */
  stepMinutes: number;
  /** Alarm names of the policy's alarm gates, de-duplicated, in policy order: the environment's monitors. */
  alarms: string[];
  /** Human-readable one-liner, used as the strategy's description. */
  description: string;
}

export interface DeriveStrategyOptions {
  /**
   * Accept comparison gates (errorRate, latency, metric) that AppConfig cannot evaluate, with a
   * warning instead of an issue. Default false.
   */
  ignoreComparisonGates?: boolean;
  /** Require at least one alarm, so AppConfig has something that rolls the flag back. Default true. */
  requireMonitors?: boolean;
}

export type DeriveStrategyResult =
  | { ok: true; strategy: AppConfigStrategy; warnings: string[] }
  | { ok: false; issues: PolicyIssue[] };

const EPS = 1e-6;

/** rollgate's own rounding of generated percentages (src/policy/resolve.ts), so ladders compare exactly. */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Steps below 100 % of a linear ladder with increment g (what parsePolicy generates). */
export function linearLadder(g: number): number[] {
  const out: number[] = [];
  for (let k = 1; k * g < 100 - 1e-9 && out.length < 200; k++) out.push(round3(k * g));
  return out;
}

/** Steps below 100 % of a doubling ladder starting at g. */
export function doublingLadder(g: number): number[] {
  const out: number[] = [];
  for (let p = g; p < 100 - 1e-9 && out.length < 200; p *= 2) out.push(round3(p));
  return out;
}

/** The percentages AppConfig walks for a growth type and factor, ending at 100. */
export function appConfigIncrements(growthType: AppConfigGrowthType, growthFactor: number): number[] {
  const below = growthType === "LINEAR" ? linearLadder(growthFactor) : doublingLadder(growthFactor);
  return [...below, 100];
}

function sameLadder(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) < EPS);
}

function list(percents: number[]): string {
  return percents.map((p) => String(p)).join(", ");
}

/** The two shorthands closest to an explicit ladder AppConfig cannot walk, phrased as policy text. */
export function approximations(percents: number[]): string {
  const start = Math.max(APPCONFIG_LIMITS.growthFactor.min, percents[0] ?? 1);
  const step = Math.max(APPCONFIG_LIMITS.growthFactor.min, Math.ceil(100 / (percents.length + 1)));
  return (
    `{ type: "exponential", startPercent: ${start} } walks ${list(appConfigIncrements("EXPONENTIAL", start))} % (same first exposure), ` +
    `or { type: "linear", stepPercent: ${step} } walks ${list(appConfigIncrements("LINEAR", step))} % (same number of steps)`
  );
}

/**
 * Derives the AppConfig deployment strategy for a resolved policy, or every reason it cannot be
 * expressed (with the policy path to change and what AppConfig can do instead).
 */
export function deriveAppConfigStrategy(policy: RolloutPolicy, options: DeriveStrategyOptions = {}): DeriveStrategyResult {
  const issues: PolicyIssue[] = [];
  const warnings: string[] = [];
  const source = policy.source.strategy;
  const explicit = policy.strategy === "canary";
  const stepPath = (i: number, field: string) => (explicit ? `strategy.steps[${i}].${field}` : `strategy.${field}`);

  if (policy.strategy === "blueGreen" || source?.type === "blueGreen") {
    return {
      ok: false,
      issues: [
        {
          path: "strategy.type",
          message:
            'blueGreen bakes an idle slot before one cut-over, and a flag has no idle slot; AppConfig can only grow exposure step by step: use "linear" (stepPercent) or "exponential" (startPercent, doubling)',
        },
      ],
    };
  }

  // Steps AppConfig cannot walk: audience rings and operator approvals.
  policy.steps.forEach((step, i) => {
    if (step.ring !== undefined) {
      issues.push({
        path: `strategy.steps[${i}].ring`,
        message: "AppConfig deployment strategies have no audience rings; remove the ring step and target audiences with multi-variant flag rules instead",
      });
    }
    if (step.approval) {
      issues.push({
        path: stepPath(i, "approval"),
        message:
          "AppConfig cannot pause a deployment for an operator's approval; remove approval (starting the deployment is the approval, and `aws appconfig stop-deployment` halts it)",
      });
    }
  });

  // AppConfig spaces increments evenly: one hold for every step.
  const hold = policy.steps[0]?.holdMs ?? 0;
  if (explicit) {
    policy.steps.forEach((step, i) => {
      if (step.holdMs !== hold) {
        issues.push({
          path: `strategy.steps[${i}].hold`,
          message: `AppConfig spaces increments evenly, so every step must hold as long as the first (${hold / 60_000}m), got ${step.holdMs / 60_000}m`,
        });
      }
    });
  }

  // The growth shape.
  let growthType: AppConfigGrowthType | undefined;
  let growthFactor = 0;
  let factorPath = "";
  if (source?.type === "linear") {
    growthType = "LINEAR";
    growthFactor = source.stepPercent;
    factorPath = "strategy.stepPercent";
  } else if (source?.type === "exponential") {
    factorPath = "strategy.startPercent";
    growthFactor = source.startPercent;
    if (source.factor !== undefined && Math.abs(source.factor - 2) > EPS) {
      issues.push({
        path: "strategy.factor",
        message: `AppConfig's EXPONENTIAL growth always doubles (G*2^N), so factor ${source.factor} cannot be expressed; remove factor (default 2), or use { type: "linear" } for even increments`,
      });
    } else growthType = "EXPONENTIAL";
  } else {
    const percents = policy.steps.map((s) => s.percent);
    const first = percents[0] ?? 0;
    factorPath = "strategy.steps[0].percent";
    growthFactor = first;
    if (sameLadder(percents, linearLadder(first))) growthType = "LINEAR";
    else if (sameLadder(percents, doublingLadder(first))) growthType = "EXPONENTIAL";
    else {
      issues.push({
        path: "strategy.steps",
        message:
          `the ladder ${list(percents)} % is neither linear (G, 2G, 3G ...) nor doubling (G, 2G, 4G ...), the only growths AppConfig has; ` +
          `closest: ${approximations(percents)}`,
      });
    }
  }
  const { min: gMin, max: gMax } = APPCONFIG_LIMITS.growthFactor;
  if (growthType && !(growthFactor >= gMin && growthFactor <= gMax)) {
    issues.push({
      path: factorPath,
      message: `AppConfig's growth factor must be ${gMin} to ${gMax} %, got ${growthFactor}: a flag's first exposure cannot be below ${gMin} % of targets; start at ${gMin} or more`,
    });
  }

  // Durations: AppConfig counts whole minutes; round up so no step is ever shorter than the policy's hold.
  const increments = growthType ? appConfigIncrements(growthType, growthFactor) : [];
  const stepMinutes = hold / 60_000;
  const duration = Math.max(0, Math.ceil(increments.length * stepMinutes - EPS));
  const maxDuration = APPCONFIG_LIMITS.deploymentDurationMinutes.max;
  if (growthType && duration > maxDuration) {
    issues.push({
      path: explicit ? "strategy.steps[0].hold" : "strategy.hold",
      message:
        `${increments.length} increments x ${stepMinutes}m = ${duration} minutes, above AppConfig's deploymentDurationInMinutes limit of ${maxDuration} (24h); ` +
        `hold at most ${Math.floor(maxDuration / increments.length)}m per step, or take bigger steps`,
    });
  }
  const bake = Math.max(0, Math.ceil(policy.promotion.bakeMs / 60_000 - EPS));
  const maxBake = APPCONFIG_LIMITS.finalBakeMinutes.max;
  if (bake > maxBake) {
    issues.push({
      path: "promotion.bake",
      message: `${bake} minutes is above AppConfig's finalBakeTimeInMinutes limit of ${maxBake} (24h); bake at most "24h"`,
    });
  }

  // Gates: AppConfig watches CloudWatch alarms and nothing else.
  const alarms: string[] = [];
  policy.gates.forEach((gate, i) => {
    if (gate.type === "alarm") {
      for (const a of gate.alarms) if (!alarms.includes(a)) alarms.push(a);
      return;
    }
    const message =
      `gate "${gate.name}" (${gate.type}) compares canary with baseline, which AppConfig cannot evaluate: it only watches CloudWatch alarms; ` +
      `turn it into an alarm listed in an alarm gate, or set ignoreComparisonGates to accept a release this gate does not guard`;
    if (options.ignoreComparisonGates) warnings.push(`gates[${i}]: ${message}`);
    else issues.push({ path: `gates[${i}]`, message });
  });
  if (alarms.length > APPCONFIG_LIMITS.monitors) {
    issues.push({
      path: "gates",
      message: `${alarms.length} alarms, but an AppConfig environment watches at most ${APPCONFIG_LIMITS.monitors}; combine them into a CloudWatch composite alarm`,
    });
  }
  if (alarms.length === 0 && (options.requireMonitors ?? true)) {
    issues.push({
      path: "gates",
      message:
        'no alarm gate: AppConfig would roll the flag out with nothing able to roll it back; add { type: "alarm", name, alarms: [...] } or set requireMonitors to false',
    });
  }
  if (policy.hooks.length > 0) {
    issues.push({ path: "hooks", message: "AppConfig runs no rollgate lifecycle hooks during a deployment; remove hooks from the policy used for flags" });
  }

  if (issues.length > 0 || !growthType) return { ok: false, issues };
  return {
    ok: true,
    warnings,
    strategy: {
      growthType,
      growthFactor,
      deploymentDurationInMinutes: duration,
      finalBakeTimeInMinutes: bake,
      replicateTo: "NONE",
      increments,
      stepMinutes: duration / increments.length,
      alarms,
      description: `rollgate: ${growthType} ${list(increments)} %, ${stepMinutes}m per step, bake ${bake}m`,
    },
  };
}
