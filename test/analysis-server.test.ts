/**
 * `rollgate analysis-server` against a real Prometheus (Debian's package, test/support/prometheus.ts)
 * loaded with synthetic canary/stable series: every verdict must equal the engine's own decision
 * (src/engine decide) on the same per-minute counts, reason string included (so the counts the
 * server read are exactly the ones written). Faults: Prometheus down, hanging, refusing; bad
 * requests; limits.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { CountSample } from "../src/analysis/types.js";
import { createAnalysisServer, type AnalysisServerOptions, type VerdictResponse } from "../src/analysis-server/index.js";
import { decide } from "../src/engine/decide.js";
import type { RolloutState } from "../src/engine/types.js";
import { parsePolicy, type PolicyInput } from "../src/policy/index.js";
import { latencySeries, requestSeries, startPrometheus, type MinuteCounts, type PrometheusServer, type Series } from "./support/prometheus.js";

const MIN = 60_000;
/** Evidence ends at END (a whole minute); the server's clock is 45 s later (settle is 30 s). */
const END = Math.floor(Date.now() / MIN) * MIN - 5 * MIN;
const NOW = END + 45_000;
const CANARY_MINUTES = 30;
const CANARY_START = END - CANARY_MINUTES * MIN;
const STABLE_START = END - 60 * MIN;

export const POLICY: PolicyInput = {
  strategy: {
    type: "canary",
    steps: [
      { percent: 10, hold: "10m" },
      { percent: 50, hold: "10m" },
    ],
  },
  gates: [{ type: "errorRate", name: "errors", minSamples: 500, holdBand: 0.1, rollbackBand: 0.25 }],
};
const LATENCY_POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }] },
  gates: [{ type: "latency", name: "slow", thresholdMs: 500, minSamples: 500, holdBand: 1, rollbackBand: 3 }],
};

/** Canary per-minute counts of each scenario (canary hash -> minutes), against one stable. */
const RPS = 200;
const canaryPerMinute = Math.round(RPS * 60 * 0.1);
const stablePerMinute = RPS * 60 - canaryPerMinute;
const rate = (n: number, r: number) => Math.round(n * r);
/** Deterministic noise so minutes differ (a flat series would hide off-by-one-minute reads). */
const wobble = (i: number, seed: number) => ((i * 7919 + seed * 104729) % 13) - 6;
const minutes = (n: number, perMinute: number, errorRate: number, seed: number): MinuteCounts[] =>
  Array.from({ length: n }, (_, i) => {
    const total = perMinute + wobble(i, seed) * 10;
    return { total, errors: Math.max(0, rate(total, errorRate) + (wobble(i, seed + 1) > 3 ? 1 : 0)) };
  });

const STABLE = minutes(60, stablePerMinute, 0.001, 1);
const SCENARIOS: Record<string, MinuteCounts[]> = {
  chealthy: minutes(CANARY_MINUTES, canaryPerMinute, 0.001, 2),
  csmall: minutes(CANARY_MINUTES, canaryPerMinute, 0.006, 3),
  cbig: minutes(CANARY_MINUTES, canaryPerMinute, 0.2, 4),
  // 0.1 -> 0.6 % from minute 20 only: the regression shows late.
  clate: minutes(CANARY_MINUTES, canaryPerMinute, 0.001, 5).map((m, i) => (i >= 20 ? { total: m.total, errors: rate(m.total, 0.006) } : m)),
  // 5 % of the traffic for 18 minutes, then 25 % (the next step) for 12: healthy throughout.
  cstep: [...minutes(18, Math.round(stablePerMinute / 19), 0.001, 6), ...minutes(12, Math.round(stablePerMinute / 3), 0.001, 7)],
};
const LAT_STABLE = Array.from({ length: 60 }, (_, i) => ({ count: stablePerMinute + wobble(i, 8), slow: 100 + (i % 3) }));
const LAT_CANARY = Array.from({ length: CANARY_MINUTES }, (_, i) => ({ count: canaryPerMinute + wobble(i, 9), slow: 250 + (i % 5) }));

function series(): Series[] {
  const labels = { service: "checkout", namespace: "shop" };
  const out: Series[] = [...requestSeries({ hash: "stable0", start: STABLE_START, minutes: STABLE, pods: 3, labels })];
  for (const [hash, m] of Object.entries(SCENARIOS)) {
    // Pods start, then the first scrape shows their counts: no zero point at the start.
    out.push(...requestSeries({ hash, start: CANARY_START, minutes: m, pods: 2, labels, zeroAtStart: false }));
  }
  out.push(...latencySeries({ hash: "stable0", start: STABLE_START, minutes: LAT_STABLE, thresholdSeconds: 0.5, labels }));
  out.push(...latencySeries({ hash: "cslow", start: CANARY_START, minutes: LAT_CANARY, thresholdSeconds: 0.5, labels }));
  return out;
}

