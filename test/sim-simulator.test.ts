import { describe, expect, test } from "vitest";
import { parsePolicy, type ComparisonGate } from "../src/policy/index.js";
import {
  gateSample,
  Rng,
  runSimulation,
  simulateRollout,
  trafficMinute,
  RollgateController,
  SIM_EPOCH,
  type AlarmSpec,
  type MinuteData,
  type SimController,
  type TimelineDecision,
  type WorldView,
} from "../src/sim/index.js";

const standard = parsePolicy({ profile: "standard" });
const low = parsePolicy({ profile: "low" });
const aa = { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001 };
const gross = { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.2 };

describe("random", () => {
  test("same seed, same stream; different seed, different stream", () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(xs);
  });

  test.each([
    ["poisson small", (r: Rng) => r.poisson(3), 3, 3],
    ["poisson large (PTRS)", (r: Rng) => r.poisson(600), 600, 600],
    ["binomial small (inversion)", (r: Rng) => r.binomial(1000, 0.001), 1, 0.999],
    ["binomial large (BTRS)", (r: Rng) => r.binomial(60000, 0.2), 12000, 9600],
    ["negative binomial", (r: Rng) => r.negativeBinomial(100, 20), 100, 100 + 100 * 100 / 20],
  ])("%s has the right mean and variance", (_name, draw, mean, variance) => {
    const r = new Rng(12345);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = draw(r);
      s += x;
      s2 += x * x;
    }
    const m = s / n;
    const v = s2 / n - m * m;
    // Five standard errors of the mean; the variance within 10 %.
    expect(Math.abs(m - mean)).toBeLessThan(5 * Math.sqrt(variance / n));
    expect(Math.abs(v / variance - 1)).toBeLessThan(0.1);
  });
});

describe("traffic", () => {
  test("a target group with no requests has no datapoints, not zeros", () => {
    const m = trafficMinute({ rps: 0, canaryShare: 0.5, baselineErrorRate: 0.01, canaryErrorRate: 0.01 }, 1);
    expect(m.canary.hasData).toBe(false);
    expect(m.baseline.hasData).toBe(false);
    expect(m.canary.latencyMs).toEqual({});
  });

  test("the canary gets its weight share of requests", () => {
    const m = trafficMinute({ rps: 1000, canaryShare: 0.05, baselineErrorRate: 0.001, canaryErrorRate: 0.001 }, 3);
    const share = m.canary.requestCount / (m.canary.requestCount + m.baseline.requestCount);
    expect(share).toBeGreaterThan(0.045);
    expect(share).toBeLessThan(0.055);
    expect(m.canary.latencyMs.p99).toBeGreaterThan(m.canary.latencyMs.p50!);
  });

  test("bad input names the field", () => {
    expect(() => trafficMinute({ rps: 10, canaryShare: 0.1, baselineErrorRate: 1.5, canaryErrorRate: 0 })).toThrow(/baselineErrorRate/);
    expect(() => simulateRollout({ policy: standard, scenario: { ...aa, rps: -1 }, seed: 1 })).toThrow(/scenario\.rps/);
  });
});

/** A controller that only watches: it records what it could see at each of its wake-ups. */
class Watcher implements SimController {
  readonly label = "watcher";
  readonly weightTotal = 999;
  readonly scheduled = false;
  readonly subscribedAlarms = new Set<string>();
  readonly needs = { percentiles: [99], thresholdsMs: [], metric: false };
  readonly seen: Array<{ now: number; visible: MinuteData[] }> = [];
  private next = 0;
  plannedMinutes() {
    return 30;
  }
  start(now: number): TimelineDecision[] {
    this.next = now + 10_000;
    return [];
  }
  tick() {
    return [];
  }
  alarm() {
    return [];
  }
  wakeAt() {
    return this.next;
  }
  wake(now: number, world: WorldView): TimelineDecision[] {
    this.seen.push({ now, visible: [...world.revealed] });
    this.next = now + 10_000;
    return [];
  }
  weights() {
    return { stable: 949, canary: 50 };
  }
  status() {
    return "progressing" as const;
  }
  reason() {
    return "watching";
  }
  gateValues() {
    return {};
  }
}

