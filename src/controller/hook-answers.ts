/**
 * How a lifecycle hook's answer reaches the controller, validated at the edge:
 *
 * - The hook function's Lambda destination (on-success and on-failure, set by the StepController
 *   component): Lambda invokes the controller with an invocation record whose requestPayload is the
 *   payload the controller sent (it carries the executionId) and whose responsePayload is what the
 *   hook returned (`{ status, reason }`, unchanged from a synchronous hook), or its error.
 * - A hook-result callback, for hooks that hand their work off and answer `{ status: "running" }`:
 *   `{ "rollgate": "hook-result", "executionId": "...", "status": "pass", "reason": "..." }`.
 *
 * Either way the executionId is what makes an answer count: it is random, recorded in the rollout
 * state, and only the hook's invocation carried it.
 */
import { z } from "zod";
import type { HookAnswer } from "../engine/hooks.js";

const EXECUTION_ID = /^[A-Za-z0-9-]{8,64}$/;
export const HOOK_REASON_MAX = 1024;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

const executionId = z
  .string({ error: "is required: the executionId the hook received in its payload" })
  .regex(EXECUTION_ID, { error: "must be the executionId the hook received (8 to 64 letters, digits or '-')" });

/** The documented callback. Strict: an unknown field is refused, so a typo cannot pass silently. */
export const hookResultCallbackSchema = z.strictObject({
  rollgate: z.literal("hook-result", { error: 'must be "hook-result"' }),
  executionId,
  status: z.enum(["pass", "fail", "retry-later", "running"], { error: 'must be "pass", "fail", "retry-later" or "running"' }),
  reason: z
    .string({ error: "must be a string" })
    .max(HOOK_REASON_MAX, { error: `must be at most ${HOOK_REASON_MAX} characters` })
    .refine((s) => !new RegExp(CONTROL.source).test(s), { error: "must be plain text: no control characters (escape sequences, tabs, newlines, bidi overrides)" })
    .optional(),
  rolloutId: z.string({ error: "must be the rolloutId the hook received" }).min(1).max(200, { error: "must be at most 200 characters" }).optional(),
});

/**
 * Lambda's invocation record for a destination. Only what the controller reads is checked (with
 * bounds); the responsePayload is whatever the hook returned and is read defensively.
 */
export const destinationRecordSchema = z.looseObject({
  version: z.string({ error: "must be the record's version (a string)" }).max(16),
  timestamp: z.string().max(64).optional(),
  requestContext: z.looseObject(
    {
      requestId: z.string().max(128).optional(),
      functionArn: z.string({ error: "must be the hook function's ARN" }).max(256, { error: "must be at most 256 characters" }),
      condition: z.string({ error: 'must be the record\'s condition ("Success", "RetriesExhausted", "EventAgeExceeded" ...)' }).max(64),
      approximateInvokeCount: z.number().int().min(0).optional(),
    },
    { error: "must be an object with functionArn and condition" },
  ),
  requestPayload: z.looseObject(
    {
      executionId: z
        .string({ error: "is required: this record is not from an invocation the rollgate controller made (its payload carries an executionId)" })
        .regex(EXECUTION_ID, { error: "must be an executionId (8 to 64 letters, digits or '-')" }),
      rolloutId: z.string().max(200).optional(),
    },
    { error: "must be the payload the controller sent the hook (an object with executionId)" },
  ),
  responseContext: z.looseObject({ statusCode: z.number().int().optional(), executedVersion: z.string().max(64).optional(), functionError: z.string().max(64).optional() }).optional(),
  responsePayload: z.unknown().optional(),
});

export type HookResultCallback = z.output<typeof hookResultCallbackSchema>;
export type DestinationRecord = z.output<typeof destinationRecordSchema>;

/** Whether a payload is meant as a hook answer (then it is validated as one). */
export function isHookAnswerPayload(p: Record<string, unknown>): boolean {
  return "rollgate" in p || ("requestContext" in p && "requestPayload" in p);
}

/** Free text from a hook: bounded, control characters replaced, never the whole input. */
export function plainReason(text: string): string {
  const clean = text.replace(CONTROL, " ");
  return clean.length <= HOOK_REASON_MAX ? clean : `${clean.slice(0, HOOK_REASON_MAX)}... (${clean.length} characters)`;
}

function excerptOf(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return plainReason(text.slice(0, 200));
}

/** A hook answer plus where it came from (for the record). */
export interface ReceivedHookAnswer extends HookAnswer {
  via: "destination" | "callback";
  /** The function that ran, from a destination record (its ARN may carry a qualifier such as :$LATEST). */
  functionArn?: string;
  /** Lambda's request id of the hook's invocation, from a destination record. */
  requestId?: string;
}

/** What a destination record says about the hook: its answer, or why it failed. */
export function answerOfRecord(r: DestinationRecord): ReceivedHookAnswer {
  const base = {
    via: "destination" as const,
    executionId: r.requestPayload.executionId,
    ...(r.requestPayload.rolloutId !== undefined ? { rolloutId: r.requestPayload.rolloutId } : {}),
    functionArn: r.requestContext.functionArn,
    ...(r.requestContext.requestId !== undefined ? { requestId: r.requestContext.requestId } : {}),
  };
  const body = r.responsePayload as { status?: unknown; reason?: unknown; errorMessage?: unknown; errorType?: unknown } | undefined;
  const functionError = r.responseContext?.functionError;
  if (functionError !== undefined) {
    const message = typeof body?.errorMessage === "string" ? body.errorMessage : functionError;
    return { ...base, status: "fail", reason: plainReason(`function error: ${message}`) };
  }
  if (r.requestContext.condition !== "Success") {
    // EventAgeExceeded: it waited in Lambda's queue too long and never ran; RetriesExhausted without a
    // function error: throttled or failed to start every time.
    return { ...base, status: "fail", reason: plainReason(`Lambda did not complete the hook's invocation (${r.requestContext.condition})`) };
  }
  const status = body && typeof body === "object" ? body.status : undefined;
  if (status !== "pass" && status !== "fail" && status !== "retry-later" && status !== "running") {
    return { ...base, status: "fail", reason: `answered without a status ("pass", "fail", "retry-later" or "running"): ${r.responsePayload === undefined ? "(empty)" : excerptOf(r.responsePayload)}` };
  }
  return { ...base, status, reason: typeof body?.reason === "string" ? plainReason(body.reason) : status };
}

export function answerOfCallback(c: HookResultCallback): ReceivedHookAnswer {
  return { via: "callback", executionId: c.executionId, status: c.status, reason: c.reason ?? c.status, ...(c.rolloutId !== undefined ? { rolloutId: c.rolloutId } : {}) };
}
