/**
 * Per-minute canary and stable evidence from Prometheus, in the shape the gates read
 * (src/analysis/types.ts): the same CountSample / PercentileSample the controller builds from
 * CloudWatch.
 *
 * Counts come from the raw counters, not from increase(): `query_range` at whole-minute instants
 * returns each series' latest sample at or before the instant, and the minute's count is the sum
 * over series of the difference between consecutive instants (a drop is a counter reset: the new
 * value is the increase). A series first seen after the first instant is counted from zero. That
 * is how a labelled counter is born (client libraries create the `code="500"` series on the first
 * error), and increase() would drop exactly those first errors. The counts are whole numbers, as
 * CloudWatch's Sum is, so the sequential test sees the same kind of evidence on both flavours.
 */
import type { CountSample, GateEvidence, PercentileSample } from "../analysis/types.js";
import type { ComparisonGate } from "../policy/types.js";
import type { PrometheusNames } from "./request.js";

const MINUTE = 60_000;
/** Prometheus refuses a range query of more than 11,000 points per series. */
const MAX_POINTS = 11_000;
/** Largest answer read from Prometheus (a runaway selector must not exhaust the server's memory). */
const MAX_RESPONSE_BYTES = 64 << 20;

/** The backend could not answer: unreachable, timed out, or refused the query. Holds, never passes. */
export class BackendError extends Error {
  override readonly name = "BackendError";
}

export interface PrometheusSource {
  kind: "prometheus";
  url: string;
  headers?: Record<string, string>;
}

type Matrix = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;

export interface Sides {
  canaryHash: string;
  stableHash: string;
}

type Side = "canary" | "stable";

const quote = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

function selector(n: PrometheusNames, hash: string, extra: string[] = []): string {
  const parts = [`${n.podHashLabel}=${quote(hash)}`, ...extra];
  if (n.selector.trim()) parts.push(n.selector.trim().replace(/,\s*$/, ""));
  return `{${parts.join(", ")}}`;
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(10).replace(/0+$/, "");
}

/** The le matcher of the threshold bucket, as exporters write it: Go "1", Python "1.0". */
function leMatcher(seconds: number): string {
  const s = num(seconds);
  return Number.isInteger(seconds) ? `le=~${quote(`${s}|${s}.0`)}` : `le=${quote(s)}`;
}

/** The series whose first appearance marks the canary's start, for each kind of gate. */
export function presenceQuery(gate: ComparisonGate, n: PrometheusNames, hash: string): string {
  const metric = gate.type === "metric" ? gate.total : gate.type === "latency" ? `${n.durationMetric}_count` : n.requestsMetric;
  const dims = gate.type === "metric" ? Object.entries(gate.dimensions).map(([k, v]) => `${k}=${quote(v)}`) : [];
  return `count(${metric}${selector(n, hash, dims)})`;
}

/** Raw counter selectors for one side: [total, events] (events may be "fast" for latency). */
function counterQueries(gate: ComparisonGate, n: PrometheusNames, hash: string): { total: string; events: string; eventsAreFast: boolean } {
  switch (gate.type) {
    case "errorRate":
      return {
        total: `${n.requestsMetric}${selector(n, hash)}`,
        events: `${n.requestsMetric}${selector(n, hash, [`${n.statusLabel}=~${quote(n.errorStatusRegex)}`])}`,
        eventsAreFast: false,
      };
    case "latency":
      return {
        total: `${n.durationMetric}_count${selector(n, hash)}`,
        events: `${n.durationMetric}_bucket${selector(n, hash, [leMatcher((gate.thresholdMs ?? 0) / 1000)])}`,
        eventsAreFast: true,
      };
    case "metric": {
      const dims = Object.entries(gate.dimensions).map(([k, v]) => `${k}=${quote(v)}`);
      return { total: `${gate.total}${selector(n, hash, dims)}`, events: `${gate.events}${selector(n, hash, dims)}`, eventsAreFast: false };
    }
  }
}

