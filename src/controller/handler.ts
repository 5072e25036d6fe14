/**
 * The Lambda entry point (bundled to dist/lambda/controller.mjs). Logger and Metrics live at module
 * scope and are configured by environment variables (POWERTOOLS_*); metrics are flushed on every
 * invocation, success or failure.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Controller } from "./controller.js";
import { createControllerFromEnv } from "./wiring.js";

const serviceName = process.env.ROLLGATE_SERVICE ?? "rollgate";
export const logger = new Logger({ serviceName: `rollgate-${serviceName}` });
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "Rollgate", serviceName });

let controller: Controller | undefined;

export async function handler(event: unknown, context?: { awsRequestId?: string }): Promise<unknown> {
  const started = Date.now();
  logger.resetKeys();
  if (context?.awsRequestId) logger.appendKeys({ requestId: context.awsRequestId });
  try {
    // Built once per container; a configuration error is not cached, so a fixed variable takes effect.
    controller ??= createControllerFromEnv(process.env, {}, { logger, emf: metrics });
    const result = await controller.handle(event);
    logger.info("invocation done", { result: result as unknown as Record<string, unknown> });
    return result;
  } catch (err) {
    metrics.addMetric("InvocationErrors", "Count", 1);
    logger.error("invocation failed", err as Error);
    throw forCaller(err);
  } finally {
    metrics.addMetric("InvocationDuration", "Milliseconds", Date.now() - started);
    metrics.publishStoredMetrics();
  }
}

/** Longest error message a caller gets back (the full error, stack included, is in the log). */
export const CALLER_MESSAGE_MAX = 1024;

/**
 * What a caller sees of a failure: the error's name and a bounded message, no stack trace (the
 * Lambda runtime returns `stack` as `trace` to synchronous callers). Async invocations still fail,
 * so Lambda retries them and then hands them to the on-failure destination.
 */
export function forCaller(err: unknown): Error {
  const source = err instanceof Error ? err : new Error(String(err));
  const message = source.message.length > CALLER_MESSAGE_MAX ? `${source.message.slice(0, CALLER_MESSAGE_MAX)}... (truncated)` : source.message;
  const out = new Error(message);
  out.name = source.name;
  out.stack = `${out.name}: ${message}`;
  return out;
}
