/**
 * A real Prometheus (Debian's `prometheus` package) on 127.0.0.1 and a free port, loaded with
 * synthetic series whose timestamps the test controls.
 *
 * Loading: series are written as OpenMetrics text and backfilled with
 * `promtool tsdb create-blocks-from openmetrics` into the server's data directory before it starts
 * (Prometheus >= 2.39 accepts blocks that overlap each other and the head, so data up to "now"
 * works). Adding series later stops the server, backfills the new blocks into the same directory
 * and starts it again on the same port: about a second, and every query sees exactly what was
 * written. The remote-write receiver was the alternative; it needs protobuf + snappy and refuses
 * samples older than an hour before the newest, which rules out a rollout that started earlier.
 *
 * Faults: `stop()` (connection refused), `freeze()`/`thaw()` (SIGSTOP: the kernel still accepts
 * connections but nothing answers, i.e. a request that never returns).
 *
 * Install: when `prometheus` or `promtool` is missing and we are root with apt-get, it is installed
 * (`apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus`, with one
 * `apt-get update` retry). The Debian package's own service is not used (containers deny it; on a
 * real host it stays on :9090, untouched).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../src/local/moto-server.js";

const run = promisify(execFile);

/* ----------------------------------------------------------------------------------------------
 * Series: plain data, then helpers that describe the shapes the gates read.
 * -------------------------------------------------------------------------------------------- */

