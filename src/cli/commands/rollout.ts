/** The commands that read or steer a service's rollout through the state table and the controller. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve as resolvePath } from "node:path";
import type { HistoryRecord } from "../../aws/state.js";
import { isActive } from "../../controller/controller.js";
import { TERMINAL_PHASES } from "../../engine/types.js";
import type { CommandContext } from "../context.js";
import { CliError, EXIT, UsageError } from "../errors.js";
import { fmtTime, table } from "../format.js";
import { hasControls, sanitizeOutput } from "../sanitize.js";
import { locate, requireSender, requireService, type AwsFlags, type LocateHooks } from "../locate.js";
import { reportFromHistory } from "../report/from-history.js";
import { renderReportSvg } from "../report/svg.js";
import { actionColour, gatherView, renderServiceList, renderStatus, renderWatchFrame, viewJson } from "../view.js";

export interface CommonFlags extends AwsFlags {
  json?: boolean;
}

export async function statusCommand(ctx: CommandContext, flags: CommonFlags, hooks: LocateHooks): Promise<void> {
  const located = await locate(flags, ctx.io, hooks);
  const now = ctx.io.now();
  if (!located.service) {
    const [records, freeze] = await Promise.all([located.store.listServices(), located.store.getFreeze()]);
    ctx.emit({ table: located.table, frozen: freeze.frozen, services: records.map((r) => ({ service: r.service, phase: r.rollout.phase, stepIndex: r.rollout.stepIndex, weights: r.rollout.weights, release: r.rollout.release, rolloutId: r.rollout.rolloutId, killSwitch: r.killSwitch, updatedAt: new Date(r.updatedAt).toISOString() })) });
    ctx.print(renderServiceList(records, freeze, now, ctx.style));
    return;
  }
  const view = await gatherView(located, located.service, now);
  ctx.emit(viewJson(view));
  ctx.print(renderStatus(view, ctx.style));
}

export interface WatchFlags extends CommonFlags {
  interval: number;
  untilDone?: boolean;
  count?: number;
}

/** Redraws in place on a terminal; appends a frame per change elsewhere (CI logs, pipes). */
export async function watchCommand(ctx: CommandContext, flags: WatchFlags, hooks: LocateHooks): Promise<void> {
  const located = await locate(flags, ctx.io, hooks);
  const service = requireService(located);
  const { io } = ctx;
  const redraw = Boolean(io.stdout.isTTY) && !ctx.json;
  let frames = 0;
  let previous = "";
  while (!io.signal?.aborted) {
    const view = await gatherView(located, service, io.now());
    frames++;
    if (ctx.json) io.stdout.write(sanitizeOutput(`${JSON.stringify(viewJson(view))}\n`, false));
    else {
      const frame = renderWatchFrame(view, ctx.style, { ...(io.stdout.columns ? { width: io.stdout.columns } : {}) });
      // The frame is sanitised (colours kept on a terminal); the clear-screen is ours, added after.
      if (redraw) io.stdout.write(`\u001b[H\u001b[2J${sanitizeOutput(`${frame}${ctx.style.dim("Ctrl-C to stop")}\n`, true)}`);
      else {
        // The first line carries the time; compare the rest so an unchanged rollout prints nothing.
        const body = frame.slice(frame.indexOf("\n") + 1).replace(/ for \S+ \(hold/, " (hold").replace(/\] [0-9hms]+\/[0-9hms]+/, "]");
        if (body !== previous) io.stdout.write(sanitizeOutput(`${frame}\n`, ctx.style.bold("x") !== "x"));
        previous = body;
      }
    }
    const done = view.record && TERMINAL_PHASES.has(view.record.rollout.phase) && !isActive(view.record.rollout);
    if ((flags.untilDone && done) || (flags.count !== undefined && frames >= flags.count)) break;
    await io.sleep(flags.interval, io.signal);
  }
}

export interface HistoryFlags extends CommonFlags {
  limit: number;
  rollout?: string;
  global?: boolean;
  verify?: boolean;
}

