/**
 * Evidence gatherer: per-minute canary and baseline samples of every comparison gate, from
 * CloudWatch GetMetricData with plain statistics (Sum, a trimmed count, a percentile). Rates are
 * computed by the analysis code, never by metric math, so one code path serves CloudWatch and
 * emulators alike. All queries of one evaluation go out in as few calls as GetMetricData allows.
 */
import { GetMetricDataCommand, type CloudWatchClient, type MetricDataQuery } from "@aws-sdk/client-cloudwatch";
import type { CountSample, GateEvidence, PercentileSample } from "../analysis/types.js";
import type { ComparisonGate } from "../policy/types.js";
import { loadBalancerDimension, targetGroupDimension } from "./arn.js";

/** GetMetricData's limit of queries per call. */
export const MAX_QUERIES_PER_CALL = 500;
const MINUTE = 60_000;

export interface SideRef {
  targetGroupArn: string;
  /** Release version label of this side (the variant dimension of custom metrics). */
  version: string;
}

export interface EvidenceRequest {
  gates: ComparisonGate[];
  loadBalancerArn: string;
  canary: SideRef;
  baseline: SideRef;
  /** Epoch ms; rounded down to the minute. Usually the rollout's start. */
  start: number;
  /** Epoch ms; rounded down to the minute, so the minute still filling is left out. */
  end: number;
}

export interface MetricsReader {
  gather(request: EvidenceRequest): Promise<Record<string, GateEvidence>>;
}

interface QuerySpec {
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
  stat: string;
}

type Side = "canary" | "baseline";
type Series = Map<number, number>;

/** The CloudWatch statistic that counts requests slower than the threshold (trimmed count, seconds). */
export function slowCountStat(thresholdMs: number): string {
  return `TC(${thresholdMs / 1000}:)`;
}

export function percentileStat(percentile: number): string {
  return `p${percentile}`;
}

export function createMetricsReader(cloudwatch: CloudWatchClient): MetricsReader {
  return {
    async gather(request) {
      const start = Math.floor(request.start / MINUTE) * MINUTE;
      const end = Math.floor(request.end / MINUTE) * MINUTE;
      const out: Record<string, GateEvidence> = {};
      if (request.gates.length === 0) return out;
      if (end <= start) {
        for (const gate of request.gates) out[gate.name] = emptyEvidence(gate);
        return out;
      }

      const specs = new Map<string, QuerySpec>();
      const keyOf = (spec: QuerySpec) => JSON.stringify(spec);
      const want = (spec: QuerySpec): string => {
        const key = keyOf(spec);
        specs.set(key, spec);
        return key;
      };
      const alb = (side: Side, metric: string, stat: string): string =>
        want({
          namespace: "AWS/ApplicationELB",
          metric,
          stat,
          dimensions: {
            TargetGroup: targetGroupDimension(request[side].targetGroupArn),
            LoadBalancer: loadBalancerDimension(request.loadBalancerArn),
          },
        });

      // Per gate, what to read for each side; resolved into samples once the data is back.
      const plans = request.gates.map((gate) => {
        const per = (side: Side) => {
          switch (gate.type) {
            case "errorRate":
              return {
                total: [alb(side, "RequestCount", "Sum")],
                events: [alb(side, "HTTPCode_Target_5XX_Count", "Sum"), alb(side, "TargetConnectionErrorCount", "Sum")],
              };
            case "latency":
              if (gate.mode === "threshold" && gate.thresholdMs !== undefined) {
                return {
                  total: [alb(side, "TargetResponseTime", "SampleCount")],
                  events: [alb(side, "TargetResponseTime", slowCountStat(gate.thresholdMs))],
                };
              }
              return { total: [alb(side, "RequestCount", "Sum")], events: [], point: alb(side, "TargetResponseTime", percentileStat(gate.percentile)) };
            case "metric": {
              // The first release has no stable version label; CloudWatch refuses an empty
              // dimension value, and there is no baseline to compare with anyway.
              if (!request[side].version) return { total: [], events: [] };
              const dimensions = { ...gate.dimensions, [gate.variantDimension]: request[side].version };
              return {
                total: [want({ namespace: gate.namespace, metric: gate.total, stat: "Sum", dimensions })],
                events: [want({ namespace: gate.namespace, metric: gate.events, stat: "Sum", dimensions })],
              };
            }
          }
        };
        return { gate, canary: per("canary"), baseline: per("baseline") };
      });

      const series = await fetchAll(cloudwatch, [...specs.entries()], start, end);
      const get = (key: string): Series => series.get(key) ?? new Map();

      for (const { gate, canary, baseline } of plans) {
        if ("point" in canary && canary.point && "point" in baseline && baseline.point) {
          const cp = get(canary.point);
          const bp = get(baseline.point);
          const cc = sumSeries(canary.total.map(get));
          const bc = sumSeries(baseline.total.map(get));
          const minutes = [...new Set([...cp.keys(), ...bp.keys()])].sort((a, b) => a - b);
          const samples: PercentileSample[] = minutes.map((m) => ({
            start: m,
            // TargetResponseTime is in seconds; gates speak milliseconds.
            canary: cp.has(m) ? cp.get(m)! * 1000 : null,
            baseline: bp.has(m) ? bp.get(m)! * 1000 : null,
            ...(cc.has(m) ? { canaryCount: cc.get(m)! } : {}),
            ...(bc.has(m) ? { baselineCount: bc.get(m)! } : {}),
          }));
          out[gate.name] = { kind: "percentiles", samples };
          continue;
        }
        const ct = sumSeries(canary.total.map(get));
        const ce = sumSeries(canary.events.map(get));
        const bt = sumSeries(baseline.total.map(get));
        const be = sumSeries(baseline.events.map(get));
        // A minute exists once either side's total arrived; ALB publishes nothing for a side that
        // had no requests, which is a real zero, and zero canary trials can never pass a gate.
        let minutes = [...new Set([...ct.keys(), ...bt.keys()])].sort((a, b) => a - b);
        if (gate.type === "metric") {
          // An application's own metrics are not ALB's: a minute where a side published its total
          // but no failure count is missing data (the failure metric may never be published at
          // all, e.g. a renamed metric), not zero failures. Such minutes are left out, so a gate
          // whose failure metric never arrives has no samples and holds by onMissingData.
          const complete = (total: Series, events: Series, m: number) => !((total.get(m) ?? 0) > 0 && !events.has(m));
          minutes = minutes.filter((m) => complete(ct, ce, m) && complete(bt, be, m));
        }
        const samples: CountSample[] = minutes.map((m) => {
          const canaryTotal = ct.get(m) ?? 0;
          const baselineTotal = bt.get(m) ?? 0;
          return {
            start: m,
            canary: { total: canaryTotal, events: Math.min(canaryTotal, ce.get(m) ?? 0) },
            baseline: { total: baselineTotal, events: Math.min(baselineTotal, be.get(m) ?? 0) },
          };
        });
        out[gate.name] = { kind: "counts", samples };
      }
      return out;
    },
  };
}