describe("CloudWatch model", () => {
  test("a minute is invisible until its ingestion lag (60-180 s after the minute ends) has passed", () => {
    const w = new Watcher();
    runSimulation(w, { ...aa, horizonMinutes: 30 }, 5);
    let hidden = 0;
    for (const { now, visible } of w.seen) {
      for (const m of visible) {
        expect(m.visibleAt).toBeLessThanOrEqual(now);
        const lag = m.visibleAt - (m.start + 60_000);
        expect(lag).toBeGreaterThanOrEqual(60_000);
        expect(lag).toBeLessThanOrEqual(180_000);
      }
      // Every minute that ended more than 180 s ago is visible; none that ended under 60 s ago is.
      const indexes = new Set(visible.map((m) => m.index));
      const base = visible[0] ? visible[0].start - visible[0].index * 60_000 : 0;
      for (const m of visible) expect(now - (m.start + 60_000)).toBeGreaterThanOrEqual(60_000);
      if (base) {
        for (let i = 0; (base + (i + 1) * 60_000) + 180_000 <= now; i++) expect(indexes.has(i)).toBe(true);
      }
      hidden += visible.length < Math.floor((now - base) / 60_000) ? 1 : 0;
    }
    expect(hidden).toBeGreaterThan(0);
  });

  test("zero-traffic minutes produce no samples", () => {
    const errorGate = standard.gates.find((g) => g.type === "errorRate") as ComparisonGate;
    const latencyGate = standard.gates.find((g) => g.type === "latency") as ComparisonGate;
    const empty = trafficMinute({ rps: 0, canaryShare: 0.01, baselineErrorRate: 0.001, canaryErrorRate: 0.001 }, 2);
    const m: MinuteData = { index: 0, start: 0, visibleAt: 120_000, canaryShare: 0.01, traffic: empty };
    expect(gateSample(errorGate, m, 0)).toBeUndefined();
    expect(gateSample(latencyGate, m, 0)).toBeUndefined();

    // At 0.05 rps the 1 % canary is empty in nearly every minute: the evidence never holds a zero-request side.
    const seenTotals: number[] = [];
    const controller = new RollgateController(standard);
    const original = controller.tick.bind(controller);
    controller.tick = (now: number, world: WorldView) => {
      for (const x of world.revealed) {
        const s = gateSample(errorGate, x, 0) as { canary: { total: number }; baseline: { total: number } } | undefined;
        if (s) seenTotals.push(s.canary.total, s.baseline.total);
      }
      return original(now, world);
    };
    const r = runSimulation(controller, { rps: 0.05, baselineErrorRate: 0.001, canaryErrorRate: 0.001, horizonMinutes: 40 }, 9, { timeline: true });
    expect(r.timeline!.minutes.some((x) => !x.traffic.canary.hasData)).toBe(true);
    expect(seenTotals.every((t) => t > 0)).toBe(true);
    const nulls = r.timeline!.minutes.filter((x) => !x.traffic.canary.hasData);
    expect(nulls.every((x) => x.gates["error-rate"]!.canary === null)).toBe(true);
  });
});

