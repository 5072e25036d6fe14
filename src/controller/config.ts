/**
 * The controller Lambda's environment: the fixed contract with the Pulumi components.
 * A bad or missing variable fails the invocation with a message naming the variable.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { LISTENER_ARN, LOAD_BALANCER_ARN, RULE_ARN, TARGET_GROUP_ARN } from "../aws/arn.js";
import { parseDuration } from "../policy/duration.js";
import { PolicyError } from "../policy/errors.js";
import { parsePolicy } from "../policy/resolve.js";
import type { RolloutPolicy } from "../policy/types.js";

const arn = (pattern: RegExp, what: string) =>
  z.string({ error: "is required" }).refine((v) => pattern.test(v), { error: (iss) => `must be ${what} ARN, got "${String(iss.input).slice(0, 200)}${String(iss.input).length > 200 ? "..." : ""}"` });

/** zod schema of the environment variables (raw strings). */
export const controllerEnvSchema = z
  .object({
    ROLLGATE_SERVICE: z.string({ error: "is required" }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: "must be a service name: letters, digits, '.', '_' or '-' (up to 128)" }),
    ROLLGATE_POLICY: z.string({ error: "is required (the policy as JSON)" }).min(2, { error: "is required (the policy as JSON)" }),
    ROLLGATE_TABLE: z.string({ error: "is required" }).regex(/^[A-Za-z0-9_.-]{3,255}$/, { error: "must be a DynamoDB table name" }),
    ROLLGATE_LISTENER_ARN: arn(LISTENER_ARN, "a listener").optional(),
    ROLLGATE_RULE_ARN: arn(RULE_ARN, "a listener rule").optional(),
    ROLLGATE_BLUE_TARGET_GROUP_ARN: arn(TARGET_GROUP_ARN, "a target group"),
    ROLLGATE_GREEN_TARGET_GROUP_ARN: arn(TARGET_GROUP_ARN, "a target group"),
    ROLLGATE_LOAD_BALANCER_ARN: arn(LOAD_BALANCER_ARN, "a load balancer"),
    ROLLGATE_TOPIC_ARN: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, { error: "must be an SNS topic ARN" }).optional(),
    ROLLGATE_EVENT_BUS: z.string().min(1).max(1600).optional(),
    ROLLGATE_ECS_CLUSTER_ARN: z.string().regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]+$/, { error: "must be an ECS cluster ARN" }).optional(),
    ROLLGATE_ECS_BLUE_SERVICE: z.string().min(1).optional(),
    ROLLGATE_ECS_GREEN_SERVICE: z.string().min(1).optional(),
    ROLLGATE_ECS_READY_TIMEOUT: z.string().refine((v) => parseDuration(v) !== undefined, { error: 'must be a duration such as "15m"' }).optional(),
    ROLLGATE_HISTORY_TTL_DAYS: z
      .string()
      .regex(/^\d+$/, { error: "must be a whole number of days" })
      .refine((v) => Number(v) >= 1 && Number(v) <= 3650, { error: "must be from 1 to 3650 days" })
      .optional(),
    ROLLGATE_FREEZE_ALARMS: z.string().optional(),
    ROLLGATE_ACCOUNT_FREEZE_PARAMETER: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\-/]{1,1010}$/, { error: 'must be an SSM parameter name starting with "/", e.g. /rollgate/account-freeze' })
      .optional(),
    // Checked against the policy's rings after the policy is parsed (see checkRingRules).
    ROLLGATE_RING_RULES: z.string().optional(),
    // JSON {"enabled": true, "durationSeconds": 600}; absent: the controller keeps whatever stickiness it reads.
    ROLLGATE_STICKINESS: z.string().max(256, { error: "must be at most 256 characters" }).optional(),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.ROLLGATE_LISTENER_ARN) === Boolean(env.ROLLGATE_RULE_ARN)) {
      ctx.addIssue({
        code: "custom",
        path: ["ROLLGATE_LISTENER_ARN"],
        message: "exactly one of ROLLGATE_LISTENER_ARN (listener default action) or ROLLGATE_RULE_ARN (listener rule) must be set",
      });
    }
    if (env.ROLLGATE_BLUE_TARGET_GROUP_ARN && env.ROLLGATE_BLUE_TARGET_GROUP_ARN === env.ROLLGATE_GREEN_TARGET_GROUP_ARN) {
      ctx.addIssue({ code: "custom", path: ["ROLLGATE_GREEN_TARGET_GROUP_ARN"], message: "must differ from ROLLGATE_BLUE_TARGET_GROUP_ARN" });
    }
    const ecs = [env.ROLLGATE_ECS_CLUSTER_ARN, env.ROLLGATE_ECS_BLUE_SERVICE, env.ROLLGATE_ECS_GREEN_SERVICE];
    if (ecs.some(Boolean) && !ecs.every(Boolean)) {
      const missing = (["ROLLGATE_ECS_CLUSTER_ARN", "ROLLGATE_ECS_BLUE_SERVICE", "ROLLGATE_ECS_GREEN_SERVICE"] as const).filter((k) => !env[k]);
      ctx.addIssue({ code: "custom", path: [missing[0]!], message: `the ECS variables go together: set ${missing.join(" and ")} too, or none of them` });
    }
  });

