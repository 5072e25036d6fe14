/**
 * Sends a controller command to the deployed Lambda (direct invoke), for the operator CLI and
 * pipelines. The response is the controller's JSON; a failed invocation (bad payload, bad
 * configuration) becomes a ControllerInvokeError carrying the controller's own message.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";

export class ControllerInvokeError extends Error {
  override readonly name = "ControllerInvokeError";
  constructor(
    message: string,
    /** The controller's error type, e.g. InvalidPayloadError or ConfigError. */
    readonly errorType: string | undefined,
    readonly functionName: string,
  ) {
    super(message);
  }
}

export interface ControllerInvoker {
  /** Invokes the controller synchronously with `payload` and returns its parsed JSON response. */
  send<T = unknown>(payload: Record<string, unknown>): Promise<T>;
}

export function createControllerInvoker(lambda: LambdaClient, functionName: string): ControllerInvoker {
  return {
    async send<T>(payload: Record<string, unknown>): Promise<T> {
      const res = await lambda.send(
        new InvokeCommand({ FunctionName: functionName, InvocationType: "RequestResponse", Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
      );
      const text = res.Payload ? new TextDecoder().decode(res.Payload) : "";
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      if (res.FunctionError) {
        const err = (body ?? {}) as { errorMessage?: string; errorType?: string };
        throw new ControllerInvokeError(`${functionName}: ${err.errorMessage ?? (typeof body === "string" ? body : res.FunctionError)}`, err.errorType, functionName);
      }
      return body as T;
    },
  };
}
