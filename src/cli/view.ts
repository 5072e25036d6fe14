/**
 * What `status` and `watch` show, gathered in one place and rendered as text. The "next action"
 * is the engine's own answer: the CLI gathers the same evidence a tick would (alarm states and
 * CloudWatch samples through the controller's adapters) and calls the pure `decide` without
 * applying anything, so what it prints is what the next tick will do unless the evidence changes.
 */
import type { GateVerdict } from "../analysis/types.js";
import { createAlarmReader } from "../aws/alarms.js";
import { createMetricsReader } from "../aws/metrics.js";
import type { FreezeRecord, HistoryRecord, ServiceRecord } from "../aws/state.js";
import { otherSlot, type Slot, type SlotWeights } from "../aws/traffic.js";
import type { ControllerConfig } from "../controller/config.js";
import { isActive, toSlotWeights } from "../controller/controller.js";
import { decide } from "../engine/decide.js";
import type { Action, Evidence } from "../engine/types.js";
import { formatDuration } from "../policy/duration.js";
import { isComparisonGate, type AlarmGate, type ComparisonGate, type RolloutPolicy } from "../policy/types.js";
import { bar, fmtAgo, fmtPercent, fmtTime, table, type Style } from "./format.js";
import type { Located } from "./locate.js";

export interface ServiceView {
  service: string;
  now: number;
  record?: ServiceRecord;
  freeze: FreezeRecord;
  /** Listener weights now (only with a configuration). */
  actualSlotWeights?: SlotWeights;
  drift?: boolean;
  /** Audience rings as the listener rules have them now (only with a configuration whose policy defines rings). */
  rings?: RingView;
  policy?: RolloutPolicy;
  /** What the next tick would do (only with a configuration and an active rollout). */
  next?: { action: Action; reason: string; verdicts: GateVerdict[] };
  /** Why there is no `next`, when there is none. */
  nextUnavailable?: string;
  history: HistoryRecord[];
}

/** Where the rings' listener rules forward, against where the rollout's state puts them. */
export interface RingView {
  /** Rings whose rule forwards to the canary slot now. */
  current: string[];
  /** Rings the state puts on the canary. */
  expected: string[];
  /** Where each ring's rule forwards now: a slot, or "other" (split, or a third target group). */
  slots: Record<string, Slot | "other">;
  /** A rule is not where the state puts it (the next invocation moves it back). */
  drift: boolean;
  /** Why the rules could not be read, when they could not. */
  error?: string;
}

export async function gatherView(located: Located, service: string, now: number, options: { historyLimit?: number; evaluate?: boolean } = {}): Promise<ServiceView> {
  const { store, config } = located;
  const live = config && located.controller ? located.controller.status() : Promise.resolve(undefined);
  const [record, freeze, history, status] = await Promise.all([
    store.get(service),
    store.getFreeze(),
    store.history(service, { limit: options.historyLimit ?? 8 }),
    live.catch(() => undefined),
  ]);
  const actualSlotWeights = status?.actualSlotWeights;
  const view: ServiceView = { service, now, freeze, history, ...(record ? { record } : {}), ...(config ? { policy: config.policy } : {}) };
  if (record && status?.expectedRings) {
    view.rings = {
      current: status.rings ?? [],
      expected: status.expectedRings,
      slots: status.ringSlots ?? {},
      drift: status.ringDrift ?? false,
      ...(status.ringError ? { error: status.ringError } : {}),
    };
  }
  if (record && actualSlotWeights) {
    const recorded = toSlotWeights(record.rollout.weights, record.baselineSlot);
    view.actualSlotWeights = actualSlotWeights;
    view.drift = recorded.blue !== actualSlotWeights.blue || recorded.green !== actualSlotWeights.green;
  }
  if (!record || !isActive(record.rollout)) return view;
  if (!config) {
    view.nextUnavailable = "gate verdicts need the controller configuration (--config, --function or ROLLGATE_* variables)";
    return view;
  }
  if (options.evaluate === false) return view;
  const evidence = await gatherEvidence(located, config, record, now);
  const decision = decide(config.policy, record.rollout, { ...evidence, freeze: freeze.frozen, killSwitch: record.killSwitch }, now);
  view.next = { action: decision.action, reason: decision.reason, verdicts: decision.verdicts };
  return view;
}

