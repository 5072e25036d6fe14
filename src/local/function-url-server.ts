/**
 * A local stand-in for a Lambda function URL with AuthType AWS_IAM, for the demo and the tests:
 * an HTTP server on 127.0.0.1 that does what AWS does before the function runs. It verifies each
 * request's SigV4 signature against a table of known test credentials (src/auth/sigv4.ts, written
 * from the specification), refuses with 403 what does not verify, and hands the handler a
 * function-URL-shaped event whose requestContext.authorizer.iam names the verified principal.
 * Whatever the handler returns goes back as Lambda would send it: an object with statusCode as
 * that HTTP response, anything else as a 200 JSON body.
 *
 * It does not evaluate IAM policies: every known credential may invoke. The controller's own
 * authorization (the policy's access section) is what the tests exercise through it.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { buildFunctionUrlEvent, type FunctionUrlEvent } from "../auth/function-url.js";
import { verifySigV4, type KnownCredential } from "../auth/sigv4.js";

export interface FunctionUrlServerOptions {
  /** The function: gets the event, returns the Lambda result. */
  handler(event: FunctionUrlEvent): Promise<unknown>;
  /** Keys it accepts and the principal each one belongs to. */
  credentials: KnownCredential[];
  /** Region requests must be signed for. @default "us-east-1" */
  region?: string;
  /** Account that owns the function. @default "123456789012" */
  ownerAccountId?: string;
  /** Epoch ms, for the signature's clock check. @default Date.now */
  now?: () => number;
  /** Largest body accepted (Lambda's synchronous payload limit is 6 MB). @default 1 MiB */
  maxBodyBytes?: number;
}

export interface FunctionUrlServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  region: string;
  /** Requests refused before the handler ran, newest last (code and message). */
  refusals: Array<{ code: string; message: string }>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Headers as sent: a header repeated on the wire is joined with "," (as SigV4 canonicalises it). */
function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    const v = req.rawHeaders[i + 1]!;
    out[k] = out[k] === undefined ? v : `${out[k]},${v}`;
  }
  return out;
}

export async function startFunctionUrlServer(options: FunctionUrlServerOptions): Promise<FunctionUrlServer> {
  const region = options.region ?? "us-east-1";
  const owner = options.ownerAccountId ?? "123456789012";
  const now = options.now ?? Date.now;
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  const byKey = new Map(options.credentials.map((c) => [c.accessKeyId, c]));
  const refusals: FunctionUrlServer["refusals"] = [];

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = { "content-type": "application/json" }) => {
    res.writeHead(status, headers);
    res.end(body);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req, limit);
      if (!body) return send(res, 413, JSON.stringify({ message: `request body larger than ${limit} bytes` }));
      const [path, query = ""] = (req.url ?? "/").split("?", 2) as [string, string?];
      const headers = headersOf(req);
      const verdict = verifySigV4({ method: req.method ?? "GET", path, query, headers, body }, { region, service: "lambda", now: now(), lookup: (k) => byKey.get(k) });
      if (!verdict.ok) {
        refusals.push({ code: verdict.code, message: verdict.message });
        // What AWS answers for a request it could not authenticate: the function never runs.
        return send(res, verdict.status, JSON.stringify({ message: verdict.message }), { "content-type": "application/json", "x-amzn-errortype": verdict.code });
      }
      const c = verdict.credential;
      const event = buildFunctionUrlEvent({
        ownerAccountId: owner,
        caller: { arn: c.arn, accountId: c.accountId, userId: c.userId, accessKeyId: c.accessKeyId },
        method: req.method ?? "GET",
        path,
        query,
        headers,
        body: body.toString("utf8"),
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        requestId: randomUUID(),
        now: now(),
        domainName: `${headers.host ?? "127.0.0.1"}`,
      });
      let result: unknown;
      try {
        result = await options.handler(event);
      } catch (err) {
        // Lambda answers 502 when the function itself fails.
        return send(res, 502, JSON.stringify({ message: "Internal Server Error", errorType: (err as Error).name, errorMessage: (err as Error).message }), { "content-type": "application/json", "x-amz-function-error": "Unhandled" });
      }
      const r = result as { statusCode?: unknown; headers?: Record<string, string>; body?: unknown } | undefined;
      if (r && typeof r === "object" && typeof r.statusCode === "number") {
        return send(res, r.statusCode, typeof r.body === "string" ? r.body : JSON.stringify(r.body ?? ""), { "content-type": "application/json", ...(r.headers ?? {}) });
      }
      return send(res, 200, JSON.stringify(result ?? null));
    })().catch((err) => send(res, 500, JSON.stringify({ message: (err as Error).message })));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    region,
    refusals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
