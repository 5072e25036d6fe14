/**
 * `rollgate analysis-server`: the HTTP service Argo Rollouts' `web` metric provider calls every
 * interval. node:http only.
 *
 *   POST /v1/verdict   a verdict request (request.ts) -> 200 VerdictResponse (judge.ts)
 *   GET  /healthz      liveness: the process answers
 *   GET  /readyz       readiness: accepting requests (never depends on the metrics backend: a
 *                      Prometheus outage must hold rollouts, not make every replica unready, which
 *                      Argo would see as errors and, past consecutiveErrorLimit, abort on)
 *
 * Status codes follow what Argo does with them (metricproviders/webmetric): any non-2xx is a
 * measurement Error, and errors past consecutiveErrorLimit abort the rollout. So only a request
 * that can never succeed gets one: 400 (names the field), 404/405, 413 (too large), 415. A backend
 * that is down, slow or refusing answers 200 with verdict "hold" and the reason. 500 is for bugs,
 * with a request id and no stack trace (the stack goes to the log).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { gatherCloudWatch } from "./cloudwatch.js";
import { holdWithoutVerdict, judge, type VerdictResponse } from "./judge.js";
import { BackendError, canaryFirstSeen, gatherPrometheus, PrometheusClient } from "./prometheus.js";
import { BadRequest, parseVerdictRequest, type VerdictRequest } from "./request.js";

const MINUTE = 60_000;

export interface AnalysisServerOptions {
  /** Prometheus base URL (e.g. http://prometheus-server.monitoring). Required for Prometheus requests. */
  prometheusUrl?: string;
  /** Extra headers for Prometheus (e.g. an Authorization header for a managed Prometheus). */
  prometheusHeaders?: Record<string, string>;
  /** CloudWatch client for requests naming target groups; created lazily from the default chain when absent. */
  cloudWatch?: () => Promise<CloudWatchClient>;
  /** Deadline for all backend reads of one request. @default 8000 (Argo's web provider waits 10 s by default) */
  backendTimeoutMs?: number;
  /** How far back the canary's start is looked for. @default 24 h */
  lookbackMs?: number;
  /** Age a minute must reach before it is read (scrape and ingestion lag). @default 30000 */
  settleMs?: number;
  /** CloudWatch: minutes without canary requests that end a rollout's run of minutes. @default 15 */
  gapMinutes?: number;
  /** Largest request body. @default 262144 (256 KiB: a policy with many gates fits) */
  maxBodyBytes?: number;
  /** Requests judged at once; more are answered with a hold. @default 32 */
  maxInFlight?: number;
  /** The clock (tests). @default Date.now */
  now?: () => number;
  /** One JSON object per line. @default process.stderr */
  log?: (entry: Record<string, unknown>) => void;
  fetch?: typeof fetch;
}

export const ANALYSIS_SERVER_DEFAULTS = {
  backendTimeoutMs: 8_000,
  lookbackMs: 24 * 60 * MINUTE,
  settleMs: 30_000,
  gapMinutes: 15,
  maxBodyBytes: 256 * 1024,
  maxInFlight: 32,
} as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.message ?? body.error));
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store", ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw new HttpError(413, { error: "request too large", message: `the body is ${declared} bytes; the limit is ${limit} (--max-body-bytes)` });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, { error: "request too large", message: `the body is over the ${limit}-byte limit (--max-body-bytes)` });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The verdict for a valid request: reads the backend, then judges with the engine's code. */
export async function verdictFor(request: VerdictRequest, o: Required<Omit<AnalysisServerOptions, "prometheusUrl" | "prometheusHeaders" | "cloudWatch" | "log">> & AnalysisServerOptions): Promise<VerdictResponse> {
  const now = o.now();
  const end = Math.floor((now - o.settleMs) / MINUTE) * MINUTE;
  if (request.canaryHash && request.canaryHash === request.stableHash) {
    return holdWithoutVerdict(request, "the canary and the stable are the same ReplicaSet (same pod-template hash): nothing to compare", end);
  }
  const sides = { canaryHash: request.canaryHash, stableHash: request.stableHash };
  try {
    if (request.backend.kind === "prometheus") {
      if (!o.prometheusUrl) throw new BackendError("this server has no Prometheus configured (--prometheus-url)");
      const client = new PrometheusClient({ kind: "prometheus", url: o.prometheusUrl, ...(o.prometheusHeaders ? { headers: o.prometheusHeaders } : {}) }, o.fetch);
      const signal = AbortSignal.timeout(o.backendTimeoutMs);
      try {
        const first = await canaryFirstSeen(client, request.gate, request.backend.names, request.canaryHash, end, o.lookbackMs, signal);
        if (first === undefined) return judge(request, undefined, { canaryStartedAt: undefined, end });
        // The instant before the canary's first one is the reference its first minute is counted from.
        const origin = first - MINUTE;
        const evidence = await gatherPrometheus(client, request.gate, request.backend.names, sides, origin, end, signal);
        return judge(request, evidence, { canaryStartedAt: origin, end });
      } catch (e) {
        if (signal.aborted) throw new BackendError(`prometheus at ${o.prometheusUrl} did not answer within ${o.backendTimeoutMs} ms`);
        throw e;
      }
    }
    if (!o.cloudWatch) throw new BackendError("this server has no CloudWatch access configured");
    const client = await o.cloudWatch();
    const { evidence, canaryStartedAt } = await gatherCloudWatch(client, request.gate, request.backend.target, sides, o.lookbackMs, end, o.gapMinutes, o.backendTimeoutMs);
    return judge(request, canaryStartedAt === undefined ? undefined : evidence, { canaryStartedAt, end });
  } catch (e) {
    if (e instanceof BackendError) return holdWithoutVerdict(request, `${e.message}; holding: an unreadable backend never passes or rolls back`, end);
    throw e;
  }
}