/** The engine's verdict on the same counts: decide() with the rollout's state, as the controller calls it. */
function engineVerdict(policyIn: PolicyInput, samples: CountSample[], stepIndex: number, stepStartedAt: number) {
  const policy = parsePolicy(policyIn);
  const state: RolloutState = {
    rolloutId: "r",
    phase: "progressing",
    release: { stable: "s", canary: "c" },
    stepIndex,
    stepStartedAt,
    startedAt: CANARY_START,
    weights: policy.steps[stepIndex]!.weights,
    lastKnownGood: { stable: policy.weightTotal, canary: 0 },
    approvals: [],
  };
  const gate = policy.gates[0]!.name;
  const decision = decide(policy, state, { alarms: {}, gates: { [gate]: { kind: "counts", samples } }, freeze: false, killSwitch: false }, END);
  return decision.verdicts[0]!;
}

const countSamples = (canary: MinuteCounts[]): CountSample[] =>
  canary.map((c, i) => {
    const s = STABLE[60 - CANARY_MINUTES + i]!;
    return { start: CANARY_START + i * MIN, canary: { total: c.total, events: c.errors }, baseline: { total: s.total, events: s.errors } };
  });

let prom: PrometheusServer;
let server: Server;
let base: string;
const logs: Array<Record<string, unknown>> = [];

async function startServer(options: AnalysisServerOptions): Promise<{ server: Server; base: string }> {
  const s = createAnalysisServer({ now: () => NOW, log: (e) => logs.push(e), ...options });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

async function post(body: unknown, at = base, headers: Record<string, string> = { "content-type": "application/json" }) {
  const res = await fetch(`${at}/v1/verdict`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as VerdictResponse & { field?: string; message?: string; error?: string; requestId?: string }, text };
}

const request = (canaryHash: string, extra: Record<string, unknown> = {}) => ({
  service: "checkout",
  gate: "errors",
  policy: POLICY,
  canaryHash,
  stableHash: "stable0",
  prometheus: { selector: 'namespace="shop", service="checkout"' },
  ...extra,
});

beforeAll(async () => {
  prom = await startPrometheus({ series: series() });
  ({ server, base } = await startServer({ prometheusUrl: prom.url, backendTimeoutMs: 5_000 }));
}, 180_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await prom?.close();
});