describe("simulateRollout with the real engine", () => {
  test("is deterministic: the same seed gives the identical timeline", () => {
    const a = simulateRollout({ policy: standard, scenario: gross, seed: 11 });
    const b = simulateRollout({ policy: standard, scenario: gross, seed: 11 });
    const c = simulateRollout({ policy: standard, scenario: gross, seed: 12 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(c)).not.toBe(JSON.stringify(a));
  });

  test("accepts a policy as written and resolves it with parsePolicy", () => {
    const written = simulateRollout({ policy: { profile: "low" }, scenario: aa, seed: 21 });
    const resolved = simulateRollout({ policy: low, scenario: aa, seed: 21 });
    expect(JSON.stringify(written)).toBe(JSON.stringify(resolved));
    expect(() => simulateRollout({ policy: { profile: "nope" } as never, scenario: aa, seed: 1 })).toThrow(/profile/);
  });

  test.each([
    ["low", low],
    ["standard", standard],
  ])("a good release at 100 rps is promoted by the %s preset", (_name, policy) => {
    const { outcome, timeline } = simulateRollout({ policy, scenario: aa, seed: 21 });
    expect(outcome.result).toBe("promoted");
    expect(outcome.maxCanaryShare).toBe(1);
    const holds = policy.steps.reduce((s, st) => s + st.holdMs, 0);
    expect(outcome.promotedAtMs).toBeGreaterThanOrEqual(holds);
    // Weights walk the ladder in order.
    const canary = [...new Set(timeline.decisions.map((d) => d.weights.canary))];
    expect(canary).toEqual([...policy.steps.map((s) => s.weights.canary), 999]);
  });

  test("a gross regression is rolled back at the first step, within minutes", () => {
    const { outcome, timeline } = simulateRollout({ policy: standard, scenario: gross, seed: 4 });
    expect(outcome.result).toBe("rolled-back");
    expect(outcome.maxCanaryShare).toBeLessThanOrEqual(standard.steps[0]!.weights.canary / 999);
    expect(outcome.detectionMs).toBeLessThan(10 * 60_000);
    const last = timeline.decisions.at(-1)!;
    expect(last.action).toBe("rollback");
    expect(last.weights).toEqual({ stable: 999, canary: 0 });
    expect(last.reason).toMatch(/error-rate/);
    // Exposure stops once the weight is 0.
    const after = timeline.minutes.filter((m) => m.start >= timeline.minutes[0]!.start + 60_000 * Math.ceil(outcome.rolledBackAtMs! / 60_000 + 1));
    expect(after.every((m) => m.traffic.canary.requestCount === 0)).toBe(true);
  });

  test("a regression that starts later is detected from its onset", () => {
    const { outcome } = simulateRollout({ policy: low, scenario: { ...gross, regressionAtMinute: 3 }, seed: 8 });
    expect(outcome.result).toBe("rolled-back");
    expect(outcome.detectionMs).toBe(outcome.rolledBackAtMs! - 3 * 60_000);
  });

  test("an alarm event takes the fast path: decide runs on the event, not the next tick", () => {
    const policy = parsePolicy({ profile: "low", gates: [{ type: "alarm", name: "canary-5xx", alarms: ["canary-5xx-rate"] }] });
    const scenario = { ...gross, alarms: [{ name: "canary-5xx-rate", metric: "canaryErrorRate" as const, threshold: 0.01 }] };
    const triggers: string[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const { outcome, timeline } = simulateRollout({ policy, scenario, seed });
      expect(outcome.result).toBe("rolled-back");
      const last = timeline.decisions.at(-1)!;
      expect(last.reason).toMatch(/canary-5xx-rate in ALARM/);
      triggers.push(last.trigger);
    }
    // The event usually beats the next tick (it arrives seconds after the alarm evaluates); a
    // tick that reads the alarm state first is fine too.
    expect(triggers.filter((t) => t === "alarm").length).toBeGreaterThan(3);
    expect(triggers.every((t) => t === "alarm" || t === "tick")).toBe(true);
  });
});

/**
 * A controller that holds the canary at a share given per minute and subscribes to one alarm; it
 * records when that alarm's ALARM events reach it. It wakes on the epoch's 10-second marks, so a
 * share change falls exactly on a minute boundary and no minute mixes two shares.
 */
class ShareSchedule implements SimController {
  readonly label = "share-schedule";
  readonly weightTotal = 1000;
  readonly scheduled = false;
  readonly subscribedAlarms: Set<string>;
  readonly needs = { percentiles: [99], thresholdsMs: [], metric: false };
  readonly alarmsAt: number[] = [];
  private now = 0;
  private next = 0;
  constructor(
    alarm: string,
    private readonly canaryPerMille: (minute: number) => number,
  ) {
    this.subscribedAlarms = new Set([alarm]);
  }
  plannedMinutes() {
    return 30;
  }
  start(now: number): TimelineDecision[] {
    this.now = now;
    this.next = SIM_EPOCH + (Math.floor((now - SIM_EPOCH) / 10_000) + 1) * 10_000;
    return [];
  }
  tick() {
    return [];
  }
  alarm(now: number): TimelineDecision[] {
    this.alarmsAt.push(now);
    return [];
  }
  wakeAt() {
    return this.next;
  }
  wake(now: number): TimelineDecision[] {
    this.now = now;
    this.next = now + 10_000;
    return [];
  }
  weights() {
    const canary = this.canaryPerMille(Math.floor((this.now - SIM_EPOCH) / 60_000));
    return { stable: 1000 - canary, canary };
  }
  status() {
    return "progressing" as const;
  }
  reason() {
    return "holding";
  }
  gateValues() {
    return {};
  }
}

// How these were checked to fail without the guard: with the two minRequests lines in
// evaluateAlarms (src/sim/simulator.ts) reverted to the old `!c.hasData` / `!b.hasData` checks,
// every test below but the validation one fails on its "no alarm before" expectation (the alarm
// fires on the first sparse minute), and the validation test fails as nothing throws. Guarding
// only the canary's side fails the errorRateDifference test too (it fires in the baseline-sparse
// phase).
describe("alarm minimum-request guard (HealthGates' minRequestsPerPeriod)", () => {
  const GUARD = 10;
  // 10 rps without the daily swing: a 0.5 % canary gets ~3 requests a minute, 50 % gets ~300.
  const quiet = { rps: 10, diurnalAmplitude: 0, baselineErrorRate: 0, horizonMinutes: 30 };

  test.each([
    ["canaryErrorRate", { canaryErrorRate: 1 }, 0.05],
    ["canaryLatencyP99", { canaryErrorRate: 0, canaryLatencyFactor: 50 }, 1000],
  ] as const)("1-of-1 %s alarm: silent while the canary serves fewer requests than minRequests, fires above it", (metric, bad, threshold) => {
    const alarm: AlarmSpec = { name: "canary-guarded", metric, threshold, datapointsToAlarm: 1, evaluationPeriods: 1, minRequests: GUARD };
    const controller = new ShareSchedule(alarm.name, (minute) => (minute < 15 ? 5 : 500));
    const r = runSimulation(controller, { ...quiet, ...bad, alarms: [alarm] }, 3, { timeline: true });
    const minutes = r.timeline!.minutes;
    const sparse = minutes.filter((m) => m.minute < 15);
    // Every early minute is below the guard, and several of them breach on their value: every
    // canary request fails (or is 50 times slower), so without the guard 1-of-1 fires on the first.
    expect(sparse.every((m) => m.traffic.canary.requestCount < GUARD)).toBe(true);
    const breachingSparse = sparse.filter((m) =>
      m.traffic.canary.hasData && (metric === "canaryErrorRate" ? m.traffic.canary.http5xxCount / m.traffic.canary.requestCount : m.traffic.canary.latencyMs["p99"]!) > threshold,
    );
    expect(breachingSparse.length).toBeGreaterThanOrEqual(3);
    const firstBusy = minutes.find((m) => m.traffic.canary.requestCount >= GUARD)!;
    expect(firstBusy.minute).toBe(15);
    // No ALARM until a minute above the guard is visible; then it fires.
    expect(controller.alarmsAt.length).toBeGreaterThan(0);
    expect(controller.alarmsAt[0]!).toBeGreaterThanOrEqual(firstBusy.visibleAt);
    expect(controller.alarmsAt[0]!).toBeLessThan(firstBusy.visibleAt + 2 * 60_000);
  });

  test("errorRateDifference needs both target groups at or above minRequests", () => {
    const alarm: AlarmSpec = { name: "gap-guarded", metric: "errorRateDifference", threshold: 0.05, datapointsToAlarm: 1, evaluationPeriods: 1, minRequests: GUARD };
    // Minutes 0-9: the canary is sparse (0.5 %); 10-19: the baseline is (99.5 % canary); 20 on: both busy.
    const controller = new ShareSchedule(alarm.name, (minute) => (minute < 10 ? 5 : minute < 20 ? 995 : 500));
    const r = runSimulation(controller, { ...quiet, canaryErrorRate: 1, alarms: [alarm] }, 5, { timeline: true });
    const minutes = r.timeline!.minutes;
    const gap = (m: (typeof minutes)[number]) =>
      m.traffic.canary.hasData && m.traffic.baseline.hasData
        ? m.traffic.canary.http5xxCount / m.traffic.canary.requestCount - m.traffic.baseline.http5xxCount / m.traffic.baseline.requestCount
        : undefined;
    // Canary sparse, baseline busy: a gap of 100 points in several minutes.
    const canarySparse = minutes.filter((m) => m.minute < 10);
    expect(canarySparse.every((m) => m.traffic.canary.requestCount < GUARD && m.traffic.baseline.requestCount >= GUARD)).toBe(true);
    expect(canarySparse.filter((m) => (gap(m) ?? 0) > 0.05).length).toBeGreaterThanOrEqual(3);
    // Baseline sparse, canary busy: the same.
    const baselineSparse = minutes.filter((m) => m.minute >= 10 && m.minute < 20);
    expect(baselineSparse.every((m) => m.traffic.baseline.requestCount < GUARD && m.traffic.canary.requestCount >= GUARD)).toBe(true);
    expect(baselineSparse.filter((m) => (gap(m) ?? 0) > 0.05).length).toBeGreaterThanOrEqual(3);
    // Only a minute with both sides at or above the guard has a datapoint, and it breaches.
    const firstBoth = minutes.find((m) => m.traffic.canary.requestCount >= GUARD && m.traffic.baseline.requestCount >= GUARD)!;
    expect(firstBoth.minute).toBe(20);
    expect(controller.alarmsAt.length).toBeGreaterThan(0);
    expect(controller.alarmsAt[0]!).toBeGreaterThanOrEqual(firstBoth.visibleAt);
    expect(controller.alarmsAt[0]!).toBeLessThan(firstBoth.visibleAt + 2 * 60_000);
  });

  test("minRequests must be a whole number of requests, 0 or more", () => {
    const alarm = (minRequests: number): AlarmSpec => ({ name: "a", metric: "canaryErrorRate", threshold: 0.01, minRequests });
    for (const bad of [-1, 2.5, Number.NaN]) {
      expect(() => simulateRollout({ policy: standard, scenario: { ...aa, alarms: [alarm(bad)] }, seed: 1 })).toThrow(/scenario\.alarms\[0\]\.minRequests/);
    }
    expect(() => simulateRollout({ policy: standard, scenario: { ...aa, horizonMinutes: 5, alarms: [alarm(0)] }, seed: 1 })).not.toThrow();
  });
});

describe("comparison policies", () => {
  test("CodeDeploy: 10 % for 5 minutes, then 100 %", () => {
    const { outcome, timeline } = simulateRollout({ policy: { kind: "codedeploy" }, scenario: aa, seed: 2 });
    expect(outcome.result).toBe("promoted");
    expect(timeline.decisions.map((d) => d.weights.canary)).toEqual([100, 999, 999]);
    expect(outcome.promotedAtMs).toBe(5 * 60_000);
  });

  test("CodeDeploy rolls back when the 1 % canary 5XX alarm fires", () => {
    const { outcome, timeline } = simulateRollout({ policy: { kind: "codedeploy" }, scenario: gross, seed: 2 });
    expect(outcome.result).toBe("rolled-back");
    expect(timeline.decisions.at(-1)!.trigger).toBe("alarm");
  });

  test("Argo-style: 1/5/25/50 % ten minutes each, rolls back after failureLimit + 1 failed measurements", () => {
    const good = simulateRollout({ policy: { kind: "argo" }, scenario: { ...aa, rps: 1000 }, seed: 3 });
    expect(good.outcome.result).toBe("promoted");
    expect(good.timeline.decisions.map((d) => d.weights.canary)).toEqual([10, 50, 250, 500, 999]);
    expect(good.outcome.promotedAtMs).toBe(40 * 60_000);
    const bad = simulateRollout({ policy: { kind: "argo" }, scenario: gross, seed: 3 });
    expect(bad.outcome.result).toBe("rolled-back");
    expect(bad.outcome.reason).toMatch(/^3 failed measurements/);
  });

  test("Flagger-style: stepWeight 10 up to 50 %, one interval each", () => {
    const { outcome, timeline } = simulateRollout({ policy: { kind: "flagger" }, scenario: { ...aa, rps: 1000 }, seed: 3 });
    expect(outcome.result).toBe("promoted");
    expect(timeline.decisions.map((d) => d.weights.canary)).toEqual([100, 200, 300, 400, 500, 999]);
  });

  test.each(["z-test", "binomial", "sequential"] as const)("per-minute %s test rolls back a gross regression", (kind) => {
    const { outcome } = simulateRollout({ policy: { kind }, scenario: { ...gross, rps: 1000 }, seed: 5 });
    expect(outcome.result).toBe("rolled-back");
    expect(outcome.reason).toMatch(new RegExp(`^${kind}`));
  });
});

describe("audience rings in the simulator", () => {
  const ringed = parsePolicy({
    rings: [{ name: "internal", match: { headers: [{ name: "x-ring", values: ["internal"] }] } }],
    strategy: { type: "canary", steps: [{ ring: "internal", hold: "10m" }, { percent: 10, hold: "10m" }] },
    gates: [{ type: "errorRate", minSamples: 100 }],
  });

  test("a ring step sends the ring's share of requests to the canary before any weight moves", async () => {
    const { simulateRollout } = await import("../src/sim/index.js");
    const r = simulateRollout({ policy: ringed, scenario: { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.001, ringShares: { internal: 0.05 } }, seed: 11 });
    const inRing = r.timeline!.minutes.filter((m) => m.minute >= 1 && m.minute < 10);
    expect(inRing.every((m) => m.weights.canary === 0 && Math.abs(m.canaryShare - 0.05) < 1e-9)).toBe(true);
    const atTen = r.timeline!.minutes.find((m) => m.weights.canary > 0 && m.minute > 12)!;
    // Rings match first; the 10 % weight splits the remaining 95 %.
    expect(atTen.canaryShare).toBeCloseTo(0.05 + 0.95 * (atTen.weights.canary / ringed.weightTotal), 9);
    expect(r.outcome.result).toBe("promoted");
  });
});
