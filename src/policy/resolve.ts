/**
 * parsePolicy: shape check (zod), then profile merge, shorthand expansion, defaults and the
 * semantic checks that need the whole policy. Every problem is collected before anything throws.
 */
import { z } from "zod";
import { resolveAccess } from "./access.js";
import { parseDuration } from "./duration.js";
import { fromZodIssues, PolicyError, type PolicyIssue } from "./errors.js";
import { PRESETS } from "./presets.js";
import { policySchema, type GateInput, type PolicyInput } from "./schema.js";
import type { Gate, Hook, ResolvedStep, Ring, RolloutPolicy, Weights } from "./types.js";

export const DEFAULTS = {
  alpha: 0.01,
  prior: "band",
  weightTotal: 999,
  onDrift: "reapply",
  onTimeout: "pause",
  /** maxHold defaults to this multiple of the step's hold. */
  maxHoldFactor: 4,
  exponentialFactor: 2,
  minHoldMs: 60_000,
  errorRate: { holdBand: 0.1, rollbackBand: 0.25, minSamples: 200 },
  latencyThreshold: { holdBand: 1, rollbackBand: 3, minSamples: 200 },
  latencyPercentile: { percentile: 99, holdBand: 50, rollbackBand: 200, minSamples: 200 },
  metric: { holdBand: 0.5, rollbackBand: 2, minSamples: 200, variantDimension: "Version" },
} as const;

export type ParseResult = { ok: true; policy: RolloutPolicy } | { ok: false; issues: PolicyIssue[] };

/** Validates and resolves a policy; throws PolicyError listing every problem. */
export function parsePolicy(input: unknown): RolloutPolicy {
  const result = safeParsePolicy(input);
  if (!result.ok) throw new PolicyError(result.issues);
  return result.policy;
}

/** Like parsePolicy, but returns the issues as a value. */
export function safeParsePolicy(input: unknown): ParseResult {
  const shape = policySchema.safeParse(input, { reportInput: true });
  if (!shape.success) return { ok: false, issues: fromZodIssues(shape.error.issues, knownKeys()) };
  const merged = mergeProfile(shape.data);
  const issues: PolicyIssue[] = [];
  const policy = resolve(merged, issues);
  if (issues.length > 0 || !policy) return { ok: false, issues: issues.length ? issues : [{ path: "", message: "invalid policy" }] };
  return { ok: true, policy };
}

/** Canary weight for a percentage under a weight total: the integer ALB weight closest to it. */
export function weightsFor(percent: number, weightTotal: number): Weights {
  const canary = Math.min(weightTotal, Math.max(0, Math.round((percent / 100) * weightTotal)));
  return { stable: weightTotal - canary, canary };
}

/** Profile fields first, then the user's: top-level fields replace, timeouts/analysis merge. */
function mergeProfile(input: PolicyInput): PolicyInput {
  if (!input.profile) return input;
  const preset = PRESETS[input.profile];
  return {
    ...preset,
    ...input,
    timeouts: { ...preset.timeouts, ...input.timeouts },
    analysis: { ...preset.analysis, ...input.analysis },
  };
}

interface RawStep {
  percent?: number;
  ring?: string;
  hold: string;
  approval?: boolean;
  gates?: string[];
  maxHold?: string;
  onTimeout?: "rollback" | "pause";
}

function expandSteps(input: PolicyInput, issues: PolicyIssue[]): { steps: RawStep[]; pathOf: (i: number) => string } | undefined {
  const s = input.strategy;
  if (!s) {
    issues.push({ path: "strategy", message: 'is required unless a profile is set (for example profile: "standard")' });
    return undefined;
  }
  const shorthand = (
    percents: number[],
    sh: { hold: string; approval?: boolean; maxHold?: string; onTimeout?: "rollback" | "pause" },
  ): RawStep[] =>
    percents.map((percent, i) => ({
      percent,
      hold: sh.hold,
      approval: i === percents.length - 1 ? (sh.approval ?? false) : false,
      ...(sh.maxHold !== undefined ? { maxHold: sh.maxHold } : {}),
      ...(sh.onTimeout !== undefined ? { onTimeout: sh.onTimeout } : {}),
    }));
  switch (s.type) {
    case "canary":
      return { steps: s.steps, pathOf: (i) => `strategy.steps[${i}]` };
    case "linear": {
      if (!(s.stepPercent > 0 && s.stepPercent < 100)) {
        issues.push({ path: "strategy.stepPercent", message: "must be greater than 0 and below 100" });
        return undefined;
      }
      const percents: number[] = [];
      for (let k = 1; k * s.stepPercent < 100 - 1e-9 && percents.length < 200; k++) percents.push(round1(k * s.stepPercent));
      return { steps: shorthand(percents, s), pathOf: () => "strategy.stepPercent" };
    }
    case "exponential": {
      const factor = s.factor ?? DEFAULTS.exponentialFactor;
      if (!(s.startPercent > 0 && s.startPercent < 100)) {
        issues.push({ path: "strategy.startPercent", message: "must be greater than 0 and below 100" });
        return undefined;
      }
      const percents: number[] = [];
      for (let p = s.startPercent; p < 100 - 1e-9 && percents.length < 200; p *= factor) percents.push(round1(p));
      return { steps: shorthand(percents, s), pathOf: () => "strategy.startPercent" };
    }
    case "blueGreen": {
      const test = s.testPercent ?? 0;
      if (!(test >= 0 && test < 100)) {
        issues.push({ path: "strategy.testPercent", message: "must be 0 or more and below 100" });
        return undefined;
      }
      return { steps: shorthand([test], { ...s, hold: s.bake }), pathOf: () => "strategy" };
    }
  }
}

