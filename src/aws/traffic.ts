/**
 * Traffic router: reads and writes the forward action of an ALB listener's default actions or of a
 * listener rule. A write is always exactly the two slot target groups with explicit weights (and
 * the configured stickiness); a third target group, a plain or unweighted forward is reported by
 * `forwardDifferences` and replaced, never kept. Other actions of the list (authenticate-oidc ...)
 * are written back as they were read. Every write is checked against ELB's limits first.
 */
import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { checkArn, LISTENER_ARN, RULE_ARN, TARGET_GROUP_ARN } from "./arn.js";
import { TrafficShapeError, ValidationError } from "./errors.js";

export type Slot = "blue" | "green";
export const SLOTS: readonly Slot[] = ["blue", "green"];
export function otherSlot(slot: Slot): Slot {
  return slot === "blue" ? "green" : "blue";
}

/** ALB weights of the two slot target groups. */
export interface SlotWeights {
  blue: number;
  green: number;
}

/** The stickiness the forward action must carry (ELB's TargetGroupStickinessConfig). */
export interface Stickiness {
  enabled: boolean;
  /** 1..604800 seconds; required by ELB when enabled. */
  durationSeconds: number;
}

/** One target group of the forward action as read. */
export interface ForwardTarget {
  targetGroupArn: string;
  /** The weight as listed; undefined when the entry has none. */
  weight: number | undefined;
}

/** What a read saw: the weights, the forward action's shape, and the full action list around it. */
export interface TrafficSnapshot {
  /** Weights of the two slot target groups as listed (a plain forward to one slot reads 1/0; an unweighted entry reads 1). */
  weights: SlotWeights;
  actions: Action[];
  /** Every target group of the forward action, in order. */
  targets: ForwardTarget[];
  /** Weight (as listed) on target groups other than the two slots. */
  elsewhere: number;
  /** Stickiness of the forward action as read (undefined: none configured). */
  stickiness?: { enabled: boolean; durationSeconds?: number };
}

/** One small interface per router, as in Argo Rollouts' traffic routers. */
export interface TrafficRouter {
  /** `listener <arn>` or `rule <arn>`, for logs. */
  readonly target: string;
  /** The stickiness every write sets; undefined: writes keep the stickiness they read. */
  readonly stickiness?: Stickiness;
  read(): Promise<TrafficSnapshot>;
  /**
   * Writes the forward action as exactly the two slot target groups with these weights (and the
   * router's stickiness), keeping every other action of the list. `basedOn` (a snapshot read in
   * the same invocation) saves the read that the write otherwise needs.
   */
  setWeights(weights: SlotWeights, basedOn?: TrafficSnapshot): Promise<void>;
}

export interface TrafficRouterOptions {
  /** Listener default action mode (exactly one of listenerArn or ruleArn). */
  listenerArn?: string;
  /** Listener rule mode. */
  ruleArn?: string;
  blueTargetGroupArn: string;
  greenTargetGroupArn: string;
  /** Stickiness the controller converges the forward action to. @default undefined (kept as read) */
  stickiness?: Stickiness;
}

/** ELB's limits on a forward action: at most 5 target groups, each weighted 0..999. */
export const MAX_FORWARD_TARGET_GROUPS = 5;
export const MAX_WEIGHT = 999;
export const MAX_STICKINESS_SECONDS = 604_800;

/** Throws ValidationError unless each weight is an integer 0..999 and at least one is above 0. */
export function validateWeights(weights: SlotWeights): void {
  for (const slot of SLOTS) {
    const w = weights[slot];
    if (!Number.isInteger(w) || w < 0 || w > MAX_WEIGHT) {
      throw new ValidationError(`weights.${slot}`, `must be a whole number from 0 to 999 (ALB weights), got ${String(w)}`);
    }
  }
  if (weights.blue + weights.green === 0) throw new ValidationError("weights", "at least one target group needs a weight above 0");
}

/** Throws ValidationError unless the stickiness is one ELB accepts. */
export function validateStickiness(s: Stickiness, field = "stickiness"): void {
  if (typeof s.enabled !== "boolean") throw new ValidationError(`${field}.enabled`, "must be true or false");
  if (!Number.isInteger(s.durationSeconds) || s.durationSeconds < 1 || s.durationSeconds > MAX_STICKINESS_SECONDS) {
    throw new ValidationError(`${field}.durationSeconds`, `must be a whole number of seconds from 1 to 604800 (7 days), got ${String(s.durationSeconds)}`);
  }
}

