/**
 * The real-Prometheus harness other tests build on (test/support/prometheus.ts): what is loaded is
 * what PromQL reads back, exactly, and the faults behave as the server-side tests assume.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { requestSeries, latencySeries, startPrometheus, steadyMinutes, toOpenMetrics, type PrometheusServer } from "./support/prometheus.js";

const MIN = 60_000;
// Whole minute, 40 minutes ago: inside the default retention and before "now".
const T0 = Math.floor(Date.now() / MIN) * MIN - 40 * MIN;
let prom: PrometheusServer;

type Vector = { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
const scalarAt = async (q: string, t: number) => {
  const data = (await prom.query(q, t)) as Vector;
  return data.result.map((r) => Number(r.value[1]));
};

beforeAll(async () => {
  prom = await startPrometheus({
    series: [
      ...requestSeries({ hash: "canary1", start: T0, minutes: steadyMinutes(30, 600, 0.01), pods: 3, labels: { service: "checkout" } }),
      ...requestSeries({ hash: "stable1", start: T0, minutes: steadyMinutes(30, 5400, 0.001), pods: 3, labels: { service: "checkout" } }),
      ...latencySeries({ hash: "canary1", start: T0, minutes: Array.from({ length: 30 }, () => ({ count: 600, slow: 30 })), thresholdSeconds: 0.5 }),
    ],
  });
}, 120_000);
afterAll(async () => prom?.close());

describe("real Prometheus loaded by backfill", () => {
  test("counters read back exactly at minute boundaries, split by pod and status code", async () => {
    const at = T0 + 30 * MIN;
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="canary1"})', at)).toEqual([18_000]);
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="canary1", code=~"5.."})', at)).toEqual([180]);
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="stable1", code="500"})', T0 + 10 * MIN)).toEqual([50]);
    expect(await scalarAt('count(http_requests_total{rollouts_pod_template_hash="canary1"})', at)).toEqual([6]);
  });

  test("error series are born on the first error, as client libraries create labelled counters", async () => {
    // 0.1 % of 5400/min is 5 errors a minute, 2, 2 and 1 per pod: the first scrape of minute 1 has none.
    const data = (await prom.query('http_requests_total{rollouts_pod_template_hash="stable1", code="500"}', T0 + 15_000)) as Vector;
    expect(data.result).toEqual([]);
  });

  test("histograms: buckets, count and sum", async () => {
    const at = T0 + 30 * MIN;
    expect(await scalarAt('sum(http_request_duration_seconds_bucket{le="0.5"})', at)).toEqual([30 * 570]);
    expect(await scalarAt('sum(http_request_duration_seconds_bucket{le="+Inf"})', at)).toEqual([30 * 600]);
    expect(await scalarAt("sum(http_request_duration_seconds_count)", at)).toEqual([30 * 600]);
  });

  test("add() backfills more series and keeps the old ones; stop()/start() keep the data", async () => {
    await prom.add(requestSeries({ hash: "canary2", start: T0 + 10 * MIN, minutes: steadyMinutes(5, 100, 0) }));
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="canary2"})', T0 + 15 * MIN)).toEqual([500]);
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="canary1"})', T0 + 30 * MIN)).toEqual([18_000]);
    await prom.stop();
    await expect(fetch(`${prom.url}/-/ready`)).rejects.toThrow();
    await prom.start();
    expect(await scalarAt('sum(http_requests_total{rollouts_pod_template_hash="canary2"})', T0 + 15 * MIN)).toEqual([500]);
  }, 60_000);

  test("freeze() leaves requests hanging until thaw()", async () => {
    await prom.freeze();
    try {
      const hung = fetch(`${prom.url}/-/ready`, { signal: AbortSignal.timeout(500) });
      await expect(hung).rejects.toThrow(/timeout|abort/i);
    } finally {
      prom.thaw();
    }
    expect((await fetch(`${prom.url}/-/ready`)).ok).toBe(true);
  });
});

describe("OpenMetrics writer", () => {
  test("refuses what promtool would reject, naming the series", () => {
    expect(() => toOpenMetrics([{ name: "bad-name", labels: {}, points: [] }])).toThrow(/bad-name/);
    expect(() => toOpenMetrics([{ name: "x", labels: { "0a": "v" }, points: [] }])).toThrow(/0a/);
    expect(() => toOpenMetrics([{ name: "x", labels: {}, points: [[2, 1], [1, 2]] }])).toThrow(/increasing time/);
  });
  test("escapes label values", () => {
    expect(toOpenMetrics([{ name: "x", labels: { a: 'q"\\\n' }, points: [[1000, 1]] }])).toContain('x{a="q\\"\\\\\\n"} 1 1.000');
  });
});
