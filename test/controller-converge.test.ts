/**
 * The controller is level-triggered against moto: in every phase it converges the listener to the
 * committed intent (late writes of older decisions, hand edits, third / single / unweighted target
 * groups, stickiness), it never skips a step whose weights did not land, and an alarm event is a
 * hint: only a fresh one from this account and region rolls back on its own.
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { CreateTargetGroupCommand, DescribeListenersCommand, DescribeTargetGroupsCommand, ModifyListenerCommand, type Action } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createStateStore, type HistoryRecord } from "../src/aws/state.js";
import { createTrafficRouter, type TrafficRouter } from "../src/aws/traffic.js";
import { FENCE_MS, WRITE_GRACE_MS } from "../src/controller/context.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { parseAwsTimestamp } from "../src/controller/events.js";
import { ANOMALY_DETECTION, COMPOSITE, METRIC_MATH, MULTI_TIME_SERIES, SINGLE_METRIC } from "./fixtures/cloudwatch-alarm-events.js";
import { TEST_POLICY, alarmEvent, awsTimestamp, controllerFor, createWorld, MIN, putTraffic, T0, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const storeOf = (w: World) => createStateStore(w.clients.documents, { table: w.config.table });
const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const good = { requests: 150, errors: 0 };
const baseline = { requests: 900, errors: 1 };
const forward = async (w: World) => (await w.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [w.listenerArn] }))).Listeners![0]!.DefaultActions!.find((a) => a.Type === "forward")!;
const setForward = (w: World, action: Action) => w.clients.elbv2.send(new ModifyListenerCommand({ ListenerArn: w.listenerArn, DefaultActions: [action] }));
const weighted = (w: World, blue: number, green: number, extra: Array<{ TargetGroupArn: string; Weight?: number }> = []): Action => ({
  Type: "forward",
  ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: blue }, { TargetGroupArn: w.greenTg, Weight: green }, ...extra] },
});
const history = async (w: World): Promise<HistoryRecord[]> => (await storeOf(w).history(w.name)).reverse();

async function thirdTargetGroup(w: World): Promise<string> {
  const vpc = (await w.clients.elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [w.blueTg] }))).TargetGroups![0]!.VpcId!;
  const name = `x${w.name.replace(/[^a-z0-9]/gi, "").slice(0, 20)}${process.pid % 1000}`;
  return (await w.clients.elbv2.send(new CreateTargetGroupCommand({ Name: name, Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" }))).TargetGroups![0]!.TargetGroupArn!;
}

/**
 * A traffic router whose next write is held until released, then lands, and whose caller never
 * hears back (the write landed, the response was lost): the invocation that sent it fails and
 * cannot repair what its write did.
 */
function delayedRouter(w: World) {
  const real = routerOf(w);
  let hold: { release: () => void; landed: Promise<void> } | undefined;
  const router: TrafficRouter = {
    target: real.target,
    read: () => real.read(),
    async setWeights(weights, basedOn) {
      if (!hold) return real.setWeights(weights, basedOn);
      const h = hold;
      hold = undefined;
      await new Promise<void>((resolve) => (h.release = resolve));
      await real.setWeights(weights, basedOn);
      h.landed = Promise.resolve();
      throw Object.assign(new Error("socket hang up (response lost after the write landed)"), { name: "TimeoutError" });
    },
  };
  return {
    router,
    /** The next setWeights waits for `release()`. */
    holdNext() {
      const h = { release: () => {}, landed: Promise.resolve() };
      hold = h;
      return h;
    },
  };
}

