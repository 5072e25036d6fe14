/**
 * The decision-event outbox. A commit lists its history records in the state item's `outbox`
 * in the same transaction (src/aws/state.ts); the committing invocation publishes right after and
 * removes the entry. If it dies in between, or publishing fails, the entry stays, and a later
 * invocation publishes the event from the history record and removes it: at least once, never
 * lost, and with the same `eventId` each time so consumers can drop a repeat.
 *
 * A later invocation leaves an entry alone while it is younger than OUTBOX_GRACE_MS (its committer
 * may still be publishing it), and claims an older one with a conditional write before publishing,
 * so two concurrent invocations do not both re-send it; a claim older than the grace is taken over.
 */
import type { DecisionEvent } from "../aws/events.js";
import { outboxKey, type HistoryRecord, type OutboxEntry, type ServiceRecord } from "../aws/state.js";
import type { ControllerContext } from "./context.js";

/** How long a committed event may wait for its own invocation to publish it (about the controller's timeout). */
export const OUTBOX_GRACE_MS = 60_000;
/** Owed events one invocation publishes at most (the rest wait for the next). */
export const OUTBOX_BATCH = 10;

/** The stable id of the event of a history record: the same on every (re)delivery. */
export const eventIdOf = (service: string, seq: number): string => `${service}/${seq}`;

/** The decision event of a history record (everything it says is in the record). */
export function decisionEventOf(h: HistoryRecord): DecisionEvent {
  return {
    eventId: eventIdOf(h.service, h.seq),
    service: h.service,
    releaseVersion: h.release?.canary ?? "",
    stableVersion: h.release?.stable ?? "",
    rolloutId: h.rolloutId ?? "",
    step: h.stepIndex ?? -1,
    action: h.action,
    phase: h.phase ?? "idle",
    weights: h.weights ?? { stable: 0, canary: 0 },
    slotWeights: h.slotWeights ?? { blue: 0, green: 0 },
    reason: h.reason,
    trigger: h.trigger,
    at: new Date(h.at).toISOString(),
    ...(h.actor ? { actor: h.actor } : {}),
  };
}

/**
 * Publishes the event of a history record this invocation just committed, then marks it
 * published. A failure is logged and counted and never undoes the transition: the outbox entry
 * stays and a later invocation sends it.
 */
export async function publishCommitted(ctx: ControllerContext, h: HistoryRecord): Promise<void> {
  try {
    await ctx.publisher.publish(decisionEventOf(h));
  } catch (err) {
    ctx.emf.addMetric("EventPublishFailures", "Count", 1);
    ctx.log.error("publishing the decision event failed; it stays in the outbox and a later invocation sends it", err as Error);
    return;
  }
  await markPublished(ctx, [h.seq]);
}

async function markPublished(ctx: ControllerContext, seqs: number[]): Promise<void> {
  try {
    await ctx.store.markPublished(ctx.config.service, seqs);
  } catch (err) {
    // The event went out; a later invocation may send it again (same eventId).
    ctx.log.warn("marking the event published failed; it may be sent again with the same eventId", { seqs, error: (err as Error).message });
  }
}

/** Outbox entries a crashed or failed invocation left behind (older than the grace). */
export function owedEntries(record: Pick<ServiceRecord, "outbox"> | undefined, now: number): OutboxEntry[] {
  return Object.values(record?.outbox ?? {})
    .filter((e) => now - e.at >= OUTBOX_GRACE_MS && (e.claimedAt === undefined || now - e.claimedAt >= OUTBOX_GRACE_MS))
    .sort((a, b) => a.seq - b.seq)
    .slice(0, OUTBOX_BATCH);
}

/** Publishes what earlier invocations committed and did not publish. Never throws. */
export async function publishOwed(ctx: ControllerContext, record: Pick<ServiceRecord, "outbox"> | undefined): Promise<void> {
  const now = ctx.clock();
  for (const entry of owedEntries(record, now)) {
    try {
      if (!(await ctx.store.claimOutbox(ctx.config.service, entry.seq, now, now - OUTBOX_GRACE_MS))) continue;
      const h = await ctx.store.historyRecord(ctx.config.service, entry.sk);
      if (h) {
        await ctx.publisher.publish(decisionEventOf(h));
        ctx.emf.addMetric("EventsRepublished", "Count", 1);
        ctx.log.info("published a decision event an earlier invocation committed but did not send", { eventId: eventIdOf(h.service, h.seq), action: h.action });
      } else {
        ctx.log.warn("an outbox entry's history record is gone (expired); dropping it", { seq: entry.seq, key: outboxKey(entry.seq) });
      }
      await markPublished(ctx, [entry.seq]);
    } catch (err) {
      ctx.emf.addMetric("EventPublishFailures", "Count", 1);
      ctx.log.error("publishing an owed decision event failed; a later invocation retries", err as Error);
      return;
    }
  }
}
