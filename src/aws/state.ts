/**
 * Controller state in one DynamoDB table (pk S, sk S, TTL attribute expiresAt):
 *
 *   pk = service#<name>  sk = state                       the rollout record, `version` for optimistic concurrency
 *   pk = service#<name>  sk = history#<iso time>#<seq>    append-only audit records, expiresAt = TTL
 *   pk = global          sk = freeze                      the global freeze flag (all services)
 *   pk = global          sk = history#<iso time>#<seq>    freeze / unfreeze audit records
 *
 * A state change and its history record are written in one transaction, conditional on the
 * version read: the winner of a race writes both, a loser writes neither and re-reads.
 */
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Phase, Release, RolloutState } from "../engine/types.js";
import type { Weights } from "../policy/types.js";
import { ConflictError } from "./errors.js";
import type { Slot, SlotWeights } from "./traffic.js";

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
  /**
   * Write fence: slot weights this controller committed to write in the last few minutes (newest
   * last). A listener found at one of them (and not at the recorded weights) holds a late write of
   * an older decision, which is repaired rather than taken for a person's edit.
   */
  recentWrites?: RecentWrite[];
  /** Ids of the last alarm events recorded as not acted on, so a redelivery is recorded once. */
  seenEvents?: string[];
}

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
  /** Sets the global freeze; false (and nothing written) when it already had that value. */
  setFreeze(frozen: boolean, by: { actor?: string; reason: string; at: number; trigger: string }): Promise<FreezeRecord | undefined>;
  /** Newest first. */
  history(service: string, options?: { limit?: number }): Promise<HistoryRecord[]>;
  globalHistory(options?: { limit?: number }): Promise<HistoryRecord[]>;
  /** Every service's record in the table (a scan: fine for an operator CLI, not for a hot path). */
  listServices(): Promise<ServiceRecord[]>;
}

export const servicePk = (service: string) => `service#${service}`;
export const GLOBAL_PK = "global";
export const STATE_SK = "state";
export const FREEZE_SK = "freeze";
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
    pk: h.service === GLOBAL_PK ? GLOBAL_PK : servicePk(h.service),
    sk: historySk(h.at, h.seq),
    expiresAt: Math.floor(h.at / 1000) + ttlSeconds,
    ...h,
  });

  async function queryHistory(pk: string, limit: number): Promise<HistoryRecord[]> {
    const out: HistoryRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await documents.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :h)",
          ExpressionAttributeValues: { ":pk": pk, ":h": "history#" },
          ScanIndexForward: false,
          Limit: Math.min(limit - out.length, 1000),
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
      try {
        await documents.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table,
                  Item: { pk: servicePk(record.service), sk: STATE_SK, ...record },
                  ConditionExpression: expectedVersion === 0 ? "attribute_not_exists(pk)" : "version = :v",
                  ...(expectedVersion === 0 ? {} : { ExpressionAttributeValues: { ":v": expectedVersion } }),
                },
              },
              ...history.map((h) => ({
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
      try {
        await documents.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: servicePk(service), sk: STATE_SK },
            UpdateExpression: "SET applied = :t",
            ConditionExpression: "version = :v",
            ExpressionAttributeValues: { ":t": true, ":v": version },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },
    async setFreeze(frozen, by) {
      const current = await this.getFreeze();
      if (current.frozen === frozen) return undefined;
      const next: FreezeRecord = { frozen, version: current.version + 1, reason: by.reason, since: by.at, ...(by.actor ? { actor: by.actor } : {}) };
      const history: HistoryRecord = {
        service: GLOBAL_PK,
        at: by.at,
        seq: next.version,
        kind: "freeze",
        trigger: by.trigger,
        action: frozen ? "freeze" : "unfreeze",
        reason: by.reason,
        ...(by.actor ? { actor: by.actor } : {}),
      };
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
      return queryHistory(servicePk(service), opts?.limit ?? 100);
    },
    globalHistory(opts) {
      return queryHistory(GLOBAL_PK, opts?.limit ?? 100);
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
