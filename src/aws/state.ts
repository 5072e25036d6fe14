/**
 * Controller state in one DynamoDB table (pk S, sk S, TTL attribute expiresAt):
 *
 *   pk = service#<name>          sk = state                     the rollout record, `version` for optimistic concurrency
 *   pk = history#service#<name>  sk = history#<iso time>#<seq>  append-only audit records, expiresAt = TTL
 *   pk = global                  sk = freeze                    the table's freeze flag (every service in the table)
 *   pk = history#global          sk = history#<iso time>#<seq>  freeze / unfreeze audit records
 *
 * A state change and its history record are written in one transaction, conditional on the
 * version read: the winner of a race writes both, a loser writes neither and re-reads.
 *
 * Outbox: the same transaction lists each new history record in the state item's `outbox` (its
 * decision event is not published yet). The controller publishes after the commit and then
 * removes the entry (markPublished); an entry a crashed invocation left behind is published by a
 * later one from the history record itself. Delivery is at least once, with a stable event id.
 *
 * History lives in partitions of its own (pk history#...), so IAM can tell it from state: the
 * controller's role may UpdateItem only where dynamodb:LeadingKeys is a state partition, and no
 * role may delete (components/step-controller.ts). Every history record is hash-chained to the
 * previous one of its partition, and the state item keeps the chain head (history-chain.ts), so
 * an edited, deleted or forged record is found by verifyHistory (`rollgate history --verify`).
 */
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import type { Phase, Release, RolloutState } from "../engine/types.js";
import type { Weights } from "../policy/types.js";
import { ConflictError } from "./errors.js";
import type { Slot, SlotWeights } from "./traffic.js";
import { linkRecords, verifyChain, type ChainHead, type ChainReport } from "./history-chain.js";
import type { AccountFreezeState } from "./account-freeze.js";

/** A release waiting for its ECS tasks to turn healthy in the idle slot before step 1. */
export interface PendingRelease {
  version: string;
  taskDefinitionArn: string;
  slot: Slot;
  rolloutId: string;
  requestedAt: number;
  /** UpdateService went through (retried by ticks until it does). */
  deployed: boolean;
  status: "deploying" | "failed";
  reason?: string;
  actor?: string;
  note?: string;
}

export interface ServiceRecord {
  service: string;
  /** Optimistic-concurrency counter: every committed change increments it. 0 = never written. */
  version: number;
  rollout: RolloutState;
  /** Slot holding `rollout.release.stable`; the canary is in the other slot. */
  baselineSlot: Slot;
  killSwitch: boolean;
  /**
   * False between committing new weights and confirming them on the listener. An invocation that
   * finds it false knows the listener may still show the previous weights by its own doing, not drift.
   */
  applied: boolean;
  pending?: PendingRelease;
  updatedAt: number;
  /** Position and hash of the newest history record of the service (set by commit, never by callers). */
  historyHead?: ChainHead;
  /** The principal (actor) that started the current rollout: separation of duties compares against it. */
  startedBy?: string;
  /** Who approved which step of the current rollout (0-based step index). */
  approvedBy?: Array<{ step: number; by: string; at: number }>;
  /**
   * Write fence: slot weights this controller committed to write in the last few minutes (newest
   * last). A listener found at one of them (and not at the recorded weights) holds a late write of
   * an older decision, which is repaired rather than taken for a person's edit.
   */
  recentWrites?: RecentWrite[];
  /** Ids of the last alarm events recorded as not acted on, so a redelivery is recorded once. */
  seenEvents?: string[];
  /**
   * Decision events committed but not yet published, by history seq (`s<seq>`); written by commit
   * in the same transaction as the history records, removed by markPublished. Set by the store:
   * a caller's copy is not trusted.
   */
  outbox?: Record<string, OutboxEntry>;
}

/** A history record whose decision event has not been published yet. */
export interface OutboxEntry {
  seq: number;
  /** Sort key of the history record. */
  sk: string;
  /** When it was committed (epoch ms). */
  at: number;
  /** When a later invocation claimed it to publish it (a claim older than the grace is taken over). */
  claimedAt?: number;
}

/** Entries the outbox keeps when publishing keeps failing (the oldest are dropped; history keeps them). */
export const OUTBOX_MAX_ENTRIES = 50;
export const outboxKey = (seq: number) => `s${seq}`;

