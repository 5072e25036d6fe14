/**
 * Lifecycle hook functions in moto. moto runs Lambda code only with Docker; with its Docker-less
 * backend (`/moto-api/config` lambda.use_docker=false) an asynchronous Invoke (InvocationType
 * "Event") is accepted with 202 and runs nothing. So the controller's real SDK calls reach moto,
 * and a test plays Lambda's part afterwards: it delivers the hook function's destination record
 * (or a hook-result callback) to the controller, at the minute it chooses.
 *
 * moto's Docker-less Invoke also accepts functions that do not exist (AWS answers 404), so the
 * functions are created here, and the tests check the requests the controller sent themselves.
 */
import { CreateFunctionCommand, InvokeCommand, PutFunctionEventInvokeConfigCommand, type InvokeCommandInput, type LambdaClient } from "@aws-sdk/client-lambda";
import type { MotoServer } from "../../src/local/moto-server.js";

export const ACCOUNT = "123456789012";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/rollgate-hook`;

/** Switches moto's Lambda to its Docker-less backend and creates the role hook functions run as. */
export async function prepareLambda(moto: MotoServer): Promise<void> {
  const config = await fetch(`${moto.endpoint}/moto-api/config`, { method: "POST", body: JSON.stringify({ lambda: { use_docker: false } }), headers: { "content-type": "application/json" } });
  if (!config.ok) throw new Error(`moto config: ${config.status}`);
  // No IAM client among the dependencies: the role is created through IAM's Query API.
  const res = await fetch(moto.endpoint, {
    method: "POST",
    body: new URLSearchParams({
      Action: "CreateRole",
      Version: "2010-05-08",
      RoleName: "rollgate-hook",
      AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
    }),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${moto.region}/iam/aws4_request, SignedHeaders=host, Signature=x`,
    },
  });
  if (!res.ok && !(await res.text()).includes("EntityAlreadyExists")) throw new Error(`moto CreateRole: ${res.status}`);
}

/** A minimal Node.js function archive (a zip with one stored file), built without a zip library. */
function zipOf(name: string, text: string): Uint8Array {
  const data = new TextEncoder().encode(text);
  const file = new TextEncoder().encode(name);
  const crc = crc32(data);
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(4, 20, true);
  local.setUint32(14, crc, true);
  local.setUint32(18, data.length, true);
  local.setUint32(22, data.length, true);
  local.setUint16(26, file.length, true);
  const central = new DataView(new ArrayBuffer(46));
  central.setUint32(0, 0x02014b50, true);
  central.setUint16(4, 20, true);
  central.setUint16(6, 20, true);
  central.setUint32(16, crc, true);
  central.setUint32(20, data.length, true);
  central.setUint32(24, data.length, true);
  central.setUint16(28, file.length, true);
  const centralOffset = 30 + file.length + data.length;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + file.length, true);
  end.setUint32(16, centralOffset, true);
  const parts = [new Uint8Array(local.buffer), file, data, new Uint8Array(central.buffer), file, new Uint8Array(end.buffer)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Creates a hook function and, like the StepController component, its asynchronous invocation
 * config: no retries, on-success and on-failure records to the controller function.
 */
export async function createHookFunction(lambda: LambdaClient, name: string, controllerArn: string, timeoutSeconds: number): Promise<string> {
  const fn = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: "nodejs22.x",
      Role: ROLE,
      Handler: "index.handler",
      Timeout: timeoutSeconds,
      Code: { ZipFile: zipOf("index.mjs", 'export const handler = async () => ({ status: "pass" });\n') },
    }),
  );
  await lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: name,
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: Math.max(60, timeoutSeconds),
      DestinationConfig: { OnSuccess: { Destination: controllerArn }, OnFailure: { Destination: controllerArn } },
    }),
  );
  return fn.FunctionArn!;
}

export interface SentInvoke {
  functionName: string;
  invocationType: string | undefined;
  payload: Record<string, unknown>;
}

/**
 * Records every Invoke the client sends (after the SDK serialized nothing yet: the command input),
 * and can fail the next `n` of them before they are sent.
 */
export function recordInvokes(lambda: LambdaClient) {
  const sent: SentInvoke[] = [];
  let failNext = 0;
  (lambda.middlewareStack as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: unknown }) => {
      if (context.commandName === InvokeCommand.name) {
        const input = args.input as InvokeCommandInput;
        if (failNext > 0) {
          failNext -= 1;
          throw Object.assign(new Error("Rate exceeded"), { name: "TooManyRequestsException" });
        }
        sent.push({ functionName: input.FunctionName!, invocationType: input.InvocationType, payload: JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) as Record<string, unknown> });
      }
      return next(args);
    },
    { step: "initialize", name: `rollgateInvokeRecorder${Math.random()}` },
  );
  return {
    sent,
    failNext(n: number) {
      failNext = n;
    },
  };
}

/** Lambda's invocation record for a destination (shape from the Lambda developer guide). */
export function destinationRecord(functionArn: string, requestPayload: unknown, response: { body?: unknown; functionError?: string; condition?: string }, at: number) {
  const condition = response.condition ?? (response.functionError ? "RetriesExhausted" : "Success");
  return {
    version: "1.0",
    timestamp: new Date(at).toISOString(),
    requestContext: { requestId: "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2", functionArn: `${functionArn}:$LATEST`, condition, approximateInvokeCount: 1 },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: "$LATEST", ...(response.functionError ? { functionError: response.functionError } : {}) },
    responsePayload: response.body,
  };
}
