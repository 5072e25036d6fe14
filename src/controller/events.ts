/**
 * What the controller Lambda accepts: a scheduled tick, a CloudWatch alarm state change (both
 * from EventBridge) and operator / pipeline commands (direct invoke). Everything is validated
 * with zod; a malformed payload is rejected with the field named and nothing is changed.
 */
import { z } from "zod";
import { formatPath } from "../policy/errors.js";

/** EventBridge scheduled event (the tick). Other fields of the envelope are allowed and ignored. */
export const scheduledEventSchema = z.looseObject({
  source: z.literal("aws.events", { error: 'must be "aws.events"' }),
  "detail-type": z.literal("Scheduled Event", { error: 'must be "Scheduled Event"' }),
});

/** EventBridge "CloudWatch Alarm State Change". */
export const alarmEventSchema = z.looseObject({
  source: z.literal("aws.cloudwatch", { error: 'must be "aws.cloudwatch"' }),
  "detail-type": z.literal("CloudWatch Alarm State Change", { error: 'must be "CloudWatch Alarm State Change"' }),
  detail: z.looseObject({
    alarmName: z.string({ error: "must be the alarm's name (a string)" }).min(1, { error: "must not be empty" }),
    state: z.looseObject({
      value: z.enum(["OK", "ALARM", "INSUFFICIENT_DATA"], { error: 'must be "OK", "ALARM" or "INSUFFICIENT_DATA"' }),
    }, { error: "must be an object with the new state's value" }),
  }, { error: "must be an object with alarmName and state" }),
});

// Control characters (escape sequences, bidi overrides, newlines) would reach every terminal that
// prints the audit trail; refused at the edge, and escaped by the CLI for anything older.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
const plainText = { error: "must be plain text: no control characters (escape sequences, tabs, newlines, bidi overrides)" };
const actor = z
  .string({ error: "must be a string (a name to record beside the verified caller, labelled as claimed)" })
  .min(1, { error: "must not be empty" })
  .max(128, { error: "must be at most 128 characters" })
  .refine((s) => !CONTROL.test(s), plainText);
const note = z.string({ error: "must be a string" }).max(1024, { error: "must be at most 1024 characters" }).refine((s) => !CONTROL.test(s), plainText);
const service = z.string({ error: "must be the service name" }).min(1, { error: "must not be empty" });

export const releaseSchema = z.strictObject(
  {
    version: z
      .string({ error: "is required: the release's version label (a string)" })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+:-]{0,127}$/, { error: "must be a version label: letters, digits, '.', '_', '+', ':' or '-' (up to 128), e.g. v2 or 1.4.0" }),
    taskDefinitionArn: z
      .string({ error: "must be an ECS task definition ARN" })
      .regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]+:\d+$/, { error: "must be an ECS task definition ARN (arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>)" })
      .optional(),
  },
  { error: "is required: an object { version, taskDefinitionArn? }" },
);

const common = { actor: actor.optional(), note: note.optional(), service: service.optional() };
const scope = z
  .enum(["table", "account"], { error: 'must be "table" (the services of this controller\'s table) or "account" (every service of the account and region)' })
  .optional();

export const startCommandSchema = z.strictObject({ command: z.literal("start"), release: releaseSchema, ...common });
export const SIMPLE_COMMANDS = ["promote", "abort", "approve", "pause", "resume", "kill", "unkill", "freeze", "unfreeze", "status"] as const;
export type SimpleCommandName = (typeof SIMPLE_COMMANDS)[number];
export const simpleCommandSchema = z
  .strictObject({ command: z.enum(SIMPLE_COMMANDS), ...common, scope })
  .refine((c) => c.scope === undefined || c.command === "freeze" || c.command === "unfreeze", { path: ["scope"], error: "applies only to freeze and unfreeze; remove it" });

