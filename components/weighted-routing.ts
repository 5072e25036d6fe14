import * as pulumi from "@pulumi/pulumi";
import * as lb from "@pulumi/aws/lb/index.js";
import type * as inputs from "@pulumi/aws/types/input.js";
import { ALB, checkRuleConditions, type RuleConditionSpec } from "./aws-limits.js";
import { ArgsError, check, checked, checkInteger, forbid, plain, requireExactlyOne, withTags } from "./internal.js";

/** An audience ring's ALB match (the policy's `rings[].match`): conditions are ANDed. */
export interface WeightedRoutingRing {
  /** Ring name (the policy's `rings[].name`). */
  name: string;
  /**
   * HTTP headers to match, each with the values any of which matches.
   * @default []
   */
  headers?: { name: string; values: string[] }[];
  /**
   * Cookie to match, through the Cookie header (ALB has no cookie condition).
   * @default undefined
   */
  cookie?: { name: string; value: string };
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
   * step. 0 turns it off. Applied when the listener or rule is created; after that the controller
   * owns the forward action, so pass the same value to StepController's stickinessSeconds, which
   * the controller converges to (ProgressiveService does both).
   * @default 0
   */
  stickinessSeconds?: pulumi.Input<number>;
  /**
   * Leave the whole forward action (weights, stickiness, target groups) to the controller after
   * creation: it goes under ignoreChanges, so no later `pulumi up`, refresh or replacement can move
   * live traffic. Only the weights are not enough: the AWS provider resends a rule's entire action
   * list when any part of it differs and fills ignored paths from the inputs recorded at creation
   * (999/0), see pulumi-aws#5798. Like pulumi-eks's ignoreScalingChanges. Pulumi keeps owning that
   * the listener or rule exists and what it matches (port, certificate, priority, conditions).
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
    // An argument not given is an empty list; an Output (unknown now) is checked when it resolves.
    const hostList = args.hostHeaders === undefined ? [] : hosts;
    const pathList = args.pathPatterns === undefined ? [] : paths;
    if (hostList !== undefined && pathList !== undefined && hostList.every((h) => plain(h) !== undefined) && pathList.every((p) => plain(p) !== undefined)) {
      checkRuleConditions(c, "the service rule", serviceConditionSpecs(hostList as string[], pathList as string[]));
    } else {
      // Partly unknown lists: check what is known now; the rest is checked when they resolve.
      for (const [field, list] of [["hostHeaders", hosts], ["pathPatterns", paths]] as const) {
        if (list && list.length > ALB.valuesPerCondition) throw new ArgsError(`${c}: ${field} has ${list.length} values; an ALB ${field === "hostHeaders" ? "host-header" : "path-pattern"} condition allows at most ${ALB.valuesPerCondition}`);
      }
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
    const names = new Set<string>();
    rings.forEach((r, i) => {
      if (typeof r?.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(r.name)) {
        throw new ArgsError(`${c}: rings[${i}].name must be letters, digits, ".", "_" or "-" (up to 63), got ${JSON.stringify(r?.name)}`);
      }
      if (names.has(r.name)) throw new ArgsError(`${c}: rings[${i}].name "${r.name}" is used twice; ring names are unique`);
      names.add(r.name);
      const own = ringConditionSpecs(r, i);
      if (own.length === 0) throw new ArgsError(`${c}: rings[${i}] ("${r.name}") matches nothing; give it headers, a cookie or sourceIps`);
      // In rule mode a ring rule also carries the service's host/path conditions: its limits count them.
      const hosts = plain(args.hostHeaders);
      const paths = plain(args.pathPatterns);
      const known = mode === "listener" || (hosts?.every((h) => plain(h) !== undefined) !== false && paths?.every((p) => plain(p) !== undefined) !== false && (hosts !== undefined || args.hostHeaders === undefined) && (paths !== undefined || args.pathPatterns === undefined));
      if (known) {
        const service = mode === "rule" ? serviceConditionSpecs((hosts ?? []) as string[], (paths ?? []) as string[]) : [];
        checkRuleConditions(c, `the rule of rings[${i}] ("${r.name}")`, [...service, ...own]);
      }
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

/** The service rule's conditions (host and path), labelled with the argument each comes from. */
export function serviceConditionSpecs(hosts: string[], paths: string[]): { spec: RuleConditionSpec; from: string }[] {
  const out: { spec: RuleConditionSpec; from: string }[] = [];
  if (hosts.length) out.push({ spec: { type: "host-header", values: hosts }, from: "hostHeaders" });
  if (paths.length) out.push({ spec: { type: "path-pattern", values: paths }, from: "pathPatterns" });
  return out;
}

/** A ring's conditions, labelled with the argument each comes from. */
export function ringConditionSpecs(ring: WeightedRoutingRing, i: number): { spec: RuleConditionSpec; from: string }[] {
  const out: { spec: RuleConditionSpec; from: string }[] = [];
  (ring.headers ?? []).forEach((h, k) => out.push({ spec: { type: "http-header", headerName: h.name, values: h.values ?? [] }, from: `rings[${i}].headers[${k}]` }));
  if (ring.cookie) out.push({ spec: { type: "http-header", headerName: "Cookie", values: [`*${ring.cookie.name}=${ring.cookie.value}*`] }, from: `rings[${i}].cookie` });
  if (ring.sourceIps?.length) out.push({ spec: { type: "source-ip", values: ring.sourceIps }, from: `rings[${i}].sourceIps` });
  return out;
}

/** The provider's condition inputs for the checked specs. */
export function toConditions(specs: RuleConditionSpec[]): inputs.lb.ListenerRuleCondition[] {
  return specs.map((s) => {
    switch (s.type) {
      case "host-header":
        return { hostHeader: { values: s.values } };
      case "path-pattern":
        return { pathPattern: { values: s.values } };
      case "http-header":
        return { httpHeader: { httpHeaderName: s.headerName, values: s.values } };
      case "source-ip":
        return { sourceIp: { values: s.values } };
    }
  });
}

/** ALB conditions of a ring's match. */
export function ringConditions(ring: WeightedRoutingRing): inputs.lb.ListenerRuleCondition[] {
  const out: inputs.lb.ListenerRuleCondition[] = [];
  for (const h of ring.headers ?? []) out.push({ httpHeader: { httpHeaderName: h.name, values: h.values } });
  if (ring.cookie) out.push({ httpHeader: { httpHeaderName: "Cookie", values: [`*${ring.cookie.name}=${ring.cookie.value}*`] } });
  if (ring.sourceIps?.length) out.push({ sourceIp: { values: ring.sourceIps } });
  return out;
}

/**
 * Property paths the controller owns: the listener's whole default action list, or the rule's
 * whole action list. Not just the weights: on any difference in an action the AWS provider sends
 * the full list, with ignored paths filled from the inputs recorded at creation (pulumi-aws#5798),
 * which would put the creation weights (all on blue) back on a live listener.
 */
export function controllerOwnedPaths(mode: "listener" | "rule"): string[] {
  return [mode === "listener" ? "defaultActions" : "actions"];
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
    const ignoreChanges = (plain(args.ignoreWeightChanges) ?? true) ? controllerOwnedPaths(mode) : [];
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
      // Conditions are built from the resolved lists, so values known only at deploy time meet the
      // same ALB limits (and an empty list never becomes an empty, invalid condition).
      const conditions = pulumi.all([pulumi.output(args.hostHeaders ?? []), pulumi.output(args.pathPatterns ?? [])]).apply(([hosts, paths]) =>
        checked(this, () => {
          if (hosts.length === 0 && paths.length === 0) throw new ArgsError("WeightedRouting: hostHeaders and pathPatterns are both empty; a rule on a shared listener needs at least one condition");
          checkRuleConditions("WeightedRouting", "the service rule", serviceConditionSpecs(hosts, paths));
          return toConditions(serviceConditionSpecs(hosts, paths).map((c) => c.spec));
        }),
      );
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
      const conditions = pulumi.all([pulumi.output(args.hostHeaders ?? []), pulumi.output(args.pathPatterns ?? [])]).apply(([hosts, paths]) =>
        checked(this, () => {
          const service = mode === "rule" ? serviceConditionSpecs(hosts, paths) : [];
          const own = ringConditionSpecs(ring, i);
          checkRuleConditions("WeightedRouting", `the rule of rings[${i}] ("${ring.name}")`, [...service, ...own]);
          return toConditions([...service, ...own].map((c) => c.spec));
        }),
      );
      const rule = new lb.ListenerRule(
        `${name}-ring-${ring.name}`,
        {
          listenerArn: this.listenerArn,
          priority: mode === "rule" ? pulumi.output(args.priority!).apply((p) => p - 1 - i) : 1 + i,
          actions: [{ type: "forward", forward: { targetGroups: [{ arn: args.blueTargetGroupArn, weight: 1 }] } }],
          conditions,
          tags: withTags(args.tags, { "rollgate:ring": ring.name }),
        },
        // Which slot a ring goes to is the controller's decision after creation: the whole action
        // list is the controller's, Pulumi owns the rule's existence, priority and conditions.
        { parent: this, ignoreChanges: controllerOwnedPaths("rule") },
      );
      ringArns[ring.name] = rule.arn;
    });
    this.ringRuleArns = pulumi.output(ringArns);

    this.mode = pulumi.output(mode);
    this.registerOutputs({ mode: this.mode, listenerArn: this.listenerArn, ruleArn: this.ruleArn, ringRuleArns: this.ringRuleArns });
  }
}
