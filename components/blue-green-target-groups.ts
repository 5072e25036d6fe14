import * as pulumi from "@pulumi/pulumi";
import * as lb from "@pulumi/aws/lb/index.js";
import { ArgsError, check, checkInteger, checkNonEmpty, checkOneOf, plain, withTags } from "./internal.js";

/** The two slots of a service. Which one is stable changes with every promotion (ping-pong). */
export const SLOTS = ["blue", "green"] as const;
export type Slot = (typeof SLOTS)[number];

export interface BlueGreenTargetGroupsArgs {
  /** VPC the targets live in. */
  vpcId: pulumi.Input<string>;
  /**
   * Port the targets listen on (ECS: the container port).
   * @default 80
   */
  port?: pulumi.Input<number>;
  /**
   * Protocol between the load balancer and the targets: "HTTP" or "HTTPS".
   * @default "HTTP"
   */
  protocol?: pulumi.Input<string>;
  /**
   * "ip" (ECS Fargate, awsvpc), "instance" or "lambda".
   * @default "ip"
   */
  targetType?: pulumi.Input<string>;
  /**
   * Health check path, shared by both slots so a slot is judged by the same rule whichever is live.
   * @default "/"
   */
  healthCheckPath?: pulumi.Input<string>;
  /**
   * HTTP codes that count as healthy.
   * @default "200-399"
   */
  healthCheckMatcher?: pulumi.Input<string>;
  /**
   * Seconds between health checks (5..300).
   * @default 15
   */
  healthCheckIntervalSeconds?: pulumi.Input<number>;
  /**
   * Consecutive successes before a target is healthy (2..10).
   * @default 3
   */
  healthyThreshold?: pulumi.Input<number>;
  /**
   * Consecutive failures before a target is unhealthy (2..10).
   * @default 3
   */
  unhealthyThreshold?: pulumi.Input<number>;
  /**
   * Seconds a draining target keeps its in-flight requests (0..3600).
   * @default 30
   */
  deregistrationDelaySeconds?: pulumi.Input<number>;
  /**
   * Version label of what the blue slot runs at creation (tag `rollgate:version`).
   * @default "none"
   */
  blueVersion?: pulumi.Input<string>;
  /**
   * Version label of what the green slot runs at creation (tag `rollgate:version`).
   * @default "none"
   */
  greenVersion?: pulumi.Input<string>;
  /**
   * Set the `rollgate:version` tags at creation only. With controller-owned slot contents Pulumi
   * does not know which version a slot runs after the first release (the controller's status
   * does), so a later `pulumi up` must not rewrite the tags with a guess. Like pulumi-eks's
   * ignoreScalingChanges.
   * @default true
   */
  ignoreVersionTagChanges?: pulumi.Input<boolean>;
  /**
   * Protect both target groups (Pulumi's `protect`), so a change that would replace one (port,
   * protocol, targetType, vpcId) fails at preview instead of running. The listener or rule's forward
   * action belongs to the controller and is ignored by Pulumi, so a replaced target group would
   * not be swapped into it: AWS refuses to delete a target group a rule forwards to, and the new
   * one would never get traffic. See docs/components.md for how to change those fields.
   * @default true
   */
  protect?: boolean;
  /**
   * Extra tags for both target groups.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Plain-value checks of BlueGreenTargetGroupsArgs; throws ArgsError naming the field. */
export function validateBlueGreenTargetGroupsArgs(args: BlueGreenTargetGroupsArgs): void {
  const c = "BlueGreenTargetGroups";
  if (args.vpcId === undefined || args.vpcId === null) throw new ArgsError(`${c}: vpcId is required (the VPC of the targets)`);
  checkNonEmpty(c, "vpcId", plain(args.vpcId), "a VPC id such as vpc-0123456789abcdef0");
  checkInteger(c, "port", plain(args.port), 1, 65535);
  checkOneOf(c, "protocol", plain(args.protocol), ["HTTP", "HTTPS"]);
  checkOneOf(c, "targetType", plain(args.targetType), ["ip", "instance", "lambda"]);
  const hcPath = plain(args.healthCheckPath);
  if (hcPath !== undefined && !hcPath.startsWith("/")) {
    throw new ArgsError(`${c}: healthCheckPath must start with "/", got ${JSON.stringify(hcPath)}`);
  }
  checkInteger(c, "healthCheckIntervalSeconds", plain(args.healthCheckIntervalSeconds), 5, 300, " seconds");
  checkInteger(c, "healthyThreshold", plain(args.healthyThreshold), 2, 10);
  checkInteger(c, "unhealthyThreshold", plain(args.unhealthyThreshold), 2, 10);
  checkInteger(c, "deregistrationDelaySeconds", plain(args.deregistrationDelaySeconds), 0, 3600, " seconds");
  if (args.protect !== undefined && typeof args.protect !== "boolean") throw new ArgsError(`${c}: protect must be true or false (a plain value: it is a resource option)`);
}

/**
 * Two target groups, slots `blue` and `green`, with one shared health check. Each is tagged with
 * its slot and the version deployed into it. The listener weights decide which one is live.
 */
export class BlueGreenTargetGroups extends pulumi.ComponentResource {
  public readonly blueArn: pulumi.Output<string>;
  public readonly greenArn: pulumi.Output<string>;
  /** The `TargetGroup` CloudWatch dimension of each slot (`targetgroup/<name>/<id>`). */
  public readonly blueArnSuffix: pulumi.Output<string>;
  public readonly greenArnSuffix: pulumi.Output<string>;
  public readonly blueName: pulumi.Output<string>;
  public readonly greenName: pulumi.Output<string>;

