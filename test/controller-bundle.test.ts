/**
 * The shipped artifact: scripts/bundle.mjs builds dist/lambda/controller.mjs, and its `handler`
 * runs against moto configured only through environment variables, as in Lambda.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { controllerEnv } from "../src/controller/config.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { createWorld, tickEvent, type World } from "./support/moto-world.js";

const bundle = resolve(import.meta.dirname, "../dist/lambda/controller.mjs");
let moto: MotoServer;
let w: World;
let handler: (event: unknown, context?: unknown) => Promise<unknown>;

beforeAll(async () => {
  execFileSync(process.execPath, [resolve(import.meta.dirname, "../scripts/bundle.mjs")], { stdio: "pipe" });
  moto = await startMoto();
  w = await createWorld(moto, { name: "bundle" });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: moto.region,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    POWERTOOLS_METRICS_NAMESPACE: "RollgateTest",
    POWERTOOLS_LOG_LEVEL: "ERROR",
    ...controllerEnv(w.config),
  });
  ({ handler } = (await import(pathToFileURL(bundle).href)) as { handler: typeof handler });
});
afterAll(async () => {
  await moto?.stop();
});

describe("dist/lambda/controller.mjs", () => {
  test("is one ESM file for node22 that bundles the SDK clients", () => {
    expect(existsSync(bundle)).toBe(true);
    const text = readFileSync(bundle, "utf8");
    expect(text).not.toMatch(/from\s*["']@aws-sdk\//);
    expect(text).toMatch(/export\s*\{[^}]*handler/);
  });

  test("a missing variable fails the invocation naming it; once fixed, the handler serves status, start and ticks", async () => {
    const table = process.env.ROLLGATE_TABLE;
    delete process.env.ROLLGATE_TABLE;
    await expect(handler({ command: "status" })).rejects.toThrow(/ROLLGATE_TABLE: is required/);
    process.env.ROLLGATE_TABLE = table;

    expect(await handler({ command: "status" })).toMatchObject({ ok: true, phase: "idle", stableSlot: "blue", frozen: false, killSwitch: false });
    expect(await handler({ command: "start", release: { version: "v2" } }, { awsRequestId: "req-1" })).toMatchObject({ ok: true, slotWeights: { blue: 899, green: 100 } });
    expect(await handler(tickEvent)).toMatchObject({ ok: true, action: "hold", phase: "progressing" });
    await expect(handler({ command: "bogus" })).rejects.toThrow(/command: must be one of/);
  });

  test("a failed invocation gives its caller the error's name and a short message, no stack trace and no echo of a huge input", async () => {
    const err = (await handler({ command: "x".repeat(1_000_000) }).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe("InvalidPayloadError");
    expect(err.message).toMatch(/^invalid payload: command: must be one of .*got "x{64}"\.\.\. \(1000000 characters\)$/);
    expect(err.message.length).toBeLessThan(400);
    // What the Lambda runtime returns as `trace`: the first line only, no frames.
    expect(err.stack).toBe(`InvalidPayloadError: ${err.message}`);
    const sns = (await handler({ Records: [{ EventSource: "aws:sns", Sns: { Message: "{}" } }] }).catch((e: unknown) => e)) as Error;
    expect(sns.message).toMatch(/SNS-delivered alarm notifications are not a controller trigger/);
    expect(sns.stack).not.toMatch(/\n\s+at /);
  });
});
