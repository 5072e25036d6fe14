/**
 * The audit trail is tamper-evident: a controller writes a real history against moto, then each
 * kind of tampering (edit, delete, forge in the middle, forge past the head, replace the tail) is
 * done with plain DynamoDB writes, as anyone with write access to the table could, and
 * `rollgate history --verify` must report the first broken link and exit 1.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { linkRecords, recordHash, verifyChain } from "../src/aws/history-chain.js";
import { historyPk, type HistoryRecord } from "../src/aws/state.js";
import { run } from "../src/cli/program.js";
import { startMoto, type MotoServer } from "../src/local/moto-server.js";
import { captureIo, tempDir } from "./cli-io.js";
import { controllerFor, createWorld, MIN, putTraffic, T0, tickEvent, type World } from "./support/moto-world.js";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

const dir = tempDir("rollgate-chain-");

async function verifyCli(w: World, extra: string[] = []) {
  const io = captureIo({ cwd: dir, env: { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: moto.region, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" } });
  const code = await run(["history", "--verify", "--table", w.config.table, "--service", w.config.service, ...extra], io);
  return { code, out: io.out, err: io.err };
}

/** A world with a few committed transitions: start, advance, promote, kill on, kill off. */
async function worldWithHistory(name: string): Promise<{ w: World; items: Array<Record<string, unknown>> }> {
  const w = await createWorld(moto, { name });
  const c = controllerFor(w);
  await c.command({ command: "start", release: { version: "v2" }, actor: "alice" });
  await putTraffic(w, T0, { blue: { requests: 900, errors: 1 }, green: { requests: 150, errors: 0 } });
  w.clock.advance(2 * MIN);
  await c.handle(tickEvent);
  await c.command({ command: "kill", note: "drill" });
  await c.command({ command: "unkill" });
  const items = await historyItems(w);
  expect(items.length).toBeGreaterThanOrEqual(4);
  return { w, items };
}

