/**
 * The control plane against moto: who may do what (the policy's access section) for callers that
 * AWS verified (function URL events), separation of duties with the approver recorded, direct
 * invoke limited to what needs no identity, the signed command path end to end with the CLI as
 * the client, and the account-wide freeze across two services.
 */
import { GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { DescribeListenersCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildFunctionUrlEvent } from "../src/auth/function-url.js";
import type { KnownCredential } from "../src/auth/sigv4.js";
import { historyPk } from "../src/aws/state.js";
import { run } from "../src/cli/program.js";
import { controllerEnv } from "../src/controller/config.js";
import type { Controller } from "../src/controller/controller.js";
import { startFunctionUrlServer, type FunctionUrlServer } from "../src/local/function-url-server.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import type { PolicyInput } from "../src/policy/index.js";
import { captureIo, tempDir } from "./cli-io.js";
import { alarmEvent, controllerFor, createWorld, MIN, putTraffic, T0, tickEvent, TEST_POLICY, type World } from "./support/moto-world.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const ACCOUNT = "123456789012";
const arn = (role: string, session: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`;
const ALICE = arn("release", "alice"); // release engineer
const BOB = arn("approver", "bob"); // approver
const MALLORY = arn("developer", "mallory"); // no rights
const CAROL = arn("release", "carol"); // release engineer, not an approver

const ACCESS_POLICY: PolicyInput = {
  ...TEST_POLICY,
  strategy: { type: "canary", steps: [{ percent: 10, hold: "1m", approval: true }, { percent: 50, hold: "1m" }] },
  access: {
    operate: [`arn:aws:iam::${ACCOUNT}:role/release`, `arn:aws:iam::${ACCOUNT}:role/approver`],
    release: [`arn:aws:iam::${ACCOUNT}:role/release`],
    approve: [`arn:aws:iam::${ACCOUNT}:role/approver`, `arn:aws:sts::${ACCOUNT}:assumed-role/release/alice`],
    freeze: [`arn:aws:iam::${ACCOUNT}:role/approver`],
    separationOfDuties: true,
  },
};

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

let requests = 0;
/** What Lambda hands the controller for a signed POST to its function URL. */
function urlEvent(w: World, caller: string, body: unknown) {
  return buildFunctionUrlEvent({
    ownerAccountId: ACCOUNT,
    caller: { arn: caller, accountId: ACCOUNT, userId: `AROA:${caller.split("/").at(-1)}`, accessKeyId: "ASIATEST" },
    method: "POST",
    path: "/",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    requestId: `req-${++requests}`,
    now: w.clock.now,
  });
}

async function send(c: Controller, w: World, caller: string, body: unknown) {
  const res = (await c.handle(urlEvent(w, caller, body))) as { statusCode: number; body: string };
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
}

/** Everything a refused command must leave alone: the state item, the history, the listener. */
async function snapshot(w: World) {
  const [state, history, listener] = await Promise.all([
    w.clients.documents.send(new GetCommand({ TableName: w.config.table, Key: { pk: `service#${w.config.service}`, sk: "state" }, ConsistentRead: true })),
    w.clients.documents.send(new QueryCommand({ TableName: w.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": historyPk(w.config.service) }, ConsistentRead: true })),
    w.clients.elbv2.send(new DescribeListenersCommand({ ListenerArns: [w.listenerArn] })),
  ]);
  return { state: state.Item, history: history.Items, forward: listener.Listeners![0]!.DefaultActions![0]!.ForwardConfig };
}

async function walkToApproval(w: World, c: Controller) {
  expect(await send(c, w, ALICE, { command: "start", release: { version: "v2" } })).toMatchObject({ status: 200, body: { ok: true, phase: "progressing" } });
  await putTraffic(w, T0, { blue: { requests: 900, errors: 1 }, green: { requests: 150, errors: 0 } });
  w.clock.advance(2 * MIN);
  await c.handle(tickEvent);
  expect((await c.status()).state).toMatchObject({ phase: "paused", pause: { reason: "approval" } });
}

describe("authorization of verified principals (function URL events) against moto", { timeout: 120_000 }, () => {
  test("a principal outside the allowed set is refused with the missing right named, and nothing changes", async () => {
    const w = await createWorld(moto, { name: "authz-refuse", policy: ACCESS_POLICY });
    const c = controllerFor(w);
    await walkToApproval(w, c);
    const before = await snapshot(w);
    for (const [command, right] of [["pause", "operate"], ["abort", "operate"], ["kill", "operate"], ["promote", "release"], ["approve", "approve"], ["freeze", "freeze"]] as const) {
      const r = await send(c, w, MALLORY, { command, actor: "security-team@corp (approved by CISO)" });
      expect(r.status, command).toBe(403);
      expect(r.body, command).toMatchObject({ ok: false, code: "forbidden", missing: right });
      expect(String(r.body.message)).toContain(`${MALLORY} lacks the "${right}" right`);
    }
    expect(await snapshot(w)).toEqual(before);
    // Status needs no right.
    expect(await send(c, w, MALLORY, { command: "status" })).toMatchObject({ status: 200, body: { ok: true, phase: "paused" } });
  });

  test("separation of duties: the starter may not approve (nothing changes); a second principal approves and is recorded", async () => {
    const w = await createWorld(moto, { name: "authz-sod", policy: ACCESS_POLICY });
    const c = controllerFor(w);
    await walkToApproval(w, c);
    const before = await snapshot(w);
    // Alice holds the approve right by pattern, but she started this rollout.
    const self = await send(c, w, ALICE, { command: "approve" });
    expect(self).toMatchObject({ status: 403, body: { code: "forbidden", missing: "separation-of-duties" } });
    expect(String(self.body.message)).toMatch(/started this rollout and may not approve it/);
    // Promote past the pending approval is an approval too.
    expect(await send(c, w, ALICE, { command: "promote" })).toMatchObject({ status: 403, body: { missing: "separation-of-duties" } });
    // Carol may release, not approve: promote past the approval needs approve.
    const carol = await send(c, w, CAROL, { command: "promote" });
    expect(carol).toMatchObject({ status: 403, body: { missing: "approve" } });
    expect(String(carol.body.message)).toMatch(/promote skips a step waiting for approval/);
    expect(await snapshot(w)).toEqual(before);

    const ok = await send(c, w, BOB, { command: "approve", actor: "bob", note: "CAB-7" });
    expect(ok).toMatchObject({ status: 200, body: { ok: true, command: "approve" } });
    const state = (await snapshot(w)).state!;
    expect(state.startedBy).toBe(ALICE);
    expect(state.approvedBy).toEqual([{ step: 0, by: BOB, at: w.clock.now }]);
    const history = await c.status().then(() => w.clients.documents.send(new QueryCommand({ TableName: w.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": historyPk(w.config.service) } })));
    const approval = history.Items!.find((i) => i.trigger === "command:approve")!;
    expect(approval).toMatchObject({ actor: BOB, via: "function-url", claimedActor: "bob", note: "CAB-7" });
    const start = history.Items!.find((i) => i.trigger === "command:start")!;
    expect(start).toMatchObject({ actor: ALICE, via: "function-url" });
  });

  test("without an access section any principal of the controller's account may act, and no other account's", async () => {
    const w = await createWorld(moto, { name: "authz-default" });
    const c = controllerFor(w);
    expect(await send(c, w, MALLORY, { command: "start", release: { version: "v2" } })).toMatchObject({ status: 200, body: { ok: true } });
    const foreign = (await c.handle({ ...urlEvent(w, "arn:aws:sts::999999999999:assumed-role/x/y", { command: "pause" }), requestContext: { ...urlEvent(w, "arn:aws:sts::999999999999:assumed-role/x/y", { command: "pause" }).requestContext, authorizer: { iam: { userArn: "arn:aws:sts::999999999999:assumed-role/x/y", accountId: "999999999999" } } } })) as { statusCode: number; body: string };
    expect(foreign.statusCode).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ missing: "operate" });
  });

  test("direct invoke carries no identity: status and start only (by default); a function URL without IAM auth is refused", async () => {
    const w = await createWorld(moto, { name: "authz-direct", policy: ACCESS_POLICY });
    const c = controllerFor(w);
    expect(await c.handle({ command: "status" })).toMatchObject({ ok: true, command: "status" });
    expect(await c.handle({ command: "start", release: { version: "v2" }, actor: "pipeline" })).toMatchObject({ ok: true, phase: "progressing" });
    const before = await snapshot(w);
    for (const command of ["pause", "approve", "promote", "abort", "kill", "freeze"]) {
      expect(await c.handle({ command, actor: "admin" }), command).toMatchObject({ ok: false, code: "forbidden", missing: "verified-identity" });
    }
    expect(await snapshot(w)).toEqual(before);
    expect((await snapshot(w)).state).toMatchObject({ startedBy: "unverified:direct-invoke" });
    const open = urlEvent(w, ALICE, { command: "pause" });
    delete open.requestContext.authorizer;
    expect(await c.handle(open)).toMatchObject({ statusCode: 403 });
    // A body that is not a command (a forged alarm event) is not accepted over the URL.
    expect(await c.handle(urlEvent(w, ALICE, alarmEvent(w.alarmName, "ALARM", w)))).toMatchObject({ statusCode: 400 });
  });

  test("access patterns are validated like the rest of the policy", async () => {
    const { parsePolicy, PolicyError } = await import("../src/policy/index.js");
    const bad = () => parsePolicy({ ...TEST_POLICY, access: { approve: ["alice", "arn:aws:s3:::bucket", "arn:aws:iam::12:role/x"], separationOfDuties: true, directInvoke: ["approve"] } } as unknown as PolicyInput);
    expect(bad).toThrow(PolicyError);
    const message = (() => {
      try {
        bad();
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    expect(message).toContain("access.directInvoke[0]");
    const ok = (() => {
      try {
        parsePolicy({ ...TEST_POLICY, access: { approve: ["alice", "arn:aws:s3:::bucket", "arn:aws:iam::12:role/x"] } } as unknown as PolicyInput);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })();
    expect(ok).toContain('access.approve[0]: "alice" is not a principal ARN pattern');
    expect(ok).toContain("access.approve[1]");
    expect(ok).toContain("access.approve[2]");
  });
});

describe("signed command path end to end: the CLI signs, the local function URL verifies SigV4, the controller authorizes", { timeout: 120_000 }, () => {
  const creds: KnownCredential[] = [
    { accessKeyId: "AKIAALICE", secretAccessKey: "alice-secret", arn: ALICE, accountId: ACCOUNT, userId: "AROAREL:alice" },
    { accessKeyId: "ASIABOB", secretAccessKey: "bob-secret", sessionToken: "bob-session", arn: BOB, accountId: ACCOUNT, userId: "AROAAPP:bob" },
  ];
  let server: FunctionUrlServer;
  let w: World;
  let c: Controller;
  const dir = tempDir("rollgate-signed-");
  beforeAll(async () => {
    w = await createWorld(moto, { name: "signed", policy: ACCESS_POLICY });
    c = controllerFor(w);
    server = await startFunctionUrlServer({ credentials: creds, region: moto.region, ownerAccountId: ACCOUNT, now: () => Date.now(), handler: (event) => c.handle(event) });
    writeFileSync(join(dir, "signed.json"), JSON.stringify(controllerEnv(w.config)));
  });
  afterAll(() => server?.close());

  const cli = async (argv: string[], keys: { id: string; secret: string; token?: string }) => {
    const io = captureIo({ cwd: dir, env: { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: moto.region, AWS_ACCESS_KEY_ID: keys.id, AWS_SECRET_ACCESS_KEY: keys.secret, ...(keys.token ? { AWS_SESSION_TOKEN: keys.token } : {}) }, now: () => w.clock.now });
    // The table is read with moto's keys (reads only); the command is signed with the caller's.
    const code = await run(argv, io, { clients: w.clients });
    return { code, out: io.out, err: io.err };
  };
  const alice = { id: "AKIAALICE", secret: "alice-secret" };
  const bob = { id: "ASIABOB", secret: "bob-secret", token: "bob-session" };

  test("alice starts, alice's approval is refused, bob approves: each recorded under the ARN AWS verified", async () => {
    const url = ["--url", server.url, "--config", "signed.json", "--yes"];
    const start = await cli(["start", "v2", ...url, "--actor", "the-ceo"], alice);
    expect(start.err).toBe("");
    expect(start.code).toBe(0);
    await putTraffic(w, T0, { blue: { requests: 900, errors: 1 }, green: { requests: 150, errors: 0 } });
    w.clock.advance(2 * MIN);
    await c.handle(tickEvent);

    const self = await cli(["approve", ...url], alice);
    expect(self.code).toBe(1);
    expect(self.err).toMatch(/approve signed was refused \(forbidden\): .*alice started this rollout and may not approve it/);

    const forged = await cli(["approve", ...url], { id: "AKIAALICE", secret: "not-alices-secret" });
    expect(forged.code).toBe(1);
    expect(forged.err).toMatch(/function URL refused the request: .*HTTP 403 InvalidSignatureException/);

    const ok = await cli(["approve", ...url, "--note", "CAB-7"], bob);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    const h = await cli(["history", "--config", "signed.json", "--json"], alice);
    const records = (JSON.parse(h.out) as { records: Array<Record<string, unknown>> }).records;
    expect(records.find((r) => r.trigger === "command:start")).toMatchObject({ actor: ALICE, claimedActor: "the-ceo", via: "function-url" });
    expect(records.find((r) => r.trigger === "command:approve")).toMatchObject({ actor: BOB, via: "function-url", note: "CAB-7" });
    expect((await cli(["history", "--verify", "--config", "signed.json"], alice)).code).toBe(0);
  });

  test("without a URL, against real AWS (no emulator), the CLI refuses to run the controller in-process", async () => {
    const io = captureIo({ cwd: dir, env: { AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" } });
    const code = await run(["pause", "--config", "signed.json", "--yes"], io, {});
    expect(code).toBe(2);
    expect(io.err).toMatch(/commands go to the controller's function URL.*works only against a local emulator/);
  });
});

describe("account-wide freeze (SSM parameter) against moto", { timeout: 120_000 }, () => {
  test("one freeze, set once, blocks the next start of two different services; the error-budget alarm sets it too", async () => {
    const parameter = "/rollgate/account-freeze-test";
    const a = await createWorld(moto, { name: "acct-a", policy: ACCESS_POLICY });
    const b = await createWorld(moto, { name: "acct-b" });
    a.config.accountFreezeParameter = parameter;
    b.config.accountFreezeParameter = parameter;
    const ca = controllerFor(a);
    const cb = controllerFor(b);
    // Bob holds service a's freeze right; the freeze is account-wide, so b's controller sees it.
    const frozen = await send(ca, a, BOB, { command: "freeze", scope: "account", note: "INC-9" });
    expect(frozen).toMatchObject({ status: 200, body: { ok: true, action: "account-freeze", frozen: true } });
    const value = JSON.parse((await a.clients.ssm!.send(new GetParameterCommand({ Name: parameter }))).Parameter!.Value!);
    expect(value).toMatchObject({ frozen: true, actor: BOB, service: "acct-a", reason: "INC-9" });

    expect(await send(ca, a, ALICE, { command: "start", release: { version: "v2" } })).toMatchObject({ status: 409, body: { ok: false, code: "frozen" } });
    expect(await cb.command({ command: "start", release: { version: "v2" } })).toMatchObject({ ok: false, code: "frozen" });
    expect((await cb.status()).freeze).toMatchObject({ frozen: true, account: { frozen: true, actor: BOB } });

    // Recorded in a's global history chain, and that chain verifies.
    const global = await a.clients.documents.send(new QueryCommand({ TableName: a.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": "history#global" } }));
    expect(global.Items).toEqual([expect.objectContaining({ action: "account-freeze", actor: BOB, scope: "account", via: "function-url" })]);

    expect(await send(ca, a, BOB, { command: "unfreeze", scope: "account" })).toMatchObject({ status: 200, body: { frozen: false } });
    expect(await cb.command({ command: "start", release: { version: "v2" } })).toMatchObject({ ok: true });

    // b's error-budget alarm freezes the account: a's next start is held.
    await cb.handle(alarmEvent(b.freezeAlarm, "ALARM", b));
    expect(JSON.parse((await b.clients.ssm!.send(new GetParameterCommand({ Name: parameter }))).Parameter!.Value!)).toMatchObject({ frozen: true, service: "acct-b" });
    expect(await send(ca, a, ALICE, { command: "start", release: { version: "v3" } })).toMatchObject({ status: 409, body: { code: "frozen" } });
  });
});