export async function historyCommand(ctx: CommandContext, flags: HistoryFlags, hooks: LocateHooks): Promise<void> {
  const located = await locate(flags, ctx.io, hooks);
  if (flags.verify) return verifyHistory(ctx, located, flags);
  let records: HistoryRecord[];
  if (flags.global) records = await located.store.globalHistory({ limit: flags.limit });
  else {
    const service = requireService(located);
    // Filtering by rollout reads further back, since other rollouts' records are interleaved.
    records = await located.store.history(service, { limit: flags.rollout ? Math.max(flags.limit, 1000) : flags.limit });
    if (flags.rollout) records = records.filter((r) => r.rolloutId === flags.rollout).slice(0, flags.limit);
  }
  ctx.emit({ service: flags.global ? "global" : located.service, records });
  if (ctx.json) return;
  if (records.length === 0) {
    ctx.print(flags.rollout ? `no history for rollout ${flags.rollout}` : "no history yet");
    return;
  }
  // Oldest first reads like a log.
  const rows = [...records].reverse().map((r) => [
    fmtTime(r.at),
    actionColour(r.action, ctx.style).trimEnd(),
    r.trigger,
    r.phase ?? "",
    r.stepIndex !== undefined && r.stepIndex >= 0 ? String(r.stepIndex + 1) : "-",
    r.weights ? `${r.weights.stable}/${r.weights.canary}` : "",
    // The actor is who AWS verified (or "unverified:<channel>"); a name the caller sent is labelled as claimed.
    (r.actor ?? "") + (r.claimedActor ? ` (claimed: ${r.claimedActor})` : ""),
    r.reason + (r.note ? ` (note: ${r.note})` : ""),
  ]);
  ctx.print(table(["time", "action", "trigger", "phase", "step", "weights", "actor", "reason"], rows));
}