/** One entry of the write fence. */
export interface RecentWrite {
  blue: number;
  green: number;
  /** Record version whose commit started the write. */
  version: number;
  at: number;
}

/** What an alarm event said, recorded with the decision it triggered (or as not acted on). */
export interface EventRecord {
  /** EventBridge event id. */
  id?: string;
  /** The envelope's time. */
  time?: string;
  alarmArn?: string;
  alarmName: string;
  state: string;
  /** The alarm's state timestamp, as sent. */
  stateTimestamp?: string;
  /** Whether the fast path trusted it, and if not why. */
  fresh: boolean;
  staleReason?: string;
  /** Composite alarm action suppression and alarm mute details, when the event carries them. */
  actionsSuppressedBy?: string;
  actionsSuppressedReason?: string;
  /** The alarm mute rule muting the alarm's actions when the event was sent (detail.muteDetail). */
  muteDetail?: { mutedByArn?: string; muteWindowStart?: string; muteWindowEnd?: string };
  mute?: string;
}

/** A forward action as recorded in history (target group -> weight, stickiness). */
export interface ForwardRecord {
  targets: Array<{ targetGroupArn: string; weight?: number }>;
  stickiness?: { enabled: boolean; durationSeconds?: number };
}

export type HistoryKind = "decision" | "command" | "release" | "freeze";

export interface HistoryRecord {
  /** Service name, or "global" for freeze records. */
  service: string;
  at: number;
  /** The record version this entry belongs to: unique per service, orders entries of one millisecond. */
  seq: number;
  kind: HistoryKind;
  /** tick | alarm:<name> | command:<name> */
  trigger: string;
  action: string;
  reason: string;
  rolloutId?: string;
  release?: Release;
  fromPhase?: Phase;
  phase?: Phase;
  stepIndex?: number;
  weights?: Weights;
  slotWeights?: SlotWeights;
  actor?: string;
  note?: string;
  drift?: { actual: Weights; recorded: Weights; elsewhere?: number };
  verdicts?: Array<{ gate: string; verdict: string; reason: string }>;
  /** How the actor reached the controller: function-url (verified), direct-invoke or in-process (unverified). */
  via?: string;
  /** A name the caller sent about itself: recorded, never trusted (the actor is who was verified). */
  claimedActor?: string;
  /** freeze records: "table" (this table's services) or "account" (every service of the account and region). */
  scope?: "table" | "account";
  /** Position in the partition's hash chain (set by the store). */
  n?: number;
  /** Hash of the previous record of the partition (set by the store). */
  prevHash?: string;
  /** SHA-256 of this record without `hash` (set by the store). */
  hash?: string;
  /** A repair of the forward action: what it was, what it was set to, and every difference. */
  repair?: { before: ForwardRecord; after: ForwardRecord; differences: string[] };
  /** The alarm event behind an event-driven decision. */
  event?: EventRecord;
}

export interface FreezeRecord {
  frozen: boolean;
  version: number;
  reason?: string;
  actor?: string;
  since?: number;
  /** Head of the global partition's history chain. */
  historyHead?: ChainHead;
  /**
   * The account-wide freeze as the controller read it (not stored in the table): `frozen` above is
   * true when either this table's flag or the account-wide one is on.
   */
  account?: AccountFreezeState;
}

