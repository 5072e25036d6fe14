/**
 * `npm run demo` end to end: the real entry point as a subprocess (at full simulated speed, no
 * pauses between minutes), then an interrupted run in-process to show moto is stopped either way.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { runDemo } from "../src/demo/demo.js";
import { tempDir } from "./cli-io.js";

function runNode(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: process.cwd(), env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

async function listening(endpoint: string): Promise<boolean> {
  try {
    await fetch(`${endpoint}/moto-api/`);
    return true;
  } catch {
    return false;
  }
}

describe("npm run demo", () => {
  test(
    "promotes a good release, rolls back a bad one by its gate and a crashing one by its alarm, honours the kill switch, writes four reports, stops moto, exits 0",
    async () => {
      const out = tempDir("rollgate-demo-");
      const r = await runNode(["--import", "tsx", "src/demo/main.ts", "--fast", "--out", out]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      // Not a terminal: frames are appended, never redrawn.
      expect(r.out).not.toContain("\u001b[2J");
      expect(r.out).toContain("rollgate watch checkout");
      expect(r.out).toMatch(/v2: promoted after \d+ simulated minutes/);
      expect(r.out).toMatch(/v3: rolled-back after \d+ simulated minutes?: step 1\/3 \(10 %\) failed: error-rate: canary/);
      expect(r.out).toMatch(/alarm checkout-\w+-5xx -> ALARM/);
      expect(r.out).toMatch(/v4: rolled-back after 1 simulated minute: .*5xx-alarms: alarm checkout-\w+-5xx in ALARM/);
      expect(r.out).toContain("$ rollgate kill --yes");
      expect(r.out).toMatch(/v5: rolled-back after \d+ simulated minutes: kill switch by operator/);
      expect(r.out).toContain("done: v2 promoted, v3 rolled-back, v4 rolled-back, v5 rolled-back");
      expect(r.out).toContain(`reports: ${out}`);
      for (const f of ["v2-promoted.svg", "v3-rolled-back.svg", "v4-rolled-back.svg", "v5-rolled-back.svg"]) {
        const svg = readFileSync(join(out, f), "utf8");
        expect(svg).toContain("Gate error-rate");
      }
      // The history record of the alarm path names the alarm as its trigger.
      expect(r.out).toMatch(/rollback\s+alarm:checkout-\w+-5xx/);
      const endpoint = r.out.match(/moto on (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      expect(await listening(endpoint)).toBe(false);
    },
    90_000,
  );

  test(
    "an interrupted demo stops moto and rejects",
    async () => {
      const controller = new AbortController();
      let text = "";
      const run = runDemo({
        minuteMs: 0,
        outDir: tempDir("rollgate-demo-"),
        signal: controller.signal,
        out: {
          write(t: string) {
            text += t;
            // Interrupt as soon as the first release starts.
            if (t.includes("== release v2")) controller.abort();
          },
        },
      });
      await expect(run).rejects.toThrow(/interrupted/);
      const endpoint = text.match(/moto on (http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      expect(await listening(endpoint)).toBe(false);
    },
    60_000,
  );
});
