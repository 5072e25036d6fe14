/**
 * The policy side of ProgressiveService, as pure functions: read the user's policy (object or
 * YAML/JSON text) with errors that name the field, add the `health` alarm gate, and decide from
 * the controller's status whether a new version may be released now.
 */
import { parse as parseYaml } from "yaml";
import { PolicyError, parsePolicy, type PolicyInput, type RolloutPolicy } from "../src/policy/index.js";
import { ArgsError } from "./internal.js";

/** Name of the alarm gate that carries the alarms HealthGates creates (and yours). */
export const HEALTH_GATE = "health";

/**
 * Validates the policy given as an object (`policy`) or as YAML/JSON text (`policyDocument`).
 * Every problem is reported with its path, e.g. `policy.strategy.steps[2].percent: ...`.
 */
export function readServicePolicy(policy: unknown, policyDocument: string | undefined, component = "ProgressiveService"): RolloutPolicy {
  let input = policy;
  if (policyDocument !== undefined) {
    if (typeof policyDocument !== "string") throw new ArgsError(`${component}: policyDocument must be the policy as YAML or JSON text`);
    try {
      input = parseYaml(policyDocument);
    } catch (e) {
      throw new ArgsError(`${component}: policyDocument is not valid YAML or JSON: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  let resolved: RolloutPolicy;
  try {
    resolved = parsePolicy(input);
  } catch (e) {
    if (e instanceof PolicyError) {
      const lines = e.issues.map((i) => `  - ${i.path ? `policy.${i.path}` : "policy"}: ${i.message}`);
      throw new ArgsError(`${component}: invalid rollout policy (${e.issues.length} problem${e.issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`);
    }
    throw e;
  }
  const clash = resolved.gates.findIndex((g) => g.name === HEALTH_GATE);
  if (clash >= 0) {
    throw new ArgsError(
      `${component}: invalid rollout policy:\n  - policy.gates[${clash}].name: "${HEALTH_GATE}" is reserved for the alarm gate ProgressiveService adds (its health alarms); rename this gate`,
    );
  }
  return resolved;
}

/**
 * The policy the controller receives: the user's (profile merged) plus an alarm gate named
 * `health` listing the given alarms. Steps that list their gates explicitly get it too, so no step
 * runs without the health alarms. Re-validated, so the controller gets a policy parsePolicy accepts.
 */
export function withHealthGate(policy: RolloutPolicy, alarmNames: string[]): PolicyInput {
  if (alarmNames.length === 0) return policy.source;
  const source = structuredClone(policy.source) as PolicyInput;
  source.gates = [...(source.gates ?? []), { type: "alarm", name: HEALTH_GATE, alarms: alarmNames, onMissingData: "hold" }];
  if (source.strategy?.type === "canary") {
    for (const step of source.strategy.steps) {
      if (step.gates !== undefined && !step.gates.includes(HEALTH_GATE)) step.gates = [...step.gates, HEALTH_GATE];
    }
  }
  parsePolicy(source);
  return source;
}

const IN_FLIGHT = new Set(["progressing", "paused"]);

interface ControllerStatus {
  ok?: boolean;
  service?: string;
  trafficArn?: string;
  loadBalancerArn?: string;
  phase?: string;
  stableSlot?: string;
  idleSlot?: string;
  state?: { release?: { stable?: string; canary?: string }; stepIndex?: number };
  pending?: { version?: string; status?: string; slot?: string };
}

/**
 * Refuses a release that would touch a slot serving live traffic. During a rollout both slots
 * serve users (the canary slot takes the step's share), so deploying another version would
 * replace a live workload. The same version as the one in flight is fine (a no-op), as is any
 * version when no rollout is running.
 */
export function checkReleaseAllowed(
  statusJson: string,
  version: string,
  ctx: { controllerFunction: string; steps: number; wanted?: { serviceName: string; loadBalancerArn: string; listenerArn?: string } },
): void {
  const status_ = `rollgate status --function ${ctx.controllerFunction}`;
  const abort = `rollgate abort --function ${ctx.controllerFunction}`;
  let status: ControllerStatus;
  try {
    status = JSON.parse(statusJson) as ControllerStatus;
  } catch {
    throw new ArgsError(
      `ProgressiveService: could not read the controller's status (not JSON: ${JSON.stringify(statusJson.slice(0, 120))}); fix the controller, or set checkLiveSlot: false to skip this check`,
    );
  }
  if (status === null || typeof status !== "object" || status.ok === false || typeof status.phase !== "string") {
    throw new ArgsError(
      `ProgressiveService: the controller's status has no phase (${JSON.stringify(statusJson.slice(0, 160))}); fix the controller, or set checkLiveSlot: false to skip this check`,
    );
  }
  const pending = status.pending;
  if (pending?.status === "deploying" && pending.version !== undefined && pending.version !== version) {
    throw new ArgsError(
      `ProgressiveService: version "${version}" cannot be released now: release "${pending.version}" is still being deployed into the ${pending.slot ?? "idle"} slot. ` +
        `Deploying another version would replace it mid-deployment. Wait for it (${status_}) or abort it (${abort}), then run pulumi up again; ` +
        `to keep "${pending.version}", set version back to "${pending.version}".`,
    );
  }
  const inFlight = status.state?.release?.canary;
  if (IN_FLIGHT.has(status.phase) && inFlight !== undefined && inFlight !== version) {
    const step = typeof status.state?.stepIndex === "number" && status.state.stepIndex >= 0 ? ` at step ${status.state.stepIndex + 1} of ${ctx.steps}` : "";
    const canarySlot = status.idleSlot ?? "canary";
    throw new ArgsError(
      `ProgressiveService: version "${version}" cannot be released now: release "${inFlight}" is ${status.phase}${step}, and both slots serve live traffic ` +
        `(the ${canarySlot} slot runs "${inFlight}" for part of the users, the ${status.stableSlot ?? "stable"} slot the rest). ` +
        `Deploying "${version}" would replace a live slot's workload. Wait for "${inFlight}" to finish (${status_}), or end it with ` +
        `${abort} (traffic goes back to the stable slot), then run pulumi up again; to keep "${inFlight}" going, set version back to "${inFlight}".`,
    );
  }
  if (IN_FLIGHT.has(status.phase) && ctx.wanted) {
    const step = typeof status.state?.stepIndex === "number" && status.state.stepIndex >= 0 ? ` at step ${status.state.stepIndex + 1} of ${ctx.steps}` : "";
    const live = `release "${inFlight ?? "?"}" is ${status.phase}${step}`;
    const wayOut = `Finish the rollout first (${status_}) or end it (${abort}), then run pulumi up again`;
    for (const change of liveRolloutChanges(status, ctx.wanted)) {
      throw new ArgsError(`ProgressiveService: ${change.field} cannot change while ${live}: ${change.why}. ${wayOut}; or set ${change.field} back to ${JSON.stringify(change.was)}.`);
    }
  }
}

/** The listener, and the load balancer, an ELBv2 listener or listener-rule ARN belongs to. */
function elbParts(arn: string): { kind: "listener" | "listener-rule"; listenerArn: string; loadBalancerArn: string } | undefined {
  const m = /^(arn:[^:]+:elasticloadbalancing:[^:]*:\d{12}:)(listener|listener-rule)\/(app\/[^/]+\/[^/]+)\/([^/]+)(?:\/[^/]+)?$/.exec(arn);
  if (!m) return undefined;
  return { kind: m[2] as "listener" | "listener-rule", listenerArn: `${m[1]}listener/${m[3]}/${m[4]}`, loadBalancerArn: `${m[1]}loadbalancer/${m[3]}` };
}

/**
 * Changes of arguments that would re-point or replace what a live rollout stands on: the state
 * record (serviceName is its key) and the rule or listener the controller steers (a new one is
 * created at all-blue while the rollout's state says otherwise). Judged against the configuration
 * the deployed controller reports; a controller too old to report it is not judged on it.
 */
export function liveRolloutChanges(
  status: Pick<ControllerStatus, "service" | "trafficArn" | "loadBalancerArn">,
  wanted: { serviceName: string; loadBalancerArn: string; listenerArn?: string },
): Array<{ field: string; was: string; why: string }> {
  const out: Array<{ field: string; was: string; why: string }> = [];
  if (status.service !== undefined && status.service !== wanted.serviceName) {
    out.push({
      field: "serviceName",
      was: status.service,
      why: `the controller keeps the rollout's state under the service name "${status.service}"; as "${wanted.serviceName}" it would find no rollout and lose this one, and the gate alarms would be renamed under it`,
    });
  }
  const traffic = status.trafficArn !== undefined ? elbParts(status.trafficArn) : undefined;
  const lb = status.loadBalancerArn ?? traffic?.loadBalancerArn;
  if (lb !== undefined && lb !== wanted.loadBalancerArn) {
    out.push({ field: "loadBalancerArn", was: lb, why: `the service's ${traffic?.kind === "listener-rule" ? "listener rule" : "listener"} would be replaced by one on another load balancer, created with all traffic on the blue slot while the rollout's state says otherwise` });
  }
  if (traffic?.kind === "listener-rule" && wanted.listenerArn !== traffic.listenerArn) {
    out.push({
      field: "listenerArn",
      was: traffic.listenerArn,
      why: wanted.listenerArn === undefined
        ? "without it the service's rule on the shared listener would be replaced by a listener of its own, created with all traffic on the blue slot"
        : "the service's rule (and its ring rules) would be replaced by new ones on another listener, created with all traffic on the blue slot",
    });
  }
  if (traffic?.kind === "listener" && wanted.listenerArn !== undefined) {
    out.push({ field: "listenerArn", was: "(unset: a listener of its own)", why: "setting it would replace the service's own listener with a rule on the shared listener, created with all traffic on the blue slot" });
  }
  return out;
}