export type ControllerEnv = z.input<typeof controllerEnvSchema>;

export interface EcsSlots {
  clusterArn: string;
  blueService: string;
  greenService: string;
  /** How long the idle slot's targets may take to turn healthy before the release fails. */
  readyTimeoutMs: number;
}

export interface ControllerConfig {
  service: string;
  policy: RolloutPolicy;
  table: string;
  listenerArn?: string;
  ruleArn?: string;
  blueTargetGroupArn: string;
  greenTargetGroupArn: string;
  loadBalancerArn: string;
  topicArn?: string;
  eventBus: string;
  ecs?: EcsSlots;
  historyTtlDays: number;
  /** Alarms whose ALARM state sets the global freeze (error-budget alarms). */
  freezeAlarms: string[];
  /**
   * SSM parameter of the account-wide freeze that every controller of the account and region reads
   * (ROLLGATE_ACCOUNT_FREEZE_PARAMETER). Unset: only this table's freeze applies.
   */
  accountFreezeParameter?: string;
  /** Audience ring name -> its listener rule ARN (ROLLGATE_RING_RULES): one per ring of the policy. */
  ringRules?: Record<string, string>;
  /**
   * Target-group stickiness of the forward action (ROLLGATE_STICKINESS), converged like the weights.
   * @default undefined: left as the controller reads it
   */
  stickiness?: { enabled: boolean; durationSeconds: number };
}

