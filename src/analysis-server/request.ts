/**
 * What a verdict request carries, and its validation. Everything the server needs comes from the
 * request (the policy, the gate, who the canary and the stable are) and from the metrics backend,
 * so any replica can answer any request. Bad input is a BadRequest naming the field and the fix;
 * nothing is evaluated on a half-valid request.
 */
import { parseDuration } from "../policy/duration.js";
import { safeParsePolicy } from "../policy/resolve.js";
import { isComparisonGate, type ComparisonGate, type RolloutPolicy } from "../policy/types.js";

/** A request the server refuses (400): the field, and what is wrong with it. */
export class BadRequest extends Error {
  override readonly name = "BadRequest";
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** Prometheus names: which series and labels hold requests, status and latency. */
export interface PrometheusNames {
  requestsMetric: string;
  statusLabel: string;
  errorStatusRegex: string;
  durationMetric: string;
  podHashLabel: string;
  /** Extra label matchers ANDed into every selector, e.g. `namespace="shop", service="checkout"`. */
  selector: string;
}

/** Defaults match the threshold rendering's (components/kubernetes/render.ts PROMETHEUS_DEFAULTS). */
export const PROMETHEUS_NAME_DEFAULTS: PrometheusNames = {
  requestsMetric: "http_requests_total",
  statusLabel: "code",
  errorStatusRegex: "5..",
  durationMetric: "http_request_duration_seconds",
  podHashLabel: "rollouts_pod_template_hash",
  selector: "",
};

export interface CloudWatchTarget {
  loadBalancerArn: string;
  canaryTargetGroupArn: string;
  stableTargetGroupArn: string;
}

export interface VerdictRequest {
  /** Label for logs and reasons (the Rollout's name). */
  service: string;
  policy: RolloutPolicy;
  gate: ComparisonGate;
  /** Policy step whose verdict this is (percentile gates spend alpha by step). @default 0 */
  stepIndex: number;
  /**
   * The step's hold: the step is taken to have started this long before now (the step verdict
   * runs when the step's pause ends). Absent for the background guard: the step is the whole
   * rollout so far.
   */
  windowMs?: number;
  /**
   * The step's canary weight and the previous step's (percent), when the caller knows them (the
   * rendered step verdict does): the server then finds when the step started from the canary's
   * share of requests (judge.ts stepStartFromShares), so the step is judged from its real start
   * as the engine does, however long it has been held. Both or neither.
   */
  weights?: { current: number; previous: number };
  canaryHash: string;
  stableHash: string;
  backend: { kind: "prometheus"; names: PrometheusNames } | { kind: "cloudWatch"; target: CloudWatchTarget };
}

const HASH = /^[a-z0-9]{1,63}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** `name op "value"` matchers separated by commas; values are double-quoted with \" escapes. */
const MATCHERS = /^\s*(?:[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,\s*|$))*$/;
const TG_ARN = /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
const LB_ARN = /^arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer\/app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
const KNOWN = new Set(["service", "gate", "policy", "stepIndex", "window", "weight", "previousWeight", "canaryHash", "stableHash", "prometheus", "cloudWatch"]);

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** An argument Argo did not substitute: `{{args.canary-hash}}` arrives literally. */
function unresolved(field: string, v: string): void {
  if (v.includes("{{")) throw new BadRequest(field, `"${v}" is an unresolved Argo template argument; pass it in the AnalysisTemplate's args`);
}

function str(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === "") {
    if (required) throw new BadRequest(field, "is required");
    return undefined;
  }
  if (typeof v !== "string") throw new BadRequest(field, `must be a string, got ${typeof v}`);
  unresolved(field, v);
  return v;
}

