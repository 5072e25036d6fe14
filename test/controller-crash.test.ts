/**
 * Crashes and lost responses against moto, with the real SDK clients. A fault-injecting proxy in
 * front of moto (test/support/fault-proxy.ts) either SIGKILLs a child process running one
 * invocation (test/support/crash-child.ts) at a chosen request, before it is sent or after it has
 * landed, or lets a request land and drops its response. After each fault the next invocations
 * must converge to a safe, recorded end state.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createClients } from "../src/aws/clients.js";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { controllerEnv } from "../src/controller/config.js";
import { OUTBOX_GRACE_MS } from "../src/controller/outbox.js";
import { createControllerFromClients } from "../src/controller/wiring.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { startFaultProxy, type FaultKind, type FaultProxy } from "./support/fault-proxy.js";
import { alarmEvent, controllerFor, createWorld, MIN, putTraffic, T0, tickEvent, type World } from "./support/moto-world.js";

const ROOT = resolve(import.meta.dirname, "..");
const CHILD = resolve(import.meta.dirname, "support/crash-child.ts");

let moto: MotoServer;
let proxy: FaultProxy;
beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

const storeOf = (w: World) => createStateStore(w.clients.documents, { table: w.config.table });
const routerOf = (w: World, mode: "listener" | "rule" = "listener") =>
  createTrafficRouter(w.clients.elbv2, { ...(mode === "rule" ? { ruleArn: w.ruleArn } : { listenerArn: w.listenerArn }), blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const good = { requests: 150, errors: 0 };
const baseline = { requests: 900, errors: 1 };

/** Runs one invocation in a child process and SIGKILLs it when the proxy sees `operation` (before or after it lands). */
async function crashAt(w: World, payload: unknown, operation: string, kind: Exclude<FaultKind, "lose-response">): Promise<{ signal: NodeJS.Signals | null; output: string }> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ROLLGATE_"))),
    ...controllerEnv(w.config),
    AWS_ENDPOINT_URL: proxy.endpoint,
    CRASH_CLOCK: String(w.clock.now),
    CRASH_PAYLOAD: JSON.stringify(payload),
  };
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  proxy.clear();
  proxy.add({ operation, nth: 1, kind, onHit: () => child.kill("SIGKILL") });
  const signal = await new Promise<NodeJS.Signals | null>((done) => child.once("exit", (_code, sig) => done(sig)));
  proxy.clear();
  return { signal, output };
}

async function rollbackWorld(name: string): Promise<World> {
  const w = await createWorld(moto, { name });
  await controllerFor(w).command({ command: "start", release: { version: "v2" } });
  await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
  w.clock.advance(5_000);
  return w;
}

async function advanceWorld(name: string, mode: "listener" | "rule" = "listener"): Promise<World> {
  const w = await createWorld(moto, { name, mode });
  await controllerFor(w).command({ command: "start", release: { version: "v2" } });
  await putTraffic(w, T0, { blue: baseline, green: good });
  w.clock.now = T0 + MIN + 1_000;
  return w;
}

async function expectRolledBack(w: World): Promise<void> {
  const c = controllerFor(w);
  w.clock.advance(5_000);
  await c.tick();
  expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
  expect(await c.status()).toMatchObject({ phase: "rolled-back", drift: false, applied: true });
  const history = await storeOf(w).history(w.name);
  expect(history.filter((h) => h.action === "rollback")).toHaveLength(1);
  expect(new Set(history.map((h) => h.seq)).size).toBe(history.length);
}

async function expectAdvanced(w: World, mode: "listener" | "rule" = "listener"): Promise<void> {
  const c = controllerFor(w);
  w.clock.advance(5_000);
  await c.tick();
  expect((await routerOf(w, mode).read()).weights).toEqual({ blue: 499, green: 500 });
  expect(await c.status()).toMatchObject({ phase: "progressing", drift: false, applied: true, state: { stepIndex: 1 } });
  const history = (await storeOf(w).history(w.name)).reverse();
  expect(history.map((h) => h.action)).toEqual(["advance", "advance"]);
}

