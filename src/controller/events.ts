/**
 * What the controller Lambda accepts: a scheduled tick, a CloudWatch alarm state change (both
 * from EventBridge) and operator / pipeline commands (direct invoke). Everything is validated
 * with zod; a malformed payload is rejected with the field named and nothing is changed.
 */
import { z } from "zod";
import { formatPath } from "../policy/errors.js";
import { answerOfCallback, answerOfRecord, destinationRecordSchema, hookResultCallbackSchema, isHookAnswerPayload, type ReceivedHookAnswer } from "./hook-answers.js";

/** EventBridge scheduled event (the tick). Other fields of the envelope are allowed and ignored. */
export const scheduledEventSchema = z.looseObject({
  source: z.literal("aws.events", { error: 'must be "aws.events"' }),
  "detail-type": z.literal("Scheduled Event", { error: 'must be "Scheduled Event"' }),
});

/** Bounds on what an alarm event may carry (CloudWatch's own limits, or generous caps where it has none). */
export const ALARM_NAME_MAX = 255;
const ARN_MAX = 1600;
const SHORT_MAX = 128;
const REASON_MAX = 1024;

const boundedString = (max: number, what: string) => z.string({ error: `must be ${what} (a string)` }).max(max, { error: `must be at most ${max} characters` });

/**
 * EventBridge "CloudWatch Alarm State Change": single-metric, metric-math, anomaly-detection and
 * composite alarms all share this envelope. Only the fields the controller reads are checked (with
 * bounds); the rest (configuration, reasonData ...) is allowed and ignored.
 */
export const alarmEventSchema = z.looseObject({
  source: z.literal("aws.cloudwatch", { error: 'must be "aws.cloudwatch"' }),
  "detail-type": z.literal("CloudWatch Alarm State Change", { error: 'must be "CloudWatch Alarm State Change"' }),
  id: boundedString(SHORT_MAX, "the event id").optional(),
  time: boundedString(64, "the event time").optional(),
  account: boundedString(32, "an account id").optional(),
  region: boundedString(64, "a region").optional(),
  resources: z.array(boundedString(ARN_MAX, "an ARN"), { error: "must be a list of ARNs" }).max(20, { error: "must list at most 20 ARNs" }).optional(),
  detail: z.looseObject(
    {
      alarmName: z
        .string({ error: "must be the alarm's name (a string)" })
        .min(1, { error: "must not be empty" })
        .max(ALARM_NAME_MAX, { error: `must be at most ${ALARM_NAME_MAX} characters (CloudWatch's limit for alarm names)` }),
      state: z.looseObject(
        {
          value: z.enum(["OK", "ALARM", "INSUFFICIENT_DATA"], { error: 'must be "OK", "ALARM" or "INSUFFICIENT_DATA"' }),
          timestamp: boundedString(64, "the state's timestamp").optional(),
          actionsSuppressedBy: boundedString(SHORT_MAX, "a suppression kind").optional(),
          actionsSuppressedReason: z.string().optional(),
        },
        { error: "must be an object with the new state's value" },
      ),
      /** An alarm mute rule was muting the alarm's actions (documented in the CloudWatch user guide's sample events). */
      muteDetail: z
        .looseObject(
          {
            mutedByArn: boundedString(ARN_MAX, "the mute rule's ARN").optional(),
            muteWindowStart: boundedString(64, "the mute window's start").optional(),
            muteWindowEnd: boundedString(64, "the mute window's end").optional(),
          },
          { error: "must be an object (mutedByArn, muteWindowStart, muteWindowEnd)" },
        )
        .optional(),
    },
    { error: "must be an object with alarmName and state" },
  ),
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
/** What the controller keeps of an alarm event: enough to judge its freshness and to record it. */
export interface AlarmEventInfo {
  id?: string;
  time?: string;
  account?: string;
  region?: string;
  /** resources[0]: the alarm's ARN. */
  alarmArn?: string;
  /** detail.state.timestamp as sent, and parsed to epoch ms (undefined when it does not parse). */
  stateTimestamp?: string;
  stateAt?: number;
  actionsSuppressedBy?: string;
  actionsSuppressedReason?: string;
  /** detail.muteDetail: the alarm mute rule that muted the alarm's actions, and its window. */
  muteDetail?: { mutedByArn?: string; muteWindowStart?: string; muteWindowEnd?: string };
  /** Any other mute fields of the event, as a short excerpt. */
  mute?: string;
}

/**
 * Parses CloudWatch's timestamps: ISO 8601 with `Z`, `+00:00` or `+0000` offsets (alarm state
 * timestamps use `2019-10-02T17:04:40.989+0000`). Anything else is undefined, never a guess.
 */
export function parseAwsTimestamp(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, "0")) : 0;
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms);
  const check = new Date(t);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  if (zone !== "Z") {
    const z2 = zone!.replace(":", "");
    const sign = z2[0] === "-" ? -1 : 1;
    const offset = (Number(z2.slice(1, 3)) * 60 + Number(z2.slice(3, 5))) * 60_000;
    t -= sign * offset;
  }
  return t;
}

/** At most `max` characters of any value, for error messages and records: never the whole input. */
export function excerpt(value: unknown, max = 64): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

function muteExcerpt(detail: Record<string, unknown>): string | undefined {
  // Alarm mute rules silence an alarm's actions, not its state or its events. Whatever mute fields
  // an event carries are kept (bounded) so the record shows the alarm was muted when it fired.
  const found: Record<string, unknown> = {};
  const state = (detail.state ?? {}) as Record<string, unknown>;
  for (const [where, obj] of [["detail", detail], ["state", state]] as const) {
    for (const [k, v] of Object.entries(obj)) if (/mute/i.test(k) && !(where === "detail" && k === "muteDetail")) found[`${where}.${k}`] = v;
  }
  if (Object.keys(found).length === 0) return undefined;
  const text = JSON.stringify(found);
  return text.length <= 512 ? text : `${text.slice(0, 512)}...`;
}