export class PrometheusClient {
  constructor(
    readonly source: PrometheusSource,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** A range query at whole-minute instants from `start` to `end` (epoch ms, both included). */
  async range(query: string, start: number, end: number, signal: AbortSignal): Promise<Matrix> {
    const params = new URLSearchParams({ query, start: String(start / 1000), end: String(end / 1000), step: "60" });
    const url = `${this.source.url.replace(/\/+$/, "")}/api/v1/query_range`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method: "POST",
        body: params,
        headers: { "content-type": "application/x-www-form-urlencoded", ...(this.source.headers ?? {}) },
        signal,
      });
    } catch (e) {
      throw new BackendError(describeFetchError(e, this.source.url, signal));
    }
    let text: string;
    try {
      text = await readLimited(res, MAX_RESPONSE_BYTES);
    } catch (e) {
      throw new BackendError(e instanceof BackendError ? e.message : describeFetchError(e, this.source.url, signal));
    }
    let body: { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new BackendError(`prometheus at ${this.source.url} answered HTTP ${res.status} with a body that is not JSON`);
    }
    if (!res.ok || body.status !== "success") {
      throw new BackendError(`prometheus at ${this.source.url} refused the query (HTTP ${res.status}${body.errorType ? `, ${body.errorType}` : ""}): ${String(body.error ?? "").slice(0, 300)}`);
    }
    if (body.data?.resultType !== "matrix" || !Array.isArray(body.data.result)) {
      throw new BackendError(`prometheus at ${this.source.url} answered a ${body.data?.resultType ?? "missing"} result to a range query`);
    }
    return body.data.result as Matrix;
  }
}

async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > limit) throw new BackendError(`prometheus answer of ${declared} bytes is over the ${limit}-byte limit; narrow prometheus.selector`);
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new BackendError(`prometheus answer is over the ${limit}-byte limit; narrow prometheus.selector`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function describeFetchError(e: unknown, url: string, signal: AbortSignal): string {
  if (signal.aborted) return `prometheus at ${url} did not answer in time`;
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const why = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
  return `prometheus at ${url} is unreachable (${why})`;
}

/**
 * Epoch ms of the first whole-minute instant at which the canary's series exist, looking back
 * `lookbackMs` from `end`; undefined when they never do (no data yet).
 */
export async function canaryFirstSeen(client: PrometheusClient, gate: ComparisonGate, n: PrometheusNames, hash: string, end: number, lookbackMs: number, signal: AbortSignal): Promise<number | undefined> {
  const span = Math.min(lookbackMs, (MAX_POINTS - 1) * MINUTE);
  const start = Math.floor((end - span) / MINUTE) * MINUTE;
  const matrix = await client.range(presenceQuery(gate, n, hash), start, end, signal);
  let first: number | undefined;
  for (const s of matrix) for (const [t] of s.values) if (first === undefined || t * 1000 < first) first = t * 1000;
  return first === undefined ? undefined : Math.round(first);
}

/**
 * Counter increases per minute summed over the series of a matrix, keyed by minute start. The
 * instant `origin` is the reference point: values there are not counted; a series first seen later
 * is counted from zero. `present` collects the minutes in which any series existed.
 */
export function minuteIncreases(matrix: Matrix, origin: number, present?: Set<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const series of matrix) {
    let last: number | undefined;
    for (const [ts, raw] of series.values) {
      const t = Math.round(ts * 1000);
      const v = Number(raw);
      if (!Number.isFinite(v)) continue;
      if (t <= origin) {
        last = v;
        continue;
      }
      const delta = last === undefined ? v : v >= last ? v - last : v;
      last = v;
      const minute = t - MINUTE;
      out.set(minute, (out.get(minute) ?? 0) + delta);
      present?.add(minute);
    }
  }
  return out;
}

/**
 * The gate's evidence over the minutes from `origin` to `end` (whole-minute instants): every
 * minute in which either side had series is a sample, as CloudWatch's minutes are.
 */
