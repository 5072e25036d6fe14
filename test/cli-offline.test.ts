/**
 * CLI commands that need no AWS: validate, plan-power, simulate, help, flag errors, exit codes,
 * and the SVG report renderer. Run in-process through run(argv, io).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { run } from "../src/cli/program.js";
import { renderReportSvg, niceStep } from "../src/cli/report/svg.js";
import { reportFromSimulation, stepsFromWeights } from "../src/cli/report/from-sim.js";
import { parsePolicy } from "../src/policy/index.js";
import { simulateRollout, SIM_EPOCH } from "../src/sim/simulator.js";
import { captureIo, tempDir } from "./cli-io.js";

const dir = tempDir();
const good = join(dir, "good.yaml");
writeFileSync(
  good,
  `strategy:
  type: canary
  steps:
    - { percent: 5, hold: 10m }
    - { percent: 50, hold: 10m, approval: true }
gates:
  - { type: errorRate, holdBand: 0.2, rollbackBand: 0.5, minSamples: 100 }
`,
);
const bad = join(dir, "bad.yaml");
writeFileSync(
  bad,
  `strategy:
  type: canary
  steps:
    - { percent: 25, hold: 10m }
    - { percent: 5, hold: 10x }
gates:
  - { type: errorRate, holdBnad: 0.2 }
`,
);
const badJson = join(dir, "bad.json");
writeFileSync(badJson, `{ "profile": "standard", `);
const alarmOnly = join(dir, "alarms.json");
writeFileSync(alarmOnly, JSON.stringify({ strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }] }, gates: [{ type: "alarm", name: "a", alarms: ["x"] }] }));

async function cli(argv: string[], opts: Parameters<typeof captureIo>[0] = {}) {
  const io = captureIo({ cwd: dir, ...opts });
  const code = await run(argv, io);
  return { code, out: io.out, err: io.err };
}

describe("validate", () => {
  test("a valid policy: exit 0 and the resolved ladder", async () => {
    const { code, out } = await cli(["validate", "good.yaml"]);
    expect(code).toBe(0);
    expect(out).toContain("valid good.yaml");
    expect(out).toMatch(/1\s+5 %\s+10m\s+40m then pause/);
    expect(out).toMatch(/2\s+50 %.*yes/);
    expect(out).toContain("100 %");
  });

  test("an invalid policy: every problem by field path, exit 1", async () => {
    const { code, out, err } = await cli(["validate", "bad.yaml"]);
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toContain("gates[0].holdBnad: unknown field; did you mean \"holdBand\"?");
    expect(err).toContain("strategy.steps[1].hold");
  });

  test("--json lists the issues with paths", async () => {
    const { code, out } = await cli(["validate", "bad.yaml", "--json"]);
    expect(code).toBe(1);
    const doc = JSON.parse(out) as { ok: boolean; issues: Array<{ path: string }> };
    expect(doc.ok).toBe(false);
    expect(doc.issues.map((i) => i.path)).toContain("gates[0].holdBnad");
  });

  test("malformed JSON is reported, not thrown", async () => {
    const { code, err } = await cli(["validate", "bad.json"]);
    expect(code).toBe(1);
    expect(err).toContain("not valid JSON");
  });

  test("a missing file names the path", async () => {
    const { code, err } = await cli(["validate", "nope.yaml"]);
    expect(code).toBe(1);
    expect(err).toContain("policy file nope.yaml does not exist");
  });

  test("--rps adds power warnings with the field to change", async () => {
    const { code, out } = await cli(["validate", "good.yaml", "--rps", "5", "--json"]);
    expect(code).toBe(0);
    const doc = JSON.parse(out) as { warnings: Array<{ path: string; message: string }> };
    expect(doc.warnings.length).toBeGreaterThan(0);
    expect(doc.warnings[0]!.path).toMatch(/^strategy\.steps\[0\]\.(hold|maxHold)$|^timeouts\.maxHold$/);
  });

  test("the repository's shared policy is valid", async () => {
    const { code } = await cli(["validate", join(process.cwd(), "stacks/shared/policy.yaml")]);
    expect(code).toBe(0);
  });
});

describe("plan-power", () => {
  test("rows per step and gate, with time needed", async () => {
    const { code, out } = await cli(["plan-power", "good.yaml", "--rps", "100", "--json"]);
    expect(code).toBe(0);
    const doc = JSON.parse(out) as { rows: Array<{ step: number; gate: string; minutesNeeded?: number; enough: boolean }> };
    expect(doc.rows.map((r) => [r.step, r.gate])).toEqual([
      [0, "error-rate"],
      [1, "error-rate"],
    ]);
    // Ten times the traffic share decides about ten times faster.
    expect(doc.rows[1]!.minutesNeeded!).toBeLessThan(doc.rows[0]!.minutesNeeded!);
  });

  test("text output says which steps are too short", async () => {
    const { code, out } = await cli(["plan-power", "good.yaml", "--rps", "2"]);
    expect(code).toBe(0);
    expect(out).toContain("too short");
    expect(out).toContain("strategy.steps[0].hold");
  });

  test("--rps is required: exit 2 naming the flag", async () => {
    const { code, err } = await cli(["plan-power", "good.yaml"]);
    expect(code).toBe(2);
    expect(err).toContain("--rps");
  });

  test.each([
    [["--rps", "fast"], "--rps <n>", "positive number"],
    [["--rps", "10", "--power", "2"], "--power <p>", "between 0 and 1"],
    [["--rps", "10", "--effect", "error-rate"], "--effect <gate=points>", "<gate>=<points>"],
  ])("bad value %j: exit 2, flag and fix named", async (flags, flag, fix) => {
    const { code, err } = await cli(["plan-power", "good.yaml", ...flags]);
    expect(code).toBe(2);
    expect(err).toContain(flag);
    expect(err).toContain(fix);
  });

  test("an unknown gate in --effect names the policy's gates", async () => {
    const { code, err } = await cli(["plan-power", "good.yaml", "--rps", "10", "--effect", "latency=1"]);
    expect(code).toBe(2);
    expect(err).toContain('no comparison gate "latency"');
    expect(err).toContain('"error-rate"');
  });

  test("a policy without comparison gates has nothing to plan: exit 1", async () => {
    const { code, err } = await cli(["plan-power", "alarms.json", "--rps", "10"]);
    expect(code).toBe(1);
    expect(err).toContain("no comparison gates");
  });
});

describe("simulate", () => {
  test("a good release is promoted", async () => {
    const { code, out } = await cli(["simulate", "good.yaml", "--release", "good", "--rps", "200", "--seed", "3", "--json"]);
    expect(code).toBe(0);
    const doc = JSON.parse(out) as { outcome: { result: string }; decisions: Array<{ action: string }> };
    expect(doc.outcome.result).toBe("promoted");
    expect(doc.decisions.map((d) => d.action)).toContain("promote");
  });

  test("a bad release is rolled back, and --report writes the SVG", async () => {
    const { code, out } = await cli(["simulate", "good.yaml", "--release", "bad", "--canary-error-rate", "0.03", "--rps", "200", "--report", "sim/bad.svg"]);
    expect(code).toBe(0);
    expect(out).toContain("rolled-back");
    const svg = readFileSync(join(dir, "sim/bad.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("rollback");
  });

  test("the same seed gives the same run", async () => {
    const a = await cli(["simulate", "good.yaml", "--seed", "9", "--json"]);
    const b = await cli(["simulate", "good.yaml", "--seed", "9", "--json"]);
    expect(a.out).toBe(b.out);
  });

  test.each([
    [["--release", "ugly"], "--release <kind>", "good, bad"],
    [["--canary-error-rate", "5"], "--canary-error-rate <f>", "between 0 and 1"],
    [["--seed", "-1"], "--seed <n>", "whole number"],
  ])("bad value %j: exit 2", async (flags, flag, fix) => {
    const { code, err } = await cli(["simulate", "good.yaml", ...flags]);
    expect(code).toBe(2);
    expect(err).toContain(flag);
    expect(err).toContain(fix);
  });

  test("bad-release flags with --release good are a usage error", async () => {
    const { code, err } = await cli(["simulate", "good.yaml", "--release", "good", "--canary-error-rate", "0.1"]);
    expect(code).toBe(2);
    expect(err).toContain("--release bad");
  });
});

describe("command line", () => {
  const commands = ["status", "watch", "history", "promote", "abort", "approve", "pause", "resume", "kill", "unkill", "freeze", "unfreeze", "start", "validate", "plan-power", "simulate", "report"];
  test.each(commands)("%s --help: exit 0, usage with --json", async (name) => {
    const { code, out } = await cli([name, "--help"]);
    expect(code).toBe(0);
    expect(out).toContain(`Usage: rollgate ${name}`);
    expect(out).toContain("--json");
  });

  test("mutating commands document --yes", async () => {
    for (const name of ["promote", "abort", "kill", "freeze"]) {
      const { out } = await cli([name, "--help"]);
      expect(out).toContain("--yes");
    }
  });

  test("an unknown option: exit 2, with a suggestion", async () => {
    const { code, err } = await cli(["validate", "good.yaml", "--jsn"]);
    expect(code).toBe(2);
    expect(err).toContain("unknown option '--jsn'");
    expect(err).toContain("--json");
  });

  test("an unknown command: exit 2, with a suggestion", async () => {
    const { code, err } = await cli(["stauts"]);
    expect(code).toBe(2);
    expect(err).toContain("unknown command 'stauts'");
    expect(err).toContain("status");
  });

  test("a missing argument: exit 2", async () => {
    const { code, err } = await cli(["validate"]);
    expect(code).toBe(2);
    expect(err).toContain("missing required argument 'file'");
  });

  test("--version", async () => {
    const { code, out } = await cli(["--version"]);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test("AWS commands without a region or endpoint: exit 2 naming --region", async () => {
    const { code, err } = await cli(["status", "--table", "t"], { env: {} });
    expect(code).toBe(2);
    expect(err).toContain("--region");
  });

  test("--endpoint-url must be a URL", async () => {
    const { code, err } = await cli(["status", "--endpoint-url", "localhost:5000"]);
    expect(code).toBe(2);
    expect(err).toContain("--endpoint-url <url>");
  });
});

describe("report SVG", () => {
  const policy = parsePolicy({ strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }, { percent: 50, hold: "5m" }] }, gates: [{ type: "errorRate", minSamples: 50 }] });

  test("a rolled-back simulation: axes, legend, step bands, numbered decisions", () => {
    const r = simulateRollout({ policy, scenario: { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.05 }, seed: 4 });
    expect(r.outcome.result).toBe("rolled-back");
    const data = reportFromSimulation({ title: "svc: v1 -> v2 <bad & co>", policy, timeline: r.timeline, outcome: r.outcome, start: SIM_EPOCH });
    const svg = renderReportSvg(data);
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("svc: v1 -&gt; v2 &lt;bad &amp; co&gt;");
    expect(svg).toContain("Canary traffic");
    expect(svg).toContain("Gate error-rate");
    expect(svg).toContain(">canary<");
    expect(svg).toContain(">baseline<");
    expect(svg).toContain(">rolled-back<");
    const marked = data.decisions.filter((d) => ["advance", "rollback"].includes(d.action));
    expect(marked.at(-1)!.action).toBe("rollback");
    // One numbered marker and one list entry per marked decision.
    expect(svg.match(/stroke-dasharray="4 3"/g)!.length).toBe(marked.length);
  });

  test("a short rollout's time axis has one label per minute, none repeated", () => {
    const policy = parsePolicy({ strategy: { type: "canary", steps: [{ percent: 10, hold: "5m" }] }, gates: [{ type: "errorRate", minSamples: 50 }] });
    const r = simulateRollout({ policy, scenario: { rps: 100, baselineErrorRate: 0.001, canaryErrorRate: 0.3 }, seed: 2 });
    // Under four minutes, a 1-2-5 step would be half a minute: the case that printed "1m 1m 2m 2m".
    const minutes = r.timeline.minutes.slice(0, 3);
    const timeline = { minutes, decisions: r.timeline.decisions.filter((d) => d.atMs < 3 * 60_000) };
    const data = reportFromSimulation({ title: "short", policy, timeline, outcome: r.outcome, start: SIM_EPOCH });
    const svg = renderReportSvg({ ...data, end: data.start + 3.5 * 60_000 });
    const labels = [...svg.matchAll(/>(\d+m)</g)].map((m) => m[1]!);
    // Two panels share the axis: each label appears exactly twice.
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    expect(labels.length).toBeGreaterThan(2);
    expect([...counts.values()].every((n) => n === 2)).toBe(true);
  });

  test("step bands follow the weights", () => {
    const steps = stepsFromWeights(
      [
        { t: 0, canaryPercent: 0 },
        { t: 10, canaryPercent: 10 },
        { t: 20, canaryPercent: 50 },
        { t: 30, canaryPercent: 0 },
      ],
      40,
    );
    expect(steps.map((s) => [s.from, s.to, s.label])).toEqual([
      [0, 10, "0 %"],
      [10, 20, "10 %"],
      [20, 30, "50 %"],
      [30, 40, "0 %"],
    ]);
  });

  test.each([
    [10, 5, 2],
    [10, 4, 5],
    [0.5, 4, 0.2],
    [37, 8, 5],
  ])("niceStep(%d, %d) = %d", (span, target, step) => {
    expect(niceStep(span, target)).toBe(step);
  });

  test("writes nothing it was not asked to", () => {
    expect(existsSync(join(dir, "rollgate-report.svg"))).toBe(false);
  });
});

describe("flags", () => {
  const doc = join(dir, "flags.json");
  writeFileSync(
    doc,
    JSON.stringify({
      version: "1",
      flags: { "new-checkout": { name: "new-checkout" }, "dark-mode": { name: "dark-mode" } },
      values: {
        "new-checkout": { enabled: true, owner: "payments", expires: "2026-11-01" },
        "dark-mode": { enabled: false, owner: "web", expires: "2027-03-01" },
      },
    }),
  );

  test("lists expired flags with owner and days overdue, exit 1", async () => {
    const io = captureIo();
    const code = await run(["flags", doc, "--as-of", "2026-11-23"], io);
    expect(code).toBe(1);
    expect(io.out).toContain("1 expired flag");
    expect(io.out).toMatch(/new-checkout\s+payments\s+2026-11-01\s+22/);
    expect(io.out).not.toContain("dark-mode");
  });

  test("--json for scripts, and exit 0 when nothing expired", async () => {
    const io = captureIo();
    expect(await run(["flags", doc, "--as-of", "2026-10-01", "--json"], io)).toBe(0);
    expect(JSON.parse(io.out)).toEqual({ file: doc, asOf: "2026-10-01", expired: [] });
  });

  test("bad input names the flag or file", async () => {
    const io = captureIo();
    expect(await run(["flags", doc, "--as-of", "23/11/2026"], io)).toBe(2);
    expect(io.err).toContain("--as-of");
    const notJson = join(dir, "not.json");
    writeFileSync(notJson, "flags: yes");
    const io2 = captureIo();
    expect(await run(["flags", notJson], io2)).toBe(1);
    expect(io2.err).toContain("is not JSON");
    const io3 = captureIo();
    expect(await run(["flags", join(dir, "missing.json")], io3)).toBe(1);
    expect(io3.err).toContain("cannot read");
  });
});