describe("verdicts from a real Prometheus equal the engine's on the same counts", () => {
  test.each([
    ["chealthy", "pass"],
    ["csmall", "rollback"],
    ["cbig", "rollback"],
    // Over the whole rollout the late +0.5 points are diluted to about +0.17: inside the rollback
    // band. A window (the step verdict's, or the guard's shortest hold) judges the recent minutes.
    ["clate", "hold"],
  ] as const)("no window (the whole rollout is the step): %s -> %s", async (hash, expected) => {
    const { status, body } = await post(request(hash));
    expect(status).toBe(200);
    const engine = engineVerdict(POLICY, countSamples(SCENARIOS[hash]!), 0, CANARY_START);
    expect(body.verdict).toBe(expected);
    expect(body.verdict).toBe(engine.verdict);
    expect(body.reason).toBe(engine.reason);
    expect(body.eValue).toBe(engine.evidence!.statistic);
    expect(body.canary).toEqual(engine.evidence!.canary);
    expect(body.baseline).toEqual(engine.evidence!.baseline);
    expect(body.rolloutMinutes).toBe(CANARY_MINUTES);
    expect(body.rolloutStartedAt).toBe(new Date(CANARY_START).toISOString());
    expect(body.evidenceUntil).toBe(new Date(END).toISOString());
  });

  test.each([
    ["chealthy", 1, "pass"],
    ["csmall", 1, "rollback"],
    ["clate", 1, "rollback"],
    ["chealthy", 0, "pass"],
  ] as const)("window 10m (the step is the last 10 minutes): %s at step %s -> %s", async (hash, stepIndex, expected) => {
    const { body } = await post(request(hash, { window: "10m", stepIndex: String(stepIndex) }));
    const engine = engineVerdict(POLICY, countSamples(SCENARIOS[hash]!), stepIndex, END - 10 * MIN);
    expect(body.verdict).toBe(expected);
    expect(body.verdict).toBe(engine.verdict);
    expect(body.reason).toBe(engine.reason);
    expect(body.canary!.total).toBe(SCENARIOS[hash]!.slice(-10).reduce((a, m) => a + m.total, 0));
    expect(body.stepStartedAt).toBe(new Date(END - 10 * MIN).toISOString());
  });

  test("with the step's weights the server finds the step's start in the traffic and judges from there, as the engine does", async () => {
    const { body } = await post(request("cstep", { window: "10m", stepIndex: 1, weight: "25", previousWeight: "5" }));
    const stepStartedAt = CANARY_START + 18 * MIN;
    expect(body.stepStartedAt).toBe(new Date(stepStartedAt).toISOString());
    const engine = engineVerdict(POLICY, countSamples(SCENARIOS.cstep!), 1, stepStartedAt);
    expect(body.verdict).toBe(engine.verdict);
    expect(body.reason).toBe(engine.reason);
    expect(body.minutes).toBe(12);
    // Without the weights: the last 10 minutes.
    const windowed = await post(request("cstep", { window: "10m", stepIndex: 1 }));
    expect(windowed.body.stepStartedAt).toBe(new Date(END - 10 * MIN).toISOString());
    expect(windowed.body.minutes).toBe(10);
  });

  test("latency threshold gate: slow share from the histogram's bucket at the threshold", async () => {
    const { body } = await post({ ...request("cslow"), gate: "slow", policy: LATENCY_POLICY });
    const samples: CountSample[] = LAT_CANARY.map((c, i) => {
      const s = LAT_STABLE[60 - CANARY_MINUTES + i]!;
      return { start: CANARY_START + i * MIN, canary: { total: c.count, events: c.slow }, baseline: { total: s.count, events: s.slow } };
    });
    const engine = engineVerdict(LATENCY_POLICY, samples, 0, CANARY_START);
    expect(body.verdict).toBe("rollback");
    expect(body.reason).toBe(engine.reason);
  });

  test("no canary data yet: the gate's missing-data verdict (hold), never a pass", async () => {
    const { status, body } = await post(request("cnotyet"));
    expect(status).toBe(200);
    expect(body.verdict).toBe("hold");
    expect(body.reason).toMatch(/no data/);
    expect(body.rolloutStartedAt).toBeNull();
    const engine = engineVerdict(POLICY, [], 0, CANARY_START);
    expect(body.reason).toBe(engine.reason);
  });

  test("the same hash on both sides holds: nothing to compare", async () => {
    const { body } = await post(request("stable0"));
    expect(body.verdict).toBe("hold");
    expect(body.reason).toMatch(/same ReplicaSet/);
  });
});

describe("backend faults hold with the reason; they never pass or roll back", () => {
  test("Prometheus refuses the query (a selector RE2 rejects)", async () => {
    const { status, body } = await post(request("cbig", { prometheus: { selector: 'service=~"("' } }));
    expect(status).toBe(200);
    expect(body.verdict).toBe("hold");
    expect(body.reason).toMatch(/refused the query \(HTTP 400, bad_data\)/);
  });

  test("Prometheus hangs: hold once the deadline passes", async () => {
    const quick = await startServer({ prometheusUrl: prom.url, backendTimeoutMs: 1_500 });
    await prom.freeze();
    try {
      const { status, body } = await post(request("cbig"), quick.base);
      expect(status).toBe(200);
      expect(body.verdict).toBe("hold");
      expect(body.reason).toMatch(/did not answer within 1500 ms/);
    } finally {
      prom.thaw();
      await new Promise((r) => quick.server.close(r));
    }
  });

  test("Prometheus down: hold naming the address; back up: the verdict returns", async () => {
    await prom.stop();
    try {
      const { status, body } = await post(request("cbig"));
      expect(status).toBe(200);
      expect(body.verdict).toBe("hold");
      expect(body.reason).toContain(`prometheus at ${prom.url} is unreachable (ECONNREFUSED)`);
      const health = await fetch(`${base}/readyz`);
      expect(health.status).toBe(200);
    } finally {
      await prom.start();
    }
    expect((await post(request("cbig"))).body.verdict).toBe("rollback");
  }, 60_000);

  test("a server without a Prometheus URL holds and says which flag is missing", async () => {
    const bare = await startServer({});
    try {
      const { body } = await post(request("cbig"), bare.base);
      expect(body.verdict).toBe("hold");
      expect(body.reason).toMatch(/--prometheus-url/);
    } finally {
      await new Promise((r) => bare.server.close(r));
    }
  });
});