/** An http.Server answering verdict requests. Listen on it yourself (the CLI binds 0.0.0.0 in a pod). */
export function createAnalysisServer(options: AnalysisServerOptions = {}): Server {
  const o = {
    ...ANALYSIS_SERVER_DEFAULTS,
    now: Date.now,
    fetch: globalThis.fetch,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<Omit<AnalysisServerOptions, "prometheusUrl" | "prometheusHeaders" | "cloudWatch" | "log">> & AnalysisServerOptions;
  const log = options.log ?? ((entry) => process.stderr.write(JSON.stringify(entry) + "\n"));
  let inFlight = 0;

  const server = createServer(async (req, res) => {
    const requestId = randomUUID();
    const started = Date.now();
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/healthz" || path === "/readyz") {
        if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, { error: "method not allowed", message: `use GET ${path}` }, { allow: "GET, HEAD" });
        return send(res, 200, { status: "ok" });
      }
      if (path !== "/v1/verdict") throw new HttpError(404, { error: "not found", message: "the verdict endpoint is POST /v1/verdict" });
      if (req.method !== "POST") throw new HttpError(405, { error: "method not allowed", message: "use POST /v1/verdict with a JSON body (the AnalysisTemplate sets method: POST and jsonBody)" }, { allow: "POST" });
      const type = String(req.headers["content-type"] ?? "application/json");
      if (!/^application\/json\b/i.test(type) && !/^text\/plain\b/i.test(type)) {
        throw new HttpError(415, { error: "unsupported media type", message: `content-type ${type}: send application/json` });
      }
      const text = await readBody(req, o.maxBodyBytes);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new HttpError(400, { error: "bad request", field: "body", message: "body: is not valid JSON" });
      }
      let request: VerdictRequest;
      try {
        request = parseVerdictRequest(body);
      } catch (e) {
        if (e instanceof BadRequest) throw new HttpError(400, { error: "bad request", field: e.field, message: e.message });
        throw e;
      }
      if (inFlight >= o.maxInFlight) {
        const end = Math.floor((o.now() - o.settleMs) / MINUTE) * MINUTE;
        const busy = holdWithoutVerdict(request, `the analysis server is at its limit of ${o.maxInFlight} requests in flight; holding until a later measurement (add replicas or raise --max-in-flight)`, end);
        log({ level: "warn", msg: "busy", requestId, service: request.service, gate: request.gate.name });
        return send(res, 200, busy);
      }
      inFlight++;
      let verdict: VerdictResponse;
      try {
        verdict = await verdictFor(request, o);
      } finally {
        inFlight--;
      }
      log({
        level: "info",
        msg: "verdict",
        requestId,
        service: request.service,
        gate: request.gate.name,
        canary: request.canaryHash,
        stable: request.stableHash,
        verdict: verdict.verdict,
        eValue: verdict.eValue,
        reason: verdict.reason,
        ms: Date.now() - started,
      });
      return send(res, 200, verdict);
    } catch (e) {
      if (e instanceof HttpError) {
        log({ level: e.status >= 500 ? "error" : "warn", msg: "refused", requestId, status: e.status, ...e.body });
        if (!res.headersSent) send(res, e.status, { ...e.body, requestId }, e.headers);
        // Unread body left on the socket: close it rather than parse the rest as a next request.
        if (e.status === 413) req.destroy();
        return;
      }
      const err = e as Error;
      log({ level: "error", msg: "internal error", requestId, error: err?.name, message: err?.message, stack: err?.stack });
      if (!res.headersSent) send(res, 500, { error: "internal error", message: "the analysis server failed; see its log for this request id", requestId });
      else res.destroy();
    }
  });
  // Slow clients must not hold sockets: the whole request within 15 s, headers within 10 s.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  return server;
}
