/**
 * Concurrency, idempotency and half-failures of the controller against moto: many invocations
 * at once, the same delivery repeated, and SDK errors injected at every call site.
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createStateStore, type HistoryRecord } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { alarmEvent, controllerFor, createWorld, MIN, putTraffic, T0, TEST_POLICY, tickEvent, type World } from "./support/moto-world.js";

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
const count = (w: World, command: string, from = 0) => w.calls.slice(from).filter((c) => c === command).length;

/** History has one record per committed version: none lost, none doubled. */
async function expectGaplessHistory(w: World): Promise<HistoryRecord[]> {
  const history = (await storeOf(w).history(w.name)).reverse();
  const record = await storeOf(w).get(w.name);
  const seqs = history.map((h) => h.seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(Math.max(...seqs)).toBeLessThanOrEqual(record!.version);
  return history;
}

function throttling(): Error {
  return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $fault: "client", $metadata: { httpStatusCode: 400 } });
}
function serverError(): Error {
  return Object.assign(new Error("We encountered an internal error"), { name: "InternalFailure", $fault: "server", $metadata: { httpStatusCode: 500 } });
}
function timeout(): Error {
  return Object.assign(new Error("socket timed out"), { name: "TimeoutError" });
}

describe("the emulator's conditional writes are as atomic as DynamoDB's", () => {
  // Why the 24-invocation test below flaked under load (two transitions at one decision point, or
  // a committed history record gone): moto's TransactWriteItems takes no lock and, when a condition
  // fails, restores the whole table from a copy taken before a concurrent winner committed. startMoto
  // serializes moto's DynamoDB backend (ATOMIC_DYNAMODB_LAUNCHER). The race is inside one moto
  // request, so no proxy delay can order it; this test makes it likely instead (a table of some
  // hundred items makes each copy slow) and checks every round. Against `python3 -m moto.server`
  // unpatched it fails in most rounds (HTTP 500 "dictionary changed size during iteration", two
  // winners, or the winner's write erased).
  test("24 concurrent transactions conditional on one version: exactly one wins, its writes survive, no other error", { timeout: 120_000 }, async () => {
    const w = await createWorld(moto, { name: "atomic" });
    const docs = w.clients.documents;
    const table = w.config.table;
    for (let i = 0; i < 150; i += 25) {
      await docs.send(new BatchWriteCommand({ RequestItems: { [table]: Array.from({ length: 25 }, (_, k) => ({ PutRequest: { Item: { pk: "filler", sk: `x${i + k}`, blob: "y".repeat(400) } } })) } }));
    }
    await docs.send(new PutCommand({ TableName: table, Item: { pk: "race", sk: "state", version: 0 } }));
    const problems: string[] = [];
    for (let v = 0; v < 8; v++) {
      const settled = await Promise.allSettled(
        Array.from({ length: 24 }, (_, i) =>
          docs.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: { TableName: table, Item: { pk: "race", sk: "state", version: v + 1, by: i }, ConditionExpression: "version = :v", ExpressionAttributeValues: { ":v": v } } },
                { Put: { TableName: table, Item: { pk: "race-history", sk: `${v}-${i}` }, ConditionExpression: "attribute_not_exists(pk)" } },
              ],
            }),
          ),
        ),
      );
      const winners = settled.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      const others = settled.flatMap((r) => (r.status === "rejected" && (r.reason as Error).name !== "TransactionCanceledException" ? [`${(r.reason as Error).name}: ${(r.reason as Error).message.slice(0, 80)}`] : []));
      const state = (await docs.send(new GetCommand({ TableName: table, Key: { pk: "race", sk: "state" }, ConsistentRead: true }))).Item;
      const history = (await docs.send(new QueryCommand({ TableName: table, KeyConditionExpression: "pk = :p AND begins_with(sk, :s)", ExpressionAttributeValues: { ":p": "race-history", ":s": `${v}-` }, ConsistentRead: true }))).Items ?? [];
      if (winners.length !== 1 || others.length || state?.version !== v + 1 || state?.by !== winners[0] || history.length !== 1 || history[0]!.sk !== `${v}-${winners[0]}`) {
        problems.push(`version ${v}: winners ${JSON.stringify(winners)}, stored ${JSON.stringify(state)}, history ${JSON.stringify(history.map((h) => h.sk))}, errors ${JSON.stringify(others.slice(0, 2))}`);
        await docs.send(new PutCommand({ TableName: table, Item: { pk: "race", sk: "state", version: v + 1 } }));
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("concurrency against moto", () => {
  test("24 concurrent invocations (ticks and alarm events mixed) make exactly one transition per decision point and lose no history record", async () => {
    const w = await createWorld(moto, { name: "race" });
    const c0 = controllerFor(w);
    await c0.command({ command: "start", release: { version: "v2" } });
    await putTraffic(w, T0, { blue: baseline, green: good });
    w.clock.now = T0 + MIN + 1_000;

    // Decision point 1: the step passed. Each invocation is its own controller, as in separate Lambda containers.
    const burst1 = await Promise.all(
      Array.from({ length: 24 }, (_, i) => controllerFor(w).handle(i % 2 ? tickEvent : alarmEvent("some-unrelated-alarm", "OK", w))),
    );
    expect(burst1.filter((r) => "transition" in r && r.transition)).toHaveLength(1);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });

    // Decision point 2: the gate alarm fires; ticks see it through DescribeAlarms, events carry it.
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(5_000);
    const burst2 = await Promise.all(Array.from({ length: 24 }, (_, i) => controllerFor(w).handle(i % 3 === 0 ? tickEvent : alarmEvent(w.alarmName, "ALARM", w))));
    const transitions = burst2.filter((r) => "transition" in r && r.transition);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ action: "rollback" });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });

    const history = await expectGaplessHistory(w);
    expect(history.map((h) => h.action)).toEqual(["advance", "advance", "rollback"]);
    // One event per transition (EventBridge and SNS each).
    expect(count(w, "PutEventsCommand")).toBe(3);
    expect(count(w, "PublishCommand")).toBe(3);
  });
});

