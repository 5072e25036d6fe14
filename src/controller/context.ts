/**
 * The controller's shared context: its dependencies, configuration and the small helpers every
 * part (converge, evaluate, commands, hooks, status) uses. Built once per controller; the parts
 * are plain functions over it, in the manner of argo-rollouts' `rolloutContext`.
 */
import { canaryRings, idleState } from "../engine/decide.js";
import type { Command, CommandErrorCode, Decision, Phase, RolloutState } from "../engine/types.js";
import type { RolloutPolicy, Weights } from "../policy/types.js";
import type { AlarmReader } from "../aws/alarms.js";
import type { SlotDeployer } from "../aws/ecs.js";
import { ConflictError } from "../aws/errors.js";
import type { EventPublisher } from "../aws/events.js";
import type { HookRunner } from "../aws/hooks.js";
import type { MetricsReader } from "../aws/metrics.js";
import type { AccountFreeze } from "../aws/account-freeze.js";
import type { FreezeRecord, PendingRelease, ServiceRecord, StateStore } from "../aws/state.js";
import type { ForwardRecord, RecentWrite } from "../aws/state.js";
import { forwardDifferences, otherSlot, type RingRouter, type RingSnapshot, type Slot, type SlotWeights, type TrafficRouter, type TrafficSnapshot } from "../aws/traffic.js";
import { checkRingRules, type ControllerConfig } from "./config.js";
import { owedEntries, publishOwed } from "./outbox.js";
import type { CommandPayload } from "./events.js";

/** The slice of Powertools' Logger the controller uses (so tests can pass their own). */
export interface ControllerLogger {
  // `any` so Powertools' Logger, whose attribute type is narrower than unknown, fits as it is.
  info(message: string, ...extra: any[]): void;
  warn(message: string, ...extra: any[]): void;
  error(message: string, ...extra: any[]): void;
  appendKeys(keys: Record<string, any>): void;
}

/** The slice of Powertools' Metrics the controller uses. */
export interface ControllerMetrics {
  addMetric(name: string, unit: "Count" | "Milliseconds", value: number): void;
  addMetadata(key: string, value: string): void;
}

export interface ControllerDeps {
  config: ControllerConfig;
  traffic: TrafficRouter;
  /** The audience rings' listener rules; required when the policy defines rings. */
  rings?: RingRouter;
  store: StateStore;
  alarms: AlarmReader;
  metrics: MetricsReader;
  publisher: EventPublisher;
  /** Required when config.ecs is set (controller-owned slot contents). */
  slots?: SlotDeployer;
  /** Invokes lifecycle hooks; without it, hooks the engine asks for are logged and stay pending. */
  hooks?: HookRunner;
  /** Epoch ms. @default Date.now */
  clock?: () => number;
  /** Rollout id for a new release. @default `<version>-<base36 time>-<random>` */
  newRolloutId?: (version: string, now: number) => string;
  logger?: ControllerLogger;
  emf?: ControllerMetrics;
  /** Attempts when a conditional write loses a race. @default 6 */
  maxAttempts?: number;
  /** The account-wide freeze every controller of the account reads; without it only the table's freeze applies. */
  accountFreeze?: AccountFreeze;
}

export interface EvaluationResult {
  ok: true;
  trigger: string;
  service: string;
  action: Decision["action"] | "pending";
  reason: string;
  transition: boolean;
  phase: Phase;
  rolloutId: string;
  weights: Weights;
  slotWeights: SlotWeights;
  /** True when an alarm event rolled back without reading metrics (the fast path). */
  fastPath?: boolean;
  /** Why an ALARM event was not trusted for the fast path (then the alarm's current state was read). */
  eventNotTrusted?: string;
  /** What was repaired on the listener or rule (late write, hand edit, extra target group ...). */
  repaired?: string[];
  drift?: { actual: Weights; recorded: Weights; elsewhere?: number };
  /** Rings routed to the canary after this invocation (present when the policy defines rings). */
  rings?: string[];
  attempts: number;
}

