/**
 * A report from the audit trail (weights and decisions) and CloudWatch (per-minute gate values of
 * both sides), read through the controller's own adapters.
 */
import type { GateEvidence } from "../../analysis/types.js";
import { createMetricsReader } from "../../aws/metrics.js";
import type { HistoryRecord } from "../../aws/state.js";
import type { Slot } from "../../aws/traffic.js";
import type { ControllerConfig } from "../../controller/config.js";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { ReportData, ReportGateSeries } from "./model.js";
import { gateLabel, stepsFromWeights } from "./from-sim.js";

const MINUTE = 60_000;

/** The slot that served the stable version in this rollout, from a record with both weight views. */
function baselineSlotOf(records: HistoryRecord[]): Slot | undefined {
  for (const r of records) {
    if (!r.weights || !r.slotWeights || r.weights.stable === r.weights.canary) continue;
    return r.slotWeights.blue === r.weights.stable ? "blue" : "green";
  }
  return undefined;
}

/** Per-minute values of one gate's evidence: rates in % for counts, ms for percentiles. */
export function seriesOf(evidence: GateEvidence | undefined): ReportGateSeries["points"] {
  if (!evidence) return [];
  if (evidence.kind === "counts") {
    return evidence.samples.map((s) => ({
      t: s.start,
      canary: s.canary.total > 0 ? (100 * s.canary.events) / s.canary.total : null,
      baseline: s.baseline.total > 0 ? (100 * s.baseline.events) / s.baseline.total : null,
    }));
  }
  return evidence.samples.map((s) => ({ t: s.start, canary: s.canary, baseline: s.baseline }));
}

export interface HistoryReportInput {
  service: string;
  rolloutId: string;
  /** This rollout's records, any order. */
  records: HistoryRecord[];
  weightTotal: number;
  /** Epoch ms the report ends when the rollout is still running. */
  now: number;
  /** With both, gate panels are read from CloudWatch. */
  config?: ControllerConfig;
  cloudwatch?: CloudWatchClient;
}

export async function reportFromHistory(input: HistoryReportInput): Promise<ReportData> {
  const records = [...input.records].sort((a, b) => a.at - b.at || a.seq - b.seq);
  const first = records[0];
  const last = records.at(-1);
  if (!first || !last) throw new Error(`no history records for rollout ${input.rolloutId}`);
  const terminal = last.phase === "promoted" || last.phase === "rolled-back" || last.phase === "aborted";
  const start = Math.floor(first.at / MINUTE) * MINUTE;
  // Gate values only while this rollout owned the canary slot: the next release reuses it.
  const windowEnd = terminal ? last.at : input.now;
  const end = Math.max(start + 2 * MINUTE, windowEnd + MINUTE);
  const weights: ReportData["weights"] = [];
  for (const r of records) {
    if (!r.weights) continue;
    const p = (100 * r.weights.canary) / input.weightTotal;
    if (weights.at(-1)?.canaryPercent !== p) weights.push({ t: r.at, canaryPercent: p });
  }
  if (weights.length === 0 || weights[0]!.t > start) weights.unshift({ t: start, canaryPercent: 0 });

  let gates: ReportGateSeries[] = [];
  const baselineSlot = baselineSlotOf(records);
  if (input.config && input.cloudwatch && baselineSlot && first.release) {
    const comparisons = input.config.policy.gates.filter((g) => g.type !== "alarm");
    const tg = (slot: Slot) => (slot === "blue" ? input.config!.blueTargetGroupArn : input.config!.greenTargetGroupArn);
    const evidence = comparisons.length
      ? await createMetricsReader(input.cloudwatch).gather({
          gates: comparisons,
          loadBalancerArn: input.config.loadBalancerArn,
          canary: { targetGroupArn: tg(baselineSlot === "blue" ? "green" : "blue"), version: first.release.canary },
          baseline: { targetGroupArn: tg(baselineSlot), version: first.release.stable },
          start,
          end: windowEnd + MINUTE,
        })
      : {};
    gates = comparisons.map((g) => ({
      name: g.name,
      unit: g.type === "latency" && g.mode === "percentile" ? "ms" : "%",
      label: gateLabel(g),
      points: seriesOf(evidence[g.name]).filter((p) => p.t >= start && p.t < windowEnd),
    }));
  }
  const release = first.release;
  // The record that ended the rollout explains it better than a later kill-switch-off or note.
  const ending = [...records].reverse().find((r) => r.phase !== undefined && r.fromPhase !== r.phase && (r.phase === "promoted" || r.phase === "rolled-back" || r.phase === "aborted")) ?? last;
  return {
    title: `${input.service}: ${release ? `${release.stable || "(none)"} -> ${release.canary}` : input.rolloutId}`,
    subtitle: `rollout ${input.rolloutId}, ${new Date(start).toISOString().slice(0, 16).replace("T", " ")}Z; ${ending.reason}`,
    start,
    end,
    weights,
    steps: stepsFromWeights(weights, end),
    gates,
    decisions: records.map((r) => ({ t: r.at, action: markAction(r), reason: r.reason, trigger: r.trigger })),
    outcome: last.phase ?? "unknown",
  };
}

/**
 * The marker label of a record: an operator's pause or resume is a "hold" to the engine, but the
 * report should say which command it was.
 */
function markAction(r: HistoryRecord): string {
  if (r.action === "kill-switch-on") return "kill";
  if ((r.action === "hold" || r.action === "noop" || r.action === "advance") && r.trigger.startsWith("command:")) {
    const command = r.trigger.slice("command:".length);
    if (command === "pause" || command === "resume") return command;
  }
  return r.action;
}