/** One raw series: a metric name, labels, and [epoch ms, value] points in increasing time. */
export interface Series {
  name: string;
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

/** Counts of one minute on one side: requests and how many of them were errors. */
export interface MinuteCounts {
  total: number;
  errors: number;
}

export interface RequestSeriesOptions {
  /** Pod-template hash of the ReplicaSet (canary or stable). */
  hash: string;
  /** Epoch ms of the start of the first minute (a whole minute is easiest to reason about). */
  start: number;
  /** One entry per minute, in order. */
  minutes: MinuteCounts[];
  /** @default "http_requests_total" */
  metric?: string;
  /** @default "rollouts_pod_template_hash" */
  hashLabel?: string;
  /** @default "code" */
  statusLabel?: string;
  /** @default "200" */
  okCode?: string;
  /** @default "500" */
  errorCode?: string;
  /** Extra labels on every series (e.g. { service: "checkout", job: "checkout" }). */
  labels?: Record<string, string>;
  /** Pods the counts are spread over; each pod is its own series (label `pod`). @default 1 */
  pods?: number;
  /** Scrape interval in seconds; a minute's counts arrive evenly over its scrapes. @default 15 */
  scrapeSeconds?: number;
  /**
   * When true (the default, as Prometheus client libraries do) an error series exists only from
   * the first scrape after its first error: a labelled counter is created when first incremented.
   * A reader that ignores a series' first value under-counts exactly those first errors.
   */
  errorsBornOnFirstError?: boolean;
  /**
   * When true (the default) every series has a 0 point at `start` (the process started then).
   * False starts at the first minute's end, as a side already running before `start` would look
   * if only the window is loaded (its counters then begin at `initialTotal`).
   */
  zeroAtStart?: boolean;
  /** Counter value before the first minute (a long-running stable side). @default 0 */
  initialTotal?: number;
}

/**
 * Cumulative request counters of one ReplicaSet, split by status code and pod: `ok` series carry
 * total - errors, `error` series carry errors. Counts are exact at every minute boundary.
 */
export function requestSeries(o: RequestSeriesOptions): Series[] {
  const metric = o.metric ?? "http_requests_total";
  const pods = o.pods ?? 1;
  const scrape = (o.scrapeSeconds ?? 15) * 1000;
  if (60_000 % scrape !== 0) throw new Error(`scrapeSeconds ${o.scrapeSeconds} must divide 60`);
  const perMinute = 60_000 / scrape;
  const bornOnError = o.errorsBornOnFirstError ?? true;
  const zeroAtStart = o.zeroAtStart ?? true;
  const base = { ...(o.labels ?? {}), [o.hashLabel ?? "rollouts_pod_template_hash"]: o.hash };
  const out: Series[] = [];
  for (let pod = 0; pod < pods; pod++) {
    const podLabel = { ...base, pod: `${o.hash}-pod${pod}` };
    const share = (n: number) => Math.floor(n / pods) + (pod < n % pods ? 1 : 0);
    const ok: Array<[number, number]> = [];
    const err: Array<[number, number]> = !bornOnError && zeroAtStart ? [[o.start, 0]] : [];
    let okValue = Math.floor((o.initialTotal ?? 0) / pods);
    let errValue = 0;
    if (zeroAtStart) ok.push([o.start, okValue]);
    o.minutes.forEach((m, i) => {
      if (!(Number.isInteger(m.total) && Number.isInteger(m.errors) && m.errors >= 0 && m.errors <= m.total)) {
        throw new Error(`minutes[${i}] = ${JSON.stringify(m)}: total and errors must be whole numbers with 0 <= errors <= total`);
      }
      const okCount = share(m.total - m.errors);
      const errCount = share(m.errors);
      for (let j = 1; j <= perMinute; j++) {
        const t = o.start + i * 60_000 + j * scrape;
        const okAt = okValue + Math.floor((okCount * j) / perMinute);
        const errAt = errValue + Math.floor((errCount * j) / perMinute);
        ok.push([t, okAt]);
        if (!bornOnError || errAt > 0) err.push([t, errAt]);
      }
      okValue += okCount;
      errValue += errCount;
    });
    const status = o.statusLabel ?? "code";
    out.push({ name: metric, labels: { ...podLabel, [status]: o.okCode ?? "200" }, points: ok });
    if (err.length > 0) out.push({ name: metric, labels: { ...podLabel, [status]: o.errorCode ?? "500" }, points: err });
  }
  return out;
}

/** Minutes of steady traffic with a fixed error rate (errors rounded to the nearest request). */
export function steadyMinutes(minutes: number, perMinute: number, errorRate: number): MinuteCounts[] {
  return Array.from({ length: minutes }, () => ({ total: perMinute, errors: Math.round(perMinute * errorRate) }));
}

export interface HistogramMinute {
  /** Requests observed in the minute. */
  count: number;
  /** How many of them took longer than `thresholdSeconds`. */
  slow: number;
}

export interface LatencySeriesOptions {
  hash: string;
  start: number;
  minutes: HistogramMinute[];
  /** The threshold the gate uses; fast requests land in the bucket at it, slow ones above it. */
  thresholdSeconds: number;
  /** Bucket bounds (ascending, without +Inf); must include thresholdSeconds. @default [0.05, 0.1, 0.25, 0.5, 1, 2.5] */
  buckets?: number[];
  /** @default "http_request_duration_seconds" */
  metric?: string;
  /** @default "rollouts_pod_template_hash" */
  hashLabel?: string;
  labels?: Record<string, string>;
  /** @default 15 */
  scrapeSeconds?: number;
}

/**
 * A Prometheus histogram (`_bucket` with `le`, `_count`, `_sum`) of one ReplicaSet, one pod. Fast
 * requests are observed at the threshold's bucket bound, slow ones in the next bucket up (or +Inf).
 */
export function latencySeries(o: LatencySeriesOptions): Series[] {
  const metric = o.metric ?? "http_request_duration_seconds";
  const buckets = o.buckets ?? [0.05, 0.1, 0.25, 0.5, 1, 2.5];
  const at = buckets.indexOf(o.thresholdSeconds);
  if (at < 0) throw new Error(`thresholdSeconds ${o.thresholdSeconds} must be one of the buckets ${buckets.join(", ")}`);
  const slowBound = buckets[at + 1] ?? Infinity;
  const scrape = (o.scrapeSeconds ?? 15) * 1000;
  const perMinute = 60_000 / scrape;
  const labels = { ...(o.labels ?? {}), [o.hashLabel ?? "rollouts_pod_template_hash"]: o.hash, pod: `${o.hash}-pod0` };
  const bounds = [...buckets, Infinity];
  const le = (b: number) => (b === Infinity ? "+Inf" : String(b));
  const bucketPoints = bounds.map(() => [] as Array<[number, number]>);
  const countPoints: Array<[number, number]> = [[o.start, 0]];
  const sumPoints: Array<[number, number]> = [[o.start, 0]];
  bounds.forEach((_, b) => bucketPoints[b]!.push([o.start, 0]));
  let fast = 0;
  let slow = 0;
  o.minutes.forEach((m, i) => {
    const mFast = m.count - m.slow;
    for (let j = 1; j <= perMinute; j++) {
      const t = o.start + i * 60_000 + j * scrape;
      const f = fast + Math.floor((mFast * j) / perMinute);
      const s = slow + Math.floor((m.slow * j) / perMinute);
      bounds.forEach((bound, b) => bucketPoints[b]!.push([t, (bound >= o.thresholdSeconds ? f : 0) + (bound >= slowBound ? s : 0)]));
      countPoints.push([t, f + s]);
      sumPoints.push([t, f * o.thresholdSeconds + s * (Number.isFinite(slowBound) ? slowBound : o.thresholdSeconds * 4)]);
    }
    fast += mFast;
    slow += m.slow;
  });
  return [
    ...bounds.map((b, i) => ({ name: `${metric}_bucket`, labels: { ...labels, le: le(b) }, points: bucketPoints[i]! })),
    { name: `${metric}_count`, labels, points: countPoints },
    { name: `${metric}_sum`, labels, points: sumPoints },
  ];
}

/* ----------------------------------------------------------------------------------------------
 * OpenMetrics text for promtool.
 * -------------------------------------------------------------------------------------------- */

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const escape = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

/**
 * Every series as OpenMetrics text: one `unknown`-typed family per metric name (PromQL does not
 * read types, and `unknown` accepts any sample name), each family's series contiguous, points in
 * time order, timestamps in seconds.
 */
export function toOpenMetrics(series: Series[]): string {
  const byName = new Map<string, Series[]>();
  for (const s of series) {
    if (!NAME.test(s.name)) throw new Error(`"${s.name}" is not a Prometheus metric name`);
    for (const k of Object.keys(s.labels)) if (!LABEL.test(k)) throw new Error(`"${k}" (on ${s.name}) is not a Prometheus label name`);
    for (let i = 1; i < s.points.length; i++) {
      if (s.points[i]![0] <= s.points[i - 1]![0]) throw new Error(`${s.name}${JSON.stringify(s.labels)}: points must be in increasing time order (index ${i})`);
    }
    byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  }
  const lines: string[] = [];
  for (const [name, list] of byName) {
    lines.push(`# TYPE ${name} unknown`);
    for (const s of list) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(",");
      for (const [t, v] of s.points) lines.push(`${name}{${labels}} ${v} ${(t / 1000).toFixed(3)}`);
    }
  }
  lines.push("# EOF");
  return lines.join("\n") + "\n";
}