/**
 * Checks a forward action against ELB's documented limits before it is sent (moto accepts all of
 * these): at most 5 target groups, every one with an integer weight 0..999, no target group twice,
 * a weight above 0 somewhere, and TargetGroupArn only beside a one-group ForwardConfig naming it.
 */
export function validateForwardAction(action: Action, where: string): void {
  if (action.Type !== "forward") return;
  const groups = action.ForwardConfig?.TargetGroups;
  if (!groups || groups.length === 0) {
    if (!action.TargetGroupArn) throw new ValidationError(where, "a forward action needs TargetGroupArn or ForwardConfig.TargetGroups");
    return;
  }
  if (groups.length > MAX_FORWARD_TARGET_GROUPS) throw new ValidationError(where, `forwards to ${groups.length} target groups; ELB allows at most ${MAX_FORWARD_TARGET_GROUPS}`);
  const seen = new Set<string>();
  for (const [i, g] of groups.entries()) {
    if (!g.TargetGroupArn) throw new ValidationError(`${where}.TargetGroups[${i}]`, "has no TargetGroupArn");
    if (seen.has(g.TargetGroupArn)) throw new ValidationError(`${where}.TargetGroups[${i}]`, `lists ${g.TargetGroupArn} twice`);
    seen.add(g.TargetGroupArn);
    if (g.Weight === undefined || !Number.isInteger(g.Weight) || g.Weight < 0 || g.Weight > MAX_WEIGHT) {
      throw new ValidationError(`${where}.TargetGroups[${i}].Weight`, `must be a whole number from 0 to 999, got ${String(g.Weight)}`);
    }
  }
  if (groups.every((g) => g.Weight === 0)) throw new ValidationError(where, "every target group has weight 0: nothing would receive traffic");
  if (action.TargetGroupArn && (groups.length !== 1 || groups[0]!.TargetGroupArn !== action.TargetGroupArn)) {
    throw new ValidationError(where, "TargetGroupArn beside a ForwardConfig must be its only target group");
  }
  const st = action.ForwardConfig?.TargetGroupStickinessConfig;
  if (st?.Enabled) validateStickiness({ enabled: true, durationSeconds: st.DurationSeconds as number }, `${where}.TargetGroupStickinessConfig`);
}

function forwardIndex(actions: Action[], target: string): number {
  const i = actions.findIndex((a) => a.Type === "forward");
  if (i < 0) throw new TrafficShapeError(`${target} has no forward action; rollgate routes traffic with a weighted forward action (put one back, e.g. with pulumi up, then the controller converges its weights)`);
  return i;
}

/** The target groups a forward action lists (a plain forward is its one target group, unweighted). */
export function forwardTargets(fwd: Action): ForwardTarget[] {
  const groups = fwd.ForwardConfig?.TargetGroups;
  if (groups && groups.length > 0) return groups.map((g) => ({ targetGroupArn: g.TargetGroupArn ?? "", weight: g.Weight }));
  return fwd.TargetGroupArn ? [{ targetGroupArn: fwd.TargetGroupArn, weight: undefined }] : [];
}

/**
 * Every way a snapshot differs from the forward action rollgate converges to: exactly the two slot
 * target groups, blue then green, each with its weight, and (when given) the stickiness. Empty when
 * they agree. Each entry is a short sentence for logs and history.
 */