/** The evidence a tick gathers for the current step's gates (the controller's own adapters). */
async function gatherEvidence(located: Located, config: ControllerConfig, record: ServiceRecord, now: number): Promise<Pick<Evidence, "alarms" | "gates">> {
  const policy = config.policy;
  const state = record.rollout;
  const step = policy.steps[state.stepIndex];
  const gates = state.phase === "promoted" ? policy.gates.filter((g): g is AlarmGate => g.type === "alarm") : step ? policy.gates.filter((g) => step.gates.includes(g.name)) : [];
  const alarmNames = gates.flatMap((g) => (g.type === "alarm" ? g.alarms : []));
  const comparisons = gates.filter(isComparisonGate) as ComparisonGate[];
  const tg = (slot: "blue" | "green") => (slot === "blue" ? config.blueTargetGroupArn : config.greenTargetGroupArn);
  const [alarms, samples] = await Promise.all([
    alarmNames.length ? createAlarmReader(located.clients.cloudwatch).states(alarmNames) : Promise.resolve({}),
    comparisons.length
      ? createMetricsReader(located.clients.cloudwatch).gather({
          gates: comparisons,
          loadBalancerArn: config.loadBalancerArn,
          canary: { targetGroupArn: tg(otherSlot(record.baselineSlot)), version: state.release.canary },
          baseline: { targetGroupArn: tg(record.baselineSlot), version: state.release.stable },
          start: state.startedAt,
          end: now,
        })
      : Promise.resolve({}),
  ]);
  return { alarms, gates: samples };
}

/** The JSON shape of a view (stable for scripts). */
export function viewJson(view: ServiceView) {
  const r = view.record;
  return {
    service: view.service,
    at: new Date(view.now).toISOString(),
    exists: Boolean(r),
    ...(r
      ? {
          rolloutId: r.rollout.rolloutId,
          phase: r.rollout.phase,
          release: r.rollout.release,
          stepIndex: r.rollout.stepIndex,
          steps: view.policy?.steps.length ?? null,
          timeInStepMs: isActive(r.rollout) ? view.now - r.rollout.stepStartedAt : null,
          weights: r.rollout.weights,
          slotWeights: toSlotWeights(r.rollout.weights, r.baselineSlot),
          stableSlot: r.baselineSlot,
          killSwitch: r.killSwitch,
          pause: r.rollout.pause ?? null,
          outcome: r.rollout.outcome ?? null,
          // Lifecycle hook executions without an answer yet (hooks run asynchronously).
          runningHooks: Object.values(r.rollout.hookRuns ?? {})
            .filter((run) => r.rollout.hookResults?.[run.key]?.executionId !== run.executionId)
            .map((run) => ({ name: run.name, point: run.point, stepIndex: run.stepIndex, attempt: run.attempt, executionId: run.executionId, invokes: run.invokes, accepted: run.invokedAt !== undefined, deadline: run.deadline !== undefined ? new Date(run.deadline).toISOString() : null })),
        }
      : {}),
    frozen: view.freeze.frozen,
    ...(view.actualSlotWeights ? { actualSlotWeights: view.actualSlotWeights, drift: view.drift } : {}),
    ...(view.rings ? { rings: view.rings } : {}),
    next: view.next ?? null,
    ...(view.nextUnavailable ? { nextUnavailable: view.nextUnavailable } : {}),
    history: view.history,
  };
}

const VERDICT_STYLE = { pass: "green", hold: "yellow", rollback: "red" } as const;
const PHASE_STYLE: Record<string, keyof Style> = { progressing: "cyan", paused: "yellow", promoted: "green", "rolled-back": "red", aborted: "red", idle: "dim" };

/** The ladder as text: done steps, the current one in brackets, the rest plain. */
export function ladder(view: ServiceView, style: Style): string {
  const r = view.record;
  const policy = view.policy;
  if (!r || !policy) return "";
  const cells = policy.steps.map((s) => (s.ring ? `ring ${s.ring}` : `${s.percent} %`));
  cells.push("100 %");
  const phase = r.rollout.phase;
  const current = phase === "promoted" ? policy.steps.length : r.rollout.stepIndex;
  return cells
    .map((c, i) => {
      if (i < current) return style.green(`${c} ok`);
      if (i === current) {
        if (phase === "rolled-back" || phase === "aborted") return style.red(`[${c} x]`);
        return style.bold(style.cyan(`[${c}]`));
      }
      return style.dim(c);
    })
    .join(" > ");
}

function phaseLine(view: ServiceView, style: Style): string {
  const r = view.record!;
  const s = r.rollout;
  const policy = view.policy;
  const steps = policy?.steps.length;
  const step = policy?.steps[s.stepIndex];
  const colour = style[PHASE_STYLE[s.phase] ?? "bold"];
  let text = colour(s.phase);
  if (isActive(s) && s.phase !== "promoted") {
    text += `, step ${s.stepIndex + 1}${steps ? `/${steps}` : ""}${step ? ` (${step.ring ? `ring ${step.ring}` : `${step.percent} %`})` : ""}`;
    text += ` for ${formatDuration(Math.max(0, view.now - s.stepStartedAt))}`;
    if (step) text += ` (hold ${formatDuration(step.holdMs)}, max ${formatDuration(step.maxHoldMs)})`;
  }
  if (s.pause) text += style.yellow(` paused by ${s.pause.reason}${s.pause.note ? `: ${s.pause.note}` : ""}`);
  if (s.outcome) text += ` ${style.dim(`- ${s.outcome}`)}`;
  return text;
}

