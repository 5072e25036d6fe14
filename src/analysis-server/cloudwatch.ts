/**
 * Evidence from CloudWatch for EKS behind an ALB (the AWS Load Balancer Controller's target groups
 * of the canary and stable Services), through the controller's own reader (src/aws/metrics.ts), so
 * the minutes are exactly the ones the AWS flavour's gates see.
 *
 * The target groups outlive a rollout, so "since the canary started" is found in the data: the
 * trailing run of minutes with canary requests, where a run ends at `gapMinutes` minutes in a row
 * without any (after promotion Argo sets the canary's weight back to 0).
 */
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { CountSample, GateEvidence } from "../analysis/types.js";
import { createMetricsReader } from "../aws/metrics.js";
import type { ComparisonGate } from "../policy/types.js";
import { BackendError, type Sides } from "./prometheus.js";
import type { CloudWatchTarget } from "./request.js";

const MINUTE = 60_000;

export interface CloudWatchEvidence {
  evidence: GateEvidence;
  canaryStartedAt: number | undefined;
}

function canaryTotalOf(s: GateEvidence["samples"][number]): number {
  return "total" in (s as CountSample).canary ? (s as CountSample).canary.total : (s as { canaryCount?: number }).canaryCount ?? 0;
}

/** First minute of the trailing run of minutes with canary traffic; undefined when there is none. */
export function trailingRunStart(samples: GateEvidence["samples"], gapMinutes: number): number | undefined {
  let start: number | undefined;
  let lastBusy: number | undefined;
  for (const s of samples) {
    if (canaryTotalOf(s) <= 0) continue;
    if (lastBusy === undefined || s.start - lastBusy > gapMinutes * MINUTE) start = s.start;
    lastBusy = s.start;
  }
  return start;
}

export async function gatherCloudWatch(
  client: CloudWatchClient,
  gate: ComparisonGate,
  target: CloudWatchTarget,
  sides: Sides,
  lookbackMs: number,
  end: number,
  gapMinutes: number,
  timeoutMs: number,
): Promise<CloudWatchEvidence> {
  const reader = createMetricsReader(client);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendError(`cloudwatch did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  let all: Record<string, GateEvidence>;
  try {
    all = await Promise.race([
      reader.gather({
        gates: [gate],
        loadBalancerArn: target.loadBalancerArn,
        canary: { targetGroupArn: target.canaryTargetGroupArn, version: sides.canaryHash },
        baseline: { targetGroupArn: target.stableTargetGroupArn, version: sides.stableHash },
        start: end - lookbackMs,
        end,
      }),
      deadline,
    ]);
  } catch (e) {
    if (e instanceof BackendError) throw e;
    const err = e as { name?: string; message?: string };
    throw new BackendError(`cloudwatch refused or could not be reached (${err.name ?? "Error"}: ${String(err.message ?? e).slice(0, 300)})`);
  } finally {
    clearTimeout(timer);
  }
  const evidence = all[gate.name]!;
  const canaryStartedAt = trailingRunStart(evidence.samples, gapMinutes);
  if (canaryStartedAt === undefined) return { evidence: { ...evidence, samples: [] } as GateEvidence, canaryStartedAt };
  const samples = (evidence.samples as Array<{ start: number }>).filter((s) => s.start >= canaryStartedAt);
  return { evidence: { kind: evidence.kind, samples } as GateEvidence, canaryStartedAt };
}
