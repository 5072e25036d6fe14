/**
 * Lifecycle hooks that outlive one invocation, against moto with the real SDK clients: the
 * controller invokes each hook asynchronously (InvocationType "Event", moto answers 202 and runs
 * nothing: see test/support/moto-hooks.ts), returns at once, checks only the deadline on later
 * ticks, and records the answer Lambda's destination delivers (played by the test at the minute it
 * chooses) exactly once. Time is the world's controlled clock; nothing here measures wall time.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { hookKey } from "../src/engine/index.js";
import type { RolloutState } from "../src/engine/types.js";
import { createClients } from "../src/aws/clients.js";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { controllerEnv } from "../src/controller/config.js";
import { InvalidPayloadError } from "../src/controller/events.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { createHookFunction, destinationRecord, prepareLambda, recordInvokes } from "./support/moto-hooks.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { controllerFor, createWorld, MIN, T0, tickEvent, type World } from "./support/moto-world.js";

let moto: MotoServer;
let proxy: FaultProxy;
beforeAll(async () => {
  moto = await startMoto();
  await prepareLambda(moto);
  proxy = await startFaultProxy(moto.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

const CONTROLLER = "arn:aws:lambda:us-east-1:123456789012:function:rollgate-controller";
const SMOKE_KEY = hookKey("beforeStep", 1, "smoke");

function policyFor(smoke: string, notify: string, timeout = "5m"): PolicyInput {
  return {
    strategy: { type: "canary", steps: [{ percent: 10, hold: "1m", maxHold: "30m" }, { percent: 50, hold: "1m", maxHold: "30m" }] },
    gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
    hookFunctions: { smoke, notify },
    hooks: [
      { name: "smoke", function: "smoke", at: ["beforeStep"], steps: [2], timeout },
      { name: "notify", function: "notify", at: ["afterRollback"] },
    ],
  };
}

const storeOf = (w: World) => createStateStore(w.clients.documents, { table: w.config.table });
const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
const stateOf = async (w: World): Promise<RolloutState> => (await storeOf(w).get(w.name))!.rollout;
/** History actions, oldest first (the store lists newest first). */
const actionsOf = async (w: World) => (await storeOf(w).history(w.name)).map((h) => h.action).reverse();
const newest = async (w: World) => (await storeOf(w).history(w.name, { limit: 1 }))[0]!;
/** What became of the hook answer an invocation delivered. */
const answerOf = (r: unknown) => (r as { hookAnswer: { recorded: boolean; reason: string } }).hookAnswer;

let n = 0;
/** A world whose hook functions exist in moto, at the boundary of step 2 (the smoke hook's step). */
async function atStepBoundary(timeout = "5m") {
  const name = `hooks-${++n}`;
  const lambda = createClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials }).lambda;
  const smoke = await createHookFunction(lambda, `${name}-smoke`, CONTROLLER, timeout === "5m" ? 300 : 60);
  const notify = await createHookFunction(lambda, `${name}-notify`, CONTROLLER, 60);
  const w = await createWorld(moto, { name, policy: policyFor(smoke, notify, timeout) });
  const invokes = recordInvokes(w.clients.lambda);
  const c = controllerFor(w);
  await c.command({ command: "start", release: { version: "v2" } });
  w.clock.now = T0 + MIN + 1_000;
  return { w, c, invokes, smoke, notify };
}

/** The destination record Lambda would deliver for the nth invoke the controller sent. */
function recordFor(inv: ReturnType<typeof recordInvokes>, i: number, response: Parameters<typeof destinationRecord>[2], at: number) {
  const s = inv.sent[i]!;
  return destinationRecord(s.functionName, s.payload, response, at);
}