/** A problem with the Lambda's environment, naming the variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

export const DEFAULT_ECS_READY_TIMEOUT_MS = 15 * 60_000;

/** Reads and validates the controller's environment; throws ConfigError naming the first bad variable. */
export function parseControllerEnv(env: Record<string, string | undefined>): ControllerConfig {
  const fromFile = readConfigFile(env);
  const picked = Object.fromEntries(Object.entries({ ...fromFile, ...env }).filter(([k, v]) => k.startsWith("ROLLGATE_") && k !== "ROLLGATE_CONFIG_FILE" && v !== undefined && v !== ""));
  const parsed = controllerEnvSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    const message = issue.code === "invalid_type" && picked[variable] === undefined ? "is required" : issue.message;
    throw new ConfigError(variable, `${message}${parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more problem(s): ${parsed.error.issues.slice(1).map((i) => String(i.path[0])).join(", ")})` : ""}`);
  }
  const e = parsed.data;
  let policyInput: unknown;
  try {
    policyInput = JSON.parse(e.ROLLGATE_POLICY);
  } catch (err) {
    throw new ConfigError("ROLLGATE_POLICY", `is not valid JSON (${(err as Error).message})`);
  }
  let policy: RolloutPolicy;
  try {
    policy = parsePolicy(policyInput);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError("ROLLGATE_POLICY", err.message);
    throw err;
  }
  let ringRules: Record<string, string> | undefined;
  if (e.ROLLGATE_RING_RULES !== undefined) {
    try {
      ringRules = JSON.parse(e.ROLLGATE_RING_RULES) as Record<string, string>;
    } catch (err) {
      throw new ConfigError("ROLLGATE_RING_RULES", `is not valid JSON (${(err as Error).message}); set it to an object of ring name -> listener rule ARN`);
    }
  }
  checkRingRules(policy, ringRules, e.ROLLGATE_RULE_ARN);
  const stickiness = e.ROLLGATE_STICKINESS === undefined ? undefined : parseStickiness(e.ROLLGATE_STICKINESS);
  return {
    service: e.ROLLGATE_SERVICE,
    policy,
    table: e.ROLLGATE_TABLE,
    ...(e.ROLLGATE_LISTENER_ARN ? { listenerArn: e.ROLLGATE_LISTENER_ARN } : {}),
    ...(e.ROLLGATE_RULE_ARN ? { ruleArn: e.ROLLGATE_RULE_ARN } : {}),
    blueTargetGroupArn: e.ROLLGATE_BLUE_TARGET_GROUP_ARN,
    greenTargetGroupArn: e.ROLLGATE_GREEN_TARGET_GROUP_ARN,
    loadBalancerArn: e.ROLLGATE_LOAD_BALANCER_ARN,
    ...(e.ROLLGATE_TOPIC_ARN ? { topicArn: e.ROLLGATE_TOPIC_ARN } : {}),
    eventBus: e.ROLLGATE_EVENT_BUS ?? "default",
    ...(e.ROLLGATE_ECS_CLUSTER_ARN
      ? {
          ecs: {
            clusterArn: e.ROLLGATE_ECS_CLUSTER_ARN,
            blueService: e.ROLLGATE_ECS_BLUE_SERVICE!,
            greenService: e.ROLLGATE_ECS_GREEN_SERVICE!,
            readyTimeoutMs: e.ROLLGATE_ECS_READY_TIMEOUT ? parseDuration(e.ROLLGATE_ECS_READY_TIMEOUT)! : DEFAULT_ECS_READY_TIMEOUT_MS,
          },
        }
      : {}),
    historyTtlDays: e.ROLLGATE_HISTORY_TTL_DAYS ? Number(e.ROLLGATE_HISTORY_TTL_DAYS) : 90,
    freezeAlarms: (e.ROLLGATE_FREEZE_ALARMS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    ...(e.ROLLGATE_ACCOUNT_FREEZE_PARAMETER ? { accountFreezeParameter: e.ROLLGATE_ACCOUNT_FREEZE_PARAMETER } : {}),
    ...(ringRules && Object.keys(ringRules).length ? { ringRules } : {}),
    ...(stickiness ? { stickiness } : {}),
  };
}

function parseStickiness(text: string): { enabled: boolean; durationSeconds: number } {
  const v = "ROLLGATE_STICKINESS";
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError(v, 'is not valid JSON; set it to {"enabled": true, "durationSeconds": 600} or leave it unset');
  }
  const o = raw as { enabled?: unknown; durationSeconds?: unknown };
  if (!o || typeof o !== "object" || Array.isArray(o) || typeof o.enabled !== "boolean") throw new ConfigError(v, 'must be an object with "enabled": true or false');
  const extra = Object.keys(o).filter((k) => k !== "enabled" && k !== "durationSeconds");
  if (extra.length) throw new ConfigError(v, `has unknown field "${extra[0]!.slice(0, 32)}"; only "enabled" and "durationSeconds" are allowed`);
  const d = o.durationSeconds ?? (o.enabled ? undefined : 1);
  if (typeof d !== "number" || !Number.isInteger(d) || d < 1 || d > 604_800) {
    throw new ConfigError(v, '"durationSeconds" must be a whole number of seconds from 1 to 604800 (7 days, ELB\'s limit)');
  }
  return { enabled: o.enabled, durationSeconds: d };
}

/**
 * ROLLGATE_CONFIG_FILE: a JSON object of ROLLGATE_* variable -> string value, shipped inside the
 * function's code archive (relative paths are from LAMBDA_TASK_ROOT, the archive's root). It holds
 * what would not fit Lambda's 4 KB environment (the policy, ring rules, freeze alarms); the
 * environment wins where both set a variable.
 */
export function readConfigFile(env: Record<string, string | undefined>): Record<string, string> {
  const v = "ROLLGATE_CONFIG_FILE";
  const file = env[v];
  if (file === undefined || file === "") return {};
  const path = isAbsolute(file) ? file : join(env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(v, `cannot read ${path} as JSON (${(err as Error).message}); it is written into the function's code archive by the StepController component`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(v, `${path} must hold a JSON object of ROLLGATE_* variable -> string`);
  for (const [k, value] of Object.entries(parsed)) {
    if (!k.startsWith("ROLLGATE_") || k === v) throw new ConfigError(v, `${path}: "${k}" is not a controller variable (ROLLGATE_*, other than ${v})`);
    if (typeof value !== "string") throw new ConfigError(v, `${path}: "${k}" must be a string (as in the environment), got ${typeof value}`);
  }
  return parsed as Record<string, string>;
}

