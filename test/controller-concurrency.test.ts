/**
 * Concurrency with the real clock against moto: 50 concurrent invocations (ticks, a gate alarm's
 * ALARM event, an operator abort), each its own controller as in separate Lambda containers,
 * repeated over 20 releases. Each burst is one decision point (the release ends) and must make
 * exactly one transition; the history stays gapless and the listener ends at the committed intent.
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createClients } from "../src/aws/clients.js";
import { createStateStore } from "../src/aws/state.js";
import { createTrafficRouter } from "../src/aws/traffic.js";
import { createControllerFromClients } from "../src/controller/wiring.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { alarmEvent, createWorld, tickEvent, type World } from "./support/moto-world.js";

const INVOCATIONS = 50;
const ROUNDS = Number(process.env.RACE_ROUNDS ?? 20);

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

/**
 * A controller on the real clock with the SDK's default retries, built per invocation as a fresh
 * Lambda container builds it (the SDK clients are shared: they hold no state but connections).
 * Straight to moto: startMoto makes its DynamoDB as atomic as DynamoDB (see ATOMIC_DYNAMODB_LAUNCHER
 * and the emulator test in controller-races.test.ts), so no proxy has to serialize the writes.
 */
let clients: ReturnType<typeof createClients> | undefined;
const container = (w: World, round: number) => {
  clients ??= createClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  return createControllerFromClients(w.config, clients, { newRolloutId: (v) => `${v}-r${round}` });
};

describe("50 concurrent invocations x 20 releases, real clock", () => {
  test("exactly one transition per decision point, gapless history, final weights equal the committed intent", { timeout: 600_000 }, async () => {
    const w = await createWorld(moto, { name: "race50", policy: { strategy: { type: "canary", steps: [{ percent: 10, hold: "1h" }] }, gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }] } });
    const store = createStateStore(w.clients.documents, { table: w.config.table });
    const router = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "OK", StateReason: "ok" }));
      const started = await container(w, round).command({ command: "start", release: { version: `v${round + 2}` } });
      expect(started, JSON.stringify(started)).toMatchObject({ ok: true, noop: false });
      await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "5xx" }));
      const event = alarmEvent(w.alarmName, "ALARM", Date.now());

      const burst = await Promise.allSettled(
        Array.from({ length: INVOCATIONS }, (_, i) => {
          const c = container(w, round);
          if (i === 7) return c.command({ command: "abort", note: `round ${round}` });
          if (i === 23) return c.handle(event);
          return c.handle(tickEvent);
        }),
      );
      const failed = burst.filter((r) => r.status === "rejected");
      expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      const results = burst.map((r) => (r as PromiseFulfilledResult<unknown>).value as Record<string, unknown>);
      const transitions = results.filter((r) => r.transition === true || (r.command === "abort" && r.noop === false));
      expect(transitions.length, `round ${round}: transitions ${transitions.map((t) => `${String(t.trigger ?? t.command)}->${String(t.phase)}`).join(", ")}`).toBe(1);
      outcomes.push(String(transitions[0]!.action));
      console.log(`round ${round}: ${Math.round(performance.now() - t0)} ms, ${transitions[0]!.action}`);

      const record = (await store.get(w.name))!;
      expect(["rolled-back", "aborted"]).toContain(record.rollout.phase);
      const intent = record.baselineSlot === "blue" ? { blue: record.rollout.weights.stable, green: record.rollout.weights.canary } : { blue: record.rollout.weights.canary, green: record.rollout.weights.stable };
      expect((await router.read()).weights).toEqual(intent);
      expect(record.applied).toBe(true);
    }
    // Gapless: one history record per committed version, none lost, none doubled.
    const record = (await store.get(w.name))!;
    const history = (await store.history(w.name, { limit: 1000 })).reverse();
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: record.version }, (_, i) => i + 1));
    const expected = new Set(["advance", "rollback"]);
    expect(history.filter((h) => !expected.has(h.action)).map((h) => `${h.seq} ${h.action} ${h.trigger}: ${h.reason}`)).toEqual([]);
    expect(history).toHaveLength(2 * ROUNDS);
    expect(history.filter((h) => h.action === "advance")).toHaveLength(ROUNDS);
    expect(history.filter((h) => h.action === "rollback")).toHaveLength(ROUNDS);
    console.log(`decision point outcomes over ${ROUNDS} releases: ${outcomes.join(", ")}`);
  });
});
