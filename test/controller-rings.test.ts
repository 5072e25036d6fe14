/**
 * Audience rings against moto in server mode: each ring's listener rule follows the engine's
 * `decision.rings` (canary slot for the rings on the canary, the stable slot for the rest), with
 * the rollback-first order, idempotent writes, drift correction and the slot swap on promotion.
 */
import { DeleteRuleCommand, DescribeListenersCommand, DescribeRulesCommand, ModifyRuleCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createStateStore } from "../src/aws/state.js";
import { ConfigError, controllerEnv, parseControllerEnv } from "../src/controller/config.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { alarmEvent, controllerFor, createWorld, MIN, T0, tickEvent, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const RING_POLICY: PolicyInput = {
  rings: [
    { name: "internal", match: { headers: [{ name: "x-employee", values: ["true"] }] } },
    { name: "early", match: { sourceIps: ["10.0.0.0/8"] } },
  ],
  strategy: {
    type: "canary",
    steps: [
      { ring: "internal", hold: "1m" },
      { ring: "early", hold: "1m" },
      { percent: 10, hold: "1m" },
      { percent: 50, hold: "1m" },
    ],
  },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
};

const storeOf = (w: World) => createStateStore(w.clients.documents, { table: w.config.table });
const count = (w: World, command: string, from: number) => w.calls.slice(from).filter((c) => c === command).length;

/** Where each ring rule forwards now, as "blue" / "green" (read straight from moto, not through the adapter). */
async function ringSlots(w: World): Promise<Record<string, string>> {
  const out = await w.clients.elbv2.send(new DescribeRulesCommand({ RuleArns: Object.values(w.ringRuleArns) }));
  const name = (arn: string | undefined) => (arn === w.blueTg ? "blue" : arn === w.greenTg ? "green" : `other:${arn}`);
  return Object.fromEntries(
    Object.entries(w.ringRuleArns).map(([ring, arn]) => {
      const fwd = out.Rules!.find((r) => r.RuleArn === arn)!.Actions!.find((a) => a.Type === "forward")!;
      const groups = fwd.ForwardConfig?.TargetGroups?.filter((g) => (g.Weight ?? 1) > 0) ?? [];
      return [ring, groups.length === 1 ? name(groups[0]!.TargetGroupArn) : groups.length === 0 ? name(fwd.TargetGroupArn) : "split"];
    }),
  );
}

async function listenerWeights(w: World): Promise<Record<string, number>> {
  const out = await w.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [w.listenerArn] }));
  const groups = out.Listeners![0]!.DefaultActions![0]!.ForwardConfig!.TargetGroups!;
  return { blue: groups.find((g) => g.TargetGroupArn === w.blueTg)!.Weight!, green: groups.find((g) => g.TargetGroupArn === w.greenTg)!.Weight! };
}