export const COMMAND_NAMES = ["start", ...SIMPLE_COMMANDS] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** A command payload sent by direct invoke (or run in-process by the CLI). */
export const commandPayloadSchema = z.union([startCommandSchema, simpleCommandSchema]);
export type CommandPayload = z.output<typeof startCommandSchema> | z.output<typeof simpleCommandSchema>;

export type Trigger =
  | { kind: "tick" }
  | { kind: "alarm"; alarmName: string; state: "OK" | "ALARM" | "INSUFFICIENT_DATA" }
  | { kind: "command"; command: CommandPayload };

export interface PayloadIssue {
  path: string;
  message: string;
}

/** A payload the controller will not act on: every problem, each naming its field. */
export class InvalidPayloadError extends Error {
  override readonly name = "InvalidPayloadError";
  constructor(readonly issues: PayloadIssue[]) {
    super(`invalid payload: ${issues.map((i) => `${i.path || "(payload)"}: ${i.message}`).join("; ")}`);
  }
}

function issuesOf(error: z.ZodError): PayloadIssue[] {
  return error.issues.flatMap((issue): PayloadIssue[] => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: "unknown field; remove it" }));
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

/** Validates a command payload; throws InvalidPayloadError naming the fields. */
export function parseCommand(payload: unknown): CommandPayload {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
    throw new InvalidPayloadError([{ path: "", message: 'must be a JSON object such as { "command": "status" }' }]);
  }
  const name = (payload as { command?: unknown }).command;
  if (name === "start") {
    const r = startCommandSchema.safeParse(payload);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    return r.data;
  }
  if (typeof name !== "string" || !(SIMPLE_COMMANDS as readonly string[]).includes(name)) {
    throw new InvalidPayloadError([{ path: "command", message: `must be one of ${COMMAND_NAMES.map((c) => `"${c}"`).join(", ")}${name === undefined ? "" : `, got ${JSON.stringify(name)}`}` }]);
  }
  const r = simpleCommandSchema.safeParse(payload);
  if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
  return r.data;
}

/** Classifies and validates anything the Lambda receives. */
export function parseTrigger(payload: unknown): Trigger {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
    throw new InvalidPayloadError([{ path: "", message: "must be a JSON object: a command ({ command: ... }), a scheduled event or a CloudWatch alarm state change" }]);
  }
  const p = payload as Record<string, unknown>;
  if ("command" in p) return { kind: "command", command: parseCommand(p) };
  if (p.source === "aws.events") {
    const r = scheduledEventSchema.safeParse(p);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    return { kind: "tick" };
  }
  if (p.source === "aws.cloudwatch") {
    const r = alarmEventSchema.safeParse(p);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    return { kind: "alarm", alarmName: r.data.detail.alarmName, state: r.data.detail.state.value };
  }
  throw new InvalidPayloadError([
    {
      path: "source" in p ? "source" : "command",
      message: "source" in p
        ? `must be "aws.events" (scheduled tick) or "aws.cloudwatch" (alarm state change), got ${JSON.stringify(p.source)}`
        : 'is required: send { "command": "<name>" }, or route a scheduled event or an alarm state change here',
    },
  ]);
}

/**
 * The part of the `status` response that other tools rely on (the Pulumi component reads
 * `stableSlot` and `phase` at preview time). Extra fields are allowed.
 */
export const statusResponseSchema = z.looseObject({
  ok: z.literal(true),
  command: z.literal("status"),
  service: z.string(),
  phase: z.enum(["idle", "progressing", "paused", "promoted", "rolled-back", "aborted"]),
  stableSlot: z.enum(["blue", "green"]),
  idleSlot: z.enum(["blue", "green"]),
  state: z.looseObject({ rolloutId: z.string(), release: z.looseObject({ stable: z.string(), canary: z.string() }) }),
  weights: z.object({ stable: z.number().int(), canary: z.number().int() }),
  frozen: z.boolean(),
  killSwitch: z.boolean(),
});
