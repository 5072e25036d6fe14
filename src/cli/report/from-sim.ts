/** A report from a simulated rollout's timeline (`rollgate simulate --report`). */
import type { ComparisonGate, RolloutPolicy } from "../../policy/types.js";
import type { SimOutcome, SimTimeline } from "../../sim/types.js";
import type { ReportData, ReportStep } from "./model.js";

const MINUTE = 60_000;

/** Step bands from a weight step function: one band per run of equal weights. */
export function stepsFromWeights(weights: ReportData["weights"], end: number): ReportStep[] {
  const steps: ReportStep[] = [];
  weights.forEach((w, i) => {
    const to = weights[i + 1]?.t ?? end;
    const last = steps.at(-1);
    if (last && last.label === label(w.canaryPercent)) last.to = to;
    else steps.push({ from: w.t, to, label: label(w.canaryPercent) });
  });
  return steps.filter((s) => s.to > s.from);
}

function label(percent: number): string {
  return `${percent >= 10 || percent === 0 ? Math.round(percent) : Number(percent.toFixed(1))} %`;
}

export function reportFromSimulation(input: {
  title: string;
  subtitle?: string;
  policy: RolloutPolicy;
  timeline: SimTimeline;
  outcome: SimOutcome;
  start: number;
}): ReportData {
  const { policy, timeline, outcome, start } = input;
  const lastMinute = timeline.minutes.at(-1);
  const endedAt = outcome.promotedAtMs ?? outcome.rolledBackAtMs;
  const end = Math.max(start + MINUTE, endedAt !== undefined ? start + endedAt + 2 * MINUTE : lastMinute ? lastMinute.start + MINUTE : start + MINUTE);
  const weights: ReportData["weights"] = [];
  for (const d of timeline.decisions) {
    const p = (100 * d.weights.canary) / policy.weightTotal;
    if (weights.at(-1)?.canaryPercent !== p) weights.push({ t: start + d.atMs, canaryPercent: p });
  }
  if (weights.length === 0 || weights[0]!.t > start) weights.unshift({ t: start, canaryPercent: 0 });
  const gates = policy.gates
    .filter((g) => g.type !== "alarm")
    .map((g) => ({
      name: g.name,
      unit: (g.type === "latency" && g.mode === "percentile" ? "ms" : "%") as "ms" | "%",
      label: gateLabel(g),
      points: timeline.minutes
        .filter((m) => m.start < end)
        .map((m) => ({ t: m.start, canary: m.gates[g.name]?.canary ?? null, baseline: m.gates[g.name]?.baseline ?? null })),
    }));
  return {
    title: input.title,
    ...(input.subtitle ? { subtitle: input.subtitle } : {}),
    start,
    end,
    weights,
    steps: stepsFromWeights(weights, end),
    gates,
    decisions: timeline.decisions
      .filter((d) => d.action !== "hold" && d.action !== "noop" && d.action !== "measure" && d.action !== "shift")
      .map((d) => ({ t: start + d.atMs, action: d.action, reason: d.reason, trigger: d.trigger })),
    outcome: outcome.result,
  };
}

/** What a gate's per-minute values are, for panel titles. */
export function gateLabel(g: ComparisonGate): string {
  switch (g.type) {
    case "errorRate":
      return "failed requests (5xx + connection errors, %)";
    case "latency":
      return g.mode === "threshold" ? `requests slower than ${g.thresholdMs} ms (%)` : `p${g.percentile} latency (ms)`;
    case "metric":
      return `${g.events} / ${g.total} (%)`;
  }
}
