/**
 * The controller against moto in server mode: real SDK v3 clients over HTTP to 127.0.0.1, a
 * fake clock, metric data put with PutMetricData and alarm states set with SetAlarmState.
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeListenersCommand, DescribeRulesCommand, ModifyListenerCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { statusResponseSchema } from "../src/controller/events.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { TEST_POLICY, alarmEvent, controllerFor, createWorld, MIN, putTraffic, T0, tickEvent, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const storeOf = (w: World) => createStateStore(w.clients.documents, { table: w.config.table });
const routerOf = (w: World, mode: "listener" | "rule" = "listener") =>
  createTrafficRouter(w.clients.elbv2, { ...(mode === "listener" ? { listenerArn: w.listenerArn } : { ruleArn: w.ruleArn }), blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const good = { requests: 150, errors: 0 };
const goodBaseline = { requests: 900, errors: 1 };

describe("controller against moto", () => {
  test("a good rollout walks 10 % -> 50 % -> 100 % on metrics from PutMetricData, keeps stickiness, then the next release ping-pongs to blue", async () => {
    // Prepare
    const w = await createWorld(moto, { name: "good", stickiness: true });
    const c = controllerFor(w);

    // Act: start
    const started = await c.command({ command: "start", release: { version: "v2" }, actor: "alice" });
    expect(started).toMatchObject({ ok: true, action: "advance", phase: "progressing", slotWeights: { blue: 899, green: 100 } });
    const listener = await w.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [w.listenerArn] }));
    const fwd = listener.Listeners![0]!.DefaultActions![0]!.ForwardConfig!;
    expect(fwd.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 899 },
      { TargetGroupArn: w.greenTg, Weight: 100 },
    ]);
    expect(fwd.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 300 });

    // Too early: the hold is not over.
    w.clock.advance(30_000);
    expect(await c.handle(tickEvent)).toMatchObject({ action: "hold", transition: false });

    await putTraffic(w, T0, { blue: goodBaseline, green: good });
    w.clock.now = T0 + MIN + 1_000;
    expect(await c.handle(tickEvent)).toMatchObject({ action: "advance", slotWeights: { blue: 499, green: 500 } });

    await putTraffic(w, T0 + MIN, { blue: goodBaseline, green: good });
    await putTraffic(w, T0 + 2 * MIN, { blue: goodBaseline, green: good });
    w.clock.now = T0 + 3 * MIN + 1_000;
    expect(await c.handle(tickEvent)).toMatchObject({ action: "promote", phase: "promoted", slotWeights: { blue: 0, green: 999 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 0, green: 999 });

    // Assess: status (what the Pulumi component reads), history
    const status = await c.command({ command: "status" });
    expect(status).toMatchObject({ ok: true, service: "good", phase: "promoted", stableSlot: "green", idleSlot: "blue", frozen: false, killSwitch: false, drift: false });
    expect(statusResponseSchema.parse(JSON.parse(JSON.stringify(status)))).toMatchObject({ stableSlot: "green", phase: "promoted" });
    const history = await storeOf(w).history("good");
    expect(history.map((h) => h.action)).toEqual(["promote", "advance", "advance"]);
    // In-process callers are not verified: recorded as such, with the name they sent as a claim.
    expect(history[2]).toMatchObject({ actor: "unverified:in-process", claimedActor: "alice", via: "in-process", trigger: "command:start", kind: "command" });
    expect(history.every((h) => h.rolloutId === "v2-rollout-1")).toBe(true);

    // Ping-pong: v3 goes to blue, which is idle now.
    w.clock.advance(MIN);
    const next = await c.command({ command: "start", release: { version: "v3" } });
    expect(next).toMatchObject({ ok: true, slotWeights: { blue: 100, green: 899 } });
    const s3 = await c.status();
    expect(s3.state.release).toEqual({ stable: "v2", canary: "v3" });
    expect(s3.stableSlot).toBe("green");
  });

  test("an alarm going to ALARM rolls a listener rule back in the same invocation, without reading metrics", async () => {
    const w = await createWorld(moto, { name: "alarm", mode: "rule" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    expect((await routerOf(w, "rule").read()).weights).toEqual({ blue: 899, green: 100 });

    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(10_000);
    const before = w.calls.length;
    const result = await c.handle(alarmEvent(w.alarmName, "ALARM", w));

    expect(result).toMatchObject({ action: "rollback", phase: "rolled-back", fastPath: true, slotWeights: { blue: 999, green: 0 } });
    const rule = await w.clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [w.ruleArn] }));
    expect(rule.Rules![0]!.Actions![0]!.ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: w.blueTg, Weight: 999 },
      { TargetGroupArn: w.greenTg, Weight: 0 },
    ]);
    const during = w.calls.slice(before);
    expect(during).not.toContain("GetMetricDataCommand");
    expect(during).not.toContain("DescribeAlarmsCommand");
    // Weights were written before the state.
    expect(during.indexOf("ModifyRuleCommand")).toBeLessThan(during.indexOf("TransactWriteItemsCommand"));
    expect((await storeOf(w).history("alarm"))[0]).toMatchObject({ action: "rollback", trigger: `alarm:${w.alarmName}`, phase: "rolled-back" });
  });

  test("onDrift=hold: a person shedding canary traffic by hand is detected as drift, recorded once in history, and holds the rollout", async () => {
    const w = await createWorld(moto, { name: "drift", policy: { ...TEST_POLICY, onDrift: "hold" } });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    const edit = (blue: number, green: number) =>
      w.clients.elbv2.send(
        new ModifyListenerCommand({
          ListenerArn: w.listenerArn,
          DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: blue }, { TargetGroupArn: w.greenTg, Weight: green }] } }],
        }),
      );
    await edit(949, 50);
    await putTraffic(w, T0, { blue: goodBaseline, green: good });
    w.clock.now = T0 + MIN + 1_000;

    const first = await c.tick();
    expect(first).toMatchObject({ action: "hold", phase: "paused", transition: true, drift: { actual: { stable: 949, canary: 50 }, recorded: { stable: 899, canary: 100 } } });
    const second = await c.tick();
    expect(second).toMatchObject({ phase: "paused", transition: false });

    const history = await storeOf(w).history("drift");
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ drift: { actual: { stable: 949, canary: 50 } }, phase: "paused" });
    // The listener is left as the human set it (onDrift=hold), and status reports the drift.
    expect((await routerOf(w).read()).weights).toEqual({ blue: 949, green: 50 });
    expect(await c.status()).toMatchObject({ drift: true, phase: "paused" });

    // The same person now gives the canary more than it was committed: never held, put back at once.
    await edit(500, 499);
    w.clock.advance(10_000);
    const raised = await c.tick();
    expect(raised).toMatchObject({ action: "hold", phase: "paused", transition: true, drift: { actual: { stable: 500, canary: 499 } } });
    expect(raised.reason).toMatch(/although onDrift=hold: the canary gets 499, more than its committed 100/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });

    // Resume re-applies the recorded weights.
    await edit(949, 50);
    const resumed = await c.command({ command: "resume", actor: "bob" });
    expect(resumed).toMatchObject({ ok: true, phase: "progressing" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
  });

  test("by default (onDrift=reapply) a manual weight edit is recorded as drift and the committed weights are put back in the same tick", async () => {
    const w = await createWorld(moto, { name: "drift-default" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await w.clients.elbv2.send(
      new ModifyListenerCommand({
        ListenerArn: w.listenerArn,
        DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: 949 }, { TargetGroupArn: w.greenTg, Weight: 50 }] } }],
      }),
    );
    w.clock.advance(10_000);
    expect(await c.tick()).toMatchObject({ action: "hold", phase: "progressing", transition: true, drift: { actual: { stable: 949, canary: 50 } } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    expect((await storeOf(w).history(w.name))[0]).toMatchObject({ drift: { actual: { stable: 949, canary: 50 } }, repair: { before: { targets: [{ weight: 949 }, { weight: 50 }] } } });
    w.clock.advance(10_000);
    expect(await c.tick()).toMatchObject({ phase: "progressing", transition: false });
  });

  test("a global freeze (by command or by an error-budget alarm) blocks every advance and every start", async () => {
    const w = await createWorld(moto, { name: "freeze" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    expect(await c.command({ command: "freeze", actor: "sre", note: "incident 42" })).toMatchObject({ ok: true, frozen: true, noop: false });

    await putTraffic(w, T0, { blue: goodBaseline, green: good });
    w.clock.now = T0 + MIN + 1_000;
    const held = await c.tick();
    expect(held).toMatchObject({ action: "hold", transition: false });
    expect(held.reason).toMatch(/freeze/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    expect(await c.command({ command: "promote" })).toMatchObject({ ok: false, code: "frozen" });

    // Starting is blocked too (abort first so a start would otherwise be allowed).
    await c.command({ command: "abort" });
    const version = (await c.status()).version;
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: false, code: "frozen" });
    expect((await c.status()).version).toBe(version);

    // Unfreeze, then an error-budget alarm freezes again on its own.
    expect(await c.command({ command: "unfreeze" })).toMatchObject({ frozen: false, noop: false });
    await c.handle(alarmEvent(w.freezeAlarm, "ALARM", w));
    expect((await c.status()).frozen).toBe(true);
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: false, code: "frozen" });
    const global = await storeOf(w).globalHistory();
    expect(global.map((h) => h.action)).toEqual(["freeze", "unfreeze", "freeze"]);
    expect(global[0]).toMatchObject({ trigger: `alarm:${w.freezeAlarm}` });
  });

  test("kill rolls back at once and blocks starts until unkill", async () => {
    const w = await createWorld(moto, { name: "kill" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    const killed = await c.command({ command: "kill", actor: "oncall" });
    expect(killed).toMatchObject({ ok: true, action: "rollback", phase: "rolled-back", killSwitch: true, slotWeights: { blue: 999, green: 0 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: false, code: "killed" });
    expect(await c.command({ command: "unkill" })).toMatchObject({ ok: true, killSwitch: false });
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: true, slotWeights: { blue: 899, green: 100 } });
  });

  test("an alarm event rolls back in one invocation even while the listener has drifted", async () => {
    const w = await createWorld(moto, { name: "alarmdrift" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await routerOf(w).setWeights({ blue: 600, green: 399 });
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(5_000);
    expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ action: "rollback", fastPath: true, drift: { actual: { stable: 600, canary: 399 } } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
  });

  test("kill wins over drift: a kill during a drifted rollout still rolls back", async () => {
    const w = await createWorld(moto, { name: "killdrift" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await routerOf(w).setWeights({ blue: 700, green: 299 });
    await c.tick(); // drift -> paused
    expect(await c.command({ command: "kill" })).toMatchObject({ action: "rollback", slotWeights: { blue: 999, green: 0 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
  });
});