export function forwardDifferences(snapshot: TrafficSnapshot, desired: SlotWeights, blueArn: string, greenArn: string, stickiness?: Stickiness): string[] {
  const out: string[] = [];
  const t = snapshot.targets;
  const others = t.filter((g) => g.targetGroupArn !== blueArn && g.targetGroupArn !== greenArn);
  if (others.length) out.push(`forwards to ${others.length} target group(s) besides the two slots (${others.map((g) => `${shortTg(g.targetGroupArn)}=${g.weight ?? "unweighted"}`).join(", ")})`);
  if (t.length === 1 && t[0]!.weight === undefined) out.push(`is a plain forward to one target group (${shortTg(t[0]!.targetGroupArn)}), not a weighted forward to both slots`);
  else {
    const unweighted = t.filter((g) => g.weight === undefined);
    if (unweighted.length) out.push(`lists target group(s) without a weight (${unweighted.map((g) => shortTg(g.targetGroupArn)).join(", ")})`);
  }
  for (const [slot, arn] of [["blue", blueArn], ["green", greenArn]] as const) {
    const n = t.filter((g) => g.targetGroupArn === arn).length;
    if (n === 0) out.push(`does not list the ${slot} slot's target group`);
    if (n > 1) out.push(`lists the ${slot} slot's target group ${n} times`);
  }
  if (!others.length && (t.length !== 2 || t[0]!.targetGroupArn !== blueArn)) {
    // Order matters only for an exact comparison of the action; traffic is the same either way.
    if (t.length === 2 && t[1]!.targetGroupArn === blueArn) out.push("lists the slots green first");
  }
  if (snapshot.weights.blue !== desired.blue || snapshot.weights.green !== desired.green) {
    out.push(`weights blue ${snapshot.weights.blue} / green ${snapshot.weights.green}, not ${desired.blue} / ${desired.green}`);
  }
  if (stickiness) {
    const seen = snapshot.stickiness;
    const same = stickiness.enabled ? seen?.enabled === true && seen.durationSeconds === stickiness.durationSeconds : !seen?.enabled;
    if (!same) out.push(`stickiness ${seen?.enabled ? `on for ${seen.durationSeconds ?? "?"} s` : "off"}, not ${stickiness.enabled ? `on for ${stickiness.durationSeconds} s` : "off"}`);
  }
  return out;
}

/** `.../targetgroup/name/id` -> `name`, for short messages. */
function shortTg(arn: string): string {
  const m = /:targetgroup\/([^/]+)\//.exec(arn);
  return m ? m[1]! : arn.slice(0, 64);
}

