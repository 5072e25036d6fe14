/**
 * AWS Signature Version 4 verification, written from the specification (the canonical request,
 * the string to sign, the derived signing key) rather than with the SDK's signer, so that a test
 * where the CLI signs with the SDK and this code verifies is a check of two implementations
 * against each other, and both against AWS's published test vectors.
 *
 * In production AWS does this for the function URL (AuthType AWS_IAM) and hands the controller
 * only the verified caller. This verifier exists for the local endpoint (src/local/function-url-server.ts)
 * that the demo and the tests use in place of the function URL: it holds a table of known test
 * credentials and refuses any request whose signature, scope, clock or body does not check out.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface SignedRequest {
  method: string;
  /** The path as it was on the wire (percent-encoded once), without the query string. */
  path: string;
  /** Raw query string without the leading "?" ("" when none). */
  query: string;
  /** Header name (any case) -> value. A header sent twice arrives joined with ",". */
  headers: Record<string, string>;
  body: Uint8Array | string;
}

export interface KnownCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, the request must carry it in X-Amz-Security-Token (temporary credentials). */
  sessionToken?: string;
  /** The principal these keys belong to, e.g. arn:aws:sts::123456789012:assumed-role/oncall/alice. */
  arn: string;
  /** The principal's account (12 digits). */
  accountId: string;
  /** IAM's unique id of the principal (AROA...:session for a role session). */
  userId: string;
}

export interface VerifyOptions {
  /** The region the request must be scoped to. */
  region: string;
  /** The service the request must be scoped to ("lambda" for a function URL). */
  service: string;
  /** Epoch ms. */
  now: number;
  /** How far the request's X-Amz-Date may be from `now`. @default 5 minutes, as AWS allows */
  maxSkewMs?: number;
  lookup(accessKeyId: string): KnownCredential | undefined;
}

export type VerifyResult =
  | { ok: true; credential: KnownCredential; signedHeaders: string[] }
  | { ok: false; status: 400 | 403; code: string; message: string };