function weightsLine(view: ServiceView, style: Style): string {
  const r = view.record!;
  const total = r.rollout.weights.stable + r.rollout.weights.canary;
  const slots = toSlotWeights(r.rollout.weights, r.baselineSlot);
  let text = `stable ${r.rollout.weights.stable} / canary ${r.rollout.weights.canary} (canary ${fmtPercent(r.rollout.weights.canary, total)}; ${r.baselineSlot} ${slots[r.baselineSlot]}, ${otherSlot(r.baselineSlot)} ${slots[otherSlot(r.baselineSlot)]})`;
  if (view.actualSlotWeights) {
    text += view.drift
      ? style.red(`  DRIFT: listener has blue ${view.actualSlotWeights.blue}, green ${view.actualSlotWeights.green}`)
      : style.dim("  (listener agrees)");
  }
  return text;
}

/** "internal canary, early stable" in the policy's ring order, then drift or a read error. */
function ringsLine(view: ServiceView, style: Style): string | undefined {
  const rings = view.rings;
  const r = view.record;
  if (!rings || !r) return undefined;
  if (rings.error) return style.red(`ring rules could not be read: ${rings.error}`);
  const canarySlot = otherSlot(r.baselineSlot);
  const names = view.policy?.rings.map((x) => x.name) ?? Object.keys(rings.slots);
  const where = (ring: string) => {
    const slot = rings.slots[ring];
    if (slot === undefined) return style.dim("unknown");
    if (slot === "other") return style.yellow("split or elsewhere");
    return slot === canarySlot ? style.cyan("canary") : "stable";
  };
  let text = names.map((ring) => `${ring} ${where(ring)}`).join(", ");
  if (rings.drift) {
    const expected = rings.expected.length ? rings.expected.join(", ") : "none";
    text += style.red(`  DRIFT: the state puts ${expected} on the canary; the next invocation moves the rules back`);
  }
  return text;
}

function verdictLines(view: ServiceView, style: Style): string[] {
  if (!view.next) return view.nextUnavailable ? [style.dim(view.nextUnavailable)] : [];
  if (view.next.verdicts.length === 0) return [style.dim("no gates checked in this phase")];
  return view.next.verdicts.map((v) => `${style[VERDICT_STYLE[v.verdict]](v.verdict.padEnd(8))} ${v.reason}`);
}

/** Lifecycle hooks running now (asynchronous executions without an answer), one line each. */
export function hookLines(view: ServiceView, style: Style): string[] {
  const s = view.record?.rollout;
  if (!s) return [];
  return Object.values(s.hookRuns ?? {})
    .filter((run) => s.hookResults?.[run.key]?.executionId !== run.executionId)
    .map((run) => {
      const what = `${run.name} (${run.point}, step ${run.stepIndex + 1}, attempt ${run.attempt})`;
      if (run.deadline === undefined) return `${what} ${style.yellow("sent, not accepted by Lambda yet")} (${run.invokes} send${run.invokes === 1 ? "" : "s"}${run.lastError ? `; last: ${run.lastError}` : ""})`;
      const left = run.deadline - view.now;
      return `${what} running since ${fmtTime(run.invokedAt!)}, answer due ${fmtTime(run.deadline)} ${style.dim(left > 0 ? `(${formatDuration(left)} left)` : "(overdue: the next invocation records the timeout)")}`;
    });
}

/** `rollgate status --service x`. */
export function renderStatus(view: ServiceView, style: Style): string {
  const r = view.record;
  if (!r) return `${style.bold(view.service)}: no rollout recorded in this table yet (the controller writes one at the first release)\n`;
  const s = r.rollout;
  const lines: Array<[string, string]> = [
    ["release", `${s.release.stable || "(none)"} -> ${s.release.canary}  ${style.dim(`(rollout ${s.rolloutId}, started ${fmtTime(s.startedAt)})`)}`],
    ["phase", phaseLine(view, style)],
    ["weights", weightsLine(view, style)],
  ];
  const rings = ringsLine(view, style);
  if (rings) lines.push(["rings", rings]);
  const lad = ladder(view, style);
  if (lad) lines.push(["ladder", lad]);
  const verdicts = verdictLines(view, style);
  verdicts.forEach((v, i) => lines.push([i === 0 ? "gates" : "", v]));
  hookLines(view, style).forEach((h, i) => lines.push([i === 0 ? "hooks" : "", h]));
  if (view.next) lines.push(["next", `${style.bold(view.next.action)}: ${view.next.reason}`]);
  lines.push(["switches", `freeze ${view.freeze.frozen ? style.red("ON") : "off"}, kill switch ${r.killSwitch ? style.red("ON") : "off"}`]);
  const last = view.history[0];
  if (last) lines.push(["last", `${fmtAgo(view.now - last.at)}: ${last.action} - ${last.reason}`]);
  return `${style.bold(view.service)}\n${lines.map(([k, v]) => `  ${k.padEnd(9)} ${v}`).join("\n")}\n`;
}