// Generous timeouts: a loaded machine slows moto down; nothing here measures time.
describe("a 5-minute hook with the controller invoked every minute (moto, real SDK calls)", { timeout: 180_000 }, () => {
  test("the tick starts it asynchronously and returns; later ticks only check the deadline; the answer at minute 5 is recorded once and shifts traffic", async () => {
    const { w, c, invokes, smoke } = await atStepBoundary();
    // Minute 0: the step's beforeStep hook is started; traffic stays on step 1 while it runs.
    const first = await c.tick();
    expect(first).toMatchObject({ action: "hold", slotWeights: { blue: 899, green: 100 } });
    expect(invokes.sent).toHaveLength(1);
    expect(invokes.sent[0]).toMatchObject({ functionName: smoke, invocationType: "Event", payload: { hook: "smoke", point: "beforeStep", stepIndex: 1, service: w.name, rolloutId: first.rolloutId, attempt: 1, timeoutMs: 300_000 } });
    const started = await stateOf(w);
    const run = started.hookRuns![SMOKE_KEY]!;
    // The invocation returned while the hook had no answer: it did not wait for it.
    expect(run).toMatchObject({ executionId: invokes.sent[0]!.payload.executionId, invokedAt: w.clock.now, deadline: w.clock.now + 5 * MIN, invokes: 1 });
    expect(run.requestId).toBeTruthy();
    expect(started.hookResults?.[SMOKE_KEY]).toBeUndefined();
    const afterStart = await actionsOf(w);
    expect(afterStart).toEqual(["advance", "hold", "hook-started"]);

    // Minutes 1..4: each tick checks the deadline; nothing is sent or recorded again.
    for (let minute = 1; minute <= 4; minute++) {
      w.clock.now = T0 + MIN + 1_000 + minute * MIN;
      expect(await c.handle(tickEvent)).toMatchObject({ action: "hold", slotWeights: { blue: 899, green: 100 } });
    }
    expect(invokes.sent).toHaveLength(1);
    expect(await actionsOf(w)).toEqual(afterStart);

    // Minute 5 (before the deadline): Lambda delivers the hook's on-success record.
    w.clock.now = T0 + MIN + 1_000 + 5 * MIN - 2_000;
    const answered = await c.handle(recordFor(invokes, 0, { body: { status: "pass", reason: "checkout smoke: 12/12 OK" } }, w.clock.now));
    expect(answered).toMatchObject({ action: "advance", slotWeights: { blue: 499, green: 500 }, hookAnswer: { recorded: true, status: "pass" } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    const after = await stateOf(w);
    expect(after.hookResults![SMOKE_KEY]).toMatchObject({ status: "pass", reason: "checkout smoke: 12/12 OK", executionId: run.executionId });
    const history = await storeOf(w).history(w.name);
    expect(history.filter((h) => h.action === "hook-results")).toHaveLength(1);
    expect(history.find((h) => h.action === "hook-results")!).toMatchObject({ trigger: "hook-result:destination" });

    // The same record again (Lambda delivers at least once): ignored, nothing changes.
    const again = await c.handle(recordFor(invokes, 0, { body: { status: "fail", reason: "flaky" } }, w.clock.now));
    expect(again).toMatchObject({ hookAnswer: { recorded: false }, slotWeights: { blue: 499, green: 500 } });
    expect(answerOf(again).reason).toMatch(/already has its result \(pass/);
    expect((await stateOf(w)).hookResults![SMOKE_KEY]).toEqual(after.hookResults![SMOKE_KEY]);
    const actions = await actionsOf(w);
    expect(actions.filter((a) => a === "hook-results")).toHaveLength(1);
    expect(actions.at(-1)).toBe("hook-result-ignored");
  });

  test.each([
    ["fails", { body: { status: "fail", reason: "checkout smoke: HTTP 503" } }, /hook smoke \(beforeStep\) failed: checkout smoke: HTTP 503/],
    ["raises a function error", { functionError: "Unhandled", body: { errorMessage: "boom", errorType: "Error" } }, /failed: function error: boom/],
    ["never runs (event too old in Lambda's queue)", { condition: "EventAgeExceeded" }, /Lambda did not complete the hook's invocation \(EventAgeExceeded\)/],
    ["answers without a status", { body: { ok: true } }, /answered without a status/],
  ])("a hook that %s rolls back before any traffic shift, and afterRollback hooks start", async (_what, response, reason) => {
    const { w, c, invokes, notify } = await atStepBoundary();
    await c.tick();
    w.clock.advance(3 * MIN);
    await c.tick();
    const r = await c.handle(recordFor(invokes, 0, response, w.clock.now));
    expect(r).toMatchObject({ action: "rollback", phase: "rolled-back", slotWeights: { blue: 999, green: 0 }, hookAnswer: { recorded: true } });
    expect((r as { reason: string }).reason).toMatch(reason);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    expect(invokes.sent.map((s) => s.functionName)).toEqual([invokes.sent[0]!.functionName, notify]);
    expect(invokes.sent[1]).toMatchObject({ invocationType: "Event", payload: { hook: "notify", point: "afterRollback" } });
  });

  test("an answer that never comes fails the hook at the first tick after its deadline", async () => {
    const { w, c, invokes } = await atStepBoundary();
    const start = w.clock.now;
    await c.tick();
    for (let minute = 1; minute <= 4; minute++) {
      w.clock.now = start + minute * MIN;
      expect(await c.tick()).toMatchObject({ action: "hold", phase: "progressing" });
    }
    w.clock.now = start + 5 * MIN;
    const r = await c.tick();
    expect(r).toMatchObject({ action: "rollback", phase: "rolled-back", slotWeights: { blue: 999, green: 0 } });
    expect(r.reason).toMatch(/hook smoke \(beforeStep\) timed out: no result within 5m/);
    expect((await stateOf(w)).hookResults![SMOKE_KEY]).toMatchObject({ status: "timeout", executionId: invokes.sent[0]!.payload.executionId });
    // The late answer afterwards changes nothing.
    w.clock.advance(30_000);
    const late = await c.handle(recordFor(invokes, 0, { body: { status: "pass" } }, w.clock.now));
    expect(late).toMatchObject({ phase: "rolled-back", hookAnswer: { recorded: false } });
    expect((await stateOf(w)).hookResults![SMOKE_KEY]!.status).toBe("timeout");
  });

  test("a late answer that reaches the controller before any tick noticed the deadline records the timeout, not the pass", async () => {
    const { w, c, invokes } = await atStepBoundary();
    const start = w.clock.now;
    await c.tick();
    w.clock.now = start + 5 * MIN + 1_000;
    const r = await c.handle(recordFor(invokes, 0, { body: { status: "pass" } }, w.clock.now));
    expect(r).toMatchObject({ action: "rollback", phase: "rolled-back", hookAnswer: { recorded: false } });
    expect(answerOf(r).reason).toMatch(/answered pass 1s after its deadline/);
    expect((await stateOf(w)).hookResults![SMOKE_KEY]).toMatchObject({ status: "timeout" });
    expect(await actionsOf(w)).toContain("hook-result-ignored");
  });

  test("an answer for an older rollout is ignored and recorded as such", async () => {
    const { w, c, invokes } = await atStepBoundary();
    await c.tick();
    const old = invokes.sent[0]!;
    expect(await c.command({ command: "abort" })).toMatchObject({ ok: true });
    w.clock.advance(MIN);
    expect(await c.command({ command: "start", release: { version: "v3" } })).toMatchObject({ ok: true });
    const before = await stateOf(w);
    const r = await c.handle(destinationRecord(old.functionName, old.payload, { body: { status: "pass" } }, w.clock.now));
    expect(r).toMatchObject({ hookAnswer: { recorded: false }, rolloutId: before.rolloutId });
    expect(answerOf(r).reason).toMatch(new RegExp(`belongs to rollout ${old.payload.rolloutId as string}, not the current rollout ${before.rolloutId}`));
    expect((await stateOf(w)).hookResults).toEqual(before.hookResults);
    expect(await newest(w)).toMatchObject({ action: "hook-result-ignored", rolloutId: before.rolloutId });
  });

  test('a hook that hands its work off answers "running", then reports with a hook-result callback', async () => {
    const { w, c, invokes } = await atStepBoundary();
    await c.tick();
    w.clock.advance(30_000);
    const ack = await c.handle(recordFor(invokes, 0, { body: { status: "running" } }, w.clock.now));
    expect(ack).toMatchObject({ action: "hold", hookAnswer: { recorded: false } });
    w.clock.advance(3 * MIN);
    const executionId = invokes.sent[0]!.payload.executionId as string;
    const done = await c.handle({ rollgate: "hook-result", executionId, status: "pass", reason: "load test: p99 212 ms" });
    expect(done).toMatchObject({ action: "advance", slotWeights: { blue: 499, green: 500 }, hookAnswer: { recorded: true } });
    expect((await stateOf(w)).hookResults![SMOKE_KEY]).toMatchObject({ status: "pass", reason: "load test: p99 212 ms" });
    // A callback with an execution id nobody started changes nothing.
    const forged = await c.handle({ rollgate: "hook-result", executionId: "00000000-0000-4000-8000-000000000000", status: "fail" });
    expect(forged).toMatchObject({ hookAnswer: { recorded: false }, slotWeights: { blue: 499, green: 500 } });
  });

  test("retry-later: a new execution (attempt 2) starts at a later tick, never in the invocation that recorded the answer", async () => {
    const { w, c, invokes } = await atStepBoundary("1m");
    await c.tick();
    w.clock.advance(5_000);
    expect(await c.handle(recordFor(invokes, 0, { body: { status: "retry-later", reason: "warming up" } }, w.clock.now))).toMatchObject({ action: "hold", hookAnswer: { recorded: true } });
    expect(invokes.sent).toHaveLength(1);
    w.clock.advance(MIN);
    expect(await c.tick()).toMatchObject({ action: "hold" });
    expect(invokes.sent).toHaveLength(2);
    expect(invokes.sent[1]!.payload).toMatchObject({ attempt: 2 });
    expect(invokes.sent[1]!.payload.executionId).not.toBe(invokes.sent[0]!.payload.executionId);
    // The first execution's answers no longer count.
    w.clock.advance(5_000);
    expect(await c.handle(recordFor(invokes, 0, { body: { status: "pass" } }, w.clock.now))).toMatchObject({ hookAnswer: { recorded: false } });
    expect(await c.handle(recordFor(invokes, 1, { body: { status: "pass" } }, w.clock.now))).toMatchObject({ action: "advance", hookAnswer: { recorded: true } });
  });

  test("a send Lambda did not accept is sent again with the same execution id; the deadline counts from the accepted send", async () => {
    const { w, c, invokes } = await atStepBoundary();
    invokes.failNext(1);
    await c.tick();
    const unconfirmed = (await stateOf(w)).hookRuns![SMOKE_KEY]!;
    expect(unconfirmed).toMatchObject({ invokes: 1, lastError: expect.stringMatching(/Rate exceeded/) });
    expect(unconfirmed.invokedAt).toBeUndefined();
    expect(invokes.sent).toHaveLength(0);
    w.clock.advance(MIN);
    await c.tick();
    expect(invokes.sent).toHaveLength(1);
    expect(invokes.sent[0]!.payload.executionId).toBe(unconfirmed.executionId);
    const confirmed = (await stateOf(w)).hookRuns![SMOKE_KEY]!;
    expect(confirmed).toMatchObject({ invokes: 2, invokedAt: w.clock.now, deadline: w.clock.now + 5 * MIN });
    expect(confirmed.lastError).toBeUndefined();
    expect((await newest(w)).reason).toMatch(/sent again \(send 2\): Lambda had not accepted it \(TooManyRequestsException: Rate exceeded\)/);
  });
});

describe("hook answers are validated at the edge", () => {
  const issues = async (payload: unknown) => {
    const { parseTrigger } = await import("../src/controller/events.js");
    try {
      parseTrigger(payload);
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidPayloadError);
      return (err as InvalidPayloadError).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };
  test.each([
    [{ rollgate: "hook-result", status: "pass" }, /^executionId: is required/],
    [{ rollgate: "hook-result", executionId: "abc", status: "pass" }, /^executionId: must be the executionId the hook received/],
    [{ rollgate: "hook-result", executionId: "0123456789", status: "ok" }, /^status: must be "pass", "fail", "retry-later" or "running"/],
    [{ rollgate: "hook-result", executionId: "0123456789", status: "pass", reason: "ok\u001b[2J" }, /^reason: must be plain text/],
    [{ rollgate: "hook-result", executionId: "0123456789", status: "pass", reason: "x".repeat(1025) }, /^reason: must be at most 1024 characters/],
    [{ rollgate: "hook-result", executionId: "0123456789", status: "pass", extra: 1 }, /^extra: unknown field; remove it/],
    [{ rollgate: "hook-results", executionId: "0123456789", status: "pass" }, /^rollgate: must be "hook-result"/],
    [{ version: "1.0", requestContext: { functionArn: "arn:aws:lambda:us-east-1:123456789012:function:x", condition: "Success" }, requestPayload: { order: 1 } }, /^requestPayload.executionId: is required: this record is not from an invocation the rollgate controller made/],
    [{ version: "1.0", requestContext: { condition: "Success" }, requestPayload: { executionId: "0123456789" } }, /^requestContext.functionArn: must be the hook function's ARN/],
  ])("%j is refused, naming the field", async (payload, message) => {
    const found = await issues(payload);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(message);
  });
  test("a valid callback and a valid record parse (the guard above is not refusing everything)", async () => {
    expect(await issues({ rollgate: "hook-result", executionId: "0123456789", status: "pass" })).toEqual([]);
    expect(await issues(destinationRecord("arn:aws:lambda:us-east-1:123456789012:function:x", { executionId: "0123456789" }, { body: { status: "pass" } }, T0))).toEqual([]);
  });
});

describe("a controller killed (SIGKILL) between recording a hook's execution and Lambda accepting it", { timeout: 180_000 }, () => {
  const ROOT = resolve(import.meta.dirname, "..");
  const CHILD = resolve(import.meta.dirname, "support/crash-child.ts");
  /** One tick in a child process (as the Lambda: configured from ROLLGATE_*), killed at the Invoke. */
  async function tickKilledAtInvoke(w: World, kind: "hold-before" | "hold-after") {
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ROLLGATE_"))),
      ...controllerEnv(w.config),
      AWS_ENDPOINT_URL: proxy.endpoint,
      CRASH_CLOCK: String(w.clock.now),
      CRASH_PAYLOAD: JSON.stringify(tickEvent),
    };
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    proxy.clear();
    const before = proxy.seen.length;
    proxy.add({ operation: "Invoke", nth: 1, kind, onHit: () => child.kill("SIGKILL") });
    const signal = await new Promise<NodeJS.Signals | null>((done) => child.once("exit", (_code, sig) => done(sig)));
    proxy.clear();
    return { signal, output, ops: proxy.seen.slice(before) };
  }

  test.each([
    ["hold-before", "before the Invoke was sent: the hook never started"],
    ["hold-after", "after Lambda accepted the Invoke, before the acceptance was recorded: the hook runs twice for one executionId"],
  ] as const)("killed %s (%s): the next tick sends the same execution again; its answer is recorded once", async (kind, _when) => {
    const { w, c } = await atStepBoundary();
    const { signal, output, ops } = await tickKilledAtInvoke(w, kind);
    expect(signal, output).toBe("SIGKILL");
    // The execution was committed before the Invoke: it is in the state, unconfirmed.
    expect(ops.filter((o) => o === "TransactWriteItems").length).toBeGreaterThanOrEqual(1);
    const recorded = (await stateOf(w)).hookRuns![SMOKE_KEY]!;
    expect(recorded).toMatchObject({ invokes: 1, attempt: 1 });
    expect(recorded.invokedAt).toBeUndefined();

    // Within 30 s another invocation leaves it alone (it may still be in flight) ...
    const inProcess = recordInvokes(w.clients.lambda);
    w.clock.advance(10_000);
    await c.tick();
    expect(inProcess.sent).toHaveLength(0);
    // ... the next tick sends the same execution again.
    w.clock.advance(MIN);
    await c.tick();
    expect(inProcess.sent).toHaveLength(1);
    expect(inProcess.sent[0]!.payload).toMatchObject({ executionId: recorded.executionId, attempt: 1 });
    expect((await stateOf(w)).hookRuns![SMOKE_KEY]).toMatchObject({ executionId: recorded.executionId, invokes: 2, invokedAt: w.clock.now });
    expect((await newest(w)).reason).toMatch(/sent again \(send 2\): Lambda had not accepted it \(the invocation that sent it ended first\)/);

    // Both runs (after hold-after) answer for the same execution: the first counts, the second is a duplicate.
    w.clock.advance(MIN);
    const first = await c.handle(recordFor(inProcess, 0, { body: { status: "pass" } }, w.clock.now));
    const second = await c.handle(recordFor(inProcess, 0, { body: { status: "pass" } }, w.clock.now));
    expect(first).toMatchObject({ action: "advance", hookAnswer: { recorded: true } });
    expect(second).toMatchObject({ hookAnswer: { recorded: false } });
    expect((await actionsOf(w)).filter((a) => a === "hook-results")).toHaveLength(1);
  });
});

describe("status reports what ProgressiveService's live-rollout check compares", { timeout: 180_000 }, () => {
  test("the service name, the rule or listener it steers, and the load balancer", async () => {
    const listener = await createWorld(moto, { name: `status-listener-${++n}` });
    expect(await controllerFor(listener).status()).toMatchObject({ service: listener.name, trafficArn: listener.listenerArn, loadBalancerArn: listener.lbArn });
    const rule = await createWorld(moto, { name: `status-rule-${++n}`, mode: "rule" });
    expect(await controllerFor(rule).status()).toMatchObject({ trafficArn: rule.ruleArn, loadBalancerArn: rule.lbArn });
    expect(rule.ruleArn).toMatch(/:listener-rule\/app\//);
  });
});
