import * as pulumi from "@pulumi/pulumi";
import * as lb from "@pulumi/aws/lb/index.js";
import type * as inputs from "@pulumi/aws/types/input.js";
import { ArgsError, check, checkInteger, forbid, plain, requireExactlyOne, withTags } from "./internal.js";

/** An audience ring's ALB match (the policy's `rings[].match`): conditions are ANDed. */
/** An HTTP header condition of a ring's listener rule. */
export interface WeightedRoutingRingHeader {
  /** Header name, e.g. "x-checkout-ring". */
  name: string;
  /** Values, any of which matches. */
  values: string[];
}

/** A cookie condition of a ring's listener rule (matched through the Cookie header). */
export interface WeightedRoutingRingCookie {
  /** Cookie name. */
  name: string;
  /** Cookie value. */
  value: string;
}

export interface WeightedRoutingRing {
  /** Ring name (the policy's `rings[].name`). */
  name: string;
  /**
   * HTTP headers to match, each with the values any of which matches.
   * @default []
   */
  headers?: WeightedRoutingRingHeader[];
  /**
   * Cookie to match, through the Cookie header (ALB has no cookie condition).
   * @default undefined
   */
  cookie?: WeightedRoutingRingCookie;
  /**
   * Client CIDR blocks.
   * @default []
   */
  sourceIps?: string[];
}