/* ----------------------------------------------------------------------------------------------
 * Install and run.
 * -------------------------------------------------------------------------------------------- */

function onPath(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

/**
 * Paths of `prometheus` and `promtool`, installing Debian's package when they are missing and we
 * can (root with apt-get). Throws with the install command otherwise.
 */
export function ensurePrometheus(): { prometheus: string; promtool: string } {
  const found = () => ({ prometheus: onPath("prometheus"), promtool: onPath("promtool") });
  let paths = found();
  if (paths.prometheus && paths.promtool) return paths as { prometheus: string; promtool: string };
  const howTo = "apt-get install prometheus (Debian/Ubuntu), or put prometheus and promtool (2.39 or later) on PATH";
  if (process.getuid?.() !== 0 || !onPath("apt-get")) throw new Error(`prometheus and promtool are not installed; ${howTo}`);
  const install = () =>
    spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "prometheus"], {
      encoding: "utf8",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      timeout: 15 * 60_000,
    });
  let r = install();
  if (r.status !== 0) {
    spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update"], { encoding: "utf8", timeout: 10 * 60_000 });
    r = install();
  }
  paths = found();
  if (!paths.prometheus || !paths.promtool) {
    throw new Error(`installing prometheus failed (exit ${r.status}); ${howTo}\n${(r.stderr ?? "").slice(-2000)}`);
  }
  return paths as { prometheus: string; promtool: string };
}

