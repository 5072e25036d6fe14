/**
 * `rollgate status` with audience rings, against moto: the view shows where each ring's listener
 * rule forwards (read from the rules, not from the state), and a rule moved by hand is reported
 * as drift in text and JSON.
 */
import { ModifyRuleCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { run } from "../src/cli/program.js";
import { controllerEnv } from "../src/controller/config.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { captureIo, tempDir } from "./cli-io.js";
import { controllerFor, createWorld, type World } from "./support/moto-world.js";

const RING_POLICY: PolicyInput = {
  rings: [
    { name: "internal", match: { headers: [{ name: "x-employee", values: ["true"] }] } },
    { name: "early", match: { sourceIps: ["10.0.0.0/8"] } },
  ],
  strategy: { type: "canary", steps: [{ ring: "internal", hold: "5m" }, { ring: "early", hold: "5m" }, { percent: 10, hold: "5m" }] },
  gates: [{ type: "alarm", name: "alarms", alarms: ["__ALARM__"] }],
};

let moto: MotoServer;
let w: World;
const dir = tempDir();
const configFile = join(dir, "rings.json");

beforeAll(async () => {
  moto = await startMoto();
  w = await createWorld(moto, { name: "cli-rings", policy: RING_POLICY, ringRules: "plain" });
  writeFileSync(configFile, JSON.stringify({ FunctionName: "cli-rings-controller", Environment: { Variables: controllerEnv(w.config) } }));
  const started = await controllerFor(w).command({ command: "start", release: { version: "v2" } });
  expect(started).toMatchObject({ ok: true, phase: "progressing" });
});

afterAll(async () => {
  await moto?.stop();
});

async function status(extra: string[] = []) {
  const io = captureIo({
    cwd: dir,
    env: { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: moto.region, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" },
    now: () => w.clock.now,
  });
  const code = await run(["status", "--config", configFile, ...extra], io, { overrides: { clock: () => w.clock.now } });
  return { code, out: io.out, err: io.err };
}

describe("status with audience rings", () => {
  test("shows each ring's rule as the listener has it: internal on the canary, early still stable", async () => {
    const text = await status();
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/rings\s+internal canary, early stable/);
    expect(text.out).not.toContain("DRIFT");

    const json = await status(["--json"]);
    expect(JSON.parse(json.out).rings).toEqual({ current: ["internal"], expected: ["internal"], slots: { internal: "green", early: "blue" }, drift: false });
  });

  test("a ring rule moved by hand is drift, named in text and JSON", async () => {
    await w.clients.elbv2.send(new ModifyRuleCommand({ RuleArn: w.ringRuleArns.internal!, Actions: [{ Type: "forward", TargetGroupArn: w.blueTg }] }));
    const text = await status();
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/rings\s+internal stable, early stable\s+DRIFT: the state puts internal on the canary/);
    const json = JSON.parse((await status(["--json"])).out);
    expect(json.rings).toMatchObject({ current: [], expected: ["internal"], drift: true });
  });
});
