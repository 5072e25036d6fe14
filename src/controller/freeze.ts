/** The global freeze: set by an operator command or by an error-budget alarm. */
import type { ControllerContext } from "./context.js";

/** Sets or clears the global freeze; returns false when it was already so (no event then). */
export async function setFreeze(ctx: ControllerContext, frozen: boolean, by: { actor?: string; reason: string; trigger: string }): Promise<boolean> {
  const { config, store, publisher, log, emf } = ctx;
  const at = ctx.clock();
  const changed = await store.setFreeze(frozen, { ...by, at });
  if (!changed) return false;
  emf.addMetric(frozen ? "Freezes" : "Unfreezes", "Count", 1);
  log.info(frozen ? "global freeze on" : "global freeze off", { reason: by.reason, actor: by.actor });
  try {
    await publisher.publish({
      service: config.service,
      releaseVersion: "",
      stableVersion: "",
      rolloutId: "",
      step: -1,
      action: frozen ? "freeze" : "unfreeze",
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
  return true;
}
