/**
 * The alarms' metric math, evaluated (moto does not evaluate alarms or metric math): the
 * canary-vs-stable alarm must not fire when the canary has too few requests and the stable slot
 * is failing. The queries are the ones HealthGates creates under Pulumi's mock runtime; the
 * evaluator is test/support/cw-alarm-math.ts. Both readings of "a value missing from one operand"
 * are run, so the expression is safe whichever CloudWatch applies; the bare ABS(b_rate - g_rate)
 * the alarm used to have is shown to fire under the documented one (missing counts as 0).
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { createMocks, settle, valueOf, type RecordedResource } from "../components/mocks.js";
import { alarmState, evaluateAlarmQueries, type AlarmQuery, type ArithmeticMode, type Series } from "./support/cw-alarm-math.js";

const mocks = createMocks();
let rs: RecordedResource[];

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const GRID = [0, 60, 120, 180, 240].map((s) => 1_700_000_000 + s);

beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
  const C = await import("../components/index.js");
  mocks.reset();
  const gates = new C.HealthGates("svc", {
    loadBalancerArn: LB,
    blueTargetGroupArnSuffix: "targetgroup/svc-blue/aaaaaaaaaaaaaaaa",
    greenTargetGroupArnSuffix: "targetgroup/svc-green/bbbbbbbbbbbbbbbb",
    minRequestsPerPeriod: 10,
    comparisonThresholdPercent: 2,
    alarmActions: ["arn:aws:sns:eu-west-1:123456789012:oncall"],
  });
  await valueOf(gates.urn);
  await settle();
  rs = [...mocks.resources];
});

const alarm = (name: string) => rs.find((r) => r.name === name && r.type === "aws:cloudwatch/metricAlarm:MetricAlarm")!;

/** Per-minute counts for one slot; `undefined` entries are minutes with no data point at all. */
interface Traffic {
  requests: (number | undefined)[];
  errorRate: number;
}
function slotMetrics(prefix: string, t: Traffic): Record<string, Series> {
  const req: Series = new Map();
  const err: Series = new Map();
  t.requests.forEach((n, i) => {
    if (n === undefined) return;
    req.set(GRID[i]!, n);
    // ALB publishes HTTPCode_Target_5XX_Count only for periods that had one.
    const e = Math.round(n * t.errorRate);
    if (e > 0) err.set(GRID[i]!, e);
  });
  return { [`${prefix}req`]: req, [`${prefix}err`]: err, [`${prefix}conn`]: new Map() };
}

function comparisonState(blue: Traffic, green: Traffic, mode: ArithmeticMode, expressionOverride?: string) {
  const a = alarm("svc-canary-vs-stable");
  let queries = a.inputs.metricQueries as AlarmQuery[];
  if (expressionOverride) queries = queries.map((q) => (q.id === "gap" ? { ...q, expression: expressionOverride } : q));
  const series = evaluateAlarmQueries(queries, { ...slotMetrics("b_", blue), ...slotMetrics("g_", green) }, GRID, mode);
  return { series, state: alarmState(series, GRID, a.inputs.threshold, a.inputs.evaluationPeriods, a.inputs.datapointsToAlarm, a.inputs.comparisonOperator) };
}

const stableFailing: Traffic = { requests: [1000, 1000, 1000, 1000, 1000], errorRate: 0.08 };
const canaryTrickle: Traffic = { requests: [5, 3, undefined, 4, 6], errorRate: 0 };

describe("canary-vs-stable cannot fire on missing canary data", () => {
  test.each(["missingAsZero", "dropMissing"] as const)("canary below minRequestsPerPeriod, stable slot failing at 8 %%: no data point, no ALARM (%s)", (mode) => {
    const { series, state } = comparisonState(stableFailing, canaryTrickle, mode);
    expect([...series.values()]).toEqual([]);
    expect(state).toBe("INSUFFICIENT_DATA");
    // The same with the roles reversed (green stable, blue canary): the alarm is slot-symmetric.
    expect(comparisonState(canaryTrickle, stableFailing, mode).state).toBe("INSUFFICIENT_DATA");
  });

  test("the bare ABS(b_rate - g_rate) does fire in that case when a missing operand counts as 0 (the bug the guard removes)", () => {
    const { series, state } = comparisonState(stableFailing, canaryTrickle, "missingAsZero", "ABS(b_rate - g_rate)");
    expect([...series.values()]).toEqual([8, 8, 8, 8, 8]);
    expect(state).toBe("ALARM");
  });

  test.each(["missingAsZero", "dropMissing"] as const)("with enough canary traffic the gap is measured: a worse canary is ALARM, an equal one OK (%s)", (mode) => {
    const stable: Traffic = { requests: [1000, 1000, 1000, 1000, 1000], errorRate: 0.01 };
    const badCanary: Traffic = { requests: [50, 50, 50, 50, 50], errorRate: 0.1 };
    const goodCanary: Traffic = { requests: [50, 50, 50, 50, 50], errorRate: 0.02 };
    expect(comparisonState(stable, badCanary, mode).state).toBe("ALARM");
    expect(comparisonState(stable, goodCanary, mode).state).toBe("OK");
  });

  test("per-slot 5xx rate: too few requests is no data, never a healthy 0 %", () => {
    const a = alarm("svc-green-5xx-rate");
    const series = evaluateAlarmQueries(a.inputs.metricQueries as AlarmQuery[], slotMetrics("", canaryTrickle), GRID, "missingAsZero");
    expect([...series.values()]).toEqual([]);
  });
});

describe("alarm actions", () => {
  test("the composite health alarm and the burn-rate composites page the given topics, on ALARM and on OK", () => {
    const composites = rs.filter((r) => r.type === "aws:cloudwatch/compositeAlarm:CompositeAlarm");
    expect(composites.length).toBeGreaterThan(0);
    for (const c of composites) {
      expect(c.inputs.alarmActions, c.name).toEqual(["arn:aws:sns:eu-west-1:123456789012:oncall"]);
      expect(c.inputs.okActions, c.name).toEqual(["arn:aws:sns:eu-west-1:123456789012:oncall"]);
    }
  });
});
