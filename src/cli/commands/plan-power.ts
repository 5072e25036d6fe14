/**
 * `rollgate plan-power <file> --rps N`: for each step and comparison gate, the canary traffic the
 * step's hold gathers against what the gate needs to decide, and the hold that would be enough.
 */
import { planPower, type PowerRow } from "../../analysis/power.js";
import type { CommandContext } from "../context.js";
import { fmtCount, fmtMinutes, table } from "../format.js";
import { requirePolicyFile } from "../policy-file.js";
import { CliError, UsageError } from "../errors.js";

export interface PlanPowerOptions {
  rps: number;
  power?: number;
  baselineRate?: Record<string, number>;
  effect?: Record<string, number>;
}

export async function planPowerCommand(ctx: CommandContext, file: string, options: PlanPowerOptions): Promise<void> {
  const policy = await requirePolicyFile(file, ctx.io.cwd);
  const gateNames = new Set(policy.gates.filter((g) => g.type !== "alarm").map((g) => g.name));
  for (const [flag, record] of [
    ["--baseline-rate", options.baselineRate],
    ["--effect", options.effect],
  ] as const) {
    for (const name of Object.keys(record ?? {})) {
      if (!gateNames.has(name)) {
        throw new UsageError(`${flag} ${name}=...: the policy has no comparison gate "${name}"; its gates are ${[...gateNames].map((g) => `"${g}"`).join(", ") || "none"}`);
      }
    }
  }
  if (gateNames.size === 0) throw new CliError(`${file} has no comparison gates (errorRate, latency, metric): alarm gates decide from CloudWatch alarms, so there is no sample size to plan`);
  const { rows, warnings } = planPower(policy, {
    rps: options.rps,
    ...(options.power !== undefined ? { power: options.power } : {}),
    ...(options.baselineRate ? { baselineRates: options.baselineRate } : {}),
    ...(options.effect ? { effects: options.effect } : {}),
  });
  const holdOf = (row: PowerRow) => policy.steps[row.step]!.holdMs / 60_000;
  const enough = (row: PowerRow) => row.minutesNeeded === undefined || row.minutesNeeded <= holdOf(row);
  ctx.emit({
    file,
    rps: options.rps,
    power: options.power ?? 0.8,
    rows: rows.map((r) => ({ ...r, holdMinutes: holdOf(r), enough: enough(r) })),
    warnings,
  });
  if (ctx.json) return;
  const { style } = ctx;
  ctx.print(`${style.bold("plan-power")} ${file} at ${options.rps} rps (decide with ${Math.round((options.power ?? 0.8) * 100)} % power)\n`);
  ctx.print(
    table(
      ["step", "traffic", "gate", "hold", "canary req in hold", "detect", "req needed", "time needed", ""],
      rows.map((r) => [
        String(r.step + 1),
        `${r.percent} %`,
        r.gate,
        fmtMinutes(holdOf(r)),
        fmtCount(r.canaryRequestsInHold),
        r.baselineRate !== undefined && r.canaryRate !== undefined ? `${pct(r.baselineRate)} -> ${pct(r.canaryRate)}` : "-",
        r.requestsNeeded !== undefined ? fmtCount(r.requestsNeeded) : "-",
        fmtMinutes(r.minutesNeeded),
        enough(r) ? style.green("ok") : style.yellow("too short"),
      ]),
      { indent: "  ", right: [0, 4, 6, 7] },
    ),
  );
  if (warnings.length === 0) ctx.print(style.green("every step's hold gathers enough evidence for its gates"));
  else {
    ctx.print(style.yellow(`${warnings.length} warning${warnings.length === 1 ? "" : "s"}:`));
    for (const w of warnings) ctx.print(`  ${style.bold(w.path)}: ${w.message}`);
  }
}

function pct(rate: number): string {
  return `${Number((rate * 100).toPrecision(2))} %`;
}
