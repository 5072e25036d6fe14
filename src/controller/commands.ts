/**
 * Operator and pipeline commands (start, promote, abort, approve, pause, resume, kill, unkill,
 * freeze, unfreeze, status). Who sends one is the caller's principal: verified by AWS (function
 * URL) or not (direct invoke, in-process), and the policy's access section decides, against the
 * state just read, whether it may (src/auth/access.ts). A refused command changes nothing. The
 * engine's `applyCommand` decides what an allowed one does; `execute` carries it out.
 */
import { authorize, promoteSkipsApproval, unverifiedPrincipal, type AuthorizationRefusal, type Principal } from "../auth/access.js";
import { applyCommand } from "../engine/decide.js";
import { ConflictError } from "../aws/errors.js";
import type { PendingRelease, ServiceRecord } from "../aws/state.js";
import { otherSlot } from "../aws/traffic.js";
import {
  ecsServiceOf,
  isActive,
  load,
  noopDecision,
  stableSlotOf,
  startCommand,
  tag,
  toSlotWeights,
  withRetries,
  type CommandAccepted,
  type CommandRejected,
  type CommandResponse,
  type ControllerContext,
} from "./context.js";
import { execute, recheckAfterCommit } from "./converge.js";
import { InvalidPayloadError, parseCommand, type CommandPayload } from "./events.js";
import { setAccountFreeze, setFreeze } from "./freeze.js";
import { runHooks } from "./hooks.js";
import { status } from "./status.js";

/** Who sent a command and how: a verified principal (function URL), or the channel of an unverified one. */
export interface Caller {
  principal?: Principal;
  /** For unverified callers. @default "in-process" */
  via?: "direct-invoke" | "in-process";
  /** The controller's own account (function URL events carry it). */
  ownerAccountId?: string;
}

