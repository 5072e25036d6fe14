/**
 * `rollgate simulate <policy>`: the policy's real engine against a simulated good or bad release
 * (seeded, so a run can be repeated), printing the outcome and, with --report, the SVG timeline.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve as resolvePath } from "node:path";
import { formatDuration } from "../../policy/duration.js";
import { SIM_EPOCH, simulateRollout } from "../../sim/simulator.js";
import type { Scenario } from "../../sim/types.js";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { fmtCount, table } from "../format.js";
import { requirePolicyFile } from "../policy-file.js";
import { reportFromSimulation } from "../report/from-sim.js";
import { renderReportSvg } from "../report/svg.js";
import { actionColour } from "../view.js";

export interface SimulateOptions {
  release: "good" | "bad";
  rps: number;
  baselineErrorRate: number;
  canaryErrorRate?: number;
  latencyFactor?: number;
  regressionAt: number;
  seed: number;
  report?: string;
}

/** A bad release fails 2 % of requests unless told otherwise: clearly past every preset's rollback band. */
export const DEFAULT_BAD_ERROR_RATE = 0.02;

export async function simulateCommand(ctx: CommandContext, file: string, options: SimulateOptions): Promise<void> {
  const policy = await requirePolicyFile(file, ctx.io.cwd);
  if (options.release === "good" && (options.canaryErrorRate !== undefined || options.latencyFactor !== undefined)) {
    throw new UsageError("--canary-error-rate and --latency-factor describe a bad release: pass --release bad with them (a good release behaves like the baseline)");
  }
  const bad = options.release === "bad";
  const scenario: Scenario = {
    rps: options.rps,
    baselineErrorRate: options.baselineErrorRate,
    canaryErrorRate: bad ? (options.canaryErrorRate ?? (options.latencyFactor !== undefined ? options.baselineErrorRate : DEFAULT_BAD_ERROR_RATE)) : options.baselineErrorRate,
    ...(bad && options.latencyFactor !== undefined ? { canaryLatencyFactor: options.latencyFactor } : {}),
    regressionAtMinute: bad ? options.regressionAt : 0,
  };
  if (scenario.canaryErrorRate > 1) throw new UsageError("--canary-error-rate must be a fraction between 0 and 1, e.g. 0.02 for 2 %");
  const { outcome, timeline } = simulateRollout({ policy, scenario, seed: options.seed });
  const decisions = timeline.decisions.filter((d) => d.action !== "hold" && d.action !== "noop" && d.action !== "measure");
  let reportFile: string | undefined;
  if (options.report) {
    reportFile = resolvePath(ctx.io.cwd, options.report);
    const data = reportFromSimulation({
      title: `simulated ${options.release} release (${file})`,
      subtitle: `${options.rps} rps, baseline errors ${pct(scenario.baselineErrorRate)}, canary ${pct(scenario.canaryErrorRate)}${bad && options.regressionAt ? ` from minute ${options.regressionAt}` : ""}, seed ${options.seed}`,
      policy,
      timeline,
      outcome,
      start: SIM_EPOCH,
    });
    await mkdir(dirname(reportFile), { recursive: true });
    await writeFile(reportFile, renderReportSvg(data));
  }
  ctx.emit({ file, release: options.release, scenario, seed: options.seed, outcome, decisions, ...(reportFile ? { report: reportFile } : {}) });
  if (ctx.json) return;
  const { style } = ctx;
  const colour = outcome.result === "promoted" ? style.green : outcome.result === "rolled-back" ? style.red : style.yellow;
  const at = outcome.promotedAtMs ?? outcome.rolledBackAtMs;
  ctx.print(`${style.bold("simulate")} ${file}: ${options.release} release at ${options.rps} rps (seed ${options.seed})`);
  ctx.print(`  outcome   ${colour(outcome.result)}${at !== undefined ? ` after ${formatDuration(at)}` : ""}: ${outcome.reason}`);
  ctx.print(`  exposure  max canary share ${(outcome.maxCanaryShare * 100).toFixed(1)} %${bad ? `, ${fmtCount(outcome.exposedRequests)} requests on the bad canary, ~${fmtCount(outcome.excessErrors)} excess errors` : ""}${outcome.detectionMs !== undefined ? `, detected ${formatDuration(outcome.detectionMs)} after the regression began` : ""}`);
  ctx.print("  decisions");
  ctx.print(table(["at", "trigger", "action", "canary", "reason"], decisions.map((d) => [`+${formatDuration(d.atMs)}`, d.trigger, actionColour(d.action, style).trimEnd(), String(d.weights.canary), d.reason]), { indent: "    " }));
  if (reportFile) ctx.print(`  report    ${reportFile}`);
}

function pct(rate: number): string {
  return `${Number((rate * 100).toPrecision(3))} %`;
}
