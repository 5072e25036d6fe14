/**
 * `rollgate analysis-server`: serve verdicts to Argo Rollouts' web metric provider until SIGTERM
 * (Kubernetes' stop) or Ctrl-C, then stop accepting and finish the requests in flight.
 * Loaded only when this command runs (the CLI imports it lazily).
 */
import type { AddressInfo } from "node:net";
import { createAnalysisServer } from "../../analysis-server/server.js";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";

export interface AnalysisServerFlags {
  port: number;
  host: string;
  prometheusUrl?: string;
  prometheusHeader?: string[];
  region?: string;
  endpointUrl?: string;
  backendTimeout: number;
  settle: number;
  lookback: number;
  maxBodyBytes: number;
  maxInFlight: number;
}

function headers(list: string[] | undefined): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const m = /^([A-Za-z0-9-]+):\s*(.+)$/.exec(h);
    if (!m) throw new UsageError(`--prometheus-header "${h}" must be "Name: value", e.g. --prometheus-header "Authorization: Bearer $TOKEN"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

export async function analysisServerCommand(ctx: CommandContext, flags: AnalysisServerFlags): Promise<void> {
  const { io } = ctx;
  const prometheusHeaders = headers(flags.prometheusHeader);
  const server = createAnalysisServer({
    ...(flags.prometheusUrl ? { prometheusUrl: flags.prometheusUrl } : {}),
    ...(prometheusHeaders ? { prometheusHeaders } : {}),
    // The AWS SDK is loaded on the first CloudWatch request only.
    cloudWatch: async () => {
      const { CloudWatchClient } = await import("@aws-sdk/client-cloudwatch");
      return new CloudWatchClient({
        ...(flags.region ? { region: flags.region } : {}),
        ...(flags.endpointUrl ? { endpoint: flags.endpointUrl } : {}),
        requestHandler: { requestTimeout: flags.backendTimeout, connectionTimeout: Math.min(flags.backendTimeout, 3_000) },
        maxAttempts: 2,
      });
    },
    backendTimeoutMs: flags.backendTimeout,
    settleMs: flags.settle,
    lookbackMs: flags.lookback,
    maxBodyBytes: flags.maxBodyBytes,
    maxInFlight: flags.maxInFlight,
    log: (entry) => io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new CliError(e.code === "EADDRINUSE" ? `port ${flags.port} on ${flags.host} is in use; pick another with --port` : `cannot listen on ${flags.host}:${flags.port}: ${e.message}`)),
    );
    server.listen(flags.port, flags.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  ctx.print(`rollgate analysis-server listening on http://${flags.host}:${port} (POST /v1/verdict, GET /healthz, GET /readyz)`);
  ctx.emit({ listening: { host: flags.host, port } });
  if (!flags.prometheusUrl) io.stderr.write("warning: no --prometheus-url: Prometheus requests will hold with that reason (CloudWatch requests still work)\n");

  // Kubernetes sends SIGTERM; Ctrl-C aborts io.signal.
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    io.signal?.addEventListener("abort", stop, { once: true });
    if (io.signal?.aborted) stop();
  });
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  ctx.print("rollgate analysis-server stopped");
}