function round1(x: number): number {
  return Math.round(x * 1000) / 1000;
}

interface BandInput {
  holdBand?: number | string | undefined;
  rollbackBand?: number | string | undefined;
  holdBandMin?: number | undefined;
  rollbackBandMin?: number | undefined;
}

/** "30%" -> 0.3; a number -> undefined (absolute). */
function relativeOf(band: number | string | undefined): number | undefined {
  return typeof band === "string" ? Number(band.slice(0, -1)) / 100 : undefined;
}

/**
 * A gate's bands: numbers are points (the floor when relative), "N%" a share of the baseline
 * rate with holdBandMin / rollbackBandMin as the floor. Relative bands need a rate to be a share
 * of, so percentile latency gates (ms) refuse them.
 */
function bands(
  g: BandInput,
  d: { holdBand: number; rollbackBand: number },
  path: string,
  issues: PolicyIssue[],
  relativeAllowed: boolean,
): { holdBand: number; rollbackBand: number; holdBandRelative?: number; rollbackBandRelative?: number } {
  const holdRel = relativeOf(g.holdBand);
  const rollbackRel = relativeOf(g.rollbackBand);
  if (!relativeAllowed) {
    for (const [field, rel] of [["holdBand", holdRel], ["rollbackBand", rollbackRel]] as const) {
      if (rel !== undefined) issues.push({ path: `${path}.${field}`, message: "a percentile latency gate compares milliseconds, not a rate: give the band in ms (or set thresholdMs to compare the slow share)" });
    }
  }
  for (const [field, min, rel] of [["holdBandMin", g.holdBandMin, holdRel], ["rollbackBandMin", g.rollbackBandMin, rollbackRel]] as const) {
    if (min !== undefined && rel === undefined) issues.push({ path: `${path}.${field}`, message: `only applies to a relative ${field.replace("Min", "")} ("30%"); with a number of points, the number is the band` });
  }
  if (rollbackRel !== undefined && !(rollbackRel > 0)) issues.push({ path: `${path}.rollbackBand`, message: 'must be more than "0%"' });
  if (holdRel !== undefined && rollbackRel !== undefined && holdRel > rollbackRel) {
    issues.push({ path: `${path}.holdBand`, message: `must not exceed rollbackBand (${String(g.rollbackBand)}): the canary is held before it is rolled back` });
  }
  const holdBand = holdRel !== undefined ? (g.holdBandMin ?? 0) : ((g.holdBand as number | undefined) ?? d.holdBand);
  const rollbackBand = rollbackRel !== undefined ? (g.rollbackBandMin ?? 0) : ((g.rollbackBand as number | undefined) ?? d.rollbackBand);
  // Both relative: floors compare like the bands. Mixed forms cannot be compared before the rate is known.
  if (holdRel !== undefined && rollbackRel !== undefined && holdBand > rollbackBand) {
    issues.push({ path: `${path}.holdBandMin`, message: `must not exceed the rollback band's floor (${rollbackBand} points)` });
  }
  return {
    holdBand,
    rollbackBand,
    ...(relativeAllowed && holdRel !== undefined ? { holdBandRelative: holdRel } : {}),
    ...(relativeAllowed && rollbackRel !== undefined ? { rollbackBandRelative: rollbackRel } : {}),
  };
}