describe("repairs under concurrency", () => {
  test.each(["reapply", "hold"] as const)("24 concurrent ticks after a hand edit that raises the canary (onDrift=%s): one re-apply record, the committed weights on the listener, nothing recorded twice", async (onDrift) => {
    const w = await createWorld(moto, { name: `race-repair-${onDrift}`, policy: { ...TEST_POLICY, onDrift } });
    await controllerFor(w).command({ command: "start", release: { version: "v2" } });
    await routerOf(w).setWeights({ blue: 500, green: 499 });
    w.clock.advance(10_000);
    const burst = await Promise.all(Array.from({ length: 24 }, () => controllerFor(w).handle(tickEvent)));
    expect(burst.filter((r) => "transition" in r && r.transition)).toHaveLength(1);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    const history = await expectGaplessHistory(w);
    expect(history.map((h) => h.action)).toEqual(["advance", "hold"]);
    expect(history[1]).toMatchObject({ drift: { actual: { stable: 500, canary: 499 } }, repair: { before: { targets: [{ weight: 500 }, { weight: 499 }] } } });
    expect(await controllerFor(w).status()).toMatchObject({ phase: "progressing", drift: false, applied: true });
  });
});

describe("idempotency against moto", () => {
  test("the same alarm event delivered 5 times: same weights, one rollback record, one event", async () => {
    const w = await createWorld(moto, { name: "idem-alarm" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    const from = w.calls.length;
    for (let i = 0; i < 5; i++) {
      w.clock.advance(1_000);
      const r = await c.handle(alarmEvent(w.alarmName, "ALARM", w));
      expect(r).toMatchObject({ slotWeights: { blue: 999, green: 0 }, phase: "rolled-back" });
      expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    }
    const history = await storeOf(w).history(w.name);
    expect(history.filter((h) => h.action === "rollback")).toHaveLength(1);
    expect(count(w, "PutEventsCommand", from)).toBe(1);
    expect(count(w, "PublishCommand", from)).toBe(1);
  });

  test.each([
    ["abort", { command: "abort", actor: "a" }],
    ["kill", { command: "kill" }],
    ["start", { command: "start", release: { version: "v2" } }],
    ["pause", { command: "pause" }],
    ["freeze", { command: "freeze" }],
  ])("the same %s command delivered 5 times gives one transition and one event", async (name, payload) => {
    const w = await createWorld(moto, { name: `idem-${name}` });
    const c = controllerFor(w);
    if (name !== "start") await c.command({ command: "start", release: { version: "v2" } });
    const from = w.calls.length;
    const versionBefore = (await c.status()).version;
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await c.command(payload));
    expect(results[0]).toMatchObject({ ok: true, noop: false });
    for (const r of results.slice(1)) {
      // Repeats either change nothing, or (pause) are refused as values; none makes a transition.
      expect(r.ok ? (r as { noop: boolean }).noop : (r as { code: string }).code).toBe(r.ok ? true : "not-active");
    }
    expect(count(w, "PutEventsCommand", from)).toBe(1);
    const status = await c.status();
    expect(status.version - versionBefore).toBe(name === "freeze" ? 0 : 1);
    expect(status.slotWeights).toEqual(results[0]!.ok && "slotWeights" in results[0]! ? results[0].slotWeights : status.slotWeights);
  });
});

describe("faults against moto: SDK errors injected at each call site (client middleware failing the Nth call)", () => {
  // The alarm fast path's call sites, in order: reads, then ModifyListener, then the transaction, then events.
  test.each([
    ["GetItemCommand", throttling],
    ["DescribeListenersCommand", serverError],
    ["ModifyListenerCommand", throttling],
    ["ModifyListenerCommand", timeout],
    ["TransactWriteItemsCommand", serverError],
    ["TransactWriteItemsCommand", timeout],
    ["PutEventsCommand", serverError],
    ["PublishCommand", throttling],
  ])("rollback with %s failing (%o): canary never above its last weight, next invocation converges", async (command, fault) => {
    const w = await createWorld(moto, { name: `fault-rb-${command.replace("Command", "").toLowerCase()}-${fault.name}` });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(2_000);

    w.failNth(command, 1, fault);
    await c.handle(alarmEvent(w.alarmName, "ALARM", w)).catch(() => undefined);
    expect((await routerOf(w).read()).weights.green).toBeLessThanOrEqual(100);
    w.clearFaults();

    // The next invocation (the tick, or the alarm's redelivery) finishes the rollback.
    w.clock.advance(60_000);
    await c.handle(tickEvent);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    const status = await c.status();
    expect(status).toMatchObject({ phase: "rolled-back", drift: false, applied: true });
    const history = await storeOf(w).history(w.name);
    expect(history.filter((h) => h.action === "rollback")).toHaveLength(1);
    expect(history.some((h) => h.drift)).toBe(false);
  });

  test.each([
    ["TransactWriteItemsCommand", throttling],
    ["ModifyListenerCommand", serverError],
    ["UpdateItemCommand", timeout],
  ])("advance with %s failing: a losing write never moves traffic, a half-done one is finished and not taken for drift", async (command, fault) => {
    const w = await createWorld(moto, { name: `fault-adv-${command.replace("Command", "").toLowerCase()}` });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    await putTraffic(w, T0, { blue: baseline, green: good });
    w.clock.now = T0 + MIN + 1_000;

    w.failNth(command, 1, fault);
    await expect(c.tick()).rejects.toThrow();
    const mid = (await routerOf(w).read()).weights;
    if (command === "TransactWriteItemsCommand") expect(mid).toEqual({ blue: 899, green: 100 });
    w.clearFaults();

    w.clock.advance(10_000);
    await c.tick();
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    const status = await c.status();
    expect(status).toMatchObject({ phase: "progressing", drift: false, applied: true });
    expect(status.state.stepIndex).toBe(1);
    const history = await storeOf(w).history(w.name);
    expect(history.map((h) => h.action)).toEqual(["advance", "advance"]);
    expect(history.some((h) => h.drift)).toBe(false);
  });

  test("start with the listener write failing: the release is not rolled back or paused as drift; the next tick applies step 1", async () => {
    const w = await createWorld(moto, { name: "fault-start" });
    const c = controllerFor(w);
    w.failNth("ModifyListenerCommand", 1, serverError);
    await expect(c.command({ command: "start", release: { version: "v2" } })).rejects.toThrow(/internal error/);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    w.clearFaults();
    w.clock.advance(20_000);
    expect(await c.tick()).toMatchObject({ phase: "progressing", slotWeights: { blue: 899, green: 100 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    expect((await c.status()).applied).toBe(true);
  });
});