describe("convergence in every phase: a forward write of an older decision lands after a committed transition", () => {
  test.each(["rollback", "abort", "kill", "promote"] as const)("after %s: the listener is repaired within one tick, and the repair is recorded", async (ending) => {
    const w = await createWorld(moto, { name: `late-${ending}` });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await putTraffic(w, T0, { blue: baseline, green: good });
    w.clock.now = T0 + MIN + 1_000;

    // A tick decides to advance to 50 %, commits it, and its ModifyListener is held in flight.
    const slow = delayedRouter(w);
    const held = slow.holdNext();
    const advancing = controllerFor(w, { traffic: slow.router }).tick();
    await expect.poll(async () => (await c.status()).state.stepIndex, { timeout: 10_000 }).toBe(1);

    // Another invocation commits the end of the rollout.
    w.clock.advance(5_000);
    if (ending === "rollback") {
      await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
      expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ action: "rollback", fastPath: true });
    } else {
      expect(await c.command({ command: ending })).toMatchObject({ ok: true, noop: false });
    }
    const committed = await c.status();
    const intent = committed.slotWeights;
    expect(intent).toEqual(ending === "promote" ? { blue: 0, green: 999 } : { blue: 999, green: 0 });

    // The held write lands now, and its invocation never hears back.
    held.release();
    await expect(advancing).rejects.toThrow(/response lost/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });

    // One tick later the committed intent is back, recorded with the before and after actions.
    w.clock.advance(MIN);
    const tick = await c.tick();
    expect(tick.repaired).toEqual(expect.arrayContaining([expect.stringMatching(/weights blue 499 \/ green 500, not /)]));
    expect((await routerOf(w).read()).weights).toEqual(intent);
    const status = await c.status();
    expect(status).toMatchObject({ drift: false, differences: [], applied: true, phase: committed.phase });
    const repair = (await history(w)).at(-1)!;
    expect(repair).toMatchObject({ action: "late-write-repaired", phase: committed.phase, trigger: "tick" });
    expect(repair.repair!.before.targets).toEqual([
      { targetGroupArn: w.blueTg, weight: 499 },
      { targetGroupArn: w.greenTg, weight: 500 },
    ]);
    expect(repair.repair!.after.targets).toEqual([
      { targetGroupArn: w.blueTg, weight: intent.blue },
      { targetGroupArn: w.greenTg, weight: intent.green },
    ]);
    // Idempotent: the next tick finds nothing to do and records nothing.
    const seq = (await c.status()).version;
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ transition: false });
    expect((await c.status()).version).toBe(seq);
  });

  test("the invocation that commits a rollback re-reads after its commit and repairs a write that landed in between (no tick needed)", async () => {
    const w = await createWorld(moto, { name: "late-inside" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    // The abort's own read sees 899/100; its commit is followed by a late 499/500 landing before the re-read.
    const real = routerOf(w);
    let reads = 0;
    const racing: TrafficRouter = {
      target: real.target,
      stickiness: undefined,
      setWeights: (x, b) => real.setWeights(x, b),
      async read() {
        reads += 1;
        if (reads === 2) await setForward(w, weighted(w, 499, 500));
        return real.read();
      },
    };
    const r = await controllerFor(w, { traffic: racing }).command({ command: "abort" });
    expect(r).toMatchObject({ ok: true, phase: "aborted" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    expect((await history(w)).map((h) => h.action)).toEqual(["advance", "rollback", "late-write-repaired"]);
  });

  test("a late write of an older step during a rollout is repaired, not taken for a person's edit (write fence)", async () => {
    const w = await createWorld(moto, { name: "late-step" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await putTraffic(w, T0, { blue: baseline, green: good });
    w.clock.now = T0 + MIN + 1_000;
    await c.tick();
    expect((await c.status()).slotWeights).toEqual({ blue: 499, green: 500 });
    // Step 1's write (899/100, committed at version 1) lands late, within the fence window.
    await setForward(w, weighted(w, 899, 100));
    w.clock.advance(10_000);
    expect(await c.tick()).toMatchObject({ phase: "progressing", action: "hold" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    expect((await history(w)).at(-1)).toMatchObject({ action: "late-write-repaired" });

    // The same weights set after the fence window are a person's edit: drift, recorded as such and
    // re-applied (onDrift default reapply), not a late write.
    await setForward(w, weighted(w, 899, 100));
    w.clock.advance(FENCE_MS);
    expect(await c.tick()).toMatchObject({ phase: "progressing", action: "hold", transition: true, drift: { actual: { stable: 899, canary: 100 } } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    expect((await history(w)).at(-1)).toMatchObject({ action: "hold", drift: { actual: { stable: 899, canary: 100 } }, repair: { after: { targets: [{ weight: 499 }, { weight: 500 }] } } });
  });

  test("after promotion, pulumi up or a person rewriting the listener to the old slot (now scaled to zero) is put back on the next tick", async () => {
    const w = await createWorld(moto, { name: "promoted-edit", stickiness: true });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await c.command({ command: "promote" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 0, green: 999 });
    // pulumi up resends the action from its last recorded inputs: 999/0, a plain forward to blue, no stickiness.
    await setForward(w, { Type: "forward", TargetGroupArn: w.blueTg });
    w.clock.advance(2 * FENCE_MS);
    const tick = await c.tick();
    expect(tick).toMatchObject({ phase: "promoted", transition: false });
    expect(tick.repaired!.join("; ")).toMatch(/plain forward to one target group/);
    const fwd = await forward(w);
    expect(fwd.ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 0 },
      { TargetGroupArn: w.greenTg, Weight: 999 },
    ]);
    expect((await history(w)).at(-1)).toMatchObject({ action: "forward-repaired", phase: "promoted" });
  });
});

describe("the forward action is exactly the two slots: a third target group, a single target group, an unweighted entry", () => {
  test("while idle, a third target group is removed and a single-target-group forward becomes the weighted two-slot action", async () => {
    const w = await createWorld(moto, { name: "shape-idle" });
    const c = controllerFor(w);
    const third = await thirdTargetGroup(w);
    await setForward(w, weighted(w, 999, 0, [{ TargetGroupArn: third, Weight: 500 }]));
    expect(await c.status()).toMatchObject({ drift: true, differences: [expect.stringMatching(/besides the two slots/)] });
    const t = await c.tick();
    expect(t.repaired).toHaveLength(1);
    expect((await forward(w)).ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 999 },
      { TargetGroupArn: w.greenTg, Weight: 0 },
    ]);
    await setForward(w, { Type: "forward", TargetGroupArn: w.blueTg });
    w.clock.advance(MIN);
    await c.tick();
    expect((await forward(w)).ForwardConfig!.TargetGroups).toHaveLength(2);
    expect((await c.status()).drift).toBe(false);
  });

  test.each(["reapply", "hold"] as const)("during a rollout, a third target group taking traffic is drift, re-applied at once (onDrift=%s: never held), and a rollback sends everything to stable", async (onDrift) => {
    const w = await createWorld(moto, { name: `shape-third-${onDrift}`, policy: { ...TEST_POLICY, onDrift } });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    const third = await thirdTargetGroup(w);
    // Same slot weights as recorded; 100 more to a third target group.
    await setForward(w, weighted(w, 899, 100, [{ TargetGroupArn: third, Weight: 100 }]));
    w.clock.advance(10_000);
    const reapplied = await c.tick();
    expect(reapplied).toMatchObject({ phase: "progressing", action: "hold", transition: true });
    expect(reapplied.drift).toMatchObject({ elsewhere: 91 });
    expect(reapplied.reason).toMatch(/and 91 to another target group/);
    if (onDrift === "hold") expect(reapplied.reason).toMatch(/although onDrift=hold: 91 of the traffic goes to a target group other than the two slots/);
    expect((await forward(w)).ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 899 },
      { TargetGroupArn: w.greenTg, Weight: 100 },
    ]);
    expect((await history(w)).at(-1)!.repair!.before.targets).toContainEqual({ targetGroupArn: third, weight: 100 });

    // The third target group again, and the gate alarm fires in the same moment: the rollback clears it.
    await setForward(w, weighted(w, 899, 100, [{ TargetGroupArn: third, Weight: 100 }]));
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(10_000);
    expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ action: "rollback", phase: "rolled-back" });
    expect((await forward(w)).ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 999 },
      { TargetGroupArn: w.greenTg, Weight: 0 },
    ]);
    expect((await history(w)).at(-1)!.repair!.before.targets).toContainEqual({ targetGroupArn: third, weight: 100 });
  });

  test("during a rollout, differences that move no traffic (a zero-weight third group, stickiness) are repaired without pausing", async () => {
    const w = await createWorld(moto, { name: "shape-zero" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    const third = await thirdTargetGroup(w);
    await setForward(w, weighted(w, 899, 100, [{ TargetGroupArn: third, Weight: 0 }]));
    w.clock.advance(10_000);
    expect(await c.tick()).toMatchObject({ phase: "progressing", action: "hold" });
    expect((await forward(w)).ForwardConfig!.TargetGroups).toHaveLength(2);
    expect((await history(w)).at(-1)).toMatchObject({ action: "forward-repaired", phase: "progressing" });
  });

  test("the configured stickiness is converged like the weights", async () => {
    const w = await createWorld(moto, { name: "sticky" });
    w.config.stickiness = { enabled: true, durationSeconds: 600 };
    const c = controllerFor(w);
    await c.tick();
    expect((await forward(w)).ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 600 });
    await c.command({ command: "start", release: { version: "v2" } });
    expect((await forward(w)).ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 600 });
  });
});