function resolveGates(gates: GateInput[], issues: PolicyIssue[]): Gate[] {
  const out: Gate[] = [];
  const seen = new Map<string, number>();
  gates.forEach((g, i) => {
    const path = `gates[${i}]`;
    let gate: Gate;
    switch (g.type) {
      case "alarm":
        gate = { type: "alarm", name: g.name, alarms: g.alarms, onMissingData: g.onMissingData ?? "hold" };
        break;
      case "errorRate":
        gate = {
          type: "errorRate",
          name: g.name ?? "error-rate",
          ...bands(g, DEFAULTS.errorRate, path, issues, true),
          minSamples: g.minSamples ?? DEFAULTS.errorRate.minSamples,
          onMissingData: g.onMissingData ?? "hold",
          worseWhen: "higher",
        };
        break;
      case "latency": {
        if (g.thresholdMs !== undefined && g.percentile !== undefined) {
          issues.push({ path: `${path}.percentile`, message: "set thresholdMs (count slow requests) or percentile (compare percentiles), not both" });
        }
        const threshold = g.thresholdMs !== undefined;
        const d = threshold ? DEFAULTS.latencyThreshold : DEFAULTS.latencyPercentile;
        gate = {
          type: "latency",
          name: g.name ?? "latency",
          mode: threshold ? "threshold" : "percentile",
          ...(threshold ? { thresholdMs: g.thresholdMs } : {}),
          percentile: g.percentile ?? DEFAULTS.latencyPercentile.percentile,
          ...bands(g, d, path, issues, threshold),
          minSamples: g.minSamples ?? d.minSamples,
          onMissingData: g.onMissingData ?? "hold",
          worseWhen: "higher",
        };
        break;
      }
      case "metric":
        gate = {
          type: "metric",
          name: g.name,
          namespace: g.namespace,
          events: g.events,
          total: g.total,
          variantDimension: g.variantDimension ?? DEFAULTS.metric.variantDimension,
          dimensions: g.dimensions ?? {},
          worseWhen: g.worseWhen,
          ...bands(g, DEFAULTS.metric, path, issues, true),
          minSamples: g.minSamples ?? DEFAULTS.metric.minSamples,
          onMissingData: g.onMissingData ?? "hold",
        };
        break;
    }
    if (gate.type !== "alarm" && gate.holdBand > gate.rollbackBand && !(gate.holdBandRelative !== undefined || gate.rollbackBandRelative !== undefined)) {
      issues.push({
        path: `${path}.holdBand`,
        message: `must not exceed rollbackBand (${gate.rollbackBand}): the canary is held before it is rolled back`,
      });
    }
    const previous = seen.get(gate.name);
    if (previous !== undefined) {
      issues.push({
        path: `${path}.name`,
        message: `duplicate gate name "${gate.name}" (also gates[${previous}]); give each gate its own name`,
      });
    } else seen.set(gate.name, i);
    out.push(gate);
  });
  return out;
}

