/**
 * Policy safety warnings: policies that are valid but cannot protect anything, or only under
 * assumptions the controller cannot check. `rollgate validate` prints them and ProgressiveService
 * logs them at preview; they are warnings, not errors, because each can be intended (a
 * synthetic-check-only step, a dark launch).
 */
import type { RolloutPolicy } from "./types.js";

export interface PolicyWarning {
  /** Field path in the policy, as errors name them (e.g. `steps[1].gates`). */
  path: string;
  message: string;
}

/** The largest observable latency difference: ALB's maximum idle timeout (4,000 s). */
const MAX_OBSERVABLE_LATENCY_MS = 4_000_000;

export function policyWarnings(policy: RolloutPolicy): PolicyWarning[] {
  const out: PolicyWarning[] = [];
  if (policy.gates.length === 0) {
    out.push({
      path: "gates",
      message: `the policy has no gates (${policy.profile ? `profile "${policy.profile}" with gates: [] replaces the profile's gates; ` : ""}${policy.strategy === "blueGreen" ? "a blue-green cut-over then happens after the bake whatever the new slot does; " : ""}nothing can roll a rollout back: every step passes once its hold ends`,
    });
  } else {
    policy.steps.forEach((s, i) => {
      if (s.gates.length === 0) {
        out.push({ path: `steps[${i}].gates`, message: `step ${i + 1} (${s.ring ? `ring ${s.ring}` : `${s.percent} %`}) checks no gates: it advances after its hold whatever the canary does` });
      }
    });
  }
  const used = new Set(policy.steps.flatMap((s) => s.gates));
  policy.gates.forEach((g, i) => {
    const at = `gates[${i}]`;
    if (policy.gates.length > 0 && !used.has(g.name) && policy.steps.length > 0) {
      out.push({ path: at, message: `gate "${g.name}" is not checked by any step` });
    }
    if (g.type === "alarm") return;
    const points = g.type === "errorRate" || g.type === "metric" || (g.type === "latency" && g.mode === "threshold");
    const limit = points ? 100 : MAX_OBSERVABLE_LATENCY_MS;
    const unit = points ? "percentage points" : "ms";
    if (g.rollbackBand >= limit) {
      out.push({ path: `${at}.rollbackBand`, message: `gate "${g.name}": a rollbackBand of ${g.rollbackBand} ${unit} can never be exceeded (at most ${limit}), so this gate never rolls back` });
    }
    if (g.holdBand >= limit) {
      out.push({ path: `${at}.holdBand`, message: `gate "${g.name}": a holdBand of ${g.holdBand} ${unit} can never be exceeded, so this gate never holds a worse canary` });
    }
    if (g.minSamples === 0) {
      out.push({ path: `${at}.minSamples`, message: `gate "${g.name}": minSamples 0 lets the gate pass before the canary has served a single request` });
    }
    if (g.type === "metric") {
      out.push({
        path: at,
        message: `gate "${g.name}" reads your application's ${g.namespace}/${g.events} and ${g.namespace}/${g.total} per ${g.variantDimension}: publish both every minute the slot serves, zeros included. A minute with a total but no ${g.events} data point is missing data (it never counts as zero failures), so a failure metric that is never published holds every step until its maxHold`,
      });
    }
  });
  return out;
}
