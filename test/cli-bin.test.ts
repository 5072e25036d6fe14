/** The `rollgate` bin as a real subprocess: the compiled CLI in dist/ (built by test/support/built-dist.ts), exit codes and the no-TTY refusal. */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { controllerEnv } from "../src/controller/config.js";
import { provisionLocalService, type LocalService } from "../src/demo/local-aws.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { tempDir } from "./cli-io.js";

let moto: MotoServer;
let world: LocalService;
const dir = tempDir();
const config = join(dir, "svc.json");

beforeAll(async () => {
  moto = await startMoto();
  world = await provisionLocalService(moto, { service: "payments", policy: { profile: "low" } });
  writeFileSync(config, JSON.stringify(controllerEnv(world.config)));
});
afterAll(async () => {
  await moto?.stop();
});

function rollgate(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(process.cwd(), "bin/rollgate.mjs"), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: moto.endpoint },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.end();
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

describe("bin/rollgate.mjs", () => {
  test("validate --json of the shared policy: exit 0", async () => {
    const r = await rollgate(["validate", join(process.cwd(), "stacks/shared/policy.yaml"), "--json"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true });
  });

  test("start then status against moto, with AWS_ENDPOINT_URL from the environment", async () => {
    const s = await rollgate(["start", "v2", "--config", config, "--yes"]);
    expect(s.code).toBe(0);
    expect(s.out).toContain("release v2 started");
    const r = await rollgate(["status", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/phase\s+progressing, step 1\/2 \(10 %\)/);
  });

  test("a change without --yes and without a terminal is refused: exit 2", async () => {
    const r = await rollgate(["abort", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("pass --yes");
  });

  test("a bad flag: exit 2", async () => {
    const r = await rollgate(["history", "--limit", "many", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("option '--limit <n>' argument 'many' is invalid");
  });
});
