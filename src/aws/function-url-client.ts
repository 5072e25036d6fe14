/**
 * The client end of the authenticated command channel: a controller command POSTed to the
 * controller's function URL (AuthType AWS_IAM), signed with SigV4 (the SDK's own signer) using the
 * caller's credentials from the standard chain. AWS verifies the signature and the caller's IAM
 * permission; the controller then sees the caller's verified ARN, never a name it sent.
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, SourceData } from "@smithy/types";

/** SHA-256 (and HMAC-SHA-256 with a secret) in the shape the SDK's signer takes. */
class NodeSha256 {
  private hash: Hash | Hmac;
  private readonly secret?: string | Uint8Array;
  constructor(secret?: SourceData) {
    if (secret !== undefined) this.secret = bytes(secret);
    this.hash = this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
  }
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === "string") return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** The region of a function URL (https://<id>.lambda-url.<region>.on.aws/), if it is one. */
export function regionOfFunctionUrl(url: string): string | undefined {
  try {
    return /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(new URL(url).hostname)?.[1];
  } catch {
    return undefined;
  }
}

/** The URL answered with something that is not a controller response (AWS refused the request, the function failed). */
export class FunctionUrlError extends Error {
  override readonly name = "FunctionUrlError";
  constructor(
    message: string,
    readonly status: number,
    /** AWS's error type (x-amzn-errortype), when it sent one. */
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface FunctionUrlSenderOptions {
  url: string;
  /** Region the request is signed for. @default the URL's region */
  region?: string;
  /** @default the standard chain (environment, profile, SSO, web identity, instance role) */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time; tests of the clock check pass their own. @default now */
  now?: () => Date;
  /** @default 30000 */
  timeoutMs?: number;
}

export interface FunctionUrlSender {
  readonly url: string;
  /** POSTs the command; returns the controller's JSON response (accepted or refused). */
  send<T = unknown>(payload: Record<string, unknown>): Promise<T>;
}

export function createFunctionUrlSender(options: FunctionUrlSenderOptions): FunctionUrlSender {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(options.url)}; pass the controller's function URL (https://<id>.lambda-url.<region>.on.aws/)`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname))) {
    throw new Error(`${options.url}: commands go over https (plain http only to a local endpoint on 127.0.0.1)`);
  }
  const region = options.region ?? regionOfFunctionUrl(options.url);
  if (!region) throw new Error(`cannot tell the region of ${options.url}: it is not a function URL (https://<id>.lambda-url.<region>.on.aws/); pass the region`);
  const signer = new SignatureV4({
    service: "lambda",
    region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: NodeSha256,
  });
  return {
    url: url.toString(),
    async send<T>(payload: Record<string, unknown>): Promise<T> {
      const body = JSON.stringify(payload);
      const signed = await signer.sign(
        {
          method: "POST",
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port ? { port: Number(url.port) } : {}),
          path: url.pathname || "/",
          query: {},
          headers: { host: url.host, "content-type": "application/json", "x-amz-content-sha256": createHash("sha256").update(body).digest("hex") },
          body,
        },
        { ...(options.now ? { signingDate: options.now() } : {}) },
      );
      const res = await post(url, signed.headers as Record<string, string>, body, options.timeoutMs ?? 30_000);
      let parsed: unknown;
      try {
        parsed = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        parsed = undefined;
      }
      const p = parsed as { ok?: unknown; message?: unknown; Message?: unknown; errorMessage?: unknown } | undefined;
      // The controller answers { ok: true|false, ... } for accepted and refused commands alike.
      if (p && typeof p === "object" && typeof p.ok === "boolean") return parsed as T;
      const message = String(p?.errorMessage ?? p?.message ?? p?.Message ?? (res.body || `HTTP ${res.status}`));
      const code = res.headers["x-amzn-errortype"];
      const hint =
        res.status === 403
          ? " (AWS refused the request: check that your credentials are valid and that your principal may call lambda:InvokeFunctionUrl and lambda:InvokeFunction on the controller; attach the StepController's operatorPolicyArn)"
          : res.status >= 500
            ? " (the controller failed; see its log group)"
            : "";
      throw new FunctionUrlError(`${url.origin}: HTTP ${res.status}${code ? ` ${code}` : ""}: ${message}${hint}`, res.status, code);
    },
  };
}

function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      { method: "POST", hostname: url.hostname.replace(/^\[|\]$/g, ""), port: url.port || undefined, path: `${url.pathname || "/"}${url.search}`, headers, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v ?? "")])),
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
