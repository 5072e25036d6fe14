/**
 * The analysis server's CloudWatch path (EKS behind an ALB) against moto in server mode with the
 * real SDK client: ALB metrics put with PutMetricData for the canary and stable target groups; the
 * verdict must equal decide() on the same counts, the rollout must start at the trailing run of
 * minutes with canary traffic, and a CloudWatch that cannot be reached holds.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { CountSample } from "../src/analysis/types.js";
import { createAnalysisServer, trailingRunStart } from "../src/analysis-server/index.js";
import { decide } from "../src/engine/decide.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { parsePolicy, type PolicyInput } from "../src/policy/index.js";
import { createWorld, MIN, putTraffic, type World } from "./support/moto-world.js";

const POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }] },
  gates: [{ type: "errorRate", name: "errors", minSamples: 500, holdBand: 0.1, rollbackBand: 0.25 }],
};
// moto keeps any timestamp; the server's clock is set after the data.
const START = Date.UTC(2026, 5, 1, 12, 0, 0);
const MINUTES = 20;
const END = START + MINUTES * MIN;
const NOW = END + 45_000;

let moto: MotoServer;
let w: World;
let server: Server;
let base: string;
const canaryMinutes: Array<{ requests: number; errors: number }> = [];
const stableMinutes: Array<{ requests: number; errors: number }> = [];

beforeAll(async () => {
  moto = await startMoto();
  w = await createWorld(moto, { name: "cwserver" });
  // An earlier rollout's canary traffic, 40 minutes before this one: not part of this rollout.
  await putTraffic(w, START - 40 * MIN, { green: { requests: 500, errors: 100 }, blue: { requests: 5000, errors: 5 } });
  for (let i = 0; i < MINUTES; i++) {
    const canary = { requests: 1200 + (i % 3) * 10, errors: 24 + (i % 2) };
    const stable = { requests: 10800 - (i % 4) * 10, errors: 10 + (i % 3) };
    canaryMinutes.push(canary);
    stableMinutes.push(stable);
    await putTraffic(w, START + i * MIN, { green: canary, blue: stable });
  }
  const client = new CloudWatchClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  server = createAnalysisServer({ cloudWatch: async () => client, now: () => NOW, lookbackMs: 2 * 60 * MIN, log: () => {} });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await moto?.stop();
});

const body = () => ({
  service: "checkout",
  gate: "errors",
  policy: POLICY,
  canaryHash: "abc123",
  stableHash: "def456",
  cloudWatch: { loadBalancerArn: w.lbArn, canaryTargetGroupArn: w.greenTg, stableTargetGroupArn: w.blueTg },
});

async function post(at: string, b: unknown) {
  const res = await fetch(`${at}/v1/verdict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe("CloudWatch (EKS behind an ALB) through the controller's reader", () => {
  test("2 % vs 0.1 % errors: rollback, equal to decide() on the same minutes; the earlier rollout is not counted", async () => {
    const { status, body: v } = await post(base, body());
    expect(status).toBe(200);
    const samples: CountSample[] = canaryMinutes.map((c, i) => ({
      start: START + i * MIN,
      canary: { total: c.requests, events: c.errors },
      baseline: { total: stableMinutes[i]!.requests, events: stableMinutes[i]!.errors },
    }));
    const policy = parsePolicy(POLICY);
    const engine = decide(
      policy,
      { rolloutId: "r", phase: "progressing", release: { stable: "a", canary: "b" }, stepIndex: 0, stepStartedAt: START, startedAt: START, weights: policy.steps[0]!.weights, lastKnownGood: { stable: policy.weightTotal, canary: 0 }, approvals: [] },
      { alarms: {}, gates: { errors: { kind: "counts", samples } }, freeze: false, killSwitch: false },
      END,
    ).verdicts[0]!;
    expect(v.verdict).toBe("rollback");
    expect(v.reason).toBe(engine.reason);
    expect(v.rolloutStartedAt).toBe(new Date(START).toISOString());
    expect(v.rolloutMinutes).toBe(MINUTES);
    expect(v.backend).toBe("cloudWatch");
  });

  test("CloudWatch unreachable: hold with the reason", async () => {
    const dead = new CloudWatchClient({ endpoint: "http://127.0.0.1:9", region: moto.region, credentials: moto.credentials, maxAttempts: 1 });
    const s = createAnalysisServer({ cloudWatch: async () => dead, now: () => NOW, log: () => {} });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    try {
      const { status, body: v } = await post(`http://127.0.0.1:${(s.address() as AddressInfo).port}`, body());
      expect(status).toBe(200);
      expect(v.verdict).toBe("hold");
      expect(v.reason).toMatch(/cloudwatch refused or could not be reached/);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });

  test("bad ARNs are 400s naming the field", async () => {
    const { status, body: v } = await post(base, { ...body(), cloudWatch: { ...body().cloudWatch, canaryTargetGroupArn: "targetgroup/k8s-canary/abc" } });
    expect(status).toBe(400);
    expect(v.field).toBe("cloudWatch.canaryTargetGroupArn");
  });

  test("the trailing run: a gap of more than gapMinutes without canary requests starts a new rollout", () => {
    const s = (minute: number, total: number) => ({ start: minute * MIN, canary: { total, events: 0 }, baseline: { total: 100, events: 0 } });
    expect(trailingRunStart([s(0, 5), s(1, 5), s(30, 5), s(31, 0), s(32, 5)], 15)).toBe(30 * MIN);
    expect(trailingRunStart([s(0, 5), s(10, 5), s(20, 5)], 15)).toBe(0);
    expect(trailingRunStart([s(0, 0), s(1, 0)], 15)).toBeUndefined();
  });
});