  constructor(name: string, args: BlueGreenTargetGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:BlueGreenTargetGroups", name, {}, opts);
    check(this, () => validateBlueGreenTargetGroupsArgs(args));

    const port = args.port ?? 80;
    const protocol = args.protocol ?? "HTTP";
    const ignoreVersionTags = plain(args.ignoreVersionTagChanges) ?? true;
    const make = (slot: Slot, version: pulumi.Input<string> | undefined) =>
      new lb.TargetGroup(
        `${name}-${slot}`,
        {
          vpcId: args.vpcId,
          port,
          protocol,
          targetType: args.targetType ?? "ip",
          deregistrationDelay: args.deregistrationDelaySeconds ?? 30,
          healthCheck: {
            enabled: true,
            path: args.healthCheckPath ?? "/",
            matcher: args.healthCheckMatcher ?? "200-399",
            interval: args.healthCheckIntervalSeconds ?? 15,
            healthyThreshold: args.healthyThreshold ?? 3,
            unhealthyThreshold: args.unhealthyThreshold ?? 3,
            protocol,
          },
          tags: withTags(args.tags, { "rollgate:slot": slot, "rollgate:version": version ?? "none" }),
        },
        {
          parent: this,
          protect: args.protect ?? true,
          // After the first release, what a slot runs is the controller's business, not Pulumi's.
          ignoreChanges: ignoreVersionTags ? ['tags["rollgate:version"]', 'tagsAll["rollgate:version"]'] : [],
        },
      );
    const blue = make("blue", args.blueVersion);
    const green = make("green", args.greenVersion);

    this.blueArn = blue.arn;
    this.greenArn = green.arn;
    this.blueArnSuffix = blue.arnSuffix;
    this.greenArnSuffix = green.arnSuffix;
    this.blueName = blue.name;
    this.greenName = green.name;
    this.registerOutputs({
      blueArn: this.blueArn,
      greenArn: this.greenArn,
      blueArnSuffix: this.blueArnSuffix,
      greenArnSuffix: this.greenArnSuffix,
      blueName: this.blueName,
      greenName: this.greenName,
    });
  }
}