function emptyEvidence(gate: ComparisonGate): GateEvidence {
  return gate.type === "latency" && gate.mode === "percentile" ? { kind: "percentiles", samples: [] } : { kind: "counts", samples: [] };
}

function sumSeries(list: Series[]): Series {
  const out: Series = new Map();
  for (const s of list) for (const [t, v] of s) out.set(t, (out.get(t) ?? 0) + v);
  return out;
}

/** Runs every query, MAX_QUERIES_PER_CALL per call, following NextToken. */
async function fetchAll(cloudwatch: CloudWatchClient, specs: Array<[string, QuerySpec]>, start: number, end: number): Promise<Map<string, Series>> {
  const out = new Map<string, Series>();
  const idToKey = new Map<string, string>();
  const queries: MetricDataQuery[] = specs.map(([key, spec], i) => {
    const id = `q${i}`;
    idToKey.set(id, key);
    return {
      Id: id,
      ReturnData: true,
      MetricStat: {
        Metric: {
          Namespace: spec.namespace,
          MetricName: spec.metric,
          Dimensions: Object.entries(spec.dimensions).map(([Name, Value]) => ({ Name, Value })),
        },
        Period: 60,
        Stat: spec.stat,
      },
    };
  });
  for (let i = 0; i < queries.length; i += MAX_QUERIES_PER_CALL) {
    const batch = queries.slice(i, i + MAX_QUERIES_PER_CALL);
    let nextToken: string | undefined;
    do {
      const res = await cloudwatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: batch,
          StartTime: new Date(start),
          EndTime: new Date(end),
          ScanBy: "TimestampAscending",
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const r of res.MetricDataResults ?? []) {
        const key = r.Id ? idToKey.get(r.Id) : undefined;
        if (!key) continue;
        const series = out.get(key) ?? new Map<number, number>();
        (r.Timestamps ?? []).forEach((t, k) => {
          const v = r.Values?.[k];
          const at = new Date(t).getTime();
          if (v !== undefined && Number.isFinite(v) && at >= start && at < end) series.set(Math.floor(at / MINUTE) * MINUTE, v);
        });
        out.set(key, series);
      }
      nextToken = res.NextToken;
    } while (nextToken);
  }
  return out;
}