export interface StateStore {
  readonly table: string;
  get(service: string): Promise<ServiceRecord | undefined>;
  getFreeze(): Promise<FreezeRecord>;
  /**
   * Writes `record` (whose version must be expectedVersion + 1) and the history records, only if
   * the stored version is still expectedVersion. Throws ConflictError otherwise.
   */
  commit(record: ServiceRecord, expectedVersion: number, history: HistoryRecord[]): Promise<void>;
  /** Sets applied=true if the record is still at `version`; false when someone moved on. */
  markApplied(service: string, version: number): Promise<boolean>;
  /** Removes outbox entries whose events went out (whatever the record's version is now). */
  markPublished(service: string, seqs: number[]): Promise<void>;
  /**
   * Claims an outbox entry for publishing: true when it is there and unclaimed, or its claim is
   * older than `staleBefore`; false when it is gone or someone else holds a fresh claim.
   */
  claimOutbox(service: string, seq: number, now: number, staleBefore: number): Promise<boolean>;
  /** One history record by its sort key (an outbox entry's `sk`). */
  historyRecord(service: string, sk: string): Promise<HistoryRecord | undefined>;
  /** Sets the global freeze; false (and nothing written) when it already had that value. */
  setFreeze(frozen: boolean, by: { actor?: string; reason: string; at: number; trigger: string; details?: Pick<HistoryRecord, "via" | "claimedActor" | "note"> }): Promise<FreezeRecord | undefined>;
  /** Appends a record to the global history chain without changing this table's flag (account-wide freeze changes). */
  recordGlobal(h: Omit<HistoryRecord, "service" | "seq" | "n" | "prevHash" | "hash">): Promise<void>;
  /** Newest first. */
  history(service: string, options?: { limit?: number }): Promise<HistoryRecord[]>;
  globalHistory(options?: { limit?: number }): Promise<HistoryRecord[]>;
  /** Every service's record in the table (a scan: fine for an operator CLI, not for a hot path). */
  listServices(): Promise<ServiceRecord[]>;
  /**
   * Checks the hash chain of a service's history (or the table's global history) against itself
   * and against the head kept in the state item; reports the first broken link.
   */
  verifyHistory(service: string | typeof GLOBAL_PK): Promise<ChainReport>;
}

export const servicePk = (service: string) => `service#${service}`;
export const GLOBAL_PK = "global";
export const STATE_SK = "state";
export const FREEZE_SK = "freeze";
/** The partition of a service's history records (or of the global ones for GLOBAL_PK). */
export const historyPk = (service: string) => (service === GLOBAL_PK ? `history#${GLOBAL_PK}` : `history#${servicePk(service)}`);
export function historySk(at: number, seq: number): string {
  return `history#${new Date(at).toISOString()}#${String(seq).padStart(10, "0")}`;
}

export interface StateStoreOptions {
  table: string;
  /** Days history records live before DynamoDB's TTL removes them. @default 90 */
  historyTtlDays?: number;
}

function isConditionFailure(err: unknown): boolean {
  if (err instanceof TransactionCanceledException || (err as { name?: string })?.name === "TransactionCanceledException") {
    const reasons = (err as TransactionCanceledException).CancellationReasons ?? [];
    // TransactionConflict: another transaction on the same item was in flight; same remedy.
    return reasons.length === 0 || reasons.some((r) => r.Code === "ConditionalCheckFailed" || r.Code === "TransactionConflict");
  }
  return (err as { name?: string })?.name === "ConditionalCheckFailedException";
}

function strip<T extends Record<string, unknown>>(item: T | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rest } = item;
  return rest as T;
}

