/**
 * The audit trail's hash chain. Every history record of a service (and of the table's global
 * partition) carries its position `n` (1, 2, 3, ...), the hash of the record before it and its own
 * hash: SHA-256 over the canonical JSON of the record with `hash` left out. The state item keeps
 * the chain head (position and hash of the newest record), written in the same transaction.
 *
 * What it detects: a record edited (its hash no longer matches its content), deleted (a gap in
 * the positions, or a head beyond the newest record), forged into the middle (its link does not
 * match its predecessor's hash) or appended past the head. What it cannot detect on its own: a
 * principal that may write both the history and the state item rewriting the tail consistently;
 * that needs an anchor outside the table (docs/controller.md, "Trust model").
 */
import { createHash } from "node:crypto";

export const GENESIS_HASH = "0".repeat(64);

/** Chain fields of a history record. */
export interface ChainLink {
  /** Position in its partition's chain, from 1. */
  n: number;
  /** Hash of record n-1 (GENESIS_HASH for n = 1). */
  prevHash: string;
  /** SHA-256 of this record's canonical JSON without `hash`. */
  hash: string;
}

export interface ChainHead {
  n: number;
  hash: string;
  /** Time of the newest record. */
  at: number;
}

/** JSON with object keys sorted at every level, undefined fields left out: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`canonicalJson: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function recordHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** Links `records` (oldest first) after `head`; returns the linked copies and the new head. */
export function linkRecords<T extends Record<string, unknown> & { at: number }>(records: readonly T[], head: ChainHead | undefined): { linked: Array<T & ChainLink>; head: ChainHead | undefined } {
  let n = head?.n ?? 0;
  let prev = head?.hash ?? GENESIS_HASH;
  let last = head;
  const linked = records.map((r) => {
    n += 1;
    const base = { ...r, n, prevHash: prev } as Record<string, unknown>;
    const hash = recordHash(base);
    prev = hash;
    last = { n, hash, at: r.at };
    return { ...base, hash } as T & ChainLink;
  });
  return { linked, head: last };
}

export type ChainBreakKind = "edited" | "deleted" | "forged" | "unchained" | "head-mismatch";

export interface ChainBreak {
  kind: ChainBreakKind;
  /** Position where the chain breaks (the record found there, or the first missing one). */
  n: number;
  /** The record at the break, when there is one (its time and action, for people). */
  at?: number;
  action?: string;
  message: string;
}

export interface ChainReport {
  ok: boolean;
  /** Records checked. */
  checked: number;
  /** First and last positions seen. */
  first?: number;
  last?: number;
  head?: ChainHead;
  /** The first broken link (records after it are not judged: once broken, nothing later can be trusted). */
  firstBreak?: ChainBreak;
  /** Things to know that are not breaks, e.g. the retained chain starts after record 1. */
  notes: string[];
}

type Stored = Record<string, unknown> & { at: number; action?: string; n?: unknown; prevHash?: unknown; hash?: unknown };

/**
 * Checks a partition's records (any order; sorted here by position) against each other and
 * against the head kept in the state item. The oldest retained record may start after 1 when
 * older records expired (the history's TTL): that is a note, not a break, because expiry and
 * deletion at the very start of the retained chain look the same; anywhere else a gap is a break.
 */
export function verifyChain(input: readonly object[], head: ChainHead | undefined, options: { retentionDays?: number } = {}): ChainReport {
  const records = input as readonly Stored[];
  const notes: string[] = [];
  const fail = (b: ChainBreak, extra: Partial<ChainReport> = {}): ChainReport => ({ ok: false, checked: records.length, ...extra, ...(head ? { head } : {}), firstBreak: b, notes });
  const unchained = records.filter((r) => typeof r.n !== "number" || typeof r.hash !== "string" || typeof r.prevHash !== "string");
  if (unchained.length) {
    const r = unchained.sort((a, b) => a.at - b.at)[0]!;
    return fail({ kind: "unchained", n: 0, at: r.at, ...(r.action ? { action: String(r.action) } : {}), message: `a record without chain fields (n, prevHash, hash) at ${new Date(r.at).toISOString()} (${String(r.action ?? "?")}): written outside the controller, or before chaining existed` });
  }
  const sorted = [...records].sort((a, b) => (a.n as number) - (b.n as number));
  const describe = (r: Stored) => `record #${r.n as number} (${new Date(r.at).toISOString()}, ${String(r.action ?? "?")})`;
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    const n = r.n as number;
    const at = { n, at: r.at, ...(r.action ? { action: String(r.action) } : {}) };
    if (recordHash(r) !== r.hash) return fail({ kind: "edited", ...at, message: `${describe(r)} does not hash to the hash it carries: its content was changed after it was written` });
    if (i === 0) {
      if (n === 1 && r.prevHash !== GENESIS_HASH) return fail({ kind: "forged", ...at, message: `${describe(r)} claims to be the first record but links to ${String(r.prevHash).slice(0, 12)}..., not the genesis` });
      if (n > 1) notes.push(`the retained chain starts at record #${n}: records #1..#${n - 1} expired${options.retentionDays ? ` (retention ${options.retentionDays} days)` : ""} or were deleted; at the start of the chain the two cannot be told apart`);
      continue;
    }
    const prev = sorted[i - 1]!;
    const pn = prev.n as number;
    if (n === pn) return fail({ kind: "forged", ...at, message: `two records claim position #${n}: ${describe(prev)} and ${describe(r)}; one of them was forged` });
    if (n > pn + 1) return fail({ kind: "deleted", n: pn + 1, message: `record${n - pn > 2 ? `s #${pn + 1}..#${n - 1}` : ` #${pn + 1}`}, between ${describe(prev)} and ${describe(r)}, ${n - pn > 2 ? "are" : "is"} missing: deleted` });
    if (r.prevHash !== prev.hash) return fail({ kind: "forged", ...at, message: `${describe(r)} does not link to ${describe(prev)} (prevHash ${String(r.prevHash).slice(0, 12)}... vs ${String(prev.hash).slice(0, 12)}...): a record was forged or replaced here` });
  }
  const first = sorted[0]?.n as number | undefined;
  const lastRecord = sorted.at(-1);
  const last = lastRecord?.n as number | undefined;
  const range = { ...(first !== undefined ? { first } : {}), ...(last !== undefined ? { last } : {}) };
  if (head) {
    if (last === undefined || last < head.n) {
      return fail({ kind: "deleted", n: (last ?? 0) + 1, message: `the state item's chain head is record #${head.n} (${new Date(head.at).toISOString()}), but the newest record found is ${lastRecord ? describe(lastRecord) : "none"}: the newest record${head.n - (last ?? 0) > 1 ? "s were" : " was"} deleted` }, range);
    }
    if (last > head.n) {
      const extra = sorted.find((r) => (r.n as number) > head.n)!;
      return fail({ kind: "forged", n: extra.n as number, at: extra.at, message: `${describe(extra)} lies beyond the chain head the state item records (#${head.n}): it was appended by someone other than the controller` }, range);
    }
    if (lastRecord!.hash !== head.hash) {
      return fail({ kind: "head-mismatch", n: head.n, at: lastRecord!.at, message: `${describe(lastRecord!)} is not the record the state item's chain head names (hash ${head.hash.slice(0, 12)}...): the tail was replaced` }, range);
    }
  } else if (sorted.length) {
    notes.push("no chain head in the state item to check the newest record against");
  }
  return { ok: true, checked: records.length, ...range, ...(head ? { head } : {}), notes };
}
