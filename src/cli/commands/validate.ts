/** `rollgate validate <file>`: the policy's problems by field path, or a summary of what it resolves to. */
import { checkPolicyPower, type PowerWarning } from "../../analysis/power.js";
import { formatDuration } from "../../policy/duration.js";
import type { RolloutPolicy } from "../../policy/types.js";
import { policyWarnings } from "../../policy/warnings.js";
import type { CommandContext } from "../context.js";
import { escapeControls, sanitizeOutput } from "../sanitize.js";
import { CliError } from "../errors.js";
import { table } from "../format.js";
import { loadPolicyFile } from "../policy-file.js";

export interface ValidateOptions {
  rps?: number;
}

export async function validateCommand(ctx: CommandContext, file: string, options: ValidateOptions): Promise<void> {
  const loaded = await loadPolicyFile(file, ctx.io.cwd);
  const { style } = ctx;
  if (!loaded.ok) {
    ctx.emit({ ok: false, file, issues: loaded.issues });
    if (!ctx.json) {
      const n = loaded.issues.length;
      // A policy file can come from anyone's pull request: its text is escaped like table data.
      const colour = style.bold("x") !== "x";
      ctx.io.stderr.write(sanitizeOutput(`${style.red("invalid")} ${escapeControls(file)}: ${n} problem${n === 1 ? "" : "s"}\n`, colour));
      for (const issue of loaded.issues) ctx.io.stderr.write(sanitizeOutput(`  ${style.bold(escapeControls(issue.path || "(policy)"))}: ${escapeControls(issue.message)}\n`, colour));
    }
    // Already reported in full above; the error only carries the exit code.
    throw new CliError("", 1);
  }
  const warnings: PowerWarning[] = options.rps !== undefined ? checkPolicyPower(loaded.policy, { rps: options.rps }) : [];
  // Safety warnings (a policy that cannot protect anything) do not depend on traffic.
  const safety = policyWarnings(loaded.policy);
  ctx.emit({ ok: true, file, policy: summarize(loaded.policy), warnings, safetyWarnings: safety });
  ctx.print(`${style.green("valid")} ${file}\n${describePolicy(loaded.policy)}`);
  if (safety.length > 0) {
    ctx.print(`\n${style.yellow(`${safety.length} safety warning${safety.length === 1 ? "" : "s"}`)}:`);
    for (const w of safety) ctx.print(`  ${style.bold(w.path)}: ${w.message}`);
  }
  if (warnings.length > 0) {
    ctx.print(`\n${style.yellow(`${warnings.length} warning${warnings.length === 1 ? "" : "s"}`)} at ${options.rps} rps:`);
    for (const w of warnings) ctx.print(`  ${style.bold(w.path)}: ${w.message}`);
  }
}

/** The resolved policy in the shape scripts want: steps as percent and ms, gates by name. */
export function summarize(policy: RolloutPolicy) {
  return {
    strategy: policy.strategy,
    profile: policy.profile ?? null,
    alpha: policy.alpha,
    weightTotal: policy.weightTotal,
    steps: policy.steps.map((s) => ({
      index: s.index,
      percent: s.percent,
      weights: s.weights,
      holdMs: s.holdMs,
      maxHoldMs: s.maxHoldMs,
      onTimeout: s.onTimeout,
      approval: s.approval,
      gates: s.gates,
      ...(s.ring ? { ring: s.ring } : {}),
    })),
    gates: policy.gates.map((g) => ({ name: g.name, type: g.type })),
  };
}

export function describePolicy(policy: RolloutPolicy): string {
  const head =
    `  strategy ${policy.strategy}${policy.profile ? ` (profile ${policy.profile})` : ""}, ${policy.steps.length} step${policy.steps.length === 1 ? "" : "s"}, ` +
    `${policy.gates.length} gate${policy.gates.length === 1 ? "" : "s"} (${policy.gates.map((g) => `${g.name}: ${g.type}`).join(", ") || "none"}), alpha ${policy.alpha}\n`;
  const rows = policy.steps.map((s) => [
    String(s.index + 1),
    s.ring ? `ring ${s.ring}` : `${s.percent} %`,
    formatDuration(s.holdMs),
    `${formatDuration(s.maxHoldMs)} then ${s.onTimeout}`,
    s.approval ? "yes" : "",
    s.gates.join(", "),
  ]);
  rows.push([String(policy.steps.length + 1), "100 %", "", "", "", "(promoted)"]);
  return head + table(["step", "traffic", "hold", "max hold", "approval", "gates"], rows, { indent: "  ", right: [0] });
}
