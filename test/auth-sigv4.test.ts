/**
 * SigV4: the verifier (written from the specification) against AWS's published test vectors, and
 * the CLI's client end (the SDK's signer) against the local function URL endpoint that verifies
 * with it. Every refusal the endpoint makes is checked to be the reason given.
 */
import { createHash } from "node:crypto";
import { request } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeSignature, verifySigV4, type KnownCredential } from "../src/auth/sigv4.js";
import { createFunctionUrlSender, FunctionUrlError, regionOfFunctionUrl } from "../src/aws/function-url-client.js";
import { startFunctionUrlServer, type FunctionUrlServer } from "../src/local/function-url-server.js";
import type { FunctionUrlEvent } from "../src/auth/function-url.js";

const EMPTY = createHash("sha256").update("").digest("hex");
const VECTOR = { date: "20150830", region: "us-east-1", service: "service", amzDate: "20150830T123600Z" };
const VECTOR_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

describe("SigV4 verifier against AWS's test suite", () => {
  it("get-vanilla", () => {
    const sig = computeSignature({ method: "GET", path: "/", query: "", headers: { Host: "example.amazonaws.com", "X-Amz-Date": VECTOR.amzDate }, payloadHash: EMPTY }, ["host", "x-amz-date"], VECTOR, VECTOR_SECRET);
    expect(sig.signature).toBe("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  });

  it("get-vanilla-query-order-key-case: the query is sorted before signing", () => {
    const sig = computeSignature({ method: "GET", path: "/", query: "Param2=value2&Param1=value1", headers: { Host: "example.amazonaws.com", "X-Amz-Date": VECTOR.amzDate }, payloadHash: EMPTY }, ["host", "x-amz-date"], VECTOR, VECTOR_SECRET);
    expect(sig.signature).toBe("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  });

  it("accepts the vector's Authorization header and refuses it with one byte of the signature changed", () => {
    const cred: KnownCredential = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: VECTOR_SECRET, arn: "arn:aws:iam::123456789012:user/example", accountId: "123456789012", userId: "AIDAEXAMPLE" };
    const good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    const req = (auth: string) => ({ method: "GET", path: "/", query: "", headers: { Host: "example.amazonaws.com", "X-Amz-Date": VECTOR.amzDate, Authorization: auth }, body: "" });
    const opts = { region: "us-east-1", service: "service", now: Date.UTC(2015, 7, 30, 12, 36, 0), lookup: (k: string) => (k === cred.accessKeyId ? cred : undefined) };
    expect(verifySigV4(req(good), opts)).toMatchObject({ ok: true, credential: { arn: cred.arn } });
    const bad = verifySigV4(req(good.replace(/1$/, "2")), opts);
    expect(bad).toMatchObject({ ok: false, code: "InvalidSignatureException" });
    // Six minutes later the same request is stale.
    expect(verifySigV4(req(good), { ...opts, now: opts.now + 6 * 60_000 })).toMatchObject({ ok: false, message: expect.stringMatching(/expired/) });
    expect(verifySigV4(req(good), { ...opts, region: "eu-west-1" })).toMatchObject({ ok: false, message: expect.stringMatching(/region "us-east-1" is wrong/) });
    expect(verifySigV4(req(good.replace("AKIDEXAMPLE", "AKIDOTHER")), opts)).toMatchObject({ ok: false, code: "InvalidClientTokenId" });
  });
});

describe("signed command path: SDK signer -> local function URL endpoint", () => {
  const alice: KnownCredential = { accessKeyId: "AKIAALICE0000000001", secretAccessKey: "alice-secret", arn: "arn:aws:sts::123456789012:assumed-role/release/alice", accountId: "123456789012", userId: "AROAREL:alice" };
  const bob: KnownCredential = { accessKeyId: "ASIABOB000000000001", secretAccessKey: "bob-secret", sessionToken: "bob-token", arn: "arn:aws:sts::123456789012:assumed-role/approver/bob", accountId: "123456789012", userId: "AROAAPP:bob" };
  const events: FunctionUrlEvent[] = [];
  let server: FunctionUrlServer;
  beforeAll(async () => {
    server = await startFunctionUrlServer({
      credentials: [alice, bob],
      handler: async (event) => {
        events.push(event);
        return { ok: true, echo: JSON.parse(event.body!), caller: event.requestContext.authorizer?.iam?.userArn };
      },
    });
  });
  afterAll(() => server.close());

  it("hands the function the verified caller, for long-term and temporary credentials", async () => {
    const a = createFunctionUrlSender({ url: server.url, region: "us-east-1", credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey } });
    expect(await a.send({ command: "status" })).toEqual({ ok: true, echo: { command: "status" }, caller: alice.arn });
    const b = createFunctionUrlSender({ url: server.url, region: "us-east-1", credentials: { accessKeyId: bob.accessKeyId, secretAccessKey: bob.secretAccessKey, sessionToken: bob.sessionToken } });
    expect(await b.send({ command: "approve", actor: "alice" })).toMatchObject({ caller: bob.arn, echo: { actor: "alice" } });
    expect(events.at(-1)!.requestContext).toMatchObject({ accountId: "123456789012", authorizer: { iam: { userArn: bob.arn, accountId: "123456789012" } }, http: { method: "POST" } });
  });

  it.each([
    ["a wrong secret", { accessKeyId: alice.accessKeyId, secretAccessKey: "guessed" }, {}, "InvalidSignatureException"],
    ["an unknown key", { accessKeyId: "AKIAMALLORY00000001", secretAccessKey: "x" }, {}, "InvalidClientTokenId"],
    ["a missing session token", { accessKeyId: bob.accessKeyId, secretAccessKey: bob.secretAccessKey }, {}, "InvalidClientTokenId"],
    ["another region", { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, { region: "eu-west-1" }, "InvalidSignatureException"],
    ["a clock ten minutes off", { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, { now: () => new Date(Date.now() - 10 * 60_000) }, "InvalidSignatureException"],
  ])("refuses %s before the function runs", async (_what, credentials, extra, code) => {
    const before = events.length;
    const s = createFunctionUrlSender({ url: server.url, region: "us-east-1", credentials, ...extra });
    const err = await s.send({ command: "status" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FunctionUrlError);
    expect(err).toMatchObject({ status: 403, code });
    expect(events.length).toBe(before);
  });

  it.each([
    ["with X-Amz-Content-Sha256 signed", true, 400],
    ["without it (the body hash is only inside the signature)", false, 403],
  ])("refuses a body changed after signing, %s", async (_what, applyChecksum, status) => {
    const url = new URL(server.url);
    const body = JSON.stringify({ command: "status" });
    class Sha256 {
      private h = createHash("sha256");
      update(d: Uint8Array | string) {
        this.h.update(d);
      }
      async digest() {
        return new Uint8Array(this.h.digest());
      }
      reset() {
        this.h = createHash("sha256");
      }
    }
    const signer = new SignatureV4({ service: "lambda", region: "us-east-1", applyChecksum, credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, sha256: Sha256 });
    const signed = await signer.sign({ method: "POST", protocol: "http:", hostname: url.hostname, port: Number(url.port), path: "/", query: {}, headers: { host: url.host, "content-type": "application/json" }, body });
    const before = events.length;
    // The signature of a status command, replayed with a promote in the body.
    const got = await new Promise<number>((resolve, reject) => {
      const req = request({ method: "POST", hostname: url.hostname, port: url.port, path: "/", headers: signed.headers as Record<string, string> }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(JSON.stringify({ command: "promote" }));
    });
    expect(got).toBe(status);
    expect(events.length).toBe(before);
    expect(server.refusals.at(-1)!.code).toBe("InvalidSignatureException");
  });

  it("reads the region from a real function URL and refuses plain http to anything but loopback", () => {
    expect(regionOfFunctionUrl("https://abcdefghij1234567890.lambda-url.eu-west-1.on.aws/")).toBe("eu-west-1");
    expect(() => createFunctionUrlSender({ url: "http://example.com/", region: "us-east-1" })).toThrow(/https/);
  });
});
