/**
 * Lifecycle hooks through the controller: moto for the ALB, table and alarms; the hook Lambda
 * with aws-sdk-client-mock, because moto's Lambda invoke needs Docker.
 */
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { controllerFor, createWorld, MIN, T0, type World } from "./support/moto-world.js";

const SMOKE = "arn:aws:lambda:us-east-1:123456789012:function:smoke";
const NOTIFY = "arn:aws:lambda:us-east-1:123456789012:function:notify";
const POLICY: PolicyInput = {
  strategy: { type: "canary", steps: [{ percent: 10, hold: "1m" }, { percent: 50, hold: "1m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
  hookFunctions: { smoke: SMOKE, notify: NOTIFY },
  hooks: [
    { name: "smoke", function: "smoke", at: ["beforeStep"], steps: [2], timeout: "1s" },
    { name: "notify", function: "notify", at: ["afterRollback"] },
  ],
};

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});
const lambda = mockClient(LambdaClient);
afterEach(() => {
  lambda.reset();
});
afterAll(() => {
  lambda.restore();
});

const answer = (body: unknown) => ({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(body)) as never });
const payloadOf = (i: number) => JSON.parse(new TextDecoder().decode(lambda.commandCalls(InvokeCommand)[i]!.args[0].input.Payload as Uint8Array));
const fnOf = (i: number) => lambda.commandCalls(InvokeCommand)[i]!.args[0].input.FunctionName;
const routerOf = (w: World) => createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });

async function atStepBoundary(name: string) {
  const w = await createWorld(moto, { name, policy: POLICY });
  const c = controllerFor(w);
  await c.command({ command: "start", release: { version: "v2" } });
  w.clock.now = T0 + MIN + 1_000;
  return { w, c };
}

describe("lifecycle hooks (hook Lambda with aws-sdk-client-mock; the rest against moto)", () => {
  test("a passing beforeStep hook shifts traffic in the same tick; its answer is in history", async () => {
    const { w, c } = await atStepBoundary("hook-pass");
    lambda.on(InvokeCommand).resolves(answer({ status: "pass", reason: "smoke OK" }));
    const r = await c.tick();
    expect(r).toMatchObject({ action: "advance", slotWeights: { blue: 499, green: 500 } });
    expect((await routerOf(w).read()).weights).toEqual({ blue: 499, green: 500 });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(fnOf(0)).toBe(SMOKE);
    expect(payloadOf(0)).toMatchObject({ hook: "smoke", point: "beforeStep", stepIndex: 1, service: "hook-pass", release: { canary: "v2" } });
    const history = await createStateStore(w.clients.documents, { table: w.config.table }).history(w.name);
    expect(history.map((h) => h.action)).toEqual(["advance", "hook-results", "hold", "advance"]);
    expect(history[1]!.reason).toContain("hook smoke (beforeStep, step 2) pass: smoke OK");
  });

  test.each([
    ["fails", () => lambda.on(InvokeCommand, { FunctionName: SMOKE }).resolves(answer({ status: "fail", reason: "checkout smoke test: HTTP 503" })), /failed: checkout smoke test: HTTP 503/],
    ["times out", () => lambda.on(InvokeCommand, { FunctionName: SMOKE }).callsFake(() => new Promise(() => undefined)), /timed out: no answer within 1000 ms/],
    ["raises a function error", () => lambda.on(InvokeCommand, { FunctionName: SMOKE }).resolves({ StatusCode: 200, FunctionError: "Unhandled", Payload: new TextEncoder().encode(JSON.stringify({ errorMessage: "boom" })) as never }), /function error: boom/],
  ])("a beforeStep hook that %s rolls back before any traffic shift, and afterRollback hooks run", async (_what, arrange, reason) => {
    const { w, c } = await atStepBoundary(`hook-${_what.split(" ")[0]}`);
    arrange();
    lambda.on(InvokeCommand, { FunctionName: NOTIFY }).resolves(answer({ status: "pass" }));
    const r = await c.tick();
    expect(r).toMatchObject({ action: "rollback", phase: "rolled-back", slotWeights: { blue: 999, green: 0 } });
    expect(r.reason).toMatch(reason);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 999, green: 0 });
    expect(lambda.commandCalls(InvokeCommand).map((_, i) => fnOf(i))).toEqual([SMOKE, NOTIFY]);
    expect(payloadOf(1)).toMatchObject({ hook: "notify", point: "afterRollback" });
  });

  test("retry-later holds the step at its old weights, and the hook is asked once per tick", async () => {
    const { w, c } = await atStepBoundary("hook-retry");
    lambda.on(InvokeCommand).resolves(answer({ status: "retry-later", reason: "warming up" }));
    expect(await c.tick()).toMatchObject({ action: "hold", phase: "progressing" });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
    expect((await routerOf(w).read()).weights).toEqual({ blue: 899, green: 100 });
    w.clock.advance(MIN);
    lambda.reset();
    lambda.on(InvokeCommand).resolves(answer({ status: "pass" }));
    expect(await c.tick()).toMatchObject({ action: "advance", slotWeights: { blue: 499, green: 500 } });
  });

  test("a hook answering without a status is a failure, not a pass", async () => {
    const { c } = await atStepBoundary("hook-nostatus");
    lambda.on(InvokeCommand, { FunctionName: SMOKE }).resolves(answer({ ok: true }));
    lambda.on(InvokeCommand, { FunctionName: NOTIFY }).resolves(answer({ status: "pass" }));
    const r = await c.tick();
    expect(r).toMatchObject({ action: "rollback" });
    expect(r.reason).toMatch(/answered without a status/);
  });
});