export interface WeightedRoutingArgs {
  /** ARN of the blue slot's target group (stable at creation: it gets all the weight). */
  blueTargetGroupArn: pulumi.Input<string>;
  /** ARN of the green slot's target group (idle at creation: weight 0). */
  greenTargetGroupArn: pulumi.Input<string>;
  /**
   * Listener mode: the load balancer on which to create a listener of its own. Exactly one of
   * loadBalancerArn or listenerArn.
   * @default undefined (rule mode)
   */
  loadBalancerArn?: pulumi.Input<string>;
  /**
   * Rule mode: a shared listener on which to create a listener rule. Exactly one of
   * loadBalancerArn or listenerArn.
   * @default undefined (listener mode)
   */
  listenerArn?: pulumi.Input<string>;
  /**
   * Listener mode: the listener port.
   * @default 80 (443 when certificateArn is set)
   */
  port?: pulumi.Input<number>;
  /**
   * Listener mode: an ACM certificate ARN; makes the listener HTTPS.
   * @default undefined (HTTP)
   */
  certificateArn?: pulumi.Input<string>;
  /**
   * Listener mode with certificateArn: the TLS policy.
   * @default "ELBSecurityPolicy-TLS13-1-2-2021-06"
   */
  sslPolicy?: pulumi.Input<string>;
  /**
   * Rule mode: rule priority on the shared listener (1..50000, unique per listener).
   * @default undefined (required in rule mode)
   */
  priority?: pulumi.Input<number>;
  /**
   * Rule mode: host headers the rule matches (e.g. ["checkout.example.com"]). A rule needs at
   * least one host header or path pattern.
   * @default []
   */
  hostHeaders?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Rule mode: path patterns the rule matches (e.g. ["/checkout/*"]).
   * @default []
   */
  pathPatterns?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Audience rings: one listener rule each, matching the ring's requests (plus, in rule mode, the
   * service's host and path), at a higher priority than the service's traffic, forwarding to the
   * blue (stable at creation) slot. The controller points each at the canary slot during its ring
   * steps, so the forward action is under ignoreChanges. Must be a plain list (its length decides
   * how many rules exist). Ring rules take priorities `priority - 1`, `priority - 2`, ... in rule
   * mode and 1, 2, ... on a listener of its own.
   * @default []
   */
  rings?: pulumi.Input<WeightedRoutingRing[]>;
  /**
   * Sum of the two weights: the policy's weightTotal. The blue slot starts at weightTotal, green at 0.
   * @default 999
   */
  weightTotal?: pulumi.Input<number>;
  /**
   * Target-group stickiness in seconds (1..604800): a client keeps hitting the same slot during a
   * step. 0 turns it off.
   * @default 0
   */
  stickinessSeconds?: pulumi.Input<number>;
  /**
   * Leave the weights to the controller after creation (they go under ignoreChanges), so a later
   * `pulumi up` never resets traffic mid-rollout. Like pulumi-eks's ignoreScalingChanges.
   * @default true
   */
  ignoreWeightChanges?: pulumi.Input<boolean>;
  /**
   * Extra tags.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Plain-value checks of WeightedRoutingArgs; throws ArgsError naming the field. */
export function validateWeightedRoutingArgs(args: WeightedRoutingArgs): "listener" | "rule" {
  const c = "WeightedRouting";
  if (args.blueTargetGroupArn === undefined) throw new ArgsError(`${c}: blueTargetGroupArn is required`);
  if (args.greenTargetGroupArn === undefined) throw new ArgsError(`${c}: greenTargetGroupArn is required`);
  requireExactlyOne(
    c,
    { loadBalancerArn: args.loadBalancerArn, listenerArn: args.listenerArn },
    "set loadBalancerArn to create a listener of its own, or listenerArn to add a rule to a shared listener",
  );
  const mode = args.listenerArn !== undefined ? "rule" : "listener";
  if (mode === "rule") {
    forbid(c, { port: args.port, certificateArn: args.certificateArn, sslPolicy: args.sslPolicy }, "applies only to a listener of its own (loadBalancerArn), not to a rule on a shared listener");
    if (args.priority === undefined) {
      throw new ArgsError(`${c}: priority is required with listenerArn (a rule on a shared listener needs a unique priority 1..50000)`);
    }
    checkInteger(c, "priority", plain(args.priority), 1, 50000);
    const hosts = plain(args.hostHeaders);
    const paths = plain(args.pathPatterns);
    if (args.hostHeaders === undefined && args.pathPatterns === undefined) {
      throw new ArgsError(`${c}: a rule on a shared listener needs hostHeaders or pathPatterns (or both) to match its traffic`);
    }
    if (hosts !== undefined && paths !== undefined && hosts.length === 0 && paths.length === 0) {
      throw new ArgsError(`${c}: hostHeaders and pathPatterns are both empty; a rule on a shared listener needs at least one condition`);
    }
    for (const [field, list] of [["hostHeaders", hosts], ["pathPatterns", paths]] as const) {
      if (list && list.length > 5) throw new ArgsError(`${c}: ${field} has ${list.length} values; an ALB condition allows at most 5`);
    }
  } else {
    forbid(c, { priority: args.priority, hostHeaders: args.hostHeaders, pathPatterns: args.pathPatterns }, "applies only to a rule on a shared listener (listenerArn), not to a listener of its own");
    checkInteger(c, "port", plain(args.port), 1, 65535);
    if (args.sslPolicy !== undefined && args.certificateArn === undefined) {
      throw new ArgsError(`${c}: sslPolicy needs certificateArn (it only applies to an HTTPS listener)`);
    }
  }
  checkInteger(c, "weightTotal", plain(args.weightTotal), 2, 999, " (ALB weights are 0..999)");
  if (args.rings !== undefined) {
    const rings = plain(args.rings);
    if (rings === undefined) throw new ArgsError(`${c}: rings must be a plain list (known when the program runs): the number of rings decides how many listener rules exist`);
    rings.forEach((r, i) => {
      const conditions = ringConditions(r);
      if (conditions.length === 0) throw new ArgsError(`${c}: rings[${i}] ("${r.name}") matches nothing; give it headers, a cookie or sourceIps`);
    });
    const priority = plain(args.priority);
    if (mode === "rule" && priority !== undefined && priority - rings.length < 1) {
      throw new ArgsError(`${c}: priority ${priority} leaves no room for ${rings.length} ring rule(s) above it (they take priority - 1 ... priority - ${rings.length}); use a priority above ${rings.length}`);
    }
  }
  const stick = plain(args.stickinessSeconds);
  if (stick !== 0) checkInteger(c, "stickinessSeconds", stick, 1, 604800, " (or 0 for off)");
  const ignore = plain(args.ignoreWeightChanges);
  if (ignore !== undefined && typeof ignore !== "boolean") throw new ArgsError(`${c}: ignoreWeightChanges must be true or false`);
  return mode;
}

/** ALB conditions of a ring's match. */
export function ringConditions(ring: WeightedRoutingRing): inputs.lb.ListenerRuleCondition[] {
  const out: inputs.lb.ListenerRuleCondition[] = [];
  for (const h of ring.headers ?? []) out.push({ httpHeader: { httpHeaderName: h.name, values: h.values } });
  if (ring.cookie) out.push({ httpHeader: { httpHeaderName: "Cookie", values: [`*${ring.cookie.name}=${ring.cookie.value}*`] } });
  if (ring.sourceIps?.length) out.push({ sourceIp: { values: ring.sourceIps } });
  return out;
}

/** Property paths of the two forward weights, the values the controller owns. */
export function weightPaths(mode: "listener" | "rule"): string[] {
  const action = mode === "listener" ? "defaultActions[0]" : "actions[0]";
  return [`${action}.forward.targetGroups[0].weight`, `${action}.forward.targetGroups[1].weight`];
}

/**
 * A forward action over both slots: either the default action of a listener of its own, or a
 * listener rule (host/path, priority) on a shared listener. It starts at all-blue
 * (weightTotal/0); after creation the weights belong to the controller.
 */
export class WeightedRouting extends pulumi.ComponentResource {
  /** "listener" or "rule". */
  public readonly mode: pulumi.Output<string>;
  /** The listener the traffic flows through (its own, or the shared one). */
  public readonly listenerArn: pulumi.Output<string>;
  /** The rule's ARN in rule mode; undefined in listener mode. */
  public readonly ruleArn: pulumi.Output<string | undefined>;
  /** Ring name -> its listener rule ARN (the controller's ROLLGATE_RING_RULES). */
  public readonly ringRuleArns: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: WeightedRoutingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:WeightedRouting", name, {}, opts);
    let mode: "listener" | "rule" = "listener";
    check(this, () => {
      mode = validateWeightedRoutingArgs(args);
    });

