/**
 * Entry point the engine calls for a comparison gate. Missing data and minimum samples are
 * decided here, before any statistics: neither may ever pass a gate.
 */
import type { ComparisonGate } from "../policy/types.js";
import type { Counts, GateContext, GateEvidence, GateVerdict } from "./types.js";

export function sumCounts(samples: ReadonlyArray<{ canary: Counts; baseline: Counts }>): { canary: Counts; baseline: Counts } {
  const canary = { total: 0, events: 0 };
  const baseline = { total: 0, events: 0 };
  for (const s of samples) {
    canary.total += s.canary.total;
    canary.events += s.canary.events;
    baseline.total += s.baseline.total;
    baseline.events += s.baseline.events;
  }
  return { canary, baseline };
}

export function evaluateComparisonGate(gate: ComparisonGate, evidence: GateEvidence | undefined, ctx: GateContext): GateVerdict {
  const base = { gate: gate.name, type: gate.type } as const;
  if (!evidence || evidence.samples.length === 0) {
    return { ...base, verdict: gate.onMissingData, reason: `${gate.name}: no data (missing data ${gate.onMissingData === "hold" ? "holds" : "rolls back"})` };
  }
  if (evidence.kind === "counts") {
    const step = evidence.samples.filter((s) => s.start >= ctx.stepStartedAt);
    const { canary, baseline } = sumCounts(step);
    if (canary.total < gate.minSamples) {
      return {
        ...base,
        verdict: "hold",
        reason: `${gate.name}: ${canary.total} canary samples this step, need ${gate.minSamples}`,
        evidence: { canary, baseline, minutes: step.length },
      };
    }
    if (baseline.total === 0) {
      return { ...base, verdict: gate.onMissingData, reason: `${gate.name}: no baseline traffic to compare with`, evidence: { canary, baseline } };
    }
    const sign = gate.worseWhen === "higher" ? 1 : -1;
    const diff = sign * 100 * (canary.events / canary.total - baseline.events / baseline.total);
    const verdict = diff > gate.rollbackBand ? "rollback" : diff > gate.holdBand ? "hold" : "pass";
    return {
      ...base,
      verdict,
      reason: `${gate.name}: canary worse by ${diff.toFixed(3)} points (hold band ${gate.holdBand}, rollback band ${gate.rollbackBand})`,
      evidence: { canary, baseline, difference: diff, minutes: step.length },
    };
  }
  const step = evidence.samples.filter((s) => s.start >= ctx.stepStartedAt && s.canary !== null && s.baseline !== null);
  if (step.length === 0) {
    return { ...base, verdict: gate.onMissingData, reason: `${gate.name}: no paired percentile points this step` };
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const diff = mean(step.map((s) => s.canary!)) - mean(step.map((s) => s.baseline!));
  const verdict = diff > gate.rollbackBand ? "rollback" : diff > gate.holdBand ? "hold" : "pass";
  return { ...base, verdict, reason: `${gate.name}: canary ${gate.type === "latency" ? `p${gate.percentile}` : "value"} worse by ${diff.toFixed(1)} ms`, evidence: { difference: diff, minutes: step.length } };
}