describe("audience rings against moto", () => {
  test("ring steps point ring rules at the canary, percentages keep them there, an alarm puts listener and rings back on stable in one invocation, redelivery writes nothing", async () => {
    // Prepare
    const w = await createWorld(moto, { name: "rings-walk", policy: RING_POLICY, ringRules: "plain" });
    const c = controllerFor(w);
    expect(Object.keys(w.ringRuleArns)).toEqual(["internal", "early"]);
    expect(await ringSlots(w)).toEqual({ internal: "blue", early: "blue" });

    // Act + assess: start enters the "internal" ring step; the default action stays all-stable.
    const started = await c.command({ command: "start", release: { version: "v2" } });
    expect(started).toMatchObject({ ok: true, action: "advance", phase: "progressing", slotWeights: { blue: 999, green: 0 } });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "blue" });
    expect(await listenerWeights(w)).toEqual({ blue: 999, green: 0 });
    const afterStart = await c.status();
    expect(afterStart).toMatchObject({ rings: ["internal"], expectedRings: ["internal"], ringSlots: { internal: "green", early: "blue" }, ringDrift: false, drift: false });

    // Too early: a hold changes nothing and writes no rule.
    let from = w.calls.length;
    w.clock.advance(30_000);
    expect(await c.handle(tickEvent)).toMatchObject({ action: "hold", transition: false, rings: ["internal"] });
    expect(count(w, "ModifyRuleCommand", from)).toBe(0);

    // The "early" ring joins: the conditional state write wins first, then the rule moves.
    from = w.calls.length;
    w.clock.now = T0 + MIN + 1_000;
    expect(await c.handle(tickEvent)).toMatchObject({ action: "advance", rings: ["internal", "early"], slotWeights: { blue: 999, green: 0 } });
    const advancing = w.calls.slice(from);
    expect(advancing.filter((x) => x === "ModifyRuleCommand")).toHaveLength(1);
    expect(advancing.indexOf("TransactWriteItemsCommand")).toBeLessThan(advancing.indexOf("ModifyRuleCommand"));
    expect(advancing.indexOf("TransactWriteItemsCommand")).toBeGreaterThan(-1);
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "green" });
    expect(await listenerWeights(w)).toEqual({ blue: 999, green: 0 });

    // The first percentage step moves the weights; the rings stay on the canary, with no rule write.
    from = w.calls.length;
    w.clock.now = T0 + 2 * MIN + 2_000;
    expect(await c.handle(tickEvent)).toMatchObject({ action: "advance", rings: ["internal", "early"], slotWeights: { blue: 899, green: 100 } });
    expect(await listenerWeights(w)).toEqual({ blue: 899, green: 100 });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "green" });
    expect(count(w, "ModifyRuleCommand", from)).toBe(0);

    // An alarm: in this one invocation, listener and both ring rules go back to stable, before the state write.
    from = w.calls.length;
    const rolled = await c.handle(alarmEvent(w.alarmName, "ALARM", w));
    expect(rolled).toMatchObject({ action: "rollback", phase: "rolled-back", fastPath: true, rings: [], slotWeights: { blue: 999, green: 0 } });
    expect(await listenerWeights(w)).toEqual({ blue: 999, green: 0 });
    expect(await ringSlots(w)).toEqual({ internal: "blue", early: "blue" });
    const during = w.calls.slice(from);
    const commitAt = during.indexOf("TransactWriteItemsCommand");
    expect(commitAt).toBeGreaterThan(-1);
    expect(during.slice(0, commitAt).filter((x) => x === "ModifyRuleCommand")).toHaveLength(2);
    expect(during.slice(0, commitAt)).toContain("ModifyListenerCommand");
    expect(during.slice(commitAt)).not.toContain("ModifyRuleCommand");

    // The same event, delivered five more times: no writes at all, one rollback in history.
    from = w.calls.length;
    for (let i = 0; i < 5; i++) expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ transition: false, phase: "rolled-back", rings: [] });
    expect(count(w, "ModifyRuleCommand", from)).toBe(0);
    expect(count(w, "ModifyListenerCommand", from)).toBe(0);
    expect(count(w, "TransactWriteItemsCommand", from)).toBe(0);
    const history = await storeOf(w).history(w.name);
    expect(history.map((h) => h.action)).toEqual(["rollback", "advance", "advance", "advance"]);
    expect(await c.status()).toMatchObject({ phase: "rolled-back", rings: [], expectedRings: [], ringDrift: false });
  });

  test("a ring rule moved by hand is corrected and recorded without a pause; promotion points every ring at the new stable slot, and the next release pings back", async () => {
    // Prepare: weighted (1/0) ring rules with stickiness, in listener-rule mode.
    const w = await createWorld(moto, { name: "rings-drift", policy: RING_POLICY, ringRules: "weighted", mode: "rule", stickiness: true });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "blue" });

    // Act: someone points "internal" (on the canary) at the stable target group, as a plain forward.
    await w.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: w.ringRuleArns.internal!, Actions: [{ Type: "forward", TargetGroupArn: w.blueTg }] }));
    expect(await c.status()).toMatchObject({ rings: [], expectedRings: ["internal"], ringSlots: { internal: "blue", early: "blue" }, ringDrift: true });

    // Assess: the next tick corrects it, records it once, and the rollout keeps going.
    w.clock.advance(20_000);
    const fixed = await c.handle(tickEvent);
    expect(fixed).toMatchObject({ action: "hold", phase: "progressing", rings: ["internal"] });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "blue" });
    const [entry] = await storeOf(w).history(w.name, { limit: 1 });
    expect(entry).toMatchObject({ action: "ring-drift-corrected", trigger: "tick", phase: "progressing", stepIndex: 0 });
    expect(entry!.reason).toContain("internal forwarded to blue, not green");
    const from = w.calls.length;
    expect(await c.handle(tickEvent)).toMatchObject({ action: "hold", transition: false });
    expect(count(w, "ModifyRuleCommand", from)).toBe(0);
    expect(count(w, "TransactWriteItemsCommand", from)).toBe(0);

    // The weighted shape and its stickiness survive the controller's writes.
    const rule = await w.clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [w.ringRuleArns.early!] }));
    expect(rule.Rules![0]!.Actions![0]!.ForwardConfig).toMatchObject({
      TargetGroups: [
        { TargetGroupArn: w.blueTg, Weight: 1 },
        { TargetGroupArn: w.greenTg, Weight: 0 },
      ],
      TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 300 },
    });

    // Promotion from the first ring step: green becomes stable, so "early" (on blue so far) moves to green.
    const promoted = await c.command({ command: "promote", actor: "alice" });
    expect(promoted).toMatchObject({ ok: true, action: "promote", phase: "promoted", slotWeights: { blue: 0, green: 999 } });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "green" });
    expect(await c.status()).toMatchObject({ stableSlot: "green", rings: [], expectedRings: [], ringDrift: false });

    // The next release goes to blue: its ring step sends "internal" there, "early" stays on green.
    w.clock.advance(MIN);
    await c.command({ command: "start", release: { version: "v3" } });
    expect(await ringSlots(w)).toEqual({ internal: "blue", early: "green" });
    expect(await c.status()).toMatchObject({ stableSlot: "green", rings: ["internal"] });
  });

  test("a ring rule write that fails after the state write is finished by the next tick, not taken for drift", async () => {
    const w = await createWorld(moto, { name: "rings-crash", policy: RING_POLICY, ringRules: "plain" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    w.clock.now = T0 + MIN + 1_000;
    w.failNth("ModifyRuleCommand", 1, () => Object.assign(new Error("Rate exceeded"), { name: "Throttling" }));
    await expect(c.handle(tickEvent)).rejects.toThrow(/Rate exceeded/);
    w.clearFaults();
    expect(await c.status()).toMatchObject({ applied: false, expectedRings: ["internal", "early"], ringSlots: { internal: "green", early: "blue" } });

    expect(await c.handle(tickEvent)).toMatchObject({ transition: false, rings: ["internal", "early"] });
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "green" });
    expect(await c.status()).toMatchObject({ applied: true, ringDrift: false });
    expect((await storeOf(w).history(w.name)).map((h) => h.action)).toEqual(["advance", "advance"]);
  });

  test("a ring rule that cannot be written or read does not stop a rollback: listener on stable, rollback recorded, the rule finished later", async () => {
    const w = await createWorld(moto, { name: "rings-fail", policy: RING_POLICY, ringRules: "plain" });
    const c = controllerFor(w);
    await c.command({ command: "start", release: { version: "v2" } });
    w.clock.now = T0 + MIN + 1_000;
    await c.handle(tickEvent);
    expect(await ringSlots(w)).toEqual({ internal: "green", early: "green" });

    // One of the two ring writes is throttled during the rollback.
    w.failNth("ModifyRuleCommand", 1, () => Object.assign(new Error("Rate exceeded"), { name: "Throttling" }));
    await expect(c.handle(alarmEvent(w.alarmName, "ALARM", w))).rejects.toThrow(/rolled back, but ring rule\(s\) (internal|early) could not be pointed at the stable slot \(Rate exceeded\)/);
    w.clearFaults();
    expect(await listenerWeights(w)).toEqual({ blue: 999, green: 0 });
    expect(Object.values(await ringSlots(w)).sort()).toEqual(["blue", "green"]);
    expect(await c.status()).toMatchObject({ phase: "rolled-back", applied: false, expectedRings: [] });

    // The redelivered event finishes the rule, without a second rollback or a drift record.
    expect(await c.handle(alarmEvent(w.alarmName, "ALARM", w))).toMatchObject({ transition: false, phase: "rolled-back" });
    expect(await ringSlots(w)).toEqual({ internal: "blue", early: "blue" });
    expect(await c.status()).toMatchObject({ applied: true, ringDrift: false });
    expect((await storeOf(w).history(w.name)).map((h) => h.action)).toEqual(["rollback", "advance", "advance"]);

    // A deleted ring rule: the next release's rollback still moves the listener and the other ring.
    const w2 = await createWorld(moto, { name: "rings-gone", policy: RING_POLICY, ringRules: "plain" });
    const c2 = controllerFor(w2);
    await c2.command({ command: "start", release: { version: "v2" } });
    w2.clock.now = T0 + MIN + 1_000;
    await c2.handle(tickEvent);
    w2.clock.now = T0 + 2 * MIN + 2_000;
    await c2.handle(tickEvent);
    expect(await listenerWeights(w2)).toEqual({ blue: 899, green: 100 });
    await w2.clients.elbv2.send(new DeleteRuleCommand({ RuleArn: w2.ringRuleArns.early! }));
    expect((await c2.status()).ringError).toMatch(/ring rule was not found/);
    await expect(c2.handle(alarmEvent(w2.alarmName, "ALARM", w2))).rejects.toThrow(/rolled back, but ring rule\(s\) early could not be pointed/);
    expect(await listenerWeights(w2)).toEqual({ blue: 999, green: 0 });
    const internal = await w2.clients.elbv2.send(new DescribeRulesCommand({ RuleArns: [w2.ringRuleArns.internal!] }));
    expect(internal.Rules![0]!.Actions![0]!.TargetGroupArn).toBe(w2.blueTg);
    expect((await storeOf(w2).history(w2.name, { limit: 1 }))[0]).toMatchObject({ action: "rollback", phase: "rolled-back" });
  });

  test("a bad ROLLGATE_RING_RULES is refused, naming the variable and the ring", async () => {
    const w = await createWorld(moto, { name: "rings-env", policy: RING_POLICY, ringRules: "plain" });
    const env = controllerEnv(w.config);
    expect(JSON.parse(env.ROLLGATE_RING_RULES!)).toEqual(w.ringRuleArns);
    expect(parseControllerEnv(env).ringRules).toEqual(w.ringRuleArns);

    const refused = (patch: Record<string, string | undefined>) => {
      try {
        parseControllerEnv({ ...env, ...patch });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).variable).toBe("ROLLGATE_RING_RULES");
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused({ ROLLGATE_RING_RULES: JSON.stringify({ internal: w.ringRuleArns.internal }) })).toMatch(/^ROLLGATE_RING_RULES: ring "early" of the policy has no listener rule/);
    expect(refused({ ROLLGATE_RING_RULES: JSON.stringify({ ...w.ringRuleArns, staff: w.ruleArn }) })).toMatch(/^ROLLGATE_RING_RULES: ring "staff" is not a ring of the policy/);
    expect(refused({ ROLLGATE_RING_RULES: "{internal: arn}" })).toMatch(/^ROLLGATE_RING_RULES: is not valid JSON/);
    expect(refused({ ROLLGATE_RING_RULES: undefined })).toMatch(/^ROLLGATE_RING_RULES: is required: the policy defines ring\(s\) "internal", "early"/);
    expect(refused({ ROLLGATE_RING_RULES: JSON.stringify({ ...w.ringRuleArns, early: "rule-1" }) })).toMatch(/ring "early" must map to a listener rule ARN/);
    expect(refused({ ROLLGATE_RING_RULES: JSON.stringify({ ...w.ringRuleArns, early: w.ringRuleArns.internal }) })).toMatch(/rings "internal" and "early" share the rule/);
    expect(refused({ ROLLGATE_RING_RULES: JSON.stringify({ ...w.ringRuleArns, early: w.ruleArn }), ROLLGATE_RULE_ARN: w.ruleArn, ROLLGATE_LISTENER_ARN: undefined })).toMatch(
      /ring "early" maps to ROLLGATE_RULE_ARN/,
    );
    expect(refused({ ROLLGATE_RING_RULES: "[]" })).toMatch(/must be a JSON object/);
  });
});