export interface StatusResponse {
  ok: true;
  command: "status";
  service: string;
  /**
   * Where this controller steers traffic (its rule or listener) and the load balancer it reads:
   * ProgressiveService compares them with its arguments at preview and refuses to re-point them
   * while a rollout is live.
   */
  trafficArn?: string;
  loadBalancerArn?: string;
  phase: Phase;
  /** Slot that serves the released (stable) version: after a promotion, the slot promoted into. */
  stableSlot: Slot;
  /** Slot a new release goes to. */
  idleSlot: Slot;
  state: RolloutState;
  /** Recorded engine weights {stable, canary} of the current rollout. */
  weights: Weights;
  /** Recorded weights per slot. */
  slotWeights: SlotWeights;
  /** Weights the listener has now (as listed; see `forward` for anything else it forwards to). */
  actualSlotWeights: SlotWeights;
  /** True when the forward action differs from the recorded intent in any way (`differences` says how). */
  drift: boolean;
  /** How the forward action differs from the one the state defines (empty when converged). */
  differences: string[];
  /** The forward action as read. */
  forward: ForwardRecord;
  frozen: boolean;
  freeze: FreezeRecord;
  killSwitch: boolean;
  pending?: PendingRelease;
  /** Record version (optimistic concurrency counter). */
  version: number;
  applied: boolean;
  /** Rings whose rule forwards to the canary slot now (read from the rules; present when the policy defines rings). */
  rings?: string[];
  /** Rings that should route to the canary according to the state. */
  expectedRings?: string[];
  /** Where each ring's rule forwards now: a slot, or "other" (split, or a third target group). */
  ringSlots?: Record<string, Slot | "other">;
  /** True when a ring rule is not where the state puts it (the next invocation corrects it). */
  ringDrift?: boolean;
  /** Why the ring rules could not be read, when they could not. */
  ringError?: string;
}

export interface CommandAccepted {
  ok: true;
  command: CommandPayload["command"];
  service: string;
  /** True when the command changed nothing (repeated, or already in that state). */
  noop: boolean;
  action: string;
  reason: string;
  phase: Phase;
  rolloutId: string;
  weights: Weights;
  slotWeights: SlotWeights;
  frozen?: boolean;
  killSwitch?: boolean;
  pending?: PendingRelease;
}

export interface CommandRejected {
  ok: false;
  command: CommandPayload["command"];
  service: string;
  code: CommandErrorCode | "pending" | "forbidden";
  message: string;
  /** For code "forbidden": the right the caller lacks (operate, release, approve, freeze), verified-identity or separation-of-duties. */
  missing?: string;
}

export type CommandResponse = StatusResponse | CommandAccepted | CommandRejected;
export type InvocationResult = EvaluationResult | CommandResponse;

const noopLogger: ControllerLogger = { info() {}, warn() {}, error() {}, appendKeys() {} };
const noopMetrics: ControllerMetrics = { addMetric() {}, addMetadata() {} };

/** Everything the controller's parts share; built once by `createContext`. */
export interface ControllerContext {
  deps: ControllerDeps;
  config: ControllerConfig;
  policy: RolloutPolicy;
  traffic: TrafficRouter;
  store: StateStore;
  publisher: EventPublisher;
  /** Present when the policy defines rings. */
  ringRouter: RingRouter | undefined;
  clock: () => number;
  log: ControllerLogger;
  emf: ControllerMetrics;
  maxAttempts: number;
  newRolloutId: (version: string, now: number) => string;
  /** Publishing of owed outbox events started by `load`; the controller awaits them before it answers. */
  owed: Set<Promise<void>>;
}

export function createContext(deps: ControllerDeps): ControllerContext {
  const { config } = deps;
  const policy = config.policy;
  if (config.ecs && !deps.slots) throw new Error("createController: config.ecs is set, so deps.slots (a SlotDeployer) is required");
  checkRingRules(policy, config.ringRules, config.ruleArn);
  if (config.ringRules && !deps.rings) throw new Error("createController: config.ringRules is set, so deps.rings (a RingRouter) is required");
  return {
    deps,
    config,
    policy,
    traffic: deps.traffic,
    store: deps.store,
    publisher: deps.publisher,
    ringRouter: deps.rings,
    clock: deps.clock ?? Date.now,
    log: deps.logger ?? noopLogger,
    emf: deps.emf ?? noopMetrics,
    maxAttempts: deps.maxAttempts ?? 6,
    newRolloutId: deps.newRolloutId ?? ((version: string, now: number) => `${version}-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`),
    owed: new Set(),
  };
}

