/**
 * A metric gate whose failure metric has no data while its total does is missing data, not a
 * pass. Against moto (PutMetricData / GetMetricData with the real SDK client): the application
 * publishes its attempts but never its failures (a renamed or never-emitted metric).
 */
import { PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { evaluateComparisonGate } from "../src/analysis/gate.js";
import { createMetricsReader } from "../src/aws/metrics.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { parsePolicy, type ComparisonGate } from "../src/policy/index.js";
import { createWorld, MIN, T0, type World } from "./support/moto-world.js";

let moto: MotoServer;
let w: World;
beforeAll(async () => {
  moto = await startMoto();
  w = await createWorld(moto, { name: "missing-failures" });
});
afterAll(async () => {
  await moto?.stop();
});

const policy = parsePolicy({
  strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }] },
  gates: [{ type: "metric", name: "checkout", namespace: "Shop", events: "CheckoutFailed", total: "CheckoutAttempted", worseWhen: "higher", dimensions: { Env: "prod" } }],
});
const gate = policy.gates[0] as ComparisonGate;

async function put(metric: string, version: string, minute: number, value: number) {
  await w.clients.cloudwatch.send(
    new PutMetricDataCommand({
      Namespace: "Shop",
      MetricData: [{ MetricName: metric, Dimensions: [{ Name: "Env", Value: "prod" }, { Name: "Version", Value: version }], Timestamp: new Date(minute), Value: value, Unit: "Count" }],
    }),
  );
}

async function gather(start: number) {
  return createMetricsReader(w.clients.cloudwatch).gather({
    gates: [gate],
    loadBalancerArn: w.lbArn,
    canary: { targetGroupArn: w.greenTg, version: "v2" },
    baseline: { targetGroupArn: w.blueTg, version: "v1" },
    start,
    end: start + 3 * MIN,
  });
}

describe("metric gate: failures without data are missing, not zero", () => {
  test("totals published, failure metric never published: no samples, and the gate holds on missing data", async () => {
    const start = T0 + 100 * MIN;
    for (const m of [0, 1, 2]) {
      await put("CheckoutAttempted", "v2", start + m * MIN, 500);
      await put("CheckoutAttempted", "v1", start + m * MIN, 5000);
    }
    const out = await gather(start);
    expect(out.checkout).toEqual({ kind: "counts", samples: [] });
    const verdict = evaluateComparisonGate(gate, out.checkout, { now: start + 3 * MIN, rolloutStartedAt: start, stepStartedAt: start, stepIndex: 0, alpha: 0.05 });
    expect(verdict.verdict).toBe("hold");
    expect(verdict.reason).toMatch(/no data|missing data/);
  });

  test("a minute where only the canary's failure count is missing is left out; complete minutes count", async () => {
    const start = T0 + 200 * MIN;
    for (const m of [0, 1, 2]) {
      await put("CheckoutAttempted", "v2", start + m * MIN, 500);
      await put("CheckoutAttempted", "v1", start + m * MIN, 5000);
      await put("CheckoutFailed", "v1", start + m * MIN, 5);
      if (m !== 1) await put("CheckoutFailed", "v2", start + m * MIN, 1);
    }
    const out = await gather(start);
    expect(out.checkout).toEqual({
      kind: "counts",
      samples: [start, start + 2 * MIN].map((s) => ({ start: s, canary: { total: 500, events: 1 }, baseline: { total: 5000, events: 5 } })),
    });
  });
});