function resolve(input: PolicyInput, issues: PolicyIssue[]): RolloutPolicy | undefined {
  const weightTotal = input.weightTotal ?? DEFAULTS.weightTotal;
  const gates = resolveGates(input.gates ?? [], issues);
  const gateNames = gates.map((g) => g.name);
  const expanded = expandSteps(input, issues);
  if (!expanded) return undefined;
  const isBlueGreen = input.strategy?.type === "blueGreen";
  const policyMaxHold = input.timeouts?.maxHold !== undefined ? parseDuration(input.timeouts.maxHold) : undefined;
  const policyOnTimeout = input.timeouts?.onTimeout ?? DEFAULTS.onTimeout;
  const steps: ResolvedStep[] = [];
  let previous: { percent: number; canary: number } | undefined;

  if (expanded.steps.length > 100) {
    issues.push({ path: expanded.pathOf(0), message: `expands to ${expanded.steps.length} steps; use at most 100` });
    return undefined;
  }

  const stepMaxHold = (raw: RawStep, holdMs: number, path: string, at: (f: string) => string): number => {
    const maxHoldMs = raw.maxHold !== undefined ? (parseDuration(raw.maxHold) ?? 0) : (policyMaxHold ?? holdMs * DEFAULTS.maxHoldFactor);
    if (maxHoldMs < holdMs) {
      issues.push({
        path: raw.maxHold !== undefined ? at("maxHold") : "timeouts.maxHold",
        message: `must be at least the step's hold (${raw.hold}${raw.maxHold === undefined ? ` at ${path}` : ""})`,
      });
    }
    return maxHoldMs;
  };
  const stepGates = (raw: RawStep, path: string): string[] => {
    (raw.gates ?? []).forEach((name, g) => {
      if (!gateNames.includes(name)) {
        issues.push({
          path: `${path}.gates[${g}]`,
          message: `unknown gate "${name}"; defined gates: ${gateNames.length ? gateNames.join(", ") : "(none)"}`,
        });
      }
    });
    return raw.gates ?? gateNames;
  };
  const rings = resolveRings(input, issues);
  const ringNames = rings.map((r) => r.name);
  const activeRings: string[] = [];
  let sawPercentStep = false;
  expanded.steps.forEach((raw, i) => {
    const path = expanded.pathOf(i);
    const at = (field: string) => (path.startsWith("strategy.steps[") ? `${path}.${field}` : path);
    const holdMs = parseDuration(raw.hold) ?? 0;
    if (holdMs < DEFAULTS.minHoldMs) {
      issues.push({
        path: at("hold"),
        message: `must be at least 1m: CloudWatch metrics arrive per minute, so a shorter hold gathers no evidence`,
      });
    }
    if (raw.ring !== undefined || raw.percent === undefined) {
      if (raw.ring !== undefined && raw.percent !== undefined) {
        issues.push({ path: at("ring"), message: "set percent or ring, not both: a ring step sends an audience, not a share of traffic" });
      } else if (raw.ring === undefined) {
        issues.push({ path: at("percent"), message: "is required (or set ring to target an audience ring)" });
      } else if (!ringNames.includes(raw.ring)) {
        issues.push({ path: at("ring"), message: `unknown ring "${raw.ring}"; defined rings: ${ringNames.length ? ringNames.join(", ") : "(none: add them under rings)"}` });
      } else if (sawPercentStep) {
        issues.push({ path: at("ring"), message: "ring steps must come before percentage steps: widen by audience first, then by share of traffic" });
      } else if (activeRings.includes(raw.ring)) {
        issues.push({ path: at("ring"), message: `ring "${raw.ring}" is already on the canary from an earlier step` });
      } else {
        activeRings.push(raw.ring);
      }
      steps.push({
        index: i,
        percent: 0,
        weights: weightsFor(0, weightTotal),
        holdMs,
        maxHoldMs: stepMaxHold(raw, holdMs, path, at),
        onTimeout: raw.onTimeout ?? policyOnTimeout,
        approval: raw.approval ?? false,
        gates: stepGates(raw, path),
        ...(raw.ring !== undefined ? { ring: raw.ring } : {}),
        rings: [...activeRings],
      });
      return;
    }
    sawPercentStep = true;
    const percent = raw.percent;
    if (percent < 0 || (!isBlueGreen && percent <= 0)) {
      issues.push({ path: at("percent"), message: "must be greater than 0" });
    } else if (percent >= 100) {
      issues.push({
        path: at("percent"),
        message: "must be below 100: promotion to 100 % follows the last step automatically; remove this step",
      });
    }
    const weights = weightsFor(percent, weightTotal);
    if (!isBlueGreen && percent > 0 && percent < 100 && weights.canary === 0) {
      issues.push({
        path: at("percent"),
        message: `${percent} % is below the smallest weight (1 of ${weightTotal} = ${round1((100 / weightTotal))} %); raise it or raise weightTotal`,
      });
    }
    if (previous && percent <= previous.percent) {
      issues.push({ path: at("percent"), message: `must be greater than the previous step (${previous.percent})` });
    } else if (previous && weights.canary <= previous.canary && percent < 100) {
      issues.push({
        path: at("percent"),
        message: `maps to the same ALB weight as the previous step (${previous.canary} of ${weightTotal}); widen the gap or raise weightTotal`,
      });
    }
    previous = { percent, canary: weights.canary };

    const maxHoldMs = stepMaxHold(raw, holdMs, path, at);
    const gatesOfStep = stepGates(raw, path);
    if (isBlueGreen && percent === 0) {
      gates.forEach((gate, g) => {
        if (gate.type !== "alarm" && gatesOfStep.includes(gate.name)) {
          issues.push({
            path: `gates[${g}]`,
            message: `gate "${gate.name}" (${gate.type}) compares canary traffic, but a blue-green bake at testPercent 0 sends none; set strategy.testPercent above 0 or judge the bake with alarm gates`,
          });
        }
      });
    }
    steps.push({
      index: i,
      percent,
      weights,
      holdMs,
      maxHoldMs,
      onTimeout: raw.onTimeout ?? policyOnTimeout,
      approval: raw.approval ?? false,
      gates: gatesOfStep,
      rings: [...activeRings],
    });
  });

  const access = resolveAccess(input.access, issues);
  if (issues.length > 0) return undefined;
  return {
    ...(input.profile ? { profile: input.profile } : {}),
    strategy: input.strategy!.type,
    steps,
    gates,
    alpha: input.analysis?.alpha ?? DEFAULTS.alpha,
    prior: input.analysis?.prior ?? DEFAULTS.prior,
    onDrift: input.onDrift ?? DEFAULTS.onDrift,
    weightTotal,
    promotion: {
      bakeMs: input.promotion?.bake !== undefined ? (parseDuration(input.promotion.bake) ?? 0) : 0,
      scaleDown: input.promotion?.scaleDown ?? true,
    },
    rings,
    hooks: resolveHooks(input, steps.length, issues),
    hookFunctions: input.hookFunctions ?? {},
    access,
    source: input,
  };
}

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/;

