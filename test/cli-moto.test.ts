/**
 * Every AWS-facing command against moto (the shared launcher), in-process through run(argv, io):
 * happy paths and bad input. The service is provisioned as the demo does it; the controller runs
 * in-process with the configuration file an operator would export from the Lambda.
 */
import { SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { controllerEnv } from "../src/controller/config.js";
import { run } from "../src/cli/program.js";
import type { LocateHooks } from "../src/cli/locate.js";
import { publishMinute } from "../src/demo/demo.js";
import { provisionLocalService, SLOT_ALARMS, type LocalService } from "../src/demo/local-aws.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { captureIo, tempDir } from "./cli-io.js";

const MIN = 60_000;
let moto: MotoServer;
let world: LocalService;
let hooks: LocateHooks;
const clock = { now: Date.UTC(2026, 0, 1, 0, 0, 0) };
const dir = tempDir();
const configFile = join(dir, "checkout.json");

beforeAll(async () => {
  moto = await startMoto();
  world = await provisionLocalService(moto, {
    service: "checkout",
    policy: {
      strategy: { type: "canary", steps: [{ percent: 10, hold: "2m" }, { percent: 50, hold: "2m", approval: true }] },
      gates: [
        { type: "alarm", name: "5xx-alarms", alarms: [SLOT_ALARMS] },
        { type: "errorRate", minSamples: 50, holdBand: 0.5, rollbackBand: 1 },
      ],
    },
  });
  // What `aws lambda get-function-configuration` returns, which --config accepts as it is.
  writeFileSync(configFile, JSON.stringify({ FunctionName: "checkout-controller", Environment: { Variables: controllerEnv(world.config) } }));
  hooks = { overrides: { clock: () => clock.now } };
});

afterAll(async () => {
  await moto?.stop();
});

function awsEnv(): Record<string, string> {
  return { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: moto.region, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", USER: "tester" };
}

async function cli(argv: string[], opts: Parameters<typeof captureIo>[0] = {}) {
  const io = captureIo({ cwd: dir, env: awsEnv(), now: () => clock.now, ...opts });
  const code = await run(argv, io, hooks);
  return { code, out: io.out, err: io.err, prompts: io.prompts };
}
const withConfig = ["--config", configFile];
const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;

/** Minutes of traffic on both slots (blue stable, green canary) at the current weights' shares. */
async function traffic(minutes: number, canaryShare: number, canaryErrors = 0) {
  for (let i = 0; i < minutes; i++) {
    const start = clock.now;
    const total = 3000;
    const canary = Math.round(total * canaryShare);
    await publishMinute(world, start, { blue: { requests: total - canary, errors: 3 }, green: { requests: canary, errors: canaryErrors } });
    clock.now = start + MIN;
  }
  clock.now += 5_000;
}

describe("rollgate against moto", () => {
  test("status before any release: the table is empty, then a service without a rollout", async () => {
    const list = await cli(["status", "--table", world.config.table, "--json"]);
    expect(list.code).toBe(0);
    expect(json<{ services: unknown[] }>(list.out).services).toEqual([]);
    const one = await cli(["status", ...withConfig]);
    expect(one.code).toBe(0);
    expect(one.out).toContain("no rollout recorded");
  });

  test("start needs --yes without a terminal: exit 2 naming --yes, nothing changed", async () => {
    const r = await cli(["start", "v2", ...withConfig]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("stdin is not a terminal; pass --yes");
    const s = await cli(["status", ...withConfig, "--json"]);
    expect(json(s.out).exists).toBe(false);
  });

  test("on a terminal it asks, and 'n' cancels (exit 1)", async () => {
    const r = await cli(["start", "v2", ...withConfig], { stdinTTY: true, answer: "n" });
    expect(r.code).toBe(1);
    expect(r.prompts[0]).toContain("start a release of checkout");
    expect(r.err).toContain("cancelled");
  });

  test("start, then status shows the step, weights, gate verdicts with evidence and the next action", async () => {
    const r = await cli(["start", "v2", ...withConfig], { stdinTTY: true, answer: "y" });
    expect(r.code).toBe(0);
    expect(r.out).toContain("release v2 started");
    await traffic(1, 0.1);
    const s = await cli(["status", ...withConfig, "--json"]);
    expect(s.code).toBe(0);
    const doc = json<{ phase: string; stepIndex: number; weights: { canary: number }; timeInStepMs: number; next: { action: string; verdicts: Array<{ gate: string; verdict: string; reason: string }> } }>(s.out);
    expect(doc.phase).toBe("progressing");
    expect(doc.stepIndex).toBe(0);
    expect(doc.weights.canary).toBe(100);
    expect(doc.timeInStepMs).toBeGreaterThan(0);
    expect(doc.next.action).toBe("hold");
    expect(doc.next.verdicts.map((v) => v.gate).sort()).toEqual(["5xx-alarms", "error-rate"]);
    expect(doc.next.verdicts.find((v) => v.gate === "error-rate")!.reason).toMatch(/canary .* vs baseline/);
    const text = await cli(["status", ...withConfig]);
    expect(text.out).toMatch(/phase\s+progressing, step 1\/2 \(10 %\)/);
    expect(text.out).toContain("listener agrees");
    expect(text.out).toMatch(/next\s+hold/);
  });

  test("status without --service lists every service in the table", async () => {
    const r = await cli(["status", "--table", world.config.table]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/checkout\s+progressing\s+1\s+10 %/);
  });

  test("pause and resume; approve with nothing to approve is refused (exit 1)", async () => {
    expect((await cli(["pause", ...withConfig, "--yes", "--note", "looking"])).code).toBe(0);
    expect(json((await cli(["status", ...withConfig, "--json"])).out).phase).toBe("paused");
    expect((await cli(["resume", ...withConfig, "--yes"])).code).toBe(0);
    const a = await cli(["approve", ...withConfig, "--yes", "--json"]);
    expect(a.code).toBe(1);
    expect(json<{ ok: boolean; code: string }>(a.out)).toMatchObject({ ok: false, code: "nothing-to-approve" });
    expect(a.err).toContain("was refused (nothing-to-approve)");
  });

  test("watch (not a terminal): frames appended, --count stops it; --json is NDJSON", async () => {
    const w = await cli(["watch", ...withConfig, "--count", "3", "--interval", "1s"]);
    expect(w.code).toBe(0);
    expect(w.out).toContain("rollgate watch checkout");
    expect(w.out).toMatch(/canary\s+\[#+-+\] 10 %/);
    expect(w.out).toContain("ladder  [10 %] > 50 % > 100 %");
    expect(w.out).not.toContain("\u001b[2J");
    // Nothing changed between refreshes, so one frame only.
    expect(w.out.match(/rollgate watch checkout/g)!.length).toBe(1);
    const j = await cli(["watch", ...withConfig, "--count", "2", "--json"]);
    const lines = j.out.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(json(lines[0]!).phase).toBe("progressing");
  });

  test("watch on a terminal redraws in place", async () => {
    const w = await cli(["watch", ...withConfig, "--count", "2"], { tty: true });
    expect(w.out.match(/\u001b\[H\u001b\[2J/g)!.length).toBe(2);
  });

  test("the controller advances on its ticks; approval pauses; approve promotes the last step", async () => {
    const { createControllerFromClients } = await import("../src/controller/wiring.js");
    const controller = createControllerFromClients(world.config, world.clients, { clock: () => clock.now });
    await traffic(2, 0.1);
    expect((await controller.tick()).action).toBe("advance");
    await traffic(3, 0.5);
    await controller.tick();
    const s = json<{ phase: string; pause: { reason: string } }>((await cli(["status", ...withConfig, "--json"])).out);
    expect(s.phase).toBe("paused");
    expect(s.pause.reason).toBe("approval");
    const a = await cli(["approve", ...withConfig, "--yes", "--actor", "alice", "--json"]);
    expect(a.code).toBe(0);
    expect(json(a.out)).toMatchObject({ ok: true, phase: "promoted" });
  });

  test("history: the audit trail oldest first, with actor and note; --rollout filters", async () => {
    const h = await cli(["history", ...withConfig]);
    expect(h.code).toBe(0);
    const lines = h.out.trim().split("\n");
    expect(lines[0]).toMatch(/^time\s+action\s+trigger/);
    expect(h.out).toContain("command:pause");
    expect(h.out).toContain("note: looking");
    expect(h.out).toContain("alice");
    expect(lines.at(-1)).toContain("promote");
    const j = json<{ records: Array<{ rolloutId: string; action: string }> }>((await cli(["history", ...withConfig, "--json"])).out);
    const id = j.records[0]!.rolloutId;
    const only = json<{ records: Array<{ rolloutId: string }> }>((await cli(["history", ...withConfig, "--rollout", id, "--json"])).out);
    expect(only.records.length).toBeGreaterThan(3);
    expect(only.records.every((r) => r.rolloutId === id)).toBe(true);
    const none = await cli(["history", ...withConfig, "--rollout", "nope"]);
    expect(none.out).toContain("no history for rollout nope");
  });

  test("report writes an SVG with the weights, the gate's canary and baseline, and each decision", async () => {
    const r = await cli(["report", "latest", ...withConfig, "--out", "reports/v2.svg", "--json"]);
    expect(r.code).toBe(0);
    const doc = json<{ file: string; outcome: string; gates: string[] }>(r.out);
    expect(doc.outcome).toBe("promoted");
    expect(doc.gates).toEqual(["error-rate"]);
    const svg = readFileSync(join(dir, "reports/v2.svg"), "utf8");
    expect(svg).toContain("checkout: (none) -&gt; v2");
    expect(svg).toContain("Gate error-rate");
    for (const action of ["advance", "pause-for-approval", "pause", "resume", "promote"]) expect(svg).toContain(`>${action}<`);
    expect(svg).toContain("(command:approve)");
    // Canary and baseline lines drawn from CloudWatch (moto) data.
    expect(svg.match(/<polyline /g)!.length).toBeGreaterThanOrEqual(3);
  });

  test("report of an unknown rollout lists recent ones (exit 1)", async () => {
    const r = await cli(["report", "nope", ...withConfig]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no history for rollout nope of checkout; recent rollouts: v2-/);
  });

  test("freeze blocks a start; unfreeze; global history", async () => {
    expect((await cli(["freeze", ...withConfig, "--yes", "--note", "incident 42"])).code).toBe(0);
    const s = await cli(["start", "v3", ...withConfig, "--yes"]);
    expect(s.code).toBe(1);
    expect(s.err).toContain("(frozen)");
    const list = await cli(["status", "--table", world.config.table]);
    expect(list.out).toContain("global freeze ON");
    expect((await cli(["unfreeze", ...withConfig, "--yes"])).code).toBe(0);
    const g = await cli(["history", ...withConfig, "--global"]);
    expect(g.out).toContain("freeze");
    expect(g.out).toContain("incident 42");
  });

  test("promote sends a progressing canary to 100 % at once", async () => {
    expect((await cli(["start", "v3", ...withConfig, "--yes"])).code).toBe(0);
    const p = await cli(["promote", ...withConfig, "--yes", "--json"]);
    expect(p.code).toBe(0);
    expect(json(p.out)).toMatchObject({ ok: true, action: "promote", phase: "promoted", weights: { stable: 0, canary: 999 } });
  });

  test("kill rolls an in-flight rollout back at once; unkill; promote of nothing is refused, abort is a no-op", async () => {
    expect((await cli(["start", "v3b", ...withConfig, "--yes"])).code).toBe(0);
    const k = await cli(["kill", ...withConfig, "--yes", "--json"]);
    expect(k.code).toBe(0);
    expect(json(k.out)).toMatchObject({ ok: true, action: "rollback", phase: "rolled-back", killSwitch: true });
    expect((await cli(["unkill", ...withConfig, "--yes"])).code).toBe(0);
    const p = await cli(["promote", ...withConfig, "--yes"]);
    expect(p.code).toBe(1);
    expect(p.err).toContain("refused (not-active)");
    const a = await cli(["abort", ...withConfig, "--yes"]);
    expect(a.code).toBe(0);
    expect(a.out).toContain("no change");
  });

  test("an alarm in ALARM shows as a rollback verdict in status before the next tick acts", async () => {
    expect((await cli(["start", "v4", ...withConfig, "--yes"])).code).toBe(0);
    const status = json<{ stableSlot: string }>((await cli(["status", ...withConfig, "--json"])).out);
    const canarySlot = status.stableSlot === "blue" ? "green" : "blue";
    await world.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: world.alarms[canarySlot as "blue" | "green"], StateValue: "ALARM", StateReason: "test" }));
    const s = json<{ next: { action: string; verdicts: Array<{ gate: string; verdict: string }> } }>((await cli(["status", ...withConfig, "--json"])).out);
    expect(s.next.action).toBe("rollback");
    expect(s.next.verdicts.find((v) => v.gate === "5xx-alarms")!.verdict).toBe("rollback");
    const a = await cli(["abort", ...withConfig, "--yes", "--note", "alarm", "--json"]);
    expect(a.code).toBe(0);
    expect(json(a.out)).toMatchObject({ ok: true, phase: "aborted", weights: { canary: 0 } });
    await world.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: world.alarms[canarySlot as "blue" | "green"], StateValue: "OK", StateReason: "test" }));
  });
});

describe("bad input against moto", () => {
  test("commands without a controller configuration: exit 2 naming --config and --function", async () => {
    const r = await cli(["promote", "--table", world.config.table, "--service", "checkout", "--yes"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--config <file>");
    expect(r.err).toContain("--function");
  });

  test("table-only mode still reads status and history", async () => {
    expect((await cli(["start", "v5", ...withConfig, "--yes"])).code).toBe(0);
    const s = await cli(["status", "--table", world.config.table, "--service", "checkout"]);
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/release\s+v3 -> v5/);
    expect(s.out).toContain("gate verdicts need the controller configuration");
    expect(s.out).not.toContain("listener agrees");
    await cli(["abort", ...withConfig, "--yes"]);
    expect((await cli(["history", "--table", world.config.table, "--service", "checkout"])).code).toBe(0);
  });

  test("no table: exit 2 naming --table", async () => {
    const r = await cli(["history", "--service", "checkout"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--table <name>");
  });

  test("history without a service: exit 2 naming --service", async () => {
    const r = await cli(["history", "--table", world.config.table]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--service <name>");
  });

  test("--service that contradicts the configuration: exit 2", async () => {
    const r = await cli(["status", ...withConfig, "--service", "payments"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('which is for "checkout"');
  });

  test.each([
    ["missing.json", "no such file"],
    ["bad-json.json", "not valid JSON"],
  ])("--config %s: exit 2", async (file, message) => {
    writeFileSync(join(dir, "bad-json.json"), "{");
    const r = await cli(["status", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  test("a configuration with a bad variable names it (exit 1)", async () => {
    writeFileSync(join(dir, "broken.json"), JSON.stringify({ ...controllerEnv(world.config), ROLLGATE_BLUE_TARGET_GROUP_ARN: "nope" }));
    const r = await cli(["status", "--config", "broken.json"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ROLLGATE_BLUE_TARGET_GROUP_ARN");
  });

  test("a table that does not exist: exit 1 with the fix", async () => {
    const r = await cli(["history", "--table", "no-such-table", "--service", "checkout"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/check --table, --region and --endpoint-url|ResourceNotFound/);
  });

  test("an endpoint nobody listens on: exit 1 naming --endpoint-url", async () => {
    const r = await cli(["status", "--table", "t", "--endpoint-url", "http://127.0.0.1:9"], { env: { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" } });
    expect(r.code).toBe(1);
    expect(r.err).toContain("--endpoint-url");
  });

  test("bad flag values: exit 2", async () => {
    const w = await cli(["watch", ...withConfig, "--interval", "soon"]);
    expect(w.code).toBe(2);
    expect(w.err).toContain("--interval <duration>");
    const h = await cli(["history", ...withConfig, "--limit", "0"]);
    expect(h.code).toBe(2);
    expect(h.err).toContain("--limit <n>");
  });
});

describe("--function: commands go to the controller's function URL, signed (aws-sdk-client-mock for Lambda's configuration calls: moto runs functions only with Docker; the table is moto's)", () => {
  test("finds the URL, signs the command with the caller's credentials, prints the controller's answer; without a URL it refuses", async () => {
    const { mockClient } = await import("aws-sdk-client-mock");
    const { GetFunctionConfigurationCommand, GetFunctionUrlConfigCommand, InvokeCommand, LambdaClient } = await import("@aws-sdk/client-lambda");
    const { startFunctionUrlServer } = await import("../src/local/function-url-server.js");
    const answer = { ok: true, command: "pause", service: "checkout", noop: false, action: "hold", reason: "paused by operator", phase: "paused", rolloutId: "r1", weights: { stable: 899, canary: 100 }, slotWeights: { blue: 899, green: 100 } };
    const seen: Array<{ caller?: string; body: unknown }> = [];
    const server = await startFunctionUrlServer({
      region: moto.region,
      // The CLI's environment carries AWS_ACCESS_KEY_ID=testing: that key belongs to this principal here.
      credentials: [{ accessKeyId: "testing", secretAccessKey: "testing", arn: "arn:aws:sts::123456789012:assumed-role/oncall/bob", accountId: "123456789012", userId: "AROAONCALL:bob" }],
      handler: async (event) => {
        seen.push({ caller: event.requestContext.authorizer?.iam?.userArn, body: JSON.parse(event.body ?? "null") });
        return { statusCode: 200, body: JSON.stringify(answer) };
      },
    });
    const lambda = mockClient(LambdaClient);
    try {
      lambda.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: controllerEnv(world.config) } });
      lambda.on(GetFunctionUrlConfigCommand).resolves({ FunctionUrl: server.url, AuthType: "AWS_IAM" });
      const r = await cli(["pause", "--function", "checkout-controller", "--yes", "--note", "why not", "--actor", "bob"]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toContain("paused by operator");
      expect(seen).toEqual([{ caller: "arn:aws:sts::123456789012:assumed-role/oncall/bob", body: { command: "pause", actor: "bob", note: "why not" } }]);
      // Never a direct invoke: it carries no verified identity.
      expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);

      lambda.on(GetFunctionUrlConfigCommand).rejects(Object.assign(new Error("The resource you requested does not exist."), { name: "ResourceNotFoundException" }));
      const f = await cli(["resume", "--function", "checkout-controller", "--yes"]);
      expect(f.code).toBe(2);
      expect(f.err).toContain("has no function URL, and commands go only through one");

      lambda.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: { FOO: "bar" } } });
      const n = await cli(["status", "--function", "not-a-controller"]);
      expect(n.code).toBe(1);
      expect(n.err).toContain("no ROLLGATE_POLICY variable");
    } finally {
      lambda.restore();
      await server.close();
    }
  });
});