export async function command(ctx: ControllerContext, payload: unknown, caller: Caller = {}): Promise<CommandResponse> {
  const { config, policy, store, deps } = ctx;
  const cmd = parseCommand(payload);
  if (cmd.service !== undefined && cmd.service !== config.service) {
    throw new InvalidPayloadError([{ path: "service", message: `this controller runs "${config.service}", not "${cmd.service}"; send the command to that service's controller` }]);
  }
  if (cmd.command === "start" && cmd.release.taskDefinitionArn && !config.ecs) {
    throw new InvalidPayloadError([
      { path: "release.taskDefinitionArn", message: "this controller has no ECS slot services (ROLLGATE_ECS_* unset): deploy into the idle slot yourself and send the version only" },
    ]);
  }
  const label = `command:${cmd.command}`;
  // The actor is who AWS verified, or "unverified:<channel>"; a name the caller sent is kept beside it as claimed.
  const principal = caller.principal ?? unverifiedPrincipal(caller.via ?? "in-process", cmd.actor);
  const actor = principal.arn;
  const who = { actor, via: principal.via, ...(cmd.actor ? { claimedActor: cmd.actor } : {}), ...(cmd.note ? { note: cmd.note } : {}) };
  const pendingWho = { actor, ...(cmd.note ? { note: cmd.note } : {}) };
  const authorizeFor = (record?: ServiceRecord) =>
    authorize(policy.access, principal, cmd.command, {
      ...(caller.ownerAccountId ? { ownerAccountId: caller.ownerAccountId } : {}),
      ...(record?.startedBy ? { startedBy: record.startedBy } : {}),
      promoteSkipsApproval: record ? promoteSkipsApproval(policy, record.rollout) : false,
    });
  const refuse = (a: AuthorizationRefusal): CommandRejected => {
    // Logged and counted, not written: a refused command changes nothing, the table included.
    ctx.emf.addMetric("CommandsRefused", "Count", 1);
    ctx.log.warn("command refused", { command: cmd.command, principal: actor, via: principal.via, missing: a.missing, reason: a.message });
    return { ...rejected(ctx, cmd, "forbidden", a.message), missing: a.missing };
  };
  switch (cmd.command) {
    case "status":
      return status(ctx);
    case "freeze":
    case "unfreeze": {
      const allowed = authorizeFor();
      if (!allowed.ok) return refuse(allowed);
      const frozen = cmd.command === "freeze";
      const account = cmd.scope === "account";
      if (account && !deps.accountFreeze) {
        throw new InvalidPayloadError([{ path: "scope", message: "this controller has no account-wide freeze (ROLLGATE_ACCOUNT_FREEZE_PARAMETER is unset; the StepController component sets it)" }]);
      }
      const by = { actor, reason: cmd.note ?? (frozen ? "frozen by operator" : "unfrozen by operator"), trigger: label, details: { via: principal.via, ...(cmd.actor ? { claimedActor: cmd.actor } : {}) } };
      const changed = account ? await setAccountFreeze(ctx, frozen, by) : await setFreeze(ctx, frozen, by);
      const { record, freeze } = await load(ctx);
      const what = account ? "account-wide freeze" : "global freeze";
      return accepted(ctx, cmd, record, account ? `account-${cmd.command}` : cmd.command, changed ? `${what} ${frozen ? "on" : "off"}` : `${what} was already ${frozen ? "on" : "off"}`, !changed, { frozen: freeze.frozen });
    }
    default:
      break;
  }
  return withRetries(ctx, label, async () => {
    const { record, freeze, snapshot, rings, ringError } = await load(ctx);
    tag(ctx, record);
    // Judged against the state just read: the starter (separation of duties) and pending approvals.
    const allowed = authorizeFor(record);
    if (!allowed.ok) return refuse(allowed);
    const now = ctx.clock();
    const evidence = { freeze: freeze.frozen, killSwitch: record.killSwitch };
    const base = { record, snapshot, rings, ...(ringError ? { ringError } : {}), trigger: label, kind: "command" as const, ...who };
    switch (cmd.command) {
      case "start": {
        const version = cmd.release.version;
        const current = record.rollout.phase !== "idle" ? record.rollout.release.canary : undefined;
        if (version === current || (record.pending?.version === version && record.pending.status === "deploying")) {
          return accepted(ctx, cmd, record, "noop", `release ${version} is already the current or last rollout (${record.pending?.version === version ? "pending" : record.rollout.phase}); nothing to do`, true);
        }
        if (record.pending?.status === "deploying") return rejected(ctx, cmd, "pending", `release ${record.pending.version} is still deploying into the ${record.pending.slot} slot; abort it or wait`);
        const rolloutId = ctx.newRolloutId(version, now);
        const result = applyCommand(policy, record.rollout, startCommand(record, version, rolloutId), evidence, now);
        if (!result.ok) return rejected(ctx, cmd, result.code, result.message);
        const idle = otherSlot(stableSlotOf(record));
        if (cmd.release.taskDefinitionArn) {
          const pending: PendingRelease = {
            version,
            taskDefinitionArn: cmd.release.taskDefinitionArn,
            slot: idle,
            rolloutId,
            requestedAt: now,
            deployed: false,
            status: "deploying",
            ...pendingWho,
          };
          const reason = `release ${version} requested: deploying ${cmd.release.taskDefinitionArn} to the ${idle} slot; step 1 starts once its targets are healthy`;
          const { record: after } = await execute(ctx, { ...base, decision: noopDecision(ctx, record.rollout, reason), patch: { pending }, forceCommit: { action: "release-requested", reason }, kind: "release" });
          // Deploy after recording it, so a concurrent start of the same version cannot deploy twice.
          await deps.slots!.deploy({ service: ecsServiceOf(ctx, idle), taskDefinitionArn: pending.taskDefinitionArn, sizeLike: ecsServiceOf(ctx, otherSlot(idle)) });
          const deployed = { ...after, version: after.version + 1, pending: { ...pending, deployed: true }, updatedAt: ctx.clock() };
          try {
            await store.commit(deployed, after.version, []);
          } catch (err) {
            // A tick moved the record on; it redeploys (UpdateService is idempotent) if it has to.
            if (!(err instanceof ConflictError)) throw err;
          }
          return accepted(ctx, cmd, deployed, "release-requested", reason, false);
        }
        const { record: after } = await execute(ctx, { ...base, decision: result.decision, patch: { baselineSlot: otherSlot(idle), clearPending: true, startedBy: actor, approvedBy: [] } });
        await runHooks(ctx, after, result.decision.hooks, label);
        return accepted(ctx, cmd, after, result.decision.action, result.decision.reason, false);
      }
      case "kill":
      case "unkill": {
        const on = cmd.command === "kill";
        const flagChanged = record.killSwitch !== on;
        const decision = on
          ? (() => {
              const r = applyCommand(policy, record.rollout, { type: "kill", ...(cmd.note ? { note: cmd.note } : {}) }, evidence, now);
              return r.ok ? r.decision : noopDecision(ctx, record.rollout, r.message);
            })()
          : noopDecision(ctx, record.rollout, "kill switch off");
        if (!flagChanged && !decision.transition) {
          return accepted(ctx, cmd, record, "noop", `kill switch was already ${on ? "on" : "off"}`, true);
        }
        const reason = on ? `kill switch on${cmd.note ? ` (${cmd.note})` : ""}` : `kill switch off${cmd.note ? ` (${cmd.note})` : ""}`;
        const { record: executed } = await execute(ctx, { ...base, decision, patch: { killSwitch: on }, forceCommit: { action: on ? "kill-switch-on" : "kill-switch-off", reason } });
        const after = decision.action === "rollback" ? await recheckAfterCommit(ctx, executed, label) : executed;
        await runHooks(ctx, after, decision.hooks, label);
        return accepted(ctx, cmd, after, decision.transition ? decision.action : on ? "kill-switch-on" : "kill-switch-off", decision.transition ? decision.reason : reason, false);
      }
      case "abort":
      case "promote":
      case "approve":
      case "pause":
      case "resume": {
        if (cmd.command === "abort" && record.pending?.status === "deploying" && !isActive(record.rollout)) {
          const reason = `release ${record.pending.version} aborted by operator before its first step${cmd.note ? ` (${cmd.note})` : ""}`;
          const { record: after } = await execute(ctx, {
            ...base,
            decision: noopDecision(ctx, record.rollout, reason),
            patch: { pending: { ...record.pending, status: "failed", reason } },
            forceCommit: { action: "release-aborted", reason },
            kind: "release",
          });
          return accepted(ctx, cmd, after, "release-aborted", reason, false);
        }
        const result = applyCommand(policy, record.rollout, { type: cmd.command, ...(cmd.note ? { note: cmd.note } : {}) }, evidence, now);
        if (!result.ok) return rejected(ctx, cmd, result.code, result.message);
        // Approvals record who approved which step (a promote past an approval counts as one).
        const approves = cmd.command === "approve" || (cmd.command === "promote" && allowed.rights.includes("approve"));
        const patch = approves ? { approvedBy: [...(record.approvedBy ?? []), { step: record.rollout.stepIndex, by: actor, at: now }] } : undefined;
        const { record: executed, committed } = await execute(ctx, { ...base, decision: result.decision, ...(patch ? { patch } : {}) });
        // Fencing: a forward write of an older decision may land while an abort or promotion commits.
        const after = committed && (result.decision.action === "rollback" || result.decision.action === "promote") ? await recheckAfterCommit(ctx, executed, label) : executed;
        await runHooks(ctx, after, result.decision.hooks, label);
        return accepted(ctx, cmd, after, result.decision.action, result.decision.reason, !committed);
      }
    }
    throw new Error(`unhandled command ${cmd.command}`);
  });
}

function accepted(ctx: ControllerContext, cmd: CommandPayload, record: ServiceRecord, action: string, reason: string, noop: boolean, extra: Partial<CommandAccepted> = {}): CommandAccepted {
  return {
    ok: true,
    command: cmd.command,
    service: ctx.config.service,
    noop,
    action,
    reason,
    phase: record.rollout.phase,
    rolloutId: record.rollout.rolloutId,
    weights: record.rollout.weights,
    slotWeights: toSlotWeights(record.rollout.weights, record.baselineSlot),
    killSwitch: record.killSwitch,
    ...(record.pending ? { pending: record.pending } : {}),
    ...extra,
  };
}

function rejected(ctx: ControllerContext, cmd: CommandPayload, code: CommandRejected["code"], message: string): CommandRejected {
  return { ok: false, command: cmd.command, service: ctx.config.service, code, message };
}