describe("SIGKILL of the invoking process at each point between reading, writing, committing and publishing", () => {
  test.each([
    ["GetItem", "hold-after", "after reading the state"],
    ["ModifyListener", "hold-before", "after the reads, before the weights write"],
    ["ModifyListener", "hold-after", "after the weights write landed, before the commit"],
    ["TransactWriteItems", "hold-after", "after the commit landed, before publishing"],
    ["PutEvents", "hold-before", "while publishing"],
  ] as const)("alarm fast-path rollback, killed at %s (%s): %s", async (operation, kind, _point) => {
    const w = await rollbackWorld(`kill-rb-${operation}-${kind}`.toLowerCase());
    const { signal, output } = await crashAt(w, alarmEvent(w.alarmName, "ALARM", w), operation, kind);
    expect(signal, output).toBe("SIGKILL");
    // Whatever landed, the canary never got more than it had.
    expect((await routerOf(w).read()).weights.green).toBeLessThanOrEqual(100);
    await expectRolledBack(w);
  });

  test.each([
    ["GetMetricData", "hold-before", "after reading the state, while reading metrics"],
    ["TransactWriteItems", "hold-before", "before the commit"],
    ["TransactWriteItems", "hold-after", "after the commit (applied=false) landed, before the weights write"],
    ["ModifyListener", "hold-after", "after the weights write landed, before marking it applied"],
    ["UpdateItem", "hold-before", "before marking the write applied"],
    ["PutEvents", "hold-before", "while publishing"],
  ] as const)("tick advancing from step 1 to step 2, killed at %s (%s): %s", async (operation, kind, _point) => {
    const w = await advanceWorld(`kill-adv-${operation}-${kind}`.toLowerCase());
    const { signal, output } = await crashAt(w, tickEvent, operation, kind);
    expect(signal, output).toBe("SIGKILL");
    await expectAdvanced(w);
  });
});