export function createTrafficRouter(elb: ElasticLoadBalancingV2Client, options: TrafficRouterOptions): TrafficRouter {
  if (Boolean(options.listenerArn) === Boolean(options.ruleArn)) {
    throw new ValidationError("listenerArn/ruleArn", "exactly one of listenerArn (default action) or ruleArn (listener rule) must be given");
  }
  const blue = checkArn("blueTargetGroupArn", options.blueTargetGroupArn, TARGET_GROUP_ARN, "a target group");
  const green = checkArn("greenTargetGroupArn", options.greenTargetGroupArn, TARGET_GROUP_ARN, "a target group");
  if (blue === green) throw new ValidationError("greenTargetGroupArn", "must differ from blueTargetGroupArn: the two slots need their own target groups");
  const listenerArn = options.listenerArn ? checkArn("listenerArn", options.listenerArn, LISTENER_ARN, "a listener") : undefined;
  const ruleArn = options.ruleArn ? checkArn("ruleArn", options.ruleArn, RULE_ARN, "a listener rule") : undefined;
  const target = listenerArn ? `listener ${listenerArn}` : `rule ${ruleArn}`;
  const stickiness = options.stickiness;
  if (stickiness) validateStickiness(stickiness);

  async function readActions(): Promise<Action[]> {
    if (listenerArn) {
      const out = await elb.send(new DescribeListenersCommand({ ListenerArns: [listenerArn] }));
      const listener = out.Listeners?.[0];
      if (!listener) throw new TrafficShapeError(`${target} was not found`);
      return listener.DefaultActions ?? [];
    }
    const out = await elb.send(new DescribeRulesCommand({ RuleArns: [ruleArn!] }));
    const rule = out.Rules?.[0];
    if (!rule) throw new TrafficShapeError(`${target} was not found`);
    return rule.Actions ?? [];
  }

  function snapshotOf(actions: Action[]): TrafficSnapshot {
    const fwd = actions[forwardIndex(actions, target)]!;
    const targets = forwardTargets(fwd);
    // An entry without a weight is read as weight 1 (ELB's behaviour for a lone target group);
    // either way it differs from what rollgate writes, so it is repaired, never kept.
    const w = (arn: string) => targets.filter((g) => g.targetGroupArn === arn).reduce((s, g) => s + (g.weight ?? 1), 0);
    const elsewhere = targets.filter((g) => g.targetGroupArn !== blue && g.targetGroupArn !== green).reduce((s, g) => s + (g.weight ?? 1), 0);
    const st = fwd.ForwardConfig?.TargetGroupStickinessConfig;
    return {
      weights: { blue: w(blue), green: w(green) },
      actions,
      targets,
      elsewhere,
      ...(st ? { stickiness: { enabled: st.Enabled === true, ...(st.DurationSeconds !== undefined ? { durationSeconds: st.DurationSeconds } : {}) } } : {}),
    };
  }

  function withWeights(actions: Action[], weights: SlotWeights): Action[] {
    const i = forwardIndex(actions, target);
    const fwd = actions[i]!;
    // Exactly the two slots: a third target group, a plain or unweighted entry is not kept, so a
    // rollback sends everything to the stable slot and percentages mean what they say.
    const seenStickiness = fwd.ForwardConfig?.TargetGroupStickinessConfig;
    const st = stickiness ? (stickiness.enabled ? { Enabled: true, DurationSeconds: stickiness.durationSeconds } : { Enabled: false }) : seenStickiness;
    const forward: Action = {
      Type: "forward",
      ...(fwd.Order !== undefined ? { Order: fwd.Order } : {}),
      ForwardConfig: {
        TargetGroups: [{ TargetGroupArn: blue, Weight: weights.blue }, { TargetGroupArn: green, Weight: weights.green }],
        ...(st ? { TargetGroupStickinessConfig: st } : {}),
      },
    };
    // TargetGroupArn and a multi-group ForwardConfig together are rejected by ELB, so the former is dropped.
    return actions.map((a, k) => (k === i ? forward : a));
  }

  return {
    target,
    ...(stickiness ? { stickiness } : {}),
    async read() {
      return snapshotOf(await readActions());
    },
    async setWeights(weights, basedOn) {
      validateWeights(weights);
      const actions = withWeights(basedOn?.actions ?? (await readActions()), weights);
      for (const a of actions) validateForwardAction(a, target);
      if (listenerArn) await elb.send(new ModifyListenerCommand({ ListenerArn: listenerArn, DefaultActions: actions }));
      else await elb.send(new ModifyRuleCommand({ RuleArn: ruleArn!, Actions: actions }));
    },
  };
}

/** Where one ring rule sends its audience: a slot, or `undefined` when it is split or elsewhere. */
export interface RingRuleView {
  ring: string;
  ruleArn: string;
  slot: Slot | undefined;
  /** Slot weights as read (a plain forward to one slot is 1/0). */
  weights: SlotWeights;
  actions: Action[];
}

/** What a read of all ring rules saw, by ring name. */
export type RingSnapshot = Record<string, RingRuleView>;

/**
 * The listener rules of the policy's audience rings. Each is created by the components with the
 * ring's conditions and a priority above the service rule; the controller only ever changes which
 * slot its forward action points at.
 */
export interface RingRouter {
  readonly rings: readonly string[];
  /** One DescribeRules call for all ring rules. */
  read(): Promise<RingSnapshot>;
  /** Points a ring's rule at a slot, keeping the rest of the action (stickiness, order, other actions). */
  point(ring: string, slot: Slot, basedOn?: RingRuleView): Promise<void>;
}

export interface RingRouterOptions {
  /** Ring name -> listener rule ARN (ROLLGATE_RING_RULES). */
  rules: Record<string, string>;
  blueTargetGroupArn: string;
  greenTargetGroupArn: string;
}