function resolveRings(input: PolicyInput, issues: PolicyIssue[]): Ring[] {
  const seen = new Set<string>();
  return (input.rings ?? []).map((r, i) => {
    const headers = [...(r.match.headers ?? [])];
    const sourceIps = r.match.sourceIps ?? [];
    if (headers.length === 0 && !r.match.cookie && sourceIps.length === 0) {
      issues.push({ path: `rings[${i}].match`, message: "needs at least one of headers, cookie or sourceIps: a ring with no match would send nobody (or everybody)" });
    }
    sourceIps.forEach((ip, k) => {
      if (!CIDR.test(ip)) issues.push({ path: `rings[${i}].match.sourceIps[${k}]`, message: `"${ip}" is not a CIDR block (e.g. 10.0.0.0/8)` });
    });
    if (seen.has(r.name)) issues.push({ path: `rings[${i}].name`, message: `duplicate ring name "${r.name}"` });
    seen.add(r.name);
    return { name: r.name, match: { headers, ...(r.match.cookie ? { cookie: r.match.cookie } : {}), sourceIps } };
  });
}

const MAX_HOOK_TIMEOUT_MS = 15 * 60_000;

function resolveHooks(input: PolicyInput, stepCount: number, issues: PolicyIssue[]): Hook[] {
  const functions = input.hookFunctions ?? {};
  const names = new Set<string>();
  return (input.hooks ?? []).map((h, i) => {
    const path = `hooks[${i}]`;
    const arn = functions[h.function];
    if (arn === undefined) {
      const declared = Object.keys(functions);
      issues.push({
        path: `${path}.function`,
        message: `"${h.function}" is not declared in hookFunctions (${declared.length ? `declared: ${declared.join(", ")}` : "none declared"}); add it there with its Lambda ARN`,
      });
    }
    if (names.has(h.name)) issues.push({ path: `${path}.name`, message: `duplicate hook name "${h.name}"` });
    names.add(h.name);
    const timeoutMs = h.timeout !== undefined ? (parseDuration(h.timeout) ?? 0) : 60_000;
    if (timeoutMs < 1_000 || timeoutMs > MAX_HOOK_TIMEOUT_MS) {
      issues.push({ path: `${path}.timeout`, message: "must be between 1s and 15m (the Lambda maximum)" });
    }
    if (h.steps) {
      if (!h.at.some((a) => a === "beforeStep" || a === "afterStep")) {
        issues.push({ path: `${path}.steps`, message: "applies only to beforeStep and afterStep hooks" });
      }
      h.steps.forEach((n, k) => {
        if (n > stepCount) issues.push({ path: `${path}.steps[${k}]`, message: `step ${n} does not exist (the ladder has ${stepCount} steps)` });
      });
    }
    return {
      name: h.name,
      function: h.function,
      functionArn: arn ?? "",
      at: [...new Set(h.at)],
      ...(h.steps ? { steps: h.steps.map((n) => n - 1) } : {}),
      timeoutMs,
    };
  });
}

let known: Set<string> | undefined;
/** Every field name the schema knows, for typo hints. */
function knownKeys(): Set<string> {
  if (known) return known;
  known = new Set<string>();
  const walk = (schema: unknown): void => {
    const s = schema as { shape?: Record<string, unknown>; options?: unknown[]; element?: unknown; unwrap?: () => unknown; def?: { innerType?: unknown; element?: unknown; options?: unknown[] } };
    if (!s || typeof s !== "object") return;
    if (s.shape) for (const [k, v] of Object.entries(s.shape)) {
      known!.add(k);
      walk(v);
    }
    for (const o of s.def?.options ?? []) walk(o);
    if (s.def?.innerType) walk(s.def.innerType);
    if (s.def?.element) walk(s.def.element);
  };
  walk(policySchema);
  return known;
}

/** JSON Schema (draft 2020-12) of the policy as users write it, for editors and YAML policies. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policySchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
}
