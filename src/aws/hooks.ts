/**
 * Lifecycle hooks: a Lambda function the policy names, invoked by the controller when the engine
 * asks (beforeStep, afterStep, beforePromote, afterRollback). It answers
 * `{ "status": "pass" | "fail" | "retry-later", "reason"?: "..." }`; no answer within the hook's
 * timeout is a timeout. Hooks may run more than once for one request (concurrent invocations,
 * retries), so they must be idempotent.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { HookRequest, HookResult, Release } from "../engine/types.js";
import type { Weights } from "../policy/types.js";

/** What a hook function receives. */
export interface HookPayload {
  hook: string;
  point: HookRequest["point"];
  stepIndex: number;
  service: string;
  rolloutId: string;
  release: Release;
  weights: Weights;
}

export interface HookRunner {
  run(request: HookRequest, payload: HookPayload): Promise<HookResult>;
}

export function createHookRunner(lambda: LambdaClient, clock: () => number = Date.now): HookRunner {
  return {
    async run(request, payload) {
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), request.timeoutMs);
      });
      try {
        const call = lambda.send(
          new InvokeCommand({ FunctionName: request.functionArn, InvocationType: "RequestResponse", Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
          { abortSignal: abort.signal },
        );
        const res = await Promise.race([call, timedOut]);
        if (res === "timeout") {
          abort.abort();
          call.catch(() => undefined);
          return { status: "timeout", reason: `no answer within ${request.timeoutMs} ms`, at: clock() };
        }
        const text = res.Payload ? new TextDecoder().decode(res.Payload) : "";
        let body: { status?: unknown; reason?: unknown; errorMessage?: unknown } | undefined;
        try {
          body = text ? (JSON.parse(text) as typeof body) : undefined;
        } catch {
          body = undefined;
        }
        if (res.FunctionError) return { status: "fail", reason: `function error: ${String(body?.errorMessage ?? res.FunctionError)}`, at: clock() };
        const status = body?.status;
        if (status !== "pass" && status !== "fail" && status !== "retry-later") {
          return { status: "fail", reason: `answered without a status ("pass", "fail" or "retry-later"): ${text.slice(0, 200) || "(empty)"}`, at: clock() };
        }
        return { status, reason: typeof body?.reason === "string" ? body.reason : status, at: clock() };
      } catch (err) {
        // Not being able to call the hook is not the hook failing: ask again on the next tick;
        // the step's maxHold bounds how long that can go on.
        return { status: "retry-later", reason: `could not invoke ${request.functionArn}: ${(err as Error).message}`, at: clock() };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