export function createStateStore(documents: DynamoDBDocumentClient, options: StateStoreOptions): StateStore {
  const table = options.table;
  const ttlSeconds = (options.historyTtlDays ?? 90) * 86_400;
  const historyItem = (h: HistoryRecord) => ({
    pk: historyPk(h.service),
    sk: historySk(h.at, h.seq),
    expiresAt: Math.floor(h.at / 1000) + ttlSeconds,
    ...h,
  });
  /** The caller's records, chained after `head`; chain fields the caller set are not trusted. */
  const chain = (history: HistoryRecord[], head: ChainHead | undefined) => {
    const plain = history.map(({ n: _n, prevHash: _p, hash: _h, ...rest }) => rest);
    return linkRecords(plain, head);
  };

  /**
   * The head of a partition's chain and the outbox as committed at `version` (read in the commit
   * that writes after it, so neither is taken from the caller's possibly older copy).
   */
  async function headAt(key: { pk: string; sk: string }, version: number): Promise<{ head?: ChainHead; outbox?: Record<string, OutboxEntry> }> {
    if (version === 0) return {};
    const res = await documents.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true, ProjectionExpression: "version, historyHead, outbox" }));
    const item = res.Item as { version?: number; historyHead?: ChainHead; outbox?: Record<string, OutboxEntry> } | undefined;
    // Another writer moved on: the conditional write below fails and the caller re-reads.
    if (!item || item.version !== version) throw new ConflictError(`state of ${key.pk} changed since version ${version} was read`);
    return { ...(item.historyHead ? { head: item.historyHead } : {}), ...(item.outbox ? { outbox: item.outbox } : {}) };
  }

  /**
   * One conditional update of a service's state item: true when it applied, false when its
   * condition did not hold (another writer got there first); any other error is thrown.
   */
  async function updateStateIf(service: string, update: Omit<UpdateCommandInput, "TableName" | "Key">): Promise<boolean> {
    try {
      await documents.send(new UpdateCommand({ TableName: table, Key: { pk: servicePk(service), sk: STATE_SK }, ...update }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * One partition's history, paged. Oldest first and strongly consistent for a chain check (all of
   * it); newest first up to `limit` for listings.
   */
  async function readHistory(pk: string, opts: { newestFirst: boolean; limit?: number }): Promise<HistoryRecord[]> {
    const limit = opts.limit ?? Infinity;
    const out: HistoryRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await documents.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :h)",
          ExpressionAttributeValues: { ":pk": pk, ":h": "history#" },
          ...(opts.newestFirst ? { ScanIndexForward: false, Limit: Math.min(limit - out.length, 1000) } : { ConsistentRead: true }),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of res.Items ?? []) out.push(strip(item) as unknown as HistoryRecord);
      start = res.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  return {
    table,
    async get(service) {
      const res = await documents.send(new GetCommand({ TableName: table, Key: { pk: servicePk(service), sk: STATE_SK }, ConsistentRead: true }));
      return strip(res.Item) as ServiceRecord | undefined;
    },
    async getFreeze() {
      const res = await documents.send(new GetCommand({ TableName: table, Key: { pk: GLOBAL_PK, sk: FREEZE_SK }, ConsistentRead: true }));
      return (strip(res.Item) as FreezeRecord | undefined) ?? { frozen: false, version: 0 };
    },
    async commit(record, expectedVersion, history) {
      if (record.version !== expectedVersion + 1) throw new Error(`commit: record.version must be ${expectedVersion + 1}, got ${record.version}`);
      // The chain continues from the head stored at the version this commit is conditional on,
      // whatever head the caller's copy of the record carries.
      const stored = await headAt({ pk: servicePk(record.service), sk: STATE_SK }, expectedVersion);
      const { linked, head } = chain(history, stored.head);
      // Every new history record's event is owed until markPublished: listed in the same transaction.
      const owed = [...Object.values(stored.outbox ?? {}), ...linked.map((h) => ({ seq: h.seq, sk: historySk(h.at, h.seq), at: h.at }))]
        .sort((a, b) => a.seq - b.seq)
        .slice(-OUTBOX_MAX_ENTRIES);
      const { historyHead: _stale, outbox: _copy, ...rest } = record;
      const item = { ...rest, ...(head ? { historyHead: head } : {}), ...(owed.length ? { outbox: Object.fromEntries(owed.map((e) => [outboxKey(e.seq), e])) } : {}) };
      try {
        await documents.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table,
                  Item: { pk: servicePk(record.service), sk: STATE_SK, ...item },
                  ConditionExpression: expectedVersion === 0 ? "attribute_not_exists(pk)" : "version = :v",
                  ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ":v": expectedVersion } }),
                },
              },
              ...linked.map((h) => ({
                Put: { TableName: table, Item: historyItem(h), ConditionExpression: "attribute_not_exists(pk)" },
              })),
            ],
          }),
        );
      } catch (err) {
        if (isConditionFailure(err)) throw new ConflictError(`state of ${record.service} changed since version ${expectedVersion} was read`);
        throw err;
      }
    },
    async markApplied(service, version) {
      return updateStateIf(service, {
        UpdateExpression: "SET applied = :t",
        ConditionExpression: "version = :v",
        ExpressionAttributeValues: { ":t": true, ":v": version },
      });
    },
    async markPublished(service, seqs) {
      if (seqs.length === 0) return;
      try {
        await documents.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: servicePk(service), sk: STATE_SK },
            UpdateExpression: `REMOVE ${seqs.map((_s, i) => `outbox.#k${i}`).join(", ")}`,
            ConditionExpression: "attribute_exists(outbox)",
            ExpressionAttributeNames: Object.fromEntries(seqs.map((seq, i) => [`#k${i}`, outboxKey(seq)])),
          }),
        );
      } catch (err) {
        // No outbox at all: nothing left to mark.
        if (!isConditionFailure(err)) throw err;
      }
    },
    async claimOutbox(service, seq, now, staleBefore) {
      return updateStateIf(service, {
        UpdateExpression: "SET outbox.#k.claimedAt = :now",
        ConditionExpression: "attribute_exists(outbox.#k) AND (attribute_not_exists(outbox.#k.claimedAt) OR outbox.#k.claimedAt < :stale)",
        ExpressionAttributeNames: { "#k": outboxKey(seq) },
        ExpressionAttributeValues: { ":now": now, ":stale": staleBefore },
      });
    },
    async historyRecord(service, sk) {
      const res = await documents.send(new GetCommand({ TableName: table, Key: { pk: historyPk(service), sk }, ConsistentRead: true }));
      return strip(res.Item) as HistoryRecord | undefined;
    },
    async setFreeze(frozen, by) {
      const current = await this.getFreeze();
      if (current.frozen === frozen) return undefined;
      const draft: HistoryRecord = {
        service: GLOBAL_PK,
        at: by.at,
        seq: current.version + 1,
        kind: "freeze",
        trigger: by.trigger,
        action: frozen ? "freeze" : "unfreeze",
        reason: by.reason,
        ...(by.actor ? { actor: by.actor } : {}),
        ...(by.details ?? {}),
        scope: "table",
      };
      const { linked, head } = chain([draft], current.historyHead);
      const history = linked[0]!;
      const next: FreezeRecord = { frozen, version: current.version + 1, reason: by.reason, since: by.at, ...(by.actor ? { actor: by.actor } : {}), ...(head ? { historyHead: head } : {}) };
      try {
        await documents.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table,
                  Item: { pk: GLOBAL_PK, sk: FREEZE_SK, ...next },
                  ConditionExpression: current.version === 0 ? "attribute_not_exists(pk)" : "version = :v",
                  ...(current.version === 0 ? {} : { ExpressionAttributeValues: { ":v": current.version } }),
                },
              },
              { Put: { TableName: table, Item: historyItem(history), ConditionExpression: "attribute_not_exists(pk)" } },
            ],
          }),
        );
      } catch (err) {
        // Someone else changed the flag at the same moment; re-check what it is now.
        if (isConditionFailure(err)) {
          const now = await this.getFreeze();
          if (now.frozen === frozen) return undefined;
          throw new ConflictError("the global freeze flag is changing concurrently; retry");
        }
        throw err;
      }
      return next;
    },
    history(service, opts) {
      return readHistory(historyPk(service), { newestFirst: true, limit: opts?.limit ?? 100 });
    },
    globalHistory(opts) {
      return readHistory(historyPk(GLOBAL_PK), { newestFirst: true, limit: opts?.limit ?? 100 });
    },
    async recordGlobal(h) {
      const current = await this.getFreeze();
      const { account: _a, ...stored } = current;
      const draft: HistoryRecord = { ...h, service: GLOBAL_PK, seq: current.version + 1 };
      const { linked, head } = chain([draft], current.historyHead);
      try {
        await documents.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table,
                  Item: { pk: GLOBAL_PK, sk: FREEZE_SK, ...stored, version: current.version + 1, ...(head ? { historyHead: head } : {}) },
                  ConditionExpression: current.version === 0 ? "attribute_not_exists(pk)" : "version = :v",
                  ...(current.version === 0 ? {} : { ExpressionAttributeValues: { ":v": current.version } }),
                },
              },
              { Put: { TableName: table, Item: historyItem(linked[0]!), ConditionExpression: "attribute_not_exists(pk)" } },
            ],
          }),
        );
      } catch (err) {
        if (isConditionFailure(err)) throw new ConflictError("the global history is being written concurrently; retry");
        throw err;
      }
    },
    async verifyHistory(service) {
      const [records, head] = await Promise.all([
        readHistory(historyPk(service), { newestFirst: false }),
        service === GLOBAL_PK ? this.getFreeze().then((f) => f.historyHead) : this.get(service).then((r) => r?.historyHead),
      ]);
      return verifyChain(records, head, { retentionDays: options.historyTtlDays ?? 90 });
    },
    async listServices() {
      const out: ServiceRecord[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const res = await documents.send(
          new ScanCommand({
            TableName: table,
            FilterExpression: "sk = :s AND begins_with(pk, :p)",
            ExpressionAttributeValues: { ":s": STATE_SK, ":p": "service#" },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of res.Items ?? []) out.push(strip(item) as unknown as ServiceRecord);
        start = res.LastEvaluatedKey;
      } while (start);
      return out.sort((a, b) => a.service.localeCompare(b.service));
    },
  };
}