describe("outbox: a decision event lost between the commit and the publish is sent by a later invocation", () => {
  /** Every PutEvents and SNS Publish the world's own clients send from now on (the test's controllers). */
  function captureEvents(w: World): { eventBridge: Array<Record<string, unknown>>; sns: Array<{ detail: Record<string, unknown>; eventId?: string }> } {
    const out = { eventBridge: [] as Array<Record<string, unknown>>, sns: [] as Array<{ detail: Record<string, unknown>; eventId?: string }> };
    const mw = (kind: "eventBridge" | "sns") => (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      const input = (args as { input: Record<string, any> }).input;
      if (kind === "eventBridge" && input.Entries) for (const e of input.Entries) out.eventBridge.push(JSON.parse(e.Detail));
      if (kind === "sns" && input.Message) out.sns.push({ detail: JSON.parse(input.Message), eventId: input.MessageAttributes?.eventId?.StringValue });
      return next(args);
    };
    (w.clients.eventbridge.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(mw("eventBridge"), { step: "initialize", name: `capture-eb-${Math.random()}` });
    (w.clients.sns.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(mw("sns"), { step: "initialize", name: `capture-sns-${Math.random()}` });
    return out;
  }

  test.each([
    ["alarm fast-path rollback", "rollback"],
    ["tick advancing from step 1 to step 2", "advance"],
  ] as const)("%s, SIGKILLed after the commit landed and before publishing: the next tick after the grace publishes exactly that event, once", async (_what, action) => {
    const w = action === "rollback" ? await rollbackWorld(`outbox-kill-${action}`) : await advanceWorld(`outbox-kill-${action}`);
    const events = captureEvents(w);
    const { signal, output } = await crashAt(w, action === "rollback" ? alarmEvent(w.alarmName, "ALARM", w) : tickEvent, "TransactWriteItems", "hold-after");
    expect(signal, output).toBe("SIGKILL");
    const committed = (await storeOf(w).history(w.name, { limit: 1 }))[0]!;
    expect(committed.action).toBe(action);
    expect(Object.keys((await storeOf(w).get(w.name))!.outbox ?? {})).toEqual([`s${committed.seq}`]);

    // Within the grace a tick leaves it to its committer (which might still be publishing).
    w.clock.advance(5_000);
    await controllerFor(w).tick();
    expect(events.eventBridge.filter((e) => e.eventId === `${w.name}/${committed.seq}`)).toHaveLength(0);

    w.clock.advance(OUTBOX_GRACE_MS);
    await controllerFor(w).tick();
    const expected = { eventId: `${w.name}/${committed.seq}`, service: w.name, action, rolloutId: committed.rolloutId, step: committed.stepIndex, phase: committed.phase, reason: committed.reason, at: new Date(committed.at).toISOString() };
    expect(events.eventBridge).toEqual([expect.objectContaining(expected)]);
    expect(events.sns).toEqual([{ detail: expect.objectContaining(expected), eventId: expected.eventId }]);
    expect((await storeOf(w).get(w.name))!.outbox ?? {}).toEqual({});

    // Published once: later invocations find nothing owed.
    w.clock.advance(OUTBOX_GRACE_MS);
    await controllerFor(w).tick();
    await controllerFor(w).status();
    expect(events.eventBridge).toHaveLength(1);
    expect(events.sns).toHaveLength(1);
  });

  test("SIGKILLed after PutEvents landed, before marking it published: sent again with the same eventId (at least once), then never again", async () => {
    const w = await rollbackWorld("outbox-kill-after-put");
    const events = captureEvents(w);
    let sent: Record<string, unknown> | undefined;
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ROLLGATE_"))),
      ...controllerEnv(w.config),
      AWS_ENDPOINT_URL: proxy.endpoint,
      CRASH_CLOCK: String(w.clock.now),
      CRASH_PAYLOAD: JSON.stringify(alarmEvent(w.alarmName, "ALARM", w)),
    };
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    proxy.clear();
    proxy.add({ operation: "PutEvents", nth: 1, kind: "hold-after", onHit: (body) => { sent = JSON.parse(JSON.parse(body).Entries[0].Detail); child.kill("SIGKILL"); } });
    const signal = await new Promise<NodeJS.Signals | null>((done) => child.once("exit", (_c, sig) => done(sig)));
    proxy.clear();
    expect(signal).toBe("SIGKILL");
    expect(sent).toMatchObject({ action: "rollback" });

    w.clock.advance(OUTBOX_GRACE_MS + 1_000);
    await controllerFor(w).tick();
    expect(events.eventBridge).toEqual([sent]);
    w.clock.advance(OUTBOX_GRACE_MS);
    await controllerFor(w).tick();
    expect(events.eventBridge).toHaveLength(1);
  });

  test("publishing fails (EventBridge 5xx): the transition stands, the event stays owed and goes out later, once per resend among 5 concurrent ticks", async () => {
    const w = await rollbackWorld("outbox-publish-fails");
    const events = captureEvents(w);
    w.failNth("PutEventsCommand", 1, () => Object.assign(new Error("We encountered an internal error"), { name: "InternalFailure", $fault: "server", $metadata: { httpStatusCode: 500 } }));
    expect(await controllerFor(w).handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ action: "rollback", transition: true });
    w.clearFaults();
    const rollback = (await storeOf(w).history(w.name, { limit: 1 }))[0]!;
    expect(Object.keys((await storeOf(w).get(w.name))!.outbox ?? {})).toEqual([`s${rollback.seq}`]);
    w.clock.advance(OUTBOX_GRACE_MS);
    // 5 ticks at once: the claim lets one of them send it.
    await Promise.all(Array.from({ length: 5 }, () => controllerFor(w).tick()));
    // (The failed attempt never reached the capture: the injected fault throws before it.) SNS got
    // the first attempt as well as the resend: a sink that took the event may get it again, with the same id.
    expect(events.eventBridge.map((e) => e.eventId)).toEqual([`${w.name}/${rollback.seq}`]);
    expect(events.sns.map((e) => e.eventId)).toEqual([`${w.name}/${rollback.seq}`, `${w.name}/${rollback.seq}`]);
    expect((await storeOf(w).get(w.name))!.outbox ?? {}).toEqual({});
  });
});