const service = z.string({ error: "must be the service name" }).min(1, { error: "must not be empty" }).max(128, { error: "must be at most 128 characters" });

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
  /** `via`: what asked for the evaluation when it was not the schedule (a hook's answer). */
  | { kind: "tick"; via?: string }
  | { kind: "alarm"; alarmName: string; state: "OK" | "ALARM" | "INSUFFICIENT_DATA"; event?: AlarmEventInfo }
  | { kind: "command"; command: CommandPayload }
  | { kind: "hook-result"; answer: ReceivedHookAnswer };

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

const MAX_ISSUES = 10;

function issuesOf(error: z.ZodError): PayloadIssue[] {
  const all = error.issues.flatMap((issue): PayloadIssue[] => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({ path: boundPath(formatPath([...issue.path, k])), message: "unknown field; remove it" }));
    }
    return [{ path: boundPath(formatPath(issue.path)), message: issue.message.slice(0, 512) }];
  });
  // A payload with thousands of bad fields gets a short answer, not all of them echoed back.
  if (all.length <= MAX_ISSUES) return all;
  return [...all.slice(0, MAX_ISSUES), { path: "", message: `and ${all.length - MAX_ISSUES} more problem(s)` }];
}

function boundPath(path: string): string {
  return path.length <= 128 ? path : `${path.slice(0, 128)}...`;
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
    throw new InvalidPayloadError([{ path: "command", message: `must be one of ${COMMAND_NAMES.map((c) => `"${c}"`).join(", ")}${name === undefined ? "" : `, got ${excerpt(name)}`}` }]);
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
  if (isHookAnswerPayload(p)) {
    // A lifecycle hook's answer: a Lambda destination's invocation record, or a hook-result callback.
    if ("rollgate" in p) {
      const r = hookResultCallbackSchema.safeParse(p);
      if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
      return { kind: "hook-result", answer: answerOfCallback(r.data) };
    }
    const r = destinationRecordSchema.safeParse(p);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    return { kind: "hook-result", answer: answerOfRecord(r.data) };
  }
  if (p.source === "aws.events") {
    const r = scheduledEventSchema.safeParse(p);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    return { kind: "tick" };
  }
  if (p.source === "aws.cloudwatch") {
    if (p["detail-type"] === "CloudWatch Alarm Contributor State Change") {
      throw new InvalidPayloadError([
        {
          path: "detail-type",
          message:
            'a multi-time-series alarm\'s contributor event is not a controller trigger: route the alarm\'s own "CloudWatch Alarm State Change" events to the controller (it changes state when its contributors do)',
        },
      ]);
    }
    const r = alarmEventSchema.safeParse(p);
    if (!r.success) throw new InvalidPayloadError(issuesOf(r.error));
    const d = r.data.detail;
    const event: AlarmEventInfo = {
      ...(r.data.id !== undefined ? { id: r.data.id } : {}),
      ...(r.data.time !== undefined ? { time: r.data.time } : {}),
      ...(r.data.account !== undefined ? { account: r.data.account } : {}),
      ...(r.data.region !== undefined ? { region: r.data.region } : {}),
      ...(r.data.resources?.[0] !== undefined ? { alarmArn: r.data.resources[0] } : {}),
      ...(d.state.timestamp !== undefined ? { stateTimestamp: d.state.timestamp } : {}),
      ...(parseAwsTimestamp(d.state.timestamp) !== undefined ? { stateAt: parseAwsTimestamp(d.state.timestamp)! } : {}),
      ...(d.state.actionsSuppressedBy !== undefined ? { actionsSuppressedBy: d.state.actionsSuppressedBy } : {}),
      ...(d.state.actionsSuppressedReason !== undefined ? { actionsSuppressedReason: d.state.actionsSuppressedReason.slice(0, REASON_MAX) } : {}),
    };
    if (d.muteDetail) {
      const { mutedByArn, muteWindowStart, muteWindowEnd } = d.muteDetail;
      event.muteDetail = { ...(mutedByArn !== undefined ? { mutedByArn } : {}), ...(muteWindowStart !== undefined ? { muteWindowStart } : {}), ...(muteWindowEnd !== undefined ? { muteWindowEnd } : {}) };
    }
    const mute = muteExcerpt(d as Record<string, unknown>);
    if (mute) event.mute = mute;
    return { kind: "alarm", alarmName: d.alarmName, state: d.state.value, event };
  }
  if (Array.isArray(p.Records)) {
    const first = (p.Records as unknown[])[0] as { EventSource?: unknown; eventSource?: unknown } | undefined;
    const source = first?.EventSource ?? first?.eventSource;
    throw new InvalidPayloadError([
      {
        path: "Records[0].EventSource",
        message:
          source === "aws:sns"
            ? "SNS-delivered alarm notifications are not a controller trigger: remove the alarm action -> SNS -> Lambda subscription and route the alarms' \"CloudWatch Alarm State Change\" events to the controller with an EventBridge rule (the StepController component creates it), which carries the event id and state timestamp the controller checks"
            : `${excerpt(source, 32)} records are not a controller trigger; send a command, a scheduled event or a CloudWatch alarm state change`,
      },
    ]);
  }
  throw new InvalidPayloadError([
    {
      path: "source" in p ? "source" : "command",
      message: "source" in p
        ? `must be "aws.events" (scheduled tick) or "aws.cloudwatch" (alarm state change), got ${excerpt(p.source)}`
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