describe("no skipped steps", () => {
  test("an advance whose write fails for longer than a hold is applied and held in full before the next step", async () => {
    const w = await createWorld(moto, { name: "no-skip" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    for (let m = 0; m < 8; m++) await putTraffic(w, T0 + m * MIN, { blue: baseline, green: good });
    w.clock.now = T0 + MIN + 1_000;
    w.failNth("ModifyListenerCommand", 1, () => Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));
    await expect(c.tick()).rejects.toThrow(/Rate exceeded/);
    w.clearFaults();
    expect(await c.status()).toMatchObject({ applied: false, state: { stepIndex: 1 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });

    // Two minutes later (past the 1m hold of step 2, past the grace for a write in flight).
    w.clock.advance(2 * MIN);
    const t = await c.tick();
    expect(t).toMatchObject({ action: "hold", transition: true, phase: "progressing", slotWeights: { blue: 499, green: 500 } });
    expect(t.reason).toMatch(/never reached the listener/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    // Not promoted yet: step 2 is held for its full minute from now.
    w.clock.advance(30_000);
    expect(await c.tick()).toMatchObject({ action: "hold", phase: "progressing" });
    // The gate judges whole minutes after the (restarted) step start; then it promotes.
    w.clock.advance(2 * MIN);
    expect(await c.tick()).toMatchObject({ action: "promote" });
    const actions = (await history(w)).map((h) => h.action);
    expect(actions).toEqual(["advance", "advance", "hold", "promote"]);
    expect(WRITE_GRACE_MS).toBeLessThan(2 * MIN);
  });
});

/** The shapes of the CloudWatch user guide's samples ("Alarm events and EventBridge"), rebuilt for our alarm and any date (the verbatim samples: test/fixtures/cloudwatch-alarm-events.ts). */
function realEvent(kind: "single" | "math" | "composite" | "muted", w: World, at: number): Record<string, unknown> {
  const arn = `arn:aws:cloudwatch:us-east-1:123456789012:alarm:${w.alarmName}`;
  const state = { value: "ALARM", reason: "Threshold Crossed: 1 out of the last 1 datapoints [99.5 (02/10/19 16:59:00)] was greater than the threshold (50.0)", reasonData: '{"version":"1.0"}', timestamp: awsTimestamp(at) };
  const base = { version: "0", id: `c4c1c1c9-6542-e61b-6ef0-${kind}${at}`, "detail-type": "CloudWatch Alarm State Change", source: "aws.cloudwatch", account: "123456789012", time: new Date(at).toISOString().replace(/\.\d+Z$/, "Z"), region: "us-east-1", resources: [arn] };
  const previousState = { value: "OK", reason: "Threshold Crossed", timestamp: awsTimestamp(at - 60_000) };
  switch (kind) {
    case "single":
      return { ...base, detail: { alarmName: w.alarmName, configuration: { description: "5xx", metrics: [{ id: "m1", metricStat: { metric: { dimensions: { TargetGroup: "targetgroup/x/1" }, name: "HTTPCode_Target_5XX_Count", namespace: "AWS/ApplicationELB" }, period: 60, stat: "Sum" }, returnData: true }] }, previousState, state } };
    case "math":
      return {
        ...base,
        detail: {
          alarmName: w.alarmName,
          configuration: {
            description: "5xx rate",
            metrics: [
              { expression: "100 * e / r", id: "e1", label: "5xx rate", returnData: true },
              { id: "e", metricStat: { metric: { dimensions: {}, name: "HTTPCode_Target_5XX_Count", namespace: "AWS/ApplicationELB" }, period: 60, stat: "Sum" }, returnData: false },
              { id: "r", metricStat: { metric: { dimensions: {}, name: "RequestCount", namespace: "AWS/ApplicationELB" }, period: 60, stat: "Sum" }, returnData: false },
            ],
          },
          previousState: { value: "INSUFFICIENT_DATA", reason: "Unchecked: Initial alarm creation", timestamp: awsTimestamp(at - 60_000) },
          state,
        },
      };
    case "composite":
      return {
        ...base,
        detail: {
          alarmName: w.alarmName,
          state: { ...state, reason: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:child transitioned to ALARM", reasonData: '{"triggeringAlarms":[]}', actionsSuppressedBy: "WaitPeriod", actionsSuppressedReason: "Actions suppressed by WaitPeriod" },
          previousState,
          configuration: { alarmRule: "ALARM(child-a) OR ALARM(child-b)", actionsSuppressor: "suppressor", actionsSuppressorWaitPeriod: 120, actionsSuppressorExtensionPeriod: 180 },
        },
      };
    case "muted":
      // Mute rules silence actions, not state changes or events: the user guide's samples carry
      // detail.muteDetail (test/fixtures/cloudwatch-alarm-events.ts has them verbatim).
      return {
        ...base,
        detail: {
          alarmName: w.alarmName,
          configuration: { description: "5xx", metrics: [] },
          previousState,
          state,
          muteDetail: { mutedByArn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:deploy-window", muteWindowStart: awsTimestamp(at - MIN), muteWindowEnd: awsTimestamp(at + 60 * MIN) },
        },
      };
  }
}

describe("fresh alarm events only", () => {
  test.each(["single", "math", "composite", "muted"] as const)("a %s alarm event dated before the rollout started does not roll back on its own; dated after, it rolls back in that invocation", async (kind) => {
    const w = await createWorld(moto, { name: `event-${kind}` });
    const c = controllerFor(w);
    w.clock.advance(10 * MIN);
    await c.command({ command: "start", release: { version: "v2" } });
    const started = (await c.status()).state.startedAt;
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "OK", StateReason: "fine" }));
    w.clock.advance(5_000);

    // Years old (an archive replay), then one second before the start (left over from the last release).
    for (const at of [Date.UTC(2019, 9, 2, 17, 4, 40, 989), started - 1_000]) {
      const stale = await c.handle(realEvent(kind, w, at));
      expect(stale).toMatchObject({ phase: "progressing", action: "hold", transition: false });
      expect((stale as { eventNotTrusted: string }).eventNotTrusted).toMatch(/before the rollout started/);
      expect(stale).not.toHaveProperty("fastPath");
    }
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    const notTrusted = (await history(w)).filter((h) => h.action === "alarm-event-not-trusted");
    expect(notTrusted).toHaveLength(2);
    expect(notTrusted[0]!.event).toMatchObject({ alarmName: w.alarmName, fresh: false, alarmArn: expect.stringContaining(":alarm:"), stateTimestamp: "2019-10-02T17:04:40.989+0000" });
    expect(notTrusted[0]!.reason).toMatch(/current state was read instead: OK/);
    // A redelivery of the same event id is not recorded twice.
    await c.handle(realEvent(kind, w, started - 1_000));
    expect((await history(w)).filter((h) => h.action === "alarm-event-not-trusted")).toHaveLength(2);

    const fresh = await c.handle(realEvent(kind, w, w.clock.now - 1_000));
    expect(fresh).toMatchObject({ action: "rollback", fastPath: true, phase: "rolled-back", slotWeights: { blue: 999, green: 0 } });
    const rollback = (await history(w)).at(-1)!;
    expect(rollback).toMatchObject({ action: "rollback", event: { fresh: true, id: expect.stringContaining(kind), alarmArn: `arn:aws:cloudwatch:us-east-1:123456789012:alarm:${w.alarmName}` } });
    if (kind === "composite") expect(rollback.event).toMatchObject({ actionsSuppressedBy: "WaitPeriod", actionsSuppressedReason: "Actions suppressed by WaitPeriod" });
    if (kind === "muted") expect(rollback.event!.muteDetail).toMatchObject({ mutedByArn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:deploy-window" });
  });

  test.each([
    ["another account", (e: Record<string, unknown>) => ({ ...e, account: "210987654321" }), /account 210987654321/],
    ["another region", (e: Record<string, unknown>) => ({ ...e, region: "eu-west-1" }), /region eu-west-1/],
    ["an alarm ARN of another account", (e: Record<string, unknown>) => ({ ...e, resources: [String((e.resources as string[])[0]).replace("123456789012", "210987654321")] }), /alarm ARN in account/],
    ["an unparseable state timestamp", (e: Record<string, unknown>) => ({ ...e, detail: { ...(e.detail as object), state: { ...((e.detail as { state: object }).state), timestamp: "yesterday" } } }), /does not parse/],
    ["no state timestamp", (e: Record<string, unknown>) => ({ ...e, detail: { ...(e.detail as object), state: { value: "ALARM" } } }), /no state timestamp/],
    ["a state dated a day ahead", (e: Record<string, unknown>) => ({ ...e, detail: { ...(e.detail as object), state: { value: "ALARM", timestamp: awsTimestamp(T0 + 2 * 86_400_000) } } }), /in the future/],
  ])("an ALARM event from %s is recorded and evaluated on the alarm's current state: ALARM now still rolls back", async (_name, mutate, why) => {
    const w = await createWorld(moto, { name: `event-${_name.replace(/\W+/g, "-").slice(0, 24)}` });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    w.clock.advance(5_000);
    const event = mutate(realEvent("single", w, w.clock.now));
    const ok = await c.handle(event);
    expect(ok).toMatchObject({ transition: false, eventNotTrusted: expect.stringMatching(why) });
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    const rolled = await c.handle({ ...event, id: "another-delivery" });
    expect(rolled).toMatchObject({ action: "rollback", phase: "rolled-back", eventNotTrusted: expect.stringMatching(why) });
    expect(rolled).not.toHaveProperty("fastPath");
    expect((await history(w)).at(-1)!.event).toMatchObject({ fresh: false, staleReason: expect.stringMatching(why) });
  });

  test.each([
    ["single metric", SINGLE_METRIC],
    ["metric math", METRIC_MATH],
    ["anomaly detection", ANOMALY_DETECTION],
    ["composite (actions suppressed)", COMPOSITE],
    ["multi time series", MULTI_TIME_SERIES],
  ] as const)("AWS's documented %s event, verbatim: dated before the rollout started, no fast-path rollback; dated after, a rollback in that invocation, recorded with its id, ARN, suppression and mute details", async (name, sample) => {
    const detail = sample.detail as { alarmName: string; state: { timestamp: string }; muteDetail?: Record<string, string> };
    const stateAt = parseAwsTimestamp(detail.state.timestamp)!;
    const policy = { strategy: { type: "canary" as const, steps: [{ percent: 10, hold: "1m" }, { percent: 50, hold: "1m" }] }, gates: [{ type: "alarm" as const, name: "alarms", alarms: [detail.alarmName] }] };
    const slug = name.replace(/\W+/g, "-").slice(0, 20);
    const expectedEvent = {
      id: sample.id,
      alarmName: detail.alarmName,
      alarmArn: sample.resources[0],
      stateTimestamp: detail.state.timestamp,
      ...(detail.muteDetail ? { muteDetail: detail.muteDetail } : {}),
      ...(sample === COMPOSITE ? { actionsSuppressedBy: "WaitPeriod", actionsSuppressedReason: "Actions suppressed by WaitPeriod" } : {}),
    };

    // The rollout started a minute after the event's state changed: the event is old news.
    const stale = await createWorld(moto, { name: `doc-stale-${slug}`, policy });
    stale.clock.now = stateAt + MIN;
    await controllerFor(stale).command({ command: "start", release: { version: "v2" } });
    stale.clock.advance(5_000);
    const held = await controllerFor(stale).handle(sample);
    expect(held).toMatchObject({ phase: "progressing", transition: false, eventNotTrusted: expect.stringMatching(/before the rollout started/) });
    expect(held).not.toHaveProperty("fastPath");
    expect((await routerOf(stale).read()).weights).toEqual({ blue: 899, green: 100 });
    expect((await history(stale)).at(-1)).toMatchObject({ action: "alarm-event-not-trusted", event: { ...expectedEvent, fresh: false } });

    // The rollout started five minutes before it: the event rolls back at once, without a metric read.
    const fresh = await createWorld(moto, { name: `doc-fresh-${slug}`, policy });
    fresh.clock.now = stateAt - 5 * MIN;
    await controllerFor(fresh).command({ command: "start", release: { version: "v2" } });
    fresh.clock.now = stateAt + 2_000;
    const from = fresh.calls.length;
    expect(await controllerFor(fresh).handle(sample)).toMatchObject({ action: "rollback", fastPath: true, phase: "rolled-back", slotWeights: { blue: 999, green: 0 } });
    expect(fresh.calls.slice(from)).not.toContain("DescribeAlarmsCommand");
    expect((await routerOf(fresh).read()).weights).toEqual({ blue: 999, green: 0 });
    expect((await history(fresh)).at(-1)).toMatchObject({ action: "rollback", event: { ...expectedEvent, fresh: true } });
  });

  test("a stale error-budget ALARM event does not set the global freeze unless the alarm is in ALARM now", async () => {
    const w = await createWorld(moto, { name: "event-freeze" });
    const c = controllerFor(w);
    w.clock.advance(MIN);
    await c.handle(alarmEvent(w.freezeAlarm, "ALARM", Date.UTC(2020, 0, 1)));
    expect((await c.status()).frozen).toBe(false);
    await c.handle(alarmEvent(w.freezeAlarm, "ALARM", w));
    expect((await c.status()).frozen).toBe(true);
  });
});

describe("bounds on input, short errors", () => {
  test.each([
    ["a 450 KB alarm name", () => alarmEvent("a".repeat(450_000), "ALARM", T0), /detail\.alarmName: must be at most 255 characters/],
    ["a 1 MB command name", () => ({ command: "x".repeat(1_000_000) }), /command: must be one of .*got "x{64}"\.\.\. \(1000000 characters\)/],
    ["a 1 MB source", () => ({ source: "s".repeat(1_000_000) }), /source: must be .*\(1000000 characters\)/],
    ["a 1 MB service", () => ({ command: "status", service: "s".repeat(1_000_000) }), /service: must be at most 128 characters/],
    ["100,000 unknown fields", () => Object.fromEntries([["command", "status"], ...Array.from({ length: 100_000 }, (_, i) => [`f${i}`, 1])]), /and 99990 more problem\(s\)/],
    ["an SNS-delivered alarm notification", () => ({ Records: [{ EventSource: "aws:sns", Sns: { Message: JSON.stringify({ AlarmName: "x", NewStateValue: "ALARM" }) } }] }), /Records\[0\]\.EventSource: SNS-delivered alarm notifications are not a controller trigger.*EventBridge rule/],
  ])("%s is refused naming the field, with a short message", async (_name, payload, message) => {
    const w = await createWorld(moto, { name: `bounds-${_name.replace(/\W+/g, "-").slice(0, 20)}` });
    const err = (await controllerFor(w).handle(payload()).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe("InvalidPayloadError");
    expect(err.message).toMatch(message);
    expect(err.message.length).toBeLessThan(2_000);
  });
});