export function createRingRouter(elb: ElasticLoadBalancingV2Client, options: RingRouterOptions): RingRouter {
  const blue = checkArn("blueTargetGroupArn", options.blueTargetGroupArn, TARGET_GROUP_ARN, "a target group");
  const green = checkArn("greenTargetGroupArn", options.greenTargetGroupArn, TARGET_GROUP_ARN, "a target group");
  const rules = Object.fromEntries(Object.entries(options.rules).map(([ring, arn]) => [ring, checkArn(`rules.${ring}`, arn, RULE_ARN, "a listener rule")]));
  const rings = Object.keys(rules);
  const tgOf = (slot: Slot) => (slot === "blue" ? blue : green);

  function view(ring: string, actions: Action[]): RingRuleView {
    const target = `ring "${ring}" rule ${rules[ring]}`;
    const fwd = actions[forwardIndex(actions, target)]!;
    const groups = fwd.ForwardConfig?.TargetGroups?.length ? fwd.ForwardConfig.TargetGroups : fwd.TargetGroupArn ? [{ TargetGroupArn: fwd.TargetGroupArn, Weight: 1 }] : [];
    const w = (arn: string) => groups.filter((g) => g.TargetGroupArn === arn).reduce((s, g) => s + (g.Weight ?? 1), 0);
    const weights = { blue: w(blue), green: w(green) };
    const elsewhere = groups.some((g) => g.TargetGroupArn !== blue && g.TargetGroupArn !== green && (g.Weight ?? 1) > 0);
    // A ring goes to exactly one slot; anything split, or sent to a third target group, is unexpected.
    const slot = elsewhere ? undefined : weights.blue > 0 && weights.green === 0 ? "blue" : weights.green > 0 && weights.blue === 0 ? "green" : undefined;
    return { ring, ruleArn: rules[ring]!, slot, weights, actions };
  }

  function pointed(ring: string, actions: Action[], slot: Slot): Action[] {
    const i = forwardIndex(actions, `ring "${ring}" rule ${rules[ring]}`);
    const fwd = actions[i]!;
    const to = tgOf(slot);
    const weighted = (fwd.ForwardConfig?.TargetGroups?.length ?? 0) > 1;
    // Keep the shape the components chose: a weighted forward stays weighted (1/0), a plain one plain.
    // Third target groups are dropped: a ring rule sends its audience to one slot only.
    const forward: Action = weighted
      ? {
          Type: "forward",
          ...(fwd.Order !== undefined ? { Order: fwd.Order } : {}),
          ForwardConfig: { ...fwd.ForwardConfig, TargetGroups: [{ TargetGroupArn: to, Weight: 1 }, { TargetGroupArn: tgOf(otherSlot(slot)), Weight: 0 }] },
        }
      : {
          Type: "forward",
          ...(fwd.Order !== undefined ? { Order: fwd.Order } : {}),
          TargetGroupArn: to,
          // ELB accepts TargetGroupArn beside a one-group ForwardConfig only when the two agree.
          ...(fwd.ForwardConfig ? { ForwardConfig: { ...fwd.ForwardConfig, TargetGroups: [{ TargetGroupArn: to, Weight: 1 }] } } : {}),
        };
    return actions.map((a, k) => (k === i ? forward : a));
  }

  async function describe(ringNames: string[]): Promise<RingSnapshot> {
    if (ringNames.length === 0) return {};
    let out;
    try {
      out = await elb.send(new DescribeRulesCommand({ RuleArns: ringNames.map((r) => rules[r]!) }));
    } catch (err) {
      if ((err as { name?: string }).name === "RuleNotFoundException") {
        throw new TrafficShapeError(`a ring rule was not found (${ringNames.map((r) => `${r}=${rules[r]}`).join(", ")}); check ROLLGATE_RING_RULES against the listener's rules`);
      }
      throw err;
    }
    const snapshot: RingSnapshot = {};
    for (const ring of ringNames) {
      const rule = out.Rules?.find((r) => r.RuleArn === rules[ring]);
      if (!rule) throw new TrafficShapeError(`ring "${ring}" rule ${rules[ring]} was not found; check ROLLGATE_RING_RULES`);
      snapshot[ring] = view(ring, rule.Actions ?? []);
    }
    return snapshot;
  }

  return {
    rings,
    read: () => describe(rings),
    async point(ring, slot, basedOn) {
      if (!rules[ring]) throw new ValidationError("ring", `"${ring}" has no rule in ROLLGATE_RING_RULES (rings: ${rings.join(", ") || "none"})`);
      const actions = basedOn?.actions ?? (await describe([ring]))[ring]!.actions;
      const next = pointed(ring, actions, slot);
      for (const a of next) validateForwardAction(a, `ring "${ring}" rule`);
      await elb.send(new ModifyRuleCommand({ RuleArn: rules[ring]!, Actions: next }));
    },
  };
}