/** Validates a parsed JSON body. Throws BadRequest on the first problem. */
export function parseVerdictRequest(body: unknown): VerdictRequest {
  if (!isObject(body)) throw new BadRequest("body", "must be a JSON object");
  for (const key of Object.keys(body)) {
    if (!KNOWN.has(key)) throw new BadRequest(key, `is not a field of a verdict request (known: ${[...KNOWN].join(", ")})`);
  }
  const service = str(body, "service", false) ?? "unnamed";
  if (service.length > 253) throw new BadRequest("service", "must be at most 253 characters");

  if (!isObject(body.policy)) throw new BadRequest("policy", "is required: the rollout policy as JSON (the Kubernetes component renders it into the AnalysisTemplate)");
  const parsed = safeParsePolicy(body.policy);
  if (!parsed.ok) {
    const first = parsed.issues[0]!;
    throw new BadRequest(`policy${first.path ? "." + first.path : ""}`, `${first.message}${parsed.issues.length > 1 ? ` (and ${parsed.issues.length - 1} more)` : ""}`);
  }
  const policy = parsed.policy;

  const gateName = str(body, "gate", true)!;
  const gate = policy.gates.find((g) => g.name === gateName);
  if (!gate) throw new BadRequest("gate", `"${gateName}" is not a gate of the policy (gates: ${policy.gates.map((g) => g.name).join(", ") || "none"})`);
  if (!isComparisonGate(gate)) throw new BadRequest("gate", `"${gateName}" is an alarm gate; the server judges comparison gates (errorRate, latency, metric)`);

  let stepIndex = 0;
  if (body.stepIndex !== undefined && body.stepIndex !== null && body.stepIndex !== "") {
    const raw = body.stepIndex;
    if (typeof raw === "string") unresolved("stepIndex", raw);
    const n = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n >= policy.steps.length) {
      throw new BadRequest("stepIndex", `${JSON.stringify(raw)} must be a whole number from 0 to ${policy.steps.length - 1} (the policy's step)`);
    }
    stepIndex = n;
  }

  let windowMs: number | undefined;
  const window = str(body, "window", false);
  if (window !== undefined) {
    windowMs = parseDuration(window);
    if (windowMs === undefined) throw new BadRequest("window", `"${window}" is not a duration such as "10m" or "90s"`);
    if (!(windowMs >= 60_000)) throw new BadRequest("window", `"${window}" must be at least 1m (verdicts are judged on whole minutes)`);
  }

  const percent = (field: "weight" | "previousWeight"): number | undefined => {
    const raw = body[field];
    if (raw === undefined || raw === null || raw === "") return undefined;
    if (typeof raw === "string") unresolved(field, raw);
    const n = typeof raw === "string" && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== "number" || !(n >= 0 && n <= 100)) throw new BadRequest(field, `${JSON.stringify(raw)} must be a percentage from 0 to 100 (the canary weight)`);
    return n;
  };
  const current = percent("weight");
  const previous = percent("previousWeight");
  if ((current === undefined) !== (previous === undefined)) {
    throw new BadRequest(current === undefined ? "weight" : "previousWeight", "weight and previousWeight go together (the step's canary weight and the one before it)");
  }

  const hashes: Record<"canaryHash" | "stableHash", string> = { canaryHash: "", stableHash: "" };
  const hasCloudWatch = body.cloudWatch !== undefined;
  if (hasCloudWatch && body.prometheus !== undefined) throw new BadRequest("cloudWatch", "set exactly one of prometheus or cloudWatch");

  let backend: VerdictRequest["backend"];
  if (hasCloudWatch) {
    if (!isObject(body.cloudWatch)) throw new BadRequest("cloudWatch", "must be an object with loadBalancerArn, canaryTargetGroupArn and stableTargetGroupArn");
    const cw = body.cloudWatch;
    const arn = (field: keyof CloudWatchTarget, pattern: RegExp, what: string) => {
      const v = str(cw, field, true)!;
      if (!pattern.test(v)) throw new BadRequest(`cloudWatch.${field}`, `"${v}" is not ${what} ARN`);
      return v;
    };
    backend = {
      kind: "cloudWatch",
      target: {
        loadBalancerArn: arn("loadBalancerArn", LB_ARN, "an application load balancer"),
        canaryTargetGroupArn: arn("canaryTargetGroupArn", TG_ARN, "a target group"),
        stableTargetGroupArn: arn("stableTargetGroupArn", TG_ARN, "a target group"),
      },
    };
    // The hashes name the sides in reasons and the metric gate's variant dimension.
    for (const field of ["canaryHash", "stableHash"] as const) hashes[field] = str(body, field, gate.type === "metric") ?? "";
  } else {
    const given = body.prometheus ?? {};
    if (!isObject(given)) throw new BadRequest("prometheus", "must be an object of metric and label names");
    const names: PrometheusNames = { ...PROMETHEUS_NAME_DEFAULTS };
    for (const key of Object.keys(given)) {
      if (!(key in names)) throw new BadRequest(`prometheus.${key}`, `is not a Prometheus name field (known: ${Object.keys(names).join(", ")})`);
      const v = given[key];
      if (typeof v !== "string") throw new BadRequest(`prometheus.${key}`, "must be a string");
      names[key as keyof PrometheusNames] = v;
    }
    for (const f of ["requestsMetric", "durationMetric"] as const) {
      if (!METRIC_NAME.test(names[f])) throw new BadRequest(`prometheus.${f}`, `"${names[f]}" is not a Prometheus metric name (letters, digits, _ and :)`);
    }
    for (const f of ["statusLabel", "podHashLabel"] as const) {
      if (!LABEL_NAME.test(names[f])) throw new BadRequest(`prometheus.${f}`, `"${names[f]}" is not a Prometheus label name (letters, digits and _)`);
    }
    try {
      new RegExp(names.errorStatusRegex);
    } catch {
      throw new BadRequest("prometheus.errorStatusRegex", `"${names.errorStatusRegex}" is not a regular expression`);
    }
    if (!MATCHERS.test(names.selector)) {
      throw new BadRequest("prometheus.selector", `"${names.selector}" must be label matchers such as namespace="shop", service=~"checkout.*"`);
    }
    if (gate.type === "metric") {
      for (const f of ["events", "total"] as const) {
        if (!METRIC_NAME.test(gate[f])) throw new BadRequest(`policy.gates.${gate.name}.${f}`, `"${gate[f]}" is not a Prometheus metric name`);
      }
      for (const k of Object.keys(gate.dimensions)) {
        if (!LABEL_NAME.test(k)) throw new BadRequest(`policy.gates.${gate.name}.dimensions.${k}`, "is not a Prometheus label name");
      }
    }
    backend = { kind: "prometheus", names };
    for (const field of ["canaryHash", "stableHash"] as const) hashes[field] = str(body, field, true)!;
  }
  for (const field of ["canaryHash", "stableHash"] as const) {
    const v = hashes[field];
    if (v && !HASH.test(v)) throw new BadRequest(field, `"${v}" is not a pod-template hash (lowercase letters and digits)`);
  }
  return {
    service,
    policy,
    gate,
    stepIndex,
    ...(windowMs !== undefined ? { windowMs } : {}),
    ...(current !== undefined && previous !== undefined ? { weights: { current, previous } } : {}),
    canaryHash: hashes.canaryHash,
    stableHash: hashes.stableHash,
    backend,
  };
}