    const total = args.weightTotal ?? 999;
    const stickiness = pulumi.output(args.stickinessSeconds ?? 0).apply((s) => (s > 0 ? { enabled: true, duration: s } : undefined));
    const forward = {
      targetGroups: [
        { arn: args.blueTargetGroupArn, weight: total },
        { arn: args.greenTargetGroupArn, weight: 0 },
      ],
      stickiness,
    };
    const ignoreChanges = (plain(args.ignoreWeightChanges) ?? true) ? weightPaths(mode) : [];
    const tags = withTags(args.tags, {});

    if (mode === "listener") {
      const https = args.certificateArn !== undefined;
      const listener = new lb.Listener(
        `${name}-listener`,
        {
          loadBalancerArn: args.loadBalancerArn!,
          port: args.port ?? (https ? 443 : 80),
          protocol: https ? "HTTPS" : "HTTP",
          ...(https ? { certificateArn: args.certificateArn, sslPolicy: args.sslPolicy ?? "ELBSecurityPolicy-TLS13-1-2-2021-06" } : {}),
          defaultActions: [{ type: "forward", forward }],
          tags,
        },
        { parent: this, ignoreChanges },
      );
      this.listenerArn = listener.arn;
      this.ruleArn = pulumi.output(undefined as string | undefined);
    } else {
      const conditions: lb.ListenerRuleArgs["conditions"] = [];
      // An empty list would be an invalid condition; unknown (Output) lists are passed through.
      const given = (v: pulumi.Input<pulumi.Input<string>[]> | undefined) => v !== undefined && (plain(v)?.length ?? 1) > 0;
      if (given(args.hostHeaders)) conditions.push({ hostHeader: { values: args.hostHeaders! } });
      if (given(args.pathPatterns)) conditions.push({ pathPattern: { values: args.pathPatterns! } });
      const rule = new lb.ListenerRule(
        `${name}-rule`,
        {
          listenerArn: args.listenerArn!,
          priority: args.priority!,
          actions: [{ type: "forward", forward }],
          conditions,
          tags,
        },
        { parent: this, ignoreChanges },
      );
      this.listenerArn = pulumi.output(args.listenerArn!);
      this.ruleArn = rule.arn.apply((a) => a as string | undefined);
    }
    // Rings: rules above the service's traffic; the controller repoints their forward action.
    const rings = plain(args.rings) ?? [];
    const ringArns: Record<string, pulumi.Output<string>> = {};
    rings.forEach((ring, i) => {
      const serviceConditions: inputs.lb.ListenerRuleCondition[] = [];
      if (mode === "rule") {
        const given = (v: pulumi.Input<pulumi.Input<string>[]> | undefined) => v !== undefined && (plain(v)?.length ?? 1) > 0;
        if (given(args.hostHeaders)) serviceConditions.push({ hostHeader: { values: args.hostHeaders! } });
        if (given(args.pathPatterns)) serviceConditions.push({ pathPattern: { values: args.pathPatterns! } });
      }
      const rule = new lb.ListenerRule(
        `${name}-ring-${ring.name}`,
        {
          listenerArn: this.listenerArn,
          priority: mode === "rule" ? pulumi.output(args.priority!).apply((p) => p - 1 - i) : 1 + i,
          actions: [{ type: "forward", forward: { targetGroups: [{ arn: args.blueTargetGroupArn, weight: 1 }] } }],
          conditions: [...serviceConditions, ...ringConditions(ring)],
          tags: withTags(args.tags, { "rollgate:ring": ring.name }),
        },
        // Which slot a ring goes to is the controller's decision after creation.
        { parent: this, ignoreChanges: ["actions"] },
      );
      ringArns[ring.name] = rule.arn;
    });
    this.ringRuleArns = pulumi.output(ringArns);

    this.mode = pulumi.output(mode);
    this.registerOutputs({ mode: this.mode, listenerArn: this.listenerArn, ruleArn: this.ruleArn, ringRuleArns: this.ringRuleArns });
  }
}