/** Engine weights {stable, canary} on the two slots, given the slot that holds the stable version. */
export function toSlotWeights(w: Weights, baselineSlot: Slot): SlotWeights {
  return baselineSlot === "blue" ? { blue: w.stable, green: w.canary } : { blue: w.canary, green: w.stable };
}

export function fromSlotWeights(w: SlotWeights, baselineSlot: Slot): Weights {
  return baselineSlot === "blue" ? { stable: w.blue, canary: w.green } : { stable: w.green, canary: w.blue };
}

export function slotWeightsEqual(a: SlotWeights, b: SlotWeights): boolean {
  return a.blue === b.blue && a.green === b.green;
}

/** In flight: the rollout still owns traffic (including a promotion's bake at 100 %). */
export function isActive(state: RolloutState): boolean {
  return state.phase === "progressing" || state.phase === "paused" || (state.phase === "promoted" && state.finalizeAt !== undefined);
}

/**
 * The rollout governs differences on the listener by its onDrift policy only while progressing or
 * paused. In every other phase (idle, promoted, rolled back, aborted) the recorded weights are
 * simply re-applied: nothing may keep traffic away from the committed intent.
 */
export function ownsTraffic(state: RolloutState): boolean {
  return state.phase === "progressing" || state.phase === "paused";
}

/**
 * How long a committed weight write may still land (the Lambda's maximum run time is 15 minutes).
 * A listener found at weights written within this window by an older decision is a late write.
 */
export const FENCE_MS = 15 * 60_000;
/** Entries the write fence keeps. */
export const FENCE_ENTRIES = 8;
/**
 * A record marked applied=false younger than this is taken for a write still in flight (completed
 * without restarting the step); older, the write evidently failed, and completing it restarts the
 * step's hold so the step is served for its full hold.
 */
export const WRITE_GRACE_MS = 30_000;

/** The write fence of a record after it commits a write of `w` at `version`. */
export function fenceWith(record: Pick<ServiceRecord, "recentWrites">, w: SlotWeights, version: number, now: number): RecentWrite[] {
  const kept = (record.recentWrites ?? []).filter((x) => now - x.at < FENCE_MS);
  return [...kept, { blue: w.blue, green: w.green, version, at: now }].slice(-FENCE_ENTRIES);
}

/** How the listener or rule stands against the record's intent. */
export interface Observation {
  /** The slot weights the record defines. */
  desired: SlotWeights;
  /** Every difference of the forward action from the desired one (empty: converged). */
  differences: string[];
  /** Traffic goes elsewhere than the record says (weights or a third target group), not just the shape. */
  trafficDiffers: boolean;
  /** Engine weights {stable, canary} of the traffic, scaled to the policy total (a plain forward to stable reads all-stable). */
  actual: Weights;
  /** The listener holds a write of an older decision of this controller (within FENCE_MS), not a person's edit. */
  lateWrite?: RecentWrite;
}

export function observe(ctx: ControllerContext, record: ServiceRecord, snapshot: TrafficSnapshot, now: number): Observation {
  const desired = toSlotWeights(record.rollout.weights, record.baselineSlot);
  const differences = forwardDifferences(snapshot, desired, ctx.config.blueTargetGroupArn, ctx.config.greenTargetGroupArn, ctx.traffic.stickiness);
  const total = snapshot.weights.blue + snapshot.weights.green + snapshot.elsewhere;
  const T = ctx.policy.weightTotal;
  const scaled: SlotWeights = total > 0 ? { blue: Math.round((snapshot.weights.blue * T) / total), green: Math.round((snapshot.weights.green * T) / total) } : { blue: 0, green: 0 };
  const actual = fromSlotWeights(scaled, record.baselineSlot);
  const trafficDiffers = snapshot.elsewhere > 0 || !slotWeightsEqual(scaled, desired);
  const lkg = toSlotWeights(record.rollout.lastKnownGood, record.baselineSlot);
  // Only an exact two-slot action at weights we wrote counts as our late write; and never the
  // all-stable weights, which a person may set by hand as an emergency stop.
  const lateWrite =
    trafficDiffers && snapshot.elsewhere === 0 && snapshot.targets.length === 2 && !slotWeightsEqual(snapshot.weights, lkg)
      ? (record.recentWrites ?? []).find((x) => x.version < record.version && now - x.at < FENCE_MS && x.blue === snapshot.weights.blue && x.green === snapshot.weights.green)
      : undefined;
  return { desired, differences, trafficDiffers, actual, ...(lateWrite ? { lateWrite } : {}) };
}