export async function gatherPrometheus(
  client: PrometheusClient,
  gate: ComparisonGate,
  n: PrometheusNames,
  sides: Sides,
  origin: number,
  end: number,
  signal: AbortSignal,
): Promise<GateEvidence> {
  if (end <= origin) return gate.type === "latency" && gate.mode === "percentile" ? { kind: "percentiles", samples: [] } : { kind: "counts", samples: [] };
  const hashOf = (side: Side) => (side === "canary" ? sides.canaryHash : sides.stableHash);

  if (gate.type === "latency" && gate.mode === "percentile") {
    const q = num(gate.percentile / 100);
    const pct = (side: Side) => `histogram_quantile(${q}, sum by (le) (rate(${n.durationMetric}_bucket${selector(n, hashOf(side))}[1m])))`;
    const [cp, sp, cc, sc] = await Promise.all([
      client.range(pct("canary"), origin, end, signal),
      client.range(pct("stable"), origin, end, signal),
      client.range(`${n.durationMetric}_count${selector(n, hashOf("canary"))}`, origin, end, signal),
      client.range(`${n.durationMetric}_count${selector(n, hashOf("stable"))}`, origin, end, signal),
    ]);
    const point = (m: Matrix) => {
      const out = new Map<number, number>();
      for (const s of m) for (const [t, v] of s.values) if (Number.isFinite(Number(v)) && t * 1000 > origin) out.set(Math.round(t * 1000) - MINUTE, Number(v) * 1000);
      return out;
    };
    const canaryPoints = point(cp);
    const stablePoints = point(sp);
    const canaryCounts = minuteIncreases(cc, origin);
    const stableCounts = minuteIncreases(sc, origin);
    const minutes = [...new Set([...canaryPoints.keys(), ...stablePoints.keys()])].sort((a, b) => a - b);
    const samples: PercentileSample[] = minutes.map((m) => ({
      start: m,
      canary: canaryPoints.get(m) ?? null,
      baseline: stablePoints.get(m) ?? null,
      ...(canaryCounts.has(m) ? { canaryCount: canaryCounts.get(m)! } : {}),
      ...(stableCounts.has(m) ? { baselineCount: stableCounts.get(m)! } : {}),
    }));
    return { kind: "percentiles", samples };
  }

  const cq = counterQueries(gate, n, hashOf("canary"));
  const sq = counterQueries(gate, n, hashOf("stable"));
  const present = new Set<number>();
  const [ct, ce, st, se] = await Promise.all([
    client.range(cq.total, origin, end, signal),
    client.range(cq.events, origin, end, signal),
    client.range(sq.total, origin, end, signal),
    client.range(sq.events, origin, end, signal),
  ]);
  if (cq.eventsAreFast) {
    // Without a bucket at the threshold every request would look slow: refuse rather than judge.
    for (const [total, fast, side] of [[ct, ce, "canary"], [st, se, "stable"]] as const) {
      if (total.length > 0 && fast.length === 0) {
        throw new BackendError(
          `the ${side}'s ${n.durationMetric} histogram has no bucket at the gate's threshold (${leMatcher((gate as { thresholdMs?: number }).thresholdMs! / 1000)}); set thresholdMs to one of the histogram's bucket bounds`,
        );
      }
    }
  }
  const canaryTotal = minuteIncreases(ct, origin, present);
  const canaryEvents = minuteIncreases(ce, origin);
  const stableTotal = minuteIncreases(st, origin, present);
  const stableEvents = minuteIncreases(se, origin);
  const side = (total: number, events: number) => {
    // Latency reads the fast bucket: the slow requests are the rest.
    const ev = cq.eventsAreFast ? total - events : events;
    return { total, events: Math.min(total, Math.max(0, ev)) };
  };
  const samples: CountSample[] = [...present]
    .sort((a, b) => a - b)
    .map((m) => ({
      start: m,
      canary: side(canaryTotal.get(m) ?? 0, canaryEvents.get(m) ?? 0),
      baseline: side(stableTotal.get(m) ?? 0, stableEvents.get(m) ?? 0),
    }));
  return { kind: "counts", samples };
}