/**
 * The ring rules must match the policy's rings one to one: a ring without a rule would never see
 * the canary (its step would pass on no evidence), and a rule for no ring would never be reset.
 * Throws ConfigError naming ROLLGATE_RING_RULES and the ring.
 */
export function checkRingRules(policy: RolloutPolicy, rules: unknown, serviceRuleArn?: string): void {
  const v = "ROLLGATE_RING_RULES";
  const rings = policy.rings.map((r) => r.name);
  if (rules === undefined) {
    if (rings.length) throw new ConfigError(v, `is required: the policy defines ring(s) ${rings.map((r) => `"${r}"`).join(", ")}; set it to {"<ring>": "<listener rule ARN>"} for each`);
    return;
  }
  if (typeof rules !== "object" || rules === null || Array.isArray(rules)) {
    throw new ConfigError(v, `must be a JSON object of ring name -> listener rule ARN, got ${Array.isArray(rules) ? "an array" : typeof rules}`);
  }
  const entries = Object.entries(rules as Record<string, unknown>);
  for (const [ring, arn] of entries) {
    if (!rings.includes(ring)) throw new ConfigError(v, `ring "${ring}" is not a ring of the policy (rings: ${rings.length ? rings.join(", ") : "none"}); remove it or add the ring to the policy`);
    if (typeof arn !== "string" || !RULE_ARN.test(arn)) throw new ConfigError(v, `ring "${ring}" must map to a listener rule ARN, got ${JSON.stringify(arn)}`);
    if (arn === serviceRuleArn) throw new ConfigError(v, `ring "${ring}" maps to ROLLGATE_RULE_ARN, the service's own rule; a ring needs its own, higher-priority rule`);
  }
  for (const ring of rings) {
    if (!(ring in (rules as object))) throw new ConfigError(v, `ring "${ring}" of the policy has no listener rule; add "${ring}": "<listener rule ARN>"`);
  }
  const seen = new Map<string, string>();
  for (const [ring, arn] of entries) {
    const other = seen.get(arn as string);
    if (other) throw new ConfigError(v, `rings "${other}" and "${ring}" share the rule ${String(arn)}; each ring needs its own rule`);
    seen.set(arn as string, ring);
  }
}

/** The environment a component sets for a config (the inverse of parseControllerEnv, for tests and local runs). */
export function controllerEnv(config: Omit<ControllerConfig, "policy"> & { policy: unknown }): Record<string, string> {
  const policy = config.policy as { source?: unknown };
  return {
    ROLLGATE_SERVICE: config.service,
    ROLLGATE_POLICY: JSON.stringify(policy && typeof policy === "object" && "source" in policy ? policy.source : config.policy),
    ROLLGATE_TABLE: config.table,
    ...(config.listenerArn ? { ROLLGATE_LISTENER_ARN: config.listenerArn } : {}),
    ...(config.ruleArn ? { ROLLGATE_RULE_ARN: config.ruleArn } : {}),
    ROLLGATE_BLUE_TARGET_GROUP_ARN: config.blueTargetGroupArn,
    ROLLGATE_GREEN_TARGET_GROUP_ARN: config.greenTargetGroupArn,
    ROLLGATE_LOAD_BALANCER_ARN: config.loadBalancerArn,
    ...(config.topicArn ? { ROLLGATE_TOPIC_ARN: config.topicArn } : {}),
    ROLLGATE_EVENT_BUS: config.eventBus,
    ...(config.ecs
      ? {
          ROLLGATE_ECS_CLUSTER_ARN: config.ecs.clusterArn,
          ROLLGATE_ECS_BLUE_SERVICE: config.ecs.blueService,
          ROLLGATE_ECS_GREEN_SERVICE: config.ecs.greenService,
          ROLLGATE_ECS_READY_TIMEOUT: `${Math.round(config.ecs.readyTimeoutMs / 1000)}s`,
        }
      : {}),
    ROLLGATE_HISTORY_TTL_DAYS: String(config.historyTtlDays),
    ...(config.freezeAlarms.length ? { ROLLGATE_FREEZE_ALARMS: config.freezeAlarms.join(",") } : {}),
    ...(config.accountFreezeParameter ? { ROLLGATE_ACCOUNT_FREEZE_PARAMETER: config.accountFreezeParameter } : {}),
    ...(config.ringRules && Object.keys(config.ringRules).length ? { ROLLGATE_RING_RULES: JSON.stringify(config.ringRules) } : {}),
    ...(config.stickiness ? { ROLLGATE_STICKINESS: JSON.stringify(config.stickiness) } : {}),
  };
}
