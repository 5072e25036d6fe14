/**
 * Traffic router: reads and writes the weights of the two slot target groups in an ALB listener's
 * default forward action or in a listener rule. Everything else in the action list (stickiness,
 * other target groups, other actions such as authenticate-oidc) is written back as it was read.
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

/** What a read saw: the weights, and the full action list to write back around them. */
export interface TrafficSnapshot {
  weights: SlotWeights;
  actions: Action[];
}

/** One small interface per router, as in Argo Rollouts' traffic routers. */
export interface TrafficRouter {
  /** `listener <arn>` or `rule <arn>`, for logs. */
  readonly target: string;
  read(): Promise<TrafficSnapshot>;
  /**
   * Writes the slot weights, keeping the rest of the action. `basedOn` (a snapshot read in the
   * same invocation) saves the read that the write otherwise needs.
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
}

/** Throws ValidationError unless each weight is an integer 0..999 and at least one is above 0. */
export function validateWeights(weights: SlotWeights): void {
  for (const slot of SLOTS) {
    const w = weights[slot];
    if (!Number.isInteger(w) || w < 0 || w > 999) {
      throw new ValidationError(`weights.${slot}`, `must be a whole number from 0 to 999 (ALB weights), got ${String(w)}`);
    }
  }
  if (weights.blue + weights.green === 0) throw new ValidationError("weights", "at least one target group needs a weight above 0");
}

function forwardIndex(actions: Action[], target: string): number {
  const i = actions.findIndex((a) => a.Type === "forward");
  if (i < 0) throw new TrafficShapeError(`${target} has no forward action; rollgate routes traffic with a weighted forward action`);
  return i;
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

  function weightsOf(actions: Action[]): SlotWeights {
    const fwd = actions[forwardIndex(actions, target)]!;
    const groups = fwd.ForwardConfig?.TargetGroups;
    if (groups && groups.length > 0) {
      const find = (arn: string) => groups.find((g) => g.TargetGroupArn === arn);
      if (!find(blue) && !find(green)) throw new TrafficShapeError(`${target} forwards to neither slot target group (${blue}, ${green})`);
      // A target group listed without a weight gets AWS's default weight of 1.
      const w = (arn: string) => {
        const g = find(arn);
        return g ? (g.Weight ?? 1) : 0;
      };
      return { blue: w(blue), green: w(green) };
    }
    // A plain forward to one target group: all of the traffic, which is weight 1 of 1.
    if (fwd.TargetGroupArn === blue) return { blue: 1, green: 0 };
    if (fwd.TargetGroupArn === green) return { blue: 0, green: 1 };
    throw new TrafficShapeError(`${target} forwards to neither slot target group (${blue}, ${green})`);
  }

  function withWeights(actions: Action[], weights: SlotWeights): Action[] {
    const i = forwardIndex(actions, target);
    const fwd = actions[i]!;
    const existing = fwd.ForwardConfig?.TargetGroups ?? (fwd.TargetGroupArn ? [{ TargetGroupArn: fwd.TargetGroupArn, Weight: 1 }] : []);
    const others = existing.filter((g) => g.TargetGroupArn !== blue && g.TargetGroupArn !== green);
    const forward: Action = {
      Type: "forward",
      ...(fwd.Order !== undefined ? { Order: fwd.Order } : {}),
      ForwardConfig: {
        ...fwd.ForwardConfig,
        TargetGroups: [{ TargetGroupArn: blue, Weight: weights.blue }, { TargetGroupArn: green, Weight: weights.green }, ...others],
      },
    };
    // TargetGroupArn and a multi-group ForwardConfig together are rejected by ELB, so the former is dropped.
    return actions.map((a, k) => (k === i ? forward : a));
  }

  return {
    target,
    async read() {
      const actions = await readActions();
      return { weights: weightsOf(actions), actions };
    },
    async setWeights(weights, basedOn) {
      validateWeights(weights);
      const actions = withWeights(basedOn?.actions ?? (await readActions()), weights);
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
      await elb.send(new ModifyRuleCommand({ RuleArn: rules[ring]!, Actions: pointed(ring, actions, slot) }));
    },
  };
}