/** A forward action as recorded in history. */
export function forwardRecordOf(snapshot: TrafficSnapshot): ForwardRecord {
  return {
    targets: snapshot.targets.map((t) => ({ targetGroupArn: t.targetGroupArn, ...(t.weight !== undefined ? { weight: t.weight } : {}) })),
    ...(snapshot.stickiness ? { stickiness: snapshot.stickiness } : {}),
  };
}

/** The forward action the controller writes for slot weights. */
export function desiredForwardRecord(ctx: ControllerContext, w: SlotWeights, seen: TrafficSnapshot): ForwardRecord {
  const st = ctx.traffic.stickiness ?? seen.stickiness;
  return {
    targets: [
      { targetGroupArn: ctx.config.blueTargetGroupArn, weight: w.blue },
      { targetGroupArn: ctx.config.greenTargetGroupArn, weight: w.green },
    ],
    ...(st ? { stickiness: st.enabled ? { enabled: true, ...(st.durationSeconds !== undefined ? { durationSeconds: st.durationSeconds } : {}) } : { enabled: false } } : {}),
  };
}

/** Account and region of this controller's resources (from the load balancer ARN). */
export function homeOf(ctx: ControllerContext): { account?: string; region?: string } {
  const m = /^arn:[^:]+:[^:]+:([^:]*):(\d{12}):/.exec(ctx.config.loadBalancerArn);
  return m ? { region: m[1]!, account: m[2]! } : {};
}

/** The slot serving the released version, which a new release must not touch. */
export function stableSlotOf(record: Pick<ServiceRecord, "rollout" | "baselineSlot">): Slot {
  return record.rollout.phase === "promoted" ? otherSlot(record.baselineSlot) : record.baselineSlot;
}

export function stableVersionOf(record: ServiceRecord): string {
  return record.rollout.phase === "promoted" ? record.rollout.release.canary : record.rollout.release.stable;
}

export const targetGroupOf = (ctx: ControllerContext, slot: Slot): string => (slot === "blue" ? ctx.config.blueTargetGroupArn : ctx.config.greenTargetGroupArn);
export const ecsServiceOf = (ctx: ControllerContext, slot: Slot): string => (slot === "blue" ? ctx.config.ecs!.blueService : ctx.config.ecs!.greenService);

/** What one invocation read of the world and of its own memory. */
export interface Loaded {
  record: ServiceRecord;
  freeze: FreezeRecord;
  snapshot: TrafficSnapshot;
  rings: RingSnapshot;
  /** Why the ring rules could not be read (then `rings` is empty). */
  ringError?: Error;
}

export function initialRecord(ctx: ControllerContext, now: number): ServiceRecord {
  return { service: ctx.config.service, version: 0, rollout: idleState(ctx.policy, "none", now), baselineSlot: "blue", killSwitch: false, applied: true, updatedAt: now };
}

export async function load(ctx: ControllerContext): Promise<Loaded> {
  const { store, config, traffic } = ctx;
  const [record, tableFreeze, account, snapshot, ringRead] = await Promise.all([store.get(config.service), store.getFreeze(), ctx.deps.accountFreeze?.get(), traffic.read(), readRings(ctx)]);
  // Events earlier invocations committed and never published go out beside this invocation's work.
  if (owedEntries(record, ctx.clock()).length > 0) {
    const p: Promise<void> = publishOwed(ctx, record).finally(() => ctx.owed.delete(p));
    ctx.owed.add(p);
  }
  // Either freeze holds this service: its table's, or the account-wide one every controller reads.
  const freeze: FreezeRecord = account ? { ...tableFreeze, frozen: tableFreeze.frozen || account.frozen, account } : tableFreeze;
  return { record: record ?? initialRecord(ctx, ctx.clock()), freeze, snapshot, ...ringRead };
}

