/**
 * Controller: alarm event to weights restored, against moto on loopback.
 *
 * For each run: start a release (10 % canary), then time the controller handling a gate alarm's
 * ALARM event (a) until its ModifyListener returned (weights restored) and (b) until the whole
 * invocation returned (state + history committed, event published). Beside it, the bare SDK calls
 * a rollback cannot do without: GetItem (state), ModifyListener (weights), one conditional write.
 * Figures are ratios within one run, so the machine's speed cancels out.
 *
 *   npm run bench:controller            (RUNS=50 by default)
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { ModifyListenerCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { createTrafficRouter, type TrafficRouter } from "../src/aws/traffic.js";
import { startMoto } from "../src/local/moto-server.js";
import { alarmEvent, controllerFor, createWorld } from "../test/support/moto-world.js";

const RUNS = Number(process.env.RUNS ?? 50);
const WARMUP = 5;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

const moto = await startMoto();
try {
  const w = await createWorld(moto, { name: "bench" });
  const base = createTrafficRouter(w.clients.elbv2, { listenerArn: w.listenerArn, blueTargetGroupArn: w.blueTg, greenTargetGroupArn: w.greenTg });
  let restoredAt = 0;
  const traffic: TrafficRouter = {
    target: base.target,
    read: () => base.read(),
    async setWeights(weights, basedOn) {
      await base.setWeights(weights, basedOn);
      if (weights.green === 0) restoredAt = performance.now();
    },
  };
  const c = controllerFor(w, { traffic });
  await w.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: w.alarmName, StateValue: "ALARM", StateReason: "bench" }));

  const toWeights: number[] = [];
  const toDone: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    w.clock.advance(60_000);
    const started = await c.command({ command: "start", release: { version: `v${i + 2}` } });
    if (!started.ok) throw new Error(`start failed: ${JSON.stringify(started)}`);
    w.clock.advance(5_000);

    const t0 = performance.now();
    const r = await c.handle(alarmEvent(w.alarmName, "ALARM", w));
    const t1 = performance.now();
    if (!("action" in r) || r.action !== "rollback") throw new Error(`expected a rollback, got ${JSON.stringify(r)}`);

    // The bare calls, on the same clients and the same items.
    const b0 = performance.now();
    await w.clients.dynamodb.send(new GetItemCommand({ TableName: w.config.table, Key: { pk: { S: `service#${w.name}` }, sk: { S: "state" } }, ConsistentRead: true }));
    await w.clients.elbv2.send(
      new ModifyListenerCommand({
        ListenerArn: w.listenerArn,
        DefaultActions: [{ Type: "forward", ForwardConfig: { TargetGroups: [{ TargetGroupArn: w.blueTg, Weight: 999 }, { TargetGroupArn: w.greenTg, Weight: 0 }] } }],
      }),
    );
    await w.clients.dynamodb.send(
      new PutItemCommand({
        TableName: w.config.table,
        Item: { pk: { S: "bench" }, sk: { S: "cond" }, version: { N: String(i + 1) } },
        ConditionExpression: "attribute_not_exists(pk) OR version = :v",
        ExpressionAttributeValues: { ":v": { N: String(i) } },
      }),
    );
    const b1 = performance.now();
    if (i >= WARMUP) {
      toWeights.push(restoredAt - t0);
      toDone.push(t1 - t0);
      bare.push(b1 - b0);
    }
  }

  const row = (name: string, xs: number[]) => `${name.padEnd(44)} median ${quantile(xs, 0.5).toFixed(1).padStart(6)} ms   p90 ${quantile(xs, 0.9).toFixed(1).padStart(6)} ms`;
  console.log(`controller rollback against moto on 127.0.0.1, ${RUNS} runs (+${WARMUP} warm-up)`);
  console.log(row("alarm event -> weights restored", toWeights));
  console.log(row("alarm event -> invocation done", toDone));
  console.log(row("bare GetItem + ModifyListener + cond. write", bare));
  const ratio = (q: number, xs: number[]) => (quantile(xs, q) / quantile(bare, q)).toFixed(2);
  console.log(`ratio weights-restored / bare:   median ${ratio(0.5, toWeights)}x   p90 ${ratio(0.9, toWeights)}x`);
  console.log(`ratio invocation-done / bare:    median ${ratio(0.5, toDone)}x   p90 ${ratio(0.9, toDone)}x`);
} finally {
  await moto.stop();
}