async function historyItems(w: World): Promise<Array<Record<string, unknown>>> {
  const res = await w.clients.documents.send(new QueryCommand({ TableName: w.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": historyPk(w.config.service) }, ConsistentRead: true }));
  return (res.Items ?? []).sort((a, b) => Number(a.n) - Number(b.n));
}

describe("history --verify against moto", { timeout: 120_000 }, () => {
  test("an untouched history verifies: every record linked, ending at the head in the state item", async () => {
    const { w, items } = await worldWithHistory("chain-ok");
    const r = await verifyCli(w);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`intact the history of chain-ok: ${items.length} records \\(records #1\\.\\.#${items.length}\\) hash-chained, ending at the head the state item records \\(#${items.length}\\)`));
    const state = await w.clients.documents.send(new GetCommand({ TableName: w.config.table, Key: { pk: "service#chain-ok", sk: "state" } }));
    expect(state.Item!.historyHead).toMatchObject({ n: items.length, hash: items.at(-1)!.hash });
  });

  test("an edited record (the kill's note rewritten) is reported as edited at its position", async () => {
    const { w, items } = await worldWithHistory("chain-edit");
    const kill = items.find((i) => String(i.trigger) === "command:kill")!;
    expect(kill, JSON.stringify(items.map((i) => [i.n, i.action, i.trigger]))).toBeDefined();
    await w.clients.documents.send(new UpdateCommand({ TableName: w.config.table, Key: { pk: kill.pk, sk: kill.sk }, UpdateExpression: "SET reason = :r", ExpressionAttributeValues: { ":r": "kill switch on (approved by CISO)" } }));
    const r = await verifyCli(w, ["--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out) as { verify: { ok: boolean; firstBreak: { kind: string; n: number } } };
    expect(out.verify).toMatchObject({ ok: false, firstBreak: { kind: "edited", n: kill.n } });
  });

  test("a deleted record in the middle (the start) is reported as deleted at its position", async () => {
    const { w, items } = await worldWithHistory("chain-delete");
    const victim = items[1]!;
    await w.clients.documents.send(new DeleteCommand({ TableName: w.config.table, Key: { pk: victim.pk, sk: victim.sk } }));
    const r = await verifyCli(w);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`BROKEN the history of chain-delete: deleted at record #${victim.n as number}`));
  });

  test("the newest record deleted is found against the state item's head", async () => {
    const { w, items } = await worldWithHistory("chain-tail");
    const last = items.at(-1)!;
    await w.clients.documents.send(new DeleteCommand({ TableName: w.config.table, Key: { pk: last.pk, sk: last.sk } }));
    const r = await verifyCli(w);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/deleted at record #\d+/);
    expect(r.out).toMatch(/chain head is record #\d+.*newest record was deleted/);
  });

  test("a forged approve record inserted in the middle, even with a correct hash of its own, is reported as forged", async () => {
    const { w, items } = await worldWithHistory("chain-forge");
    const before = items[1]!;
    // The forger copies a real record's shape, claims the next position and computes a valid self-hash.
    const forged: Record<string, unknown> = { ...before, at: Number(before.at) + 1, sk: `history#${new Date(Number(before.at) + 1).toISOString()}#9999999999`, action: "approve", trigger: "command:approve", actor: "security-team@corp (approved by CISO)", reason: "approved", n: Number(before.n) + 1, prevHash: before.hash };
    const { pk: _pk, sk: _sk, expiresAt: _e, ...content } = forged;
    forged.hash = recordHash(content);
    await w.clients.documents.send(new PutCommand({ TableName: w.config.table, Item: forged }));
    const r = await verifyCli(w, ["--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out) as { verify: { firstBreak: { kind: string; n: number; message: string } } };
    expect(out.verify.firstBreak).toMatchObject({ kind: "forged", n: Number(before.n) + 1 });
    expect(out.verify.firstBreak.message).toMatch(/two records claim position/);
  });

  test("a forged record appended after the newest, linked correctly, lies beyond the head and is reported", async () => {
    const { w, items } = await worldWithHistory("chain-append");
    const last = items.at(-1)!;
    const { pk: _pk, sk: _sk, expiresAt: _e, ...lastContent } = last;
    const { linked } = linkRecords([{ ...(lastContent as unknown as HistoryRecord), at: Number(last.at) + 1000, action: "approve", reason: "forged approval", n: undefined, prevHash: undefined, hash: undefined } as unknown as Record<string, unknown> & { at: number }], { n: Number(last.n), hash: String(last.hash), at: Number(last.at) });
    const f = linked[0]!;
    await w.clients.documents.send(new PutCommand({ TableName: w.config.table, Item: { ...f, pk: last.pk, sk: `history#${new Date(f.at).toISOString()}#9999999998` } }));
    const r = await verifyCli(w);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`forged at record #${Number(last.n) + 1}`));
    expect(r.out).toMatch(/beyond the chain head/);
  });

  test("the global (freeze) history is chained too, and --verify --global reads it", async () => {
    const w = await createWorld(moto, { name: "chain-global" });
    const c = controllerFor(w);
    await c.command({ command: "freeze", note: "INC-1" });
    await c.command({ command: "unfreeze" });
    const ok = await verifyCli(w, ["--global"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/intact the global history .*2 records/);
    const res = await w.clients.documents.send(new QueryCommand({ TableName: w.config.table, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": "history#global" } }));
    const first = res.Items!.find((i) => i.n === 1)!;
    await w.clients.documents.send(new UpdateCommand({ TableName: w.config.table, Key: { pk: first.pk, sk: first.sk }, UpdateExpression: "SET actor = :a", ExpressionAttributeValues: { ":a": "someone else" } }));
    const broken = await verifyCli(w, ["--global"]);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/edited at record #1/);
  });
});

describe("verifyChain (pure)", { timeout: 120_000 }, () => {
  const records = linkRecords(
    [1, 2, 3, 4].map((i) => ({ service: "s", at: T0 + i, seq: i, kind: "decision", trigger: "tick", action: `a${i}`, reason: "r" })),
    undefined,
  );
  test("a retained chain that starts after #1 (older records expired) is a note, not a break", () => {
    const r = verifyChain(records.linked.slice(2), records.head, { retentionDays: 90 });
    expect(r).toMatchObject({ ok: true, first: 3, last: 4 });
    expect(r.notes[0]).toMatch(/starts at record #3.*expired \(retention 90 days\) or were deleted/);
  });
  test("a replaced tail with a head that does not match is head-mismatch", () => {
    const tail = { ...records.linked[3]!, reason: "x" };
    const relinked = { ...tail, hash: recordHash(tail) };
    const r = verifyChain([...records.linked.slice(0, 3), relinked], records.head);
    expect(r.firstBreak).toMatchObject({ kind: "head-mismatch", n: 4 });
  });
  test("a record without chain fields is unchained", () => {
    const { n: _n, prevHash: _p, hash: _h, ...bare } = records.linked[1]!;
    expect(verifyChain([records.linked[0]!, bare, ...records.linked.slice(2)], records.head).firstBreak).toMatchObject({ kind: "unchained" });
  });
});