describe("the write landed, the response was lost: at every call site, with and without SDK retries", () => {
  /** A controller whose clients go through the proxy. */
  function viaProxy(w: World, maxAttempts: number) {
    const clients = createClients({ endpoint: proxy.endpoint, region: moto.region, credentials: moto.credentials, maxAttempts });
    let n = 0;
    return createControllerFromClients(w.config, clients, { clock: w.clock.fn, newRolloutId: (v) => `${v}-rollout-${++n}` });
  }

  test.each([1, 3].flatMap((attempts) => ["GetItem", "DescribeListeners", "DescribeAlarms", "GetMetricData", "TransactWriteItems", "ModifyListener", "UpdateItem", "PutEvents", "Publish"].map((op) => [op, attempts] as const)))(
    "tick advancing, %s response lost (SDK maxAttempts %i): converges to step 2, recorded once",
    async (operation, attempts) => {
      const w = await advanceWorld(`lost-${operation}-${attempts}`.toLowerCase());
      proxy.clear();
      proxy.add({ operation, nth: 1, kind: "lose-response" });
      await viaProxy(w, attempts).tick().catch(() => undefined);
      const fired = proxy.seen.includes(operation);
      proxy.clear();
      expect(fired).toBe(true);
      await expectAdvanced(w);
    },
  );

  test.each([1, 3])("rule mode: ModifyRule response lost on a fast-path rollback (SDK maxAttempts %i): rolled back, recorded once", async (attempts) => {
    const w = await createWorld(moto, { name: `lost-rule-${attempts}`, mode: "rule" });
    await controllerFor(w).command({ command: "start", release: { version: "v2" } });
    await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
    w.clock.advance(5_000);
    proxy.clear();
    proxy.add({ operation: "ModifyRule", nth: 1, kind: "lose-response" });
    await viaProxy(w, attempts).handle(alarmEvent(w.alarmName, "ALARM", w)).catch(() => undefined);
    proxy.clear();
    expect((await routerOf(w, "rule").read()).weights).toEqual({ blue: 999, green: 0 });
    const c = controllerFor(w);
    w.clock.advance(5_000);
    await c.tick();
    expect(await c.status()).toMatchObject({ phase: "rolled-back", drift: false, applied: true });
    expect((await storeOf(w).history(w.name)).filter((h) => h.action === "rollback")).toHaveLength(1);
  });

  test.each([1, 3])("ECS: UpdateService response lost on start (SDK maxAttempts %i): the release is recorded and deployed once", async (attempts) => {
    const w = await createWorld(moto, { name: `lost-ecs-${attempts}`, ecs: true });
    const taskDef = `arn:aws:ecs:us-east-1:123456789012:task-definition/${w.name}-app:1`;
    proxy.clear();
    proxy.add({ operation: "UpdateService", nth: 1, kind: "lose-response" });
    await viaProxy(w, attempts).command({ command: "start", release: { version: "v2", taskDefinitionArn: taskDef } }).catch(() => undefined);
    proxy.clear();
    const c = controllerFor(w);
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ action: "pending" });
    const svc = await w.clients.ecs.send(new DescribeServicesCommand({ cluster: w.config.ecs!.clusterArn, services: [`${w.name}-green`] }));
    expect(svc.services![0]).toMatchObject({ desiredCount: 3, taskDefinition: taskDef });
    expect(await c.status()).toMatchObject({ pending: { version: "v2", deployed: true, status: "deploying" }, phase: "idle" });
    const history = await storeOf(w).history(w.name);
    expect(history.filter((h) => h.action === "release-requested")).toHaveLength(1);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
  });
});