/** A ring rule that cannot be read (deleted, denied) must not stop a rollback of the listener. */
export async function readRings(ctx: ControllerContext): Promise<{ rings: RingSnapshot; ringError?: Error }> {
  if (!ctx.ringRouter) return { rings: {} };
  try {
    return { rings: await ctx.ringRouter.read() };
  } catch (err) {
    ctx.log.error("reading the ring rules failed; rollbacks still move the listener, forward moves of rings wait", err as Error);
    return { rings: {}, ringError: err as Error };
  }
}

/**
 * Where each ring's rule must forward: the canary slot for the rings routed to the canary, the
 * slot serving the released version for the rest (after a promotion, the slot promoted into).
 */
export function ringTargets(ctx: ControllerContext, onCanary: readonly string[], record: Pick<ServiceRecord, "rollout" | "baselineSlot">): Record<string, Slot> {
  const stable = stableSlotOf(record);
  const canary = otherSlot(record.baselineSlot);
  return Object.fromEntries((ctx.ringRouter?.rings ?? []).map((r) => [r, onCanary.includes(r) ? canary : stable]));
}

export const ringsDiffering = (want: Record<string, Slot>, seen: RingSnapshot): string[] => Object.keys(want).filter((r) => seen[r]?.slot !== want[r]);

export async function pointRings(ctx: ControllerContext, rings: string[], want: Record<string, Slot>, seen: RingSnapshot): Promise<void> {
  await Promise.all(rings.map((r) => ctx.ringRouter!.point(r, want[r]!, seen[r])));
}

/** Tags logs and metrics with the rollout the invocation works on. */
export function tag(ctx: ControllerContext, record: ServiceRecord): void {
  const r = record.rollout;
  ctx.log.appendKeys({ rolloutId: r.rolloutId, releaseVersion: r.release.canary, stableVersion: r.release.stable, step: r.stepIndex, phase: r.phase });
  ctx.emf.addMetadata("rolloutId", r.rolloutId);
  ctx.emf.addMetadata("releaseVersion", r.release.canary);
  ctx.emf.addMetadata("step", String(r.stepIndex));
}

/** Waits for the owed events this controller started publishing (never throws). */
export async function settleOwed(ctx: ControllerContext): Promise<void> {
  while (ctx.owed.size > 0) await Promise.all([...ctx.owed]);
}

/** Retries `attempt` while it loses conditional writes. */
export async function withRetries<T>(ctx: ControllerContext, what: string, attempt: (n: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let n = 1; n <= ctx.maxAttempts; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      last = err;
      ctx.emf.addMetric("ConflictRetries", "Count", 1);
      ctx.log.info(`${what}: lost a conditional write, re-reading and re-deciding`, { attempt: n });
    }
  }
  throw new Error(`${what}: gave up after ${ctx.maxAttempts} attempts, each lost a conditional write to a concurrent invocation (${(last as Error).message})`);
}

export function noopDecision(ctx: ControllerContext, state: RolloutState, reason: string): Decision {
  // The rings of the state, not none: a kill-switch-off or a release record must leave them be.
  return { action: "noop", weights: state.weights, applyWeights: false, state, reason, transition: false, verdicts: [], rings: canaryRings(ctx.policy, state), hooks: [] };
}

export function startCommand(record: ServiceRecord, version: string, rolloutId: string): Command {
  return { type: "start", rolloutId, release: { stable: stableVersionOf(record), canary: version } };
}

export function resultOf(
  ctx: ControllerContext,
  trigger: string,
  record: ServiceRecord,
  decision: { action: EvaluationResult["action"]; reason: string; transition: boolean; drift?: Decision["drift"] },
  attempts: number,
  extra: Partial<EvaluationResult> = {},
): EvaluationResult {
  return {
    ok: true,
    trigger,
    service: ctx.config.service,
    action: decision.action,
    reason: decision.reason,
    transition: decision.transition,
    phase: record.rollout.phase,
    rolloutId: record.rollout.rolloutId,
    weights: record.rollout.weights,
    slotWeights: toSlotWeights(record.rollout.weights, record.baselineSlot),
    ...(decision.drift ? { drift: decision.drift } : {}),
    ...(ctx.ringRouter ? { rings: canaryRings(ctx.policy, record.rollout) } : {}),
    attempts,
    ...extra,
  };
}
