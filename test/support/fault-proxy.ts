/**
 * A fault-injecting HTTP proxy in front of moto, on 127.0.0.1, for the real SDK clients: it names
 * each request by its AWS operation (X-Amz-Target, the rpc-v2 path, or the Query `Action`) and,
 * for a chosen operation and occurrence,
 *
 * - "lose-response": forwards the request (the write lands in moto) and then drops the connection
 *   without answering, as when a response is lost or the caller times out after the request landed;
 * - "hold-before": calls `onHit` and never forwards (the caller dies before the request is sent);
 * - "hold-after": forwards it, waits for moto's answer, calls `onHit`, and never answers.
 *
 * `onHit` is where a test SIGKILLs the child process making the call.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type FaultKind = "lose-response" | "hold-before" | "hold-after";

export interface Fault {
  operation: string;
  /** 1-based occurrence of the operation, counted from when the fault was added. */
  nth: number;
  kind: FaultKind;
  /** Called with the request's body when the fault fires. */
  onHit?: (body: string) => void;
}

export interface FaultProxy {
  endpoint: string;
  /** Operations seen, in arrival order. */
  seen: string[];
  add(fault: Fault): void;
  clear(): void;
  /** Resolves when the fault has fired. */
  fired(operation: string): Promise<void>;
  stop(): Promise<void>;
}

export function operationOf(req: IncomingMessage, body: Buffer): string {
  const target = req.headers["x-amz-target"];
  if (typeof target === "string") return target.slice(target.lastIndexOf(".") + 1);
  // Lambda's REST API: POST /2015-03-31/functions/<name>/invocations is Invoke.
  if (/^\/[0-9-]+\/functions\/[^/]+\/invocations/.test(req.url ?? "")) return "Invoke";
  const rpc = /\/operation\/([A-Za-z]+)/.exec(req.url ?? "");
  if (rpc) return rpc[1]!;
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body.toString("utf8"));
  return action ? action[1]! : "unknown";
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const seen: string[] = [];
  let faults: Array<Fault & { count: number; done: boolean; resolve?: () => void; firedAt: Promise<void> }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const op = operationOf(req, body);
      seen.push(op);
      const fault = faults.find((f) => !f.done && f.operation === op && ++f.count === f.nth);
      if (fault) fault.done = true;
      const fire = () => {
        fault?.onHit?.(body.toString("utf8"));
        fault?.resolve?.();
      };
      if (fault?.kind === "hold-before") {
        fire();
        return; // never forwarded, never answered
      }
      const forward = () =>
        new Promise<void>((done) => {
          const fwd = request(
            { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
            (upRes) => {
              const out: Buffer[] = [];
              upRes.on("data", (c: Buffer) => out.push(c));
              upRes.on("end", () => {
                done();
                if (fault) {
                  // The request landed; its answer never reaches the caller.
                  fire();
                  if (fault.kind === "lose-response") req.socket.destroy();
                  return;
                }
                res.writeHead(upRes.statusCode ?? 502, upRes.headers);
                res.end(Buffer.concat(out));
              });
            },
          );
          fwd.on("error", () => {
            done();
            req.socket.destroy();
          });
          fwd.end(body);
        });
      void forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    add(fault) {
      let resolve: () => void = () => {};
      const firedAt = new Promise<void>((r) => (resolve = r));
      faults.push({ ...fault, count: 0, done: false, resolve, firedAt });
    },
    clear() {
      faults = [];
    },
    fired(operation) {
      const f = faults.find((x) => x.operation === operation);
      return f ? f.firedAt : Promise.reject(new Error(`no fault on ${operation}`));
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