const ALGORITHM = "AWS4-HMAC-SHA256";
const sha256Hex = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Uint8Array | string, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 percent-encoding: everything but unreserved characters. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Non-S3 services: the path normalised (no empty, "." or ".." segments) and encoded a second time. */
export function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const s of path.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") segments.pop();
    else segments.push(s);
  }
  const normalised = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${segments.length > 0 && path.endsWith("/") ? "/" : ""}`;
  return uriEncode(normalised || "/").replace(/%2F/g, "/");
}

/** Parameters decoded, re-encoded strictly, sorted by name then value. */
export function canonicalQuery(query: string): string {
  if (!query) return "";
  const pairs = query
    .split("&")
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf("=");
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? "" : p.slice(i + 1);
      const dec = (x: string) => decodeURIComponent(x.replace(/\+/g, "%20"));
      return [uriEncode(dec(k)), uriEncode(dec(v))] as const;
    });
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
}

export interface Signature {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/** The SigV4 signature of a request over the given signed headers (lower-case names). */
export function computeSignature(
  req: { method: string; path: string; query: string; headers: Record<string, string>; payloadHash: string },
  signedHeaders: readonly string[],
  scope: { date: string; region: string; service: string; amzDate: string },
  secret: string,
): Signature {
  const lower = lowerHeaders(req.headers);
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${(lower[h] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  const canonicalRequest = [req.method.toUpperCase(), canonicalPath(req.path), canonicalQuery(req.query), canonicalHeaders, signedHeaders.join(";"), req.payloadHash].join("\n");
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [ALGORITHM, scope.amzDate, credentialScope, sha256Hex(canonicalRequest)].join("\n");
  const signature = createHmac("sha256", signingKey(secret, scope.date, scope.region, scope.service)).update(stringToSign).digest("hex");
  return { canonicalRequest, stringToSign, signature };
}

function lowerHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** Parses "20150830T123600Z" to epoch ms. */
export function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Verifies a SigV4-signed request (Authorization header form). Refuses, with AWS-like codes: a
 * missing or malformed Authorization header, an unknown key, a scope for another region, service
 * or day, a clock skew beyond `maxSkewMs`, unsigned Host or X-Amz-Date, a session token that is
 * missing or not the key's, a body that does not hash to X-Amz-Content-Sha256, and a wrong signature.
 */
export function verifySigV4(req: SignedRequest, options: VerifyOptions): VerifyResult {
  const deny = (code: string, message: string, status: 400 | 403 = 403): VerifyResult => ({ ok: false, status, code, message });
  const headers = lowerHeaders(req.headers);
  const auth = headers.authorization;
  if (!auth) return deny("MissingAuthenticationToken", "the request is not signed: send it with AWS Signature Version 4 (Authorization header)");
  if (!auth.startsWith(`${ALGORITHM} `)) return deny("IncompleteSignature", `only ${ALGORITHM} is accepted`);
  const m = AUTH_PATTERN.exec(auth);
  if (!m) return deny("IncompleteSignature", "the Authorization header is malformed (Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=<64 hex>)");
  const [, accessKeyId, date, region, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const credential = options.lookup(accessKeyId);
  if (!credential) return deny("InvalidClientTokenId", "the security token included in the request is invalid (unknown access key)");
  if (region !== options.region) return deny("InvalidSignatureException", `credential scope region "${region}" is wrong; expecting "${options.region}"`);
  if (service !== options.service) return deny("InvalidSignatureException", `credential scope service "${service}" is wrong; expecting "${options.service}"`);
  const amzDate = headers["x-amz-date"];
  const at = amzDate ? parseAmzDate(amzDate) : undefined;
  if (at === undefined) return deny("IncompleteSignature", "X-Amz-Date is missing or not in the form 20150830T123600Z", 400);
  if (amzDate!.slice(0, 8) !== date) return deny("InvalidSignatureException", `credential scope date ${date} does not match X-Amz-Date ${amzDate}`);
  const skew = options.maxSkewMs ?? 5 * 60_000;
  if (Math.abs(options.now - at) > skew) return deny("InvalidSignatureException", `signature expired or not yet valid: X-Amz-Date ${amzDate} is more than ${Math.round(skew / 1000)} s from the server's clock`);
  const signed = signedList.split(";");
  const sorted = [...signed].sort();
  if (signed.some((h, i) => h !== sorted[i]) || new Set(signed).size !== signed.length) return deny("InvalidSignatureException", "SignedHeaders must be sorted and unique");
  for (const required of ["host", "x-amz-date"]) {
    if (!signed.includes(required)) return deny("InvalidSignatureException", `the ${required} header must be signed`);
  }
  for (const h of signed) if (headers[h] === undefined) return deny("InvalidSignatureException", `signed header ${h} is not in the request`);
  const token = headers["x-amz-security-token"];
  if (credential.sessionToken !== undefined) {
    if (token === undefined) return deny("InvalidClientTokenId", "temporary credentials need X-Amz-Security-Token");
    if (!signed.includes("x-amz-security-token")) return deny("InvalidSignatureException", "the x-amz-security-token header must be signed");
    if (!constantTimeEqual(token, credential.sessionToken)) return deny("InvalidClientTokenId", "the security token included in the request is invalid");
  } else if (token !== undefined) {
    return deny("InvalidClientTokenId", "a session token was sent with long-term credentials");
  }
  // The body is part of what is signed: its hash, computed here, never taken on trust from a header.
  const payloadHash = sha256Hex(req.body);
  const declared = headers["x-amz-content-sha256"];
  if (declared !== undefined && declared !== payloadHash) return deny("InvalidSignatureException", "the body does not match X-Amz-Content-Sha256 (unsigned payloads are not accepted)", 400);
  const expected = computeSignature({ method: req.method, path: req.path, query: req.query, headers: req.headers, payloadHash }, signed, { date, region, service, amzDate: amzDate! }, credential.secretAccessKey);
  if (!constantTimeEqual(expected.signature, signature)) {
    return deny("InvalidSignatureException", "the request signature we calculated does not match the signature you provided; check your AWS secret access key and signing method");
  }
  return { ok: true, credential, signedHeaders: signed };
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
