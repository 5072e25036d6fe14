/**
 * Argo's reference validation of the web-provider verdict templates. Before a Rollout runs,
 * argo-rollouts (pkg/apis/rollouts/validation/validation_references.go, ValidateAnalysisTemplateWithType)
 * fills every arg of a non-background template that has no value with "dummy-value"
 * (setArgValuePlaceHolder), resolves the metrics, and marks the Rollout InvalidSpec when a metric
 * with an interval has no effective count (Metric.EffectiveCount: a count whose IntValue() is 0).
 * A templated count must therefore resolve to a positive integer under that substitution.
 */
import { describe, expect, test } from "vitest";
import { renderWebAnalysisTemplates, webGuardTemplateName } from "../components/kubernetes/web-provider.js";
import { parsePolicy } from "../src/policy/index.js";
import { isComparisonGate, type ComparisonGate } from "../src/policy/types.js";

const policy = parsePolicy({
  strategy: { type: "canary", steps: [{ percent: 10, hold: "10m" }, { percent: 50, hold: "10m" }] },
  gates: [{ type: "errorRate", name: "errors", minSamples: 500, holdBand: 0.1, rollbackBand: 0.25 }],
});
const gates = policy.gates.filter(isComparisonGate) as ComparisonGate[];

/** intstr.IntOrString.IntValue(): a string that is not an integer reads as 0. */
function intValue(v: unknown): number {
  if (typeof v === "number") return Math.trunc(v);
  const n = Number.parseInt(String(v), 10);
  return Number.isNaN(n) ? 0 : n;
}

describe("web-provider templates under Argo's reference validation", () => {
  const objects = renderWebAnalysisTemplates({ name: "checkout", namespace: "shop", labels: {}, policy, gates, serverUrl: "http://rollgate-analysis.shop:8080", backend: { kind: "prometheus" } });
  const verdicts = objects.filter((o) => (o.metadata as { name: string }).name !== webGuardTemplateName("checkout"));

  test.each(verdicts.map((o) => [(o.metadata as { name: string }).name, o] as const))("%s: every metric has an effective count after dummy-value substitution", (_name, o) => {
    const spec = o.spec as { args: Array<{ name: string; value?: string }>; metrics: Array<Record<string, unknown>> };
    const values = Object.fromEntries(spec.args.map((a) => [a.name, a.value ?? "dummy-value"]));
    for (const metric of spec.metrics) {
      const resolved = JSON.parse(JSON.stringify(metric).replace(/\{\{args\.([a-zA-Z0-9_-]+)\}\}/g, (_w, n: string) => values[n] ?? "")) as Record<string, unknown>;
      expect(resolved.interval, "verdict metrics are measured at an interval").toBeTruthy();
      expect(intValue(resolved.count), `${String(metric.name)}: count ${JSON.stringify(metric.count)} resolves to ${JSON.stringify(resolved.count)}`).toBeGreaterThan(0);
    }
  });
});