/** Linux: every thread of `pid` is in state T (stopped). */
function allThreadsStopped(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
    });
  } catch {
    return false;
  }
}

export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  dataDir: string;
  /** Backfills more series (stops, writes blocks, starts again on the same port). */
  add(series: Series[]): Promise<void>;
  /** Instant query; the parsed `data` of the API answer. */
  query(promql: string, timeMs?: number): Promise<unknown>;
  /**
   * SIGSTOP, resolved once every thread has stopped: connections are accepted by the kernel but
   * never answered (a request that hangs).
   */
  freeze(): Promise<void>;
  thaw(): void;
  /** Stops the server; `start()` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data. */
  close(): Promise<void>;
}

export interface StartPrometheusOptions {
  series?: Series[];
  /** @default 30000 */
  startTimeoutMs?: number;
}

/** Starts a Prometheus loaded with `series`. Call `close()` when done (tests: in afterAll). */
export async function startPrometheus(options: StartPrometheusOptions = {}): Promise<PrometheusServer> {
  const bin = ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), "rollgate-prom-"));
  const dataDir = join(dir, "data");
  const config = join(dir, "prometheus.yml");
  // No scrape jobs: every sample comes from backfill, so nothing changes between queries.
  writeFileSync(config, "global:\n  evaluation_interval: 1h\n");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = "";
  let batch = 0;

  const backfill = async (series: Series[]) => {
    if (series.length === 0) return;
    const file = join(dir, `batch-${batch++}.om`);
    writeFileSync(file, toOpenMetrics(series));
    try {
      await run(bin.promtool, ["tsdb", "create-blocks-from", "openmetrics", file, dataDir], { maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`promtool backfill failed: ${err.stderr || err.message}`);
    }
  };

  const start = async () => {
    if (child) return;
    log = "";
    const proc = spawn(
      bin.prometheus,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // Backfilled data may be days old in a test; keep it.
        "--storage.tsdb.retention.time=3650d",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    const keep = (b: Buffer) => {
      log = (log + b.toString()).slice(-8000);
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    proc.on("exit", () => {
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with code ${proc.exitCode} before it was ready:\n${log}`);
      try {
        const res = await fetch(`${url}/-/ready`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill("SIGKILL");
    throw new Error(`prometheus did not become ready on ${url}:\n${log}`);
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    proc.kill("SIGCONT");
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);

  await backfill(options.series ?? []);
  await start();

  return {
    url,
    port,
    dataDir,
    async add(series) {
      await stop();
      await backfill(series);
      await start();
    },
    async query(promql, timeMs) {
      const params = new URLSearchParams({ query: promql });
      if (timeMs !== undefined) params.set("time", String(timeMs / 1000));
      const res = await fetch(`${url}/api/v1/query`, { method: "POST", body: params });
      const body = (await res.json()) as { status: string; data?: unknown; error?: string };
      if (body.status !== "success") throw new Error(`query failed: ${body.error}`);
      return body.data;
    },
    async freeze() {
      const proc = child;
      if (!proc?.pid) throw new Error("prometheus is not running");
      proc.kill("SIGSTOP");
      // The stop takes effect asynchronously: under load a request sent right after kill() was
      // seen answered. Wait until every thread is in state T.
      const deadline = Date.now() + 10_000;
      while (!allThreadsStopped(proc.pid)) {
        if (Date.now() > deadline) throw new Error(`prometheus (pid ${proc.pid}) did not stop within 10 s of SIGSTOP`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    thaw() {
      child?.kill("SIGCONT");
    },
    stop,
    start,
    async close() {
      await stop();
      process.removeListener("exit", killOnExit);
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
