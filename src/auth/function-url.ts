/**
 * The authenticated command channel: a Lambda function URL with AuthType AWS_IAM. AWS checks the
 * request's SigV4 signature and the caller's IAM permission before the function runs, and hands
 * the function the verified caller in requestContext.authorizer.iam (payload format 2.0). This
 * module recognises such an event, turns it into a command and a principal, and shapes the HTTP
 * response; building one (for the local endpoint and tests) lives here too so both ends agree.
 */
import type { Principal } from "./access.js";
import { verifiedPrincipal } from "./access.js";

/** The parts of a function URL event (payload format 2.0) the controller reads. */
export interface FunctionUrlEvent {
  version: "2.0";
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  headers: Record<string, string>;
  body?: string;
  isBase64Encoded: boolean;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix?: string;
    requestId: string;
    routeKey?: string;
    stage?: string;
    time?: string;
    timeEpoch: number;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    authorizer?: {
      iam?: {
        accessKey?: string;
        accountId?: string;
        callerId?: string;
        cognitoIdentity?: unknown;
        principalOrgId?: string | null;
        userArn?: string;
        userId?: string;
      };
    };
  };
}

export interface FunctionUrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** True for anything shaped like a function URL invocation (payload format 2.0 with an HTTP context). */
export function isFunctionUrlEvent(payload: unknown): payload is FunctionUrlEvent {
  const p = payload as { version?: unknown; requestContext?: { http?: unknown } } | null;
  return Boolean(p && typeof p === "object" && p.version === "2.0" && p.requestContext && typeof p.requestContext === "object" && p.requestContext.http);
}

export type FunctionUrlRequest =
  | { ok: true; principal: Principal; ownerAccountId: string; body: unknown; requestId: string }
  | { ok: false; response: FunctionUrlResponse };

export function functionUrlResponse(statusCode: number, body: unknown): FunctionUrlResponse {
  return { statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/**
 * The command and the verified principal of a function URL event, or the HTTP error to return.
 * A URL without AWS_IAM auth (no authorizer.iam) is refused outright: nobody verified the caller.
 */
export function readFunctionUrlEvent(event: FunctionUrlEvent): FunctionUrlRequest {
  const fail = (status: number, code: string, message: string): FunctionUrlRequest => ({ ok: false, response: functionUrlResponse(status, { ok: false, code, message }) });
  const iam = event.requestContext.authorizer?.iam;
  if (!iam?.userArn) {
    return fail(403, "unauthenticated", "this function URL does not authenticate callers (no IAM authorizer context): configure it with AuthType AWS_IAM; rollgate accepts commands only from verified principals");
  }
  const method = event.requestContext.http.method.toUpperCase();
  if (method !== "POST") return fail(405, "method-not-allowed", `send commands with POST and a JSON body such as {"command":"status"}, not ${method}`);
  if (event.rawPath !== "/" && event.rawPath !== "") return fail(404, "not-found", `no such path ${event.rawPath}; POST commands to /`);
  const raw = event.body === undefined ? "" : event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    return fail(400, "invalid-json", `the body must be a JSON command such as {"command":"status"} (${(err as Error).message})`);
  }
  return { ok: true, principal: verifiedPrincipal({ userArn: iam.userArn, ...(iam.accountId ? { accountId: iam.accountId } : {}) }), ownerAccountId: event.requestContext.accountId, body, requestId: event.requestContext.requestId };
}

/** A function URL event as Lambda builds it, for the local endpoint and tests. */
export function buildFunctionUrlEvent(input: {
  ownerAccountId: string;
  caller: { arn: string; accountId: string; userId: string; accessKeyId: string };
  method: string;
  path: string;
  query?: string;
  headers: Record<string, string>;
  body: string;
  sourceIp?: string;
  requestId: string;
  now: number;
  domainName?: string;
}): FunctionUrlEvent {
  const domainName = input.domainName ?? "local.lambda-url.local.on.aws";
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: input.path,
    rawQueryString: input.query ?? "",
    headers: Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: input.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: input.ownerAccountId,
      apiId: domainName.split(".")[0]!,
      domainName,
      domainPrefix: domainName.split(".")[0]!,
      requestId: input.requestId,
      routeKey: "$default",
      stage: "$default",
      time: new Date(input.now).toUTCString(),
      timeEpoch: input.now,
      http: { method: input.method, path: input.path, protocol: "HTTP/1.1", sourceIp: input.sourceIp ?? "127.0.0.1", userAgent: input.headers["user-agent"] ?? "" },
      authorizer: {
        iam: {
          accessKey: input.caller.accessKeyId,
          accountId: input.caller.accountId,
          callerId: input.caller.userId,
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: input.caller.arn,
          userId: input.caller.userId,
        },
      },
    },
  };
}
