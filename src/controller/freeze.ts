/**
 * The freezes: this table's (every service whose controller uses the table) and the account-wide
 * one (an SSM parameter every controller of the account and region reads). Set by an operator
 * command or by an error-budget alarm.
 */
import type { HistoryRecord } from "../aws/state.js";
import type { ControllerContext } from "./context.js";

type FreezeBy = { actor?: string; reason: string; trigger: string; details?: Pick<HistoryRecord, "via" | "claimedActor" | "note"> };

/** Sets or clears the account-wide freeze and records it in this table's global history; false when it was already so. */
export async function setAccountFreeze(ctx: ControllerContext, frozen: boolean, by: FreezeBy): Promise<boolean> {
  const account = ctx.deps.accountFreeze;
  if (!account) throw new Error("setAccountFreeze: this controller has no account-wide freeze parameter (ROLLGATE_ACCOUNT_FREEZE_PARAMETER)");
  const at = ctx.clock();
  const changed = await account.set(frozen, { ...(by.actor ? { actor: by.actor } : {}), reason: by.reason, at, service: ctx.config.service });
  if (!changed) return false;
  // The parameter changed first: a failure to record it must not hide that it did.
  await ctx.store.recordGlobal({
    at,
    kind: "freeze",
    trigger: by.trigger,
    action: frozen ? "account-freeze" : "account-unfreeze",
    reason: `${by.reason} (account-wide: ${account.parameter})`,
    scope: "account",
    ...(by.actor ? { actor: by.actor } : {}),
    ...(by.details ?? {}),
  });
  await announce(ctx, frozen, by, at, "account");
  return true;
}

/** Sets or clears the global freeze; returns false when it was already so (no event then). */
export async function setFreeze(ctx: ControllerContext, frozen: boolean, by: FreezeBy): Promise<boolean> {
  const { store } = ctx;
  const at = ctx.clock();
  const changed = await store.setFreeze(frozen, { ...by, at });
  if (!changed) return false;
  await announce(ctx, frozen, by, at, "table");
  return true;
}

async function announce(ctx: ControllerContext, frozen: boolean, by: FreezeBy, at: number, scope: "table" | "account"): Promise<void> {
  const { config, publisher, log, emf } = ctx;
  emf.addMetric(frozen ? "Freezes" : "Unfreezes", "Count", 1);
  log.info(`${scope === "account" ? "account-wide" : "global"} freeze ${frozen ? "on" : "off"}`, { reason: by.reason, actor: by.actor });
  try {
    await publisher.publish({
      service: config.service,
      releaseVersion: "",
      stableVersion: "",
      rolloutId: "",
      step: -1,
      action: scope === "account" ? (frozen ? "account-freeze" : "account-unfreeze") : frozen ? "freeze" : "unfreeze",
      phase: frozen ? "frozen" : "unfrozen",
      weights: { stable: 0, canary: 0 },
      slotWeights: { blue: 0, green: 0 },
      reason: by.reason,
      trigger: by.trigger,
      at: new Date(at).toISOString(),
      ...(by.actor ? { actor: by.actor } : {}),
    });
  } catch (err) {
    emf.addMetric("EventPublishFailures", "Count", 1);
    log.error("publishing the freeze event failed; the history record stands", err as Error);
  }
}
