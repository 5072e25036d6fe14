/**
 * Lifecycle hooks: a Lambda function the policy names, invoked by the controller when the engine
 * asks (beforeStep, afterStep, beforePromote, afterRollback).
 *
 * The controller invokes it asynchronously (InvocationType "Event") and does not wait: a hook may
 * run up to its timeout (up to 15 minutes) while the controller's invocations stay short. The hook
 * returns `{ "status": "pass" | "fail" | "retry-later", "reason"?: "..." }` as before; Lambda
 * delivers that return value to the controller in the invocation record of the hook function's
 * on-success / on-failure destination (the StepController component configures both). A hook that
 * hands its work off may instead return `{ "status": "running" }` and report later with a
 * `{ "rollgate": "hook-result", "executionId", "status", "reason" }` invocation of the controller.
 * No answer before the deadline is a timeout.
 *
 * At least once: after a failed send or a crash of the controller between recording an execution
 * and Lambda accepting it, the same execution (same executionId) is sent again, so a hook must be
 * idempotent per executionId.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { HookRequest, Release } from "../engine/types.js";
import type { Weights } from "../policy/types.js";

/** What a hook function receives (the destination's record carries it back as requestPayload). */
export interface HookPayload {
  hook: string;
  point: HookRequest["point"];
  stepIndex: number;
  service: string;
  rolloutId: string;
  release: Release;
  weights: Weights;
  /** This execution's id: an answer counts only for it, once. Idempotency key for the hook's work. */
  executionId: string;
  /** 1 for the first execution of this hook at this point, +1 after each "retry-later". */
  attempt: number;
  /** The hook's timeout; no answer within it after Lambda accepted the invocation is a timeout. */
  timeoutMs: number;
  /** When the answer is due (ISO 8601), give or take Lambda's acceptance of the invocation. */
  deadline: string;
}

export interface HookRunner {
  /**
   * Sends one asynchronous invocation; resolves once Lambda accepted it (HTTP 202), with its
   * request id. Rejects when it was not accepted (then the controller sends it again later).
   */
  start(functionArn: string, payload: HookPayload): Promise<{ requestId?: string }>;
}

/** Lambda's limit for an asynchronous invocation's payload (1 MB since 2025; 256 KB before). */
export const ASYNC_PAYLOAD_MAX_BYTES = 256 * 1024;

export function createHookRunner(lambda: LambdaClient): HookRunner {
  return {
    async start(functionArn, payload) {
      const body = new TextEncoder().encode(JSON.stringify(payload));
      // Far below either limit (the payload is a few hundred bytes); checked so a change that grows it fails here, not at AWS.
      if (body.byteLength > ASYNC_PAYLOAD_MAX_BYTES) throw new Error(`hook payload is ${body.byteLength} bytes, over Lambda's ${ASYNC_PAYLOAD_MAX_BYTES} for an asynchronous invocation`);
      const res = await lambda.send(new InvokeCommand({ FunctionName: functionArn, InvocationType: "Event", Payload: body }));
      if (res.StatusCode !== 202) throw new Error(`Lambda answered the asynchronous invocation of ${functionArn} with status ${String(res.StatusCode)}, not 202 (accepted)`);
      return res.$metadata.requestId ? { requestId: res.$metadata.requestId } : {};
    },
  };
}