describe("bad requests: 400 naming the field; limits; no stack traces", () => {
  test.each([
    ["canaryHash", { canaryHash: undefined }, /canaryHash: is required/],
    ["canaryHash", { canaryHash: "{{args.canary-hash}}" }, /unresolved Argo template argument/],
    ["stableHash", { stableHash: "Not A Hash" }, /not a pod-template hash/],
    ["gate", { gate: "latency" }, /"latency" is not a gate of the policy \(gates: errors\)/],
    ["policy.gates[0].rollbackBand", { policy: { ...POLICY, gates: [{ type: "errorRate", name: "errors", rollbackBand: "x" }] } }, /rollbackBand/],
    ["window", { window: "ten minutes" }, /not a duration/],
    ["window", { window: "30s" }, /at least 1m/],
    ["stepIndex", { stepIndex: 7 }, /from 0 to 1/],
    ["weight", { weight: "120", previousWeight: "5" }, /percentage from 0 to 100/],
    ["previousWeight", { weight: "25" }, /go together/],
    ["prometheus.requestsMetric", { prometheus: { requestsMetric: "http-requests" } }, /not a Prometheus metric name/],
    ["prometheus.selector", { prometheus: { selector: "service=checkout" } }, /label matchers/],
    ["prometheus.bogus", { prometheus: { bogus: "x" } }, /not a Prometheus name field/],
    ["cloudWatch", { cloudWatch: {} }, /exactly one of prometheus or cloudWatch/],
    ["extra", { extra: 1 }, /not a field of a verdict request/],
  ])("%s", async (field, patch, message) => {
    const { status, body, text } = await post(request("cbig", patch));
    expect(status).toBe(400);
    expect(body.field).toBe(field);
    expect(body.message).toMatch(message);
    expect(text).not.toMatch(/\n\s+at |node:internal|\.ts:\d+/);
  });

  test("not JSON, wrong method, wrong path, wrong media type", async () => {
    expect((await post("{not json")).status).toBe(400);
    expect((await post("{}", base, { "content-type": "application/xml" })).status).toBe(415);
    const get = await fetch(`${base}/v1/verdict`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  test("a body over the limit is refused with 413 before it is read", async () => {
    const small = await startServer({ prometheusUrl: prom.url, maxBodyBytes: 1024 });
    try {
      const big = await post(JSON.stringify(request("cbig")) + " ".repeat(2048), small.base);
      expect(big.status).toBe(413);
      expect(big.body.message).toMatch(/1024-byte limit|limit is 1024/);
    } finally {
      await new Promise((r) => small.server.close(r));
    }
  });

  test("an internal failure is a 500 with a request id and no stack trace; the stack goes to the log", async () => {
    const broken = await startServer({
      prometheusUrl: prom.url,
      now: () => {
        throw new Error("clock exploded");
      },
    });
    try {
      const { status, body, text } = await post(request("cbig"), broken.base);
      expect(status).toBe(500);
      expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(text).not.toMatch(/clock exploded|\n\s+at /);
      const logged = logs.find((l) => l.requestId === body.requestId);
      expect(String(logged?.stack)).toMatch(/clock exploded/);
    } finally {
      await new Promise((r) => broken.server.close(r));
    }
  });
});

describe("rollgate analysis-server (the CLI command)", () => {
  test("serves verdicts from the real Prometheus, then stops cleanly on SIGTERM", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, ["bin/rollgate.mjs", "analysis-server", "--host", "127.0.0.1", "--port", "0", "--json", "--prometheus-url", prom.url, "--settle", "30s"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    try {
      const deadline = Date.now() + 60_000;
      while (!out.includes("}\n}") && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      const { port } = (JSON.parse(out) as { listening: { port: number } }).listening;
      // The CLI reads the wall clock: the scenario's canary is 30 minutes old and keeps its verdict.
      const { status, body } = await post(request("cbig"), `http://127.0.0.1:${port}`);
      expect(status).toBe(200);
      expect(body.verdict).toBe("rollback");
      expect(err).toContain('"msg":"verdict"');
    } finally {
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 90_000);

  test("bad flags are usage errors naming the flag", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, ["bin/rollgate.mjs", "analysis-server", "--prometheus-url", "prometheus:9090"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--prometheus-url <url>.*must be an http\(s\) URL/);
  }, 90_000);
});