/** `rollgate status` without --service: one line per service in the table. */
export function renderServiceList(records: ServiceRecord[], freeze: FreezeRecord, now: number, style: Style): string {
  if (records.length === 0) return "no services in this table yet\n";
  const rows = records.map((r) => {
    const s = r.rollout;
    const total = s.weights.stable + s.weights.canary;
    return [
      r.service,
      style[PHASE_STYLE[s.phase] ?? "bold"](s.phase),
      isActive(s) && s.phase !== "promoted" ? String(s.stepIndex + 1) : "-",
      fmtPercent(s.weights.canary, total),
      `${s.release.stable || "(none)"} -> ${s.release.canary}`,
      r.killSwitch ? style.red("on") : "off",
      fmtAgo(now - r.updatedAt),
    ];
  });
  return `${table(["service", "phase", "step", "canary", "release", "kill", "updated"], rows)}${freeze.frozen ? style.red(`global freeze ON since ${fmtTime(freeze.since ?? 0)}: ${freeze.reason ?? ""}\n`) : ""}`;
}

/** One frame of `rollgate watch`. */
export function renderWatchFrame(view: ServiceView, style: Style, options: { width?: number; title?: string } = {}): string {
  const columns = options.width ?? 100;
  const width = Math.max(60, Math.min(columns, 140));
  const out: string[] = [];
  out.push(`${style.bold(options.title ?? `rollgate watch ${view.service}`)}  ${style.dim(fmtTime(view.now))}`);
  const r = view.record;
  if (!r) {
    out.push("  no rollout recorded yet; waiting for the first release");
    return out.join("\n") + "\n";
  }
  const s = r.rollout;
  const total = s.weights.stable + s.weights.canary;
  out.push(`  ${s.release.stable || "(none)"} -> ${style.bold(s.release.canary)}  ${phaseLine(view, style)}`);
  const barWidth = Math.max(20, width - 30);
  out.push(`  canary  [${style.cyan(bar(total ? s.weights.canary / total : 0, barWidth))}] ${fmtPercent(s.weights.canary, total)}`);
  const step = view.policy?.steps[s.stepIndex];
  if (step && isActive(s) && s.phase !== "promoted") {
    const held = Math.max(0, view.now - s.stepStartedAt);
    out.push(`  hold    [${bar(held / step.holdMs, barWidth)}] ${formatDuration(held)}/${formatDuration(step.holdMs)}`);
  }
  const rings = ringsLine(view, style);
  if (rings) out.push(`  rings   ${rings}`);
  const lad = ladder(view, style);
  if (lad) out.push(`  ladder  ${lad}`);
  for (const [i, v] of verdictLines(view, style).entries()) out.push(`  ${i === 0 ? "gates " : "      "}  ${v}`);
  for (const [i, h] of hookLines(view, style).entries()) out.push(`  ${i === 0 ? "hooks " : "      "}  ${h}`);
  if (view.next) out.push(`  next    ${style.bold(view.next.action)}: ${view.next.reason}`);
  if (view.freeze.frozen || r.killSwitch) out.push(`  ${style.red(`${view.freeze.frozen ? "FREEZE ON " : ""}${r.killSwitch ? "KILL SWITCH ON" : ""}`.trim())}`);
  if (view.history.length) {
    out.push("  last decisions");
    for (const h of view.history.slice(0, 5)) {
      out.push(`    ${style.dim(fmtTime(h.at).slice(11, 19))} ${actionColour(h.action, style)} ${truncate(h.reason, Math.max(40, columns - 32))}`);
    }
  }
  return out.join("\n") + "\n";
}

export function actionColour(action: string, style: Style): string {
  const padded = action.padEnd(16);
  if (/rollback|kill|abort/.test(action)) return style.red(padded);
  if (/promote|finalize|approve|resume/.test(action)) return style.green(padded);
  if (/pause|freeze|hold|drift/.test(action)) return style.yellow(padded);
  return style.cyan(padded);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(1, n - 1))}…`;
}