/** `history --verify`: the whole chain of the partition checked; exit 1 at the first broken link. */
async function verifyHistory(ctx: CommandContext, located: Awaited<ReturnType<typeof locate>>, flags: HistoryFlags): Promise<void> {
  const target = flags.global ? "global" : requireService(located);
  const report = await located.store.verifyHistory(target);
  const what = flags.global ? `the global history of ${located.table}` : `the history of ${target}`;
  ctx.emit({ service: target, table: located.table, verify: report });
  if (!report.ok) {
    const b = report.firstBreak!;
    ctx.print(`${ctx.style.red("BROKEN")} ${what}: ${b.kind} at record #${b.n}\n  ${b.message}\n  ${report.checked} records read${report.head ? `; the state item's chain head is #${report.head.n}` : ""}`);
    throw new CliError(ctx.json ? `${what}: hash chain broken (${b.kind} at record #${b.n})` : "", EXIT.failure, report);
  }
  const range = report.first !== undefined ? `records #${report.first}..#${report.last}` : "no records";
  ctx.print(`${ctx.style.green("intact")} ${what}: ${report.checked} record${report.checked === 1 ? "" : "s"} (${range}) hash-chained${report.head ? `, ending at the head the state item records (#${report.head.n})` : ""}${report.notes.length ? `\n${report.notes.map((n) => `  note: ${n}`).join("\n")}` : ""}`);
}

export interface OperateFlags extends CommonFlags {
  /** freeze/unfreeze: the account-wide freeze. */
  account?: boolean;
  yes?: boolean;
  note?: string;
  actor?: string;
}

const VERBS: Record<string, string> = {
  promote: "promote the canary of",
  abort: "abort the rollout of",
  approve: "approve the current step of",
  pause: "pause the rollout of",
  resume: "resume the rollout of",
  kill: "turn the kill switch ON for (rolls an in-flight rollout back at once)",
  unkill: "turn the kill switch off for",
  freeze: "turn the GLOBAL freeze on (blocks every advance, promotion and start in this table) via",
  unfreeze: "turn the global freeze off via",
  start: "start a release of",
};


/** promote, abort, approve, pause, resume, kill, unkill, freeze, unfreeze, start. */
export async function operateCommand(ctx: CommandContext, command: string, flags: OperateFlags & { version?: string }, hooks: LocateHooks): Promise<void> {
  const located = await locate(flags, ctx.io, hooks);
  const service = requireService(located);
  const send = requireSender(located, command);
  await confirm(ctx, `${VERBS[command] ?? command} ${service}${await describeCurrent(located.store, service)}`, flags.yes);
  if (flags.note !== undefined && hasControls(flags.note)) throw new UsageError("--note must be plain text: it contains control characters (escape sequences, tabs, newlines or bidi overrides), which the audit trail refuses");
  if (flags.actor !== undefined && hasControls(flags.actor)) throw new UsageError("--actor must be plain text: it contains control characters");
  const payload: Record<string, unknown> = {
    command,
    // Who sent it is what AWS verifies from the signature; --actor is only a claim recorded beside it.
    ...(flags.actor ? { actor: flags.actor } : {}),
    ...(flags.account ? { scope: "account" } : {}),
    ...(flags.note ? { note: flags.note } : {}),
    ...(command === "start" ? { release: { version: flags.version } } : {}),
  };
  const res = await send(payload);
  ctx.emit(res);
  if (!res.ok) throw new CliError(`${command} ${service} was refused (${res.code}): ${res.message}`, EXIT.failure, res);
  if (ctx.json) return;
  if (res.command === "status") return;
  const total = res.weights.stable + res.weights.canary;
  ctx.print(
    `${res.noop ? ctx.style.dim("no change") : ctx.style.green(res.action)} ${service}: ${res.reason}\n` +
      `  phase ${res.phase}, weights stable ${res.weights.stable} / canary ${res.weights.canary}${total ? ` (${((100 * res.weights.canary) / total).toFixed(1)} % canary)` : ""}` +
      (res.frozen !== undefined ? `, freeze ${res.frozen ? "on" : "off"}` : "") +
      (res.killSwitch !== undefined ? `, kill switch ${res.killSwitch ? "on" : "off"}` : ""),
  );
}

async function describeCurrent(store: { get(service: string): Promise<{ rollout: { phase: string; release: { stable: string; canary: string }; stepIndex: number } } | undefined> }, service: string): Promise<string> {
  const record = await store.get(service).catch(() => undefined);
  if (!record) return "";
  const r = record.rollout;
  return ` (${r.release.stable} -> ${r.release.canary}, ${r.phase}${r.stepIndex >= 0 ? `, step ${r.stepIndex + 1}` : ""})`;
}

/** Asks unless --yes; refuses without a terminal, since nobody could answer. */
async function confirm(ctx: CommandContext, what: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!ctx.io.stdinIsTTY) throw new UsageError(`refusing to ${what} without confirmation: stdin is not a terminal; pass --yes to confirm in scripts`);
  const answer = (await ctx.io.prompt(`About to ${what}. Continue? [y/N] `)).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes") throw new CliError("cancelled; nothing was changed", EXIT.failure);
}

export interface ReportFlags extends CommonFlags {
  out?: string;
}

export async function reportCommand(ctx: CommandContext, rollout: string | undefined, flags: ReportFlags, hooks: LocateHooks): Promise<void> {
  const located = await locate(flags, ctx.io, hooks);
  const service = requireService(located);
  const { store, config } = located;
  let rolloutId = rollout;
  if (!rolloutId || rolloutId === "latest") {
    const record = await store.get(service);
    if (!record || record.rollout.phase === "idle") throw new CliError(`${service} has no rollout yet; nothing to report`);
    rolloutId = record.rollout.rolloutId;
  }
  const records = (await store.history(service, { limit: 5000 })).filter((r) => r.rolloutId === rolloutId);
  if (records.length === 0) {
    const recent = [...new Set((await store.history(service, { limit: 200 })).map((r) => r.rolloutId).filter(Boolean))].slice(0, 5);
    throw new CliError(`no history for rollout ${rolloutId} of ${service}${recent.length ? `; recent rollouts: ${recent.join(", ")}` : ""} (or pass "latest")`);
  }
  const data = await reportFromHistory({
    service,
    rolloutId,
    records,
    weightTotal: config?.policy.weightTotal ?? 999,
    now: ctx.io.now(),
    ...(config ? { config, cloudwatch: located.clients.cloudwatch } : {}),
  });
  const file = resolvePath(ctx.io.cwd, flags.out ?? `rollgate-report-${service}-${rolloutId}.svg`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, renderReportSvg(data));
  ctx.emit({ service, rolloutId, file, outcome: data.outcome, decisions: data.decisions.length, gates: data.gates.map((g) => g.name) });
  ctx.print(`wrote ${file}\n  ${data.title}: ${data.outcome}, ${data.decisions.length} decisions${data.gates.length ? `, gates ${data.gates.map((g) => g.name).join(", ")}` : " (no gate panels: pass the controller configuration to read CloudWatch)"}`);
}
