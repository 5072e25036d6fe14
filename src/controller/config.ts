/**
 * The controller Lambda's environment: the fixed contract with the Pulumi components.
 * A bad or missing variable fails the invocation with a message naming the variable.
 */
import { z } from "zod";
import { LISTENER_ARN, LOAD_BALANCER_ARN, RULE_ARN, TARGET_GROUP_ARN } from "../aws/arn.js";
import { parseDuration } from "../policy/duration.js";
import { PolicyError } from "../policy/errors.js";
import { parsePolicy } from "../policy/resolve.js";
import type { RolloutPolicy } from "../policy/types.js";

const arn = (pattern: RegExp, what: string) =>
  z.string({ error: "is required" }).refine((v) => pattern.test(v), { error: (iss) => `must be ${what} ARN, got "${String(iss.input)}"` });

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
  const picked = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith("ROLLGATE_") && v !== undefined && v !== ""));
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
  };
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
  };
}
