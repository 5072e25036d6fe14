import * as pulumi from "@pulumi/pulumi";
import * as appconfig from "@pulumi/aws/appconfig/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import {
  checkFlagsDocument,
  checkFlagSpecs,
  deriveAppConfigStrategy,
  renderFlagsDocument,
  type AppConfigStrategy,
  type FeatureFlagsDocument,
  type FlagIssue,
  type FlagSpec,
} from "../src/flags/index.js";
import { safeParsePolicy, type PolicyInput } from "../src/policy/index.js";
import { ArgsError, check, checked, checkNonEmpty, parseArn, plain, requireExactlyOne, withTags } from "./internal.js";
import type { PolicyArgument } from "./policy-argument.js";

/** One feature flag. Owner and expiry are required: a flag nobody owns is never removed. */
export interface FlagReleaseFlag {
  /** Key the application reads (`^[a-z][a-zA-Z\d_-]{0,63}$`). */
  key: pulumi.Input<string>;
  /**
   * Display name in the AppConfig console.
   * @default the key
   */
  name?: pulumi.Input<string>;
  /**
   * What the flag gates.
   * @default none
   */
  description?: pulumi.Input<string>;
  /** Whether the flag is on once the deployment reaches a target. */
  enabled: pulumi.Input<boolean>;
  /** Team or person that removes the flag once its release is at 100 % and stable. */
  owner: pulumi.Input<string>;
  /** Last day (UTC, YYYY-MM-DD) the flag may exist; a deploy after that day fails until it is removed or extended. */
  expires: pulumi.Input<string>;
}

export interface FlagReleaseArgs {
  /**
   * The service's RolloutPolicy (the same object the ALB canary uses). Its ladder becomes the
   * AppConfig deployment strategy and its alarm gates the environment's monitors.
   */
  policy: pulumi.Input<PolicyArgument>;
  /**
   * The flags, rendered into AppConfig's feature-flag format with `owner` and `expires` attributes.
   * Exactly one of flags or flagsDocument.
   * @default none
   */
  flags?: pulumi.Input<pulumi.Input<FlagReleaseFlag>[]>;
  /**
   * A complete `AWS.AppConfig.FeatureFlags` document (JSON text, version "1"), for multi-variant
   * flags or extra attributes. Every flag must define the `owner` and `expires` attributes.
   * Exactly one of flags or flagsDocument.
   * @default none
   */
  flagsDocument?: pulumi.Input<string>;
  /**
   * AppConfig application name.
   * @default the component name
   */
  applicationName?: pulumi.Input<string>;
  /**
   * AppConfig environment name.
   * @default "production"
   */
  environmentName?: pulumi.Input<string>;
  /**
   * Refuse a policy without alarm gates: without monitors AppConfig has nothing that rolls a flag back.
   * @default true
   */
  requireMonitors?: pulumi.Input<boolean>;
  /**
   * Accept comparison gates (errorRate, latency, metric) that AppConfig cannot evaluate, with a
   * warning; by default they are an error, because dropping them silently would make the release
   * look guarded when it is not.
   * @default false
   */
  ignoreComparisonGates?: pulumi.Input<boolean>;
  /**
   * Extra tags for every resource.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const C = "FlagRelease";

/** Throws one ArgsError listing every issue under the argument it came from (`policy.strategy.steps`, `flags[1].owner`). */
function fail(field: string, issues: FlagIssue[], fix: string): never {
  const at = (path: string) => (path === "" ? field : path === field || path.startsWith(`${field}[`) ? path : `${field}.${path}`);
  throw new ArgsError(
    `${C}: invalid ${field} (${issues.length} problem${issues.length === 1 ? "" : "s"}); ${fix}:\n` + issues.map((i) => `  - ${at(i.path)}: ${i.message}`).join("\n"),
  );
}

/** The strategy for a policy, or an ArgsError naming every `policy.<path>` AppConfig cannot express. */
export function deriveFlagReleaseStrategy(policy: PolicyInput, requireMonitors: boolean, ignoreComparisonGates: boolean, warn = true): AppConfigStrategy {
  const parsed = safeParsePolicy(policy);
  if (!parsed.ok) fail("policy", parsed.issues, "fix the RolloutPolicy (see docs/policy.md)");
  const resolved = parsed.policy;
  const result = deriveAppConfigStrategy(resolved, { requireMonitors, ignoreComparisonGates });
  if (!result.ok) fail("policy", result.issues, "AppConfig can walk only LINEAR or EXPONENTIAL (doubling) ladders guarded by CloudWatch alarms");
  if (warn) for (const w of result.warnings) void pulumi.log.warn(`${C}: policy.${w}`);
  return result.strategy;
}

/** The hosted configuration content for either form of flags, or an ArgsError naming the flag's path. */
export function renderFlagReleaseContent(flags: FlagSpec[] | undefined, flagsDocument: string | undefined, now: Date): string {
  if (flags !== undefined) {
    const issues = checkFlagSpecs(flags, now);
    if (issues.length) fail("flags", issues, "every flag needs a key, enabled, an owner and an unexpired expires date");
    return JSON.stringify(renderFlagsDocument(flags));
  }
  let doc: FeatureFlagsDocument;
  try {
    doc = JSON.parse(flagsDocument ?? "") as FeatureFlagsDocument;
  } catch (e) {
    throw new ArgsError(`${C}: flagsDocument must be JSON (an AWS.AppConfig.FeatureFlags document): ${(e as Error).message}`);
  }
  const issues = checkFlagsDocument(doc, now);
  if (issues.length) fail("flagsDocument", issues, "every flag needs owner and expires attributes and values");
  // Re-serialized so the content is canonical: a whitespace change is not a new configuration version.
  return JSON.stringify(doc);
}

/** Plain-value checks of FlagReleaseArgs; throws ArgsError naming the field. Outputs are checked in apply. */
export function validateFlagReleaseArgs(args: FlagReleaseArgs, now: Date): void {
  if (args.policy === undefined || args.policy === null) throw new ArgsError(`${C}: policy is required (the service's RolloutPolicy)`);
  requireExactlyOne(C, { flags: args.flags, flagsDocument: args.flagsDocument }, "declare flags as a list, or pass a complete AppConfig feature-flags document");
  checkNonEmpty(C, "applicationName", plain(args.applicationName), "a non-empty AppConfig application name");
  checkNonEmpty(C, "environmentName", plain(args.environmentName), "a non-empty AppConfig environment name");
  const policy = plain(args.policy);
  const requireMonitors = plain(args.requireMonitors);
  const ignore = plain(args.ignoreComparisonGates);
  if (policy !== undefined && isPlainDeep(policy) && !pulumi.Output.isInstance(args.requireMonitors) && !pulumi.Output.isInstance(args.ignoreComparisonGates)) {
    // Warnings are logged once, by the derivation in apply.
    deriveFlagReleaseStrategy(policy, requireMonitors ?? true, ignore ?? false, false);
  }
  const flags = plain(args.flags);
  if (flags !== undefined && isPlainDeep(flags)) renderFlagReleaseContent(flags as FlagSpec[], undefined, now);
  const document = plain(args.flagsDocument);
  if (document !== undefined) renderFlagReleaseContent(undefined, document, now);
}

/** True when a value holds no Output or Promise anywhere (so it can be checked before deployment). */
function isPlainDeep(x: unknown): boolean {
  if (pulumi.Output.isInstance(x) || x instanceof Promise) return false;
  if (Array.isArray(x)) return x.every(isPlainDeep);
  if (typeof x === "object" && x !== null) return Object.values(x).every(isPlainDeep);
  return true;
}

/**
 * A flag-gated release on AWS AppConfig: an application, an environment whose monitors are the
 * policy's alarms, a feature-flag configuration profile with its hosted version, and a deployment
 * strategy derived from the same RolloutPolicy as the service's canary. Deploying a new version of
 * the flags with that strategy (`aws appconfig start-deployment`) is the release; AppConfig rolls it
 * back when a monitor alarms.
 */
export class FlagRelease extends pulumi.ComponentResource {
  public readonly applicationId: pulumi.Output<string>;
  public readonly environmentId: pulumi.Output<string>;
  public readonly configurationProfileId: pulumi.Output<string>;
  public readonly configurationVersion: pulumi.Output<number>;
  public readonly deploymentStrategyId: pulumi.Output<string>;
  /** Role AppConfig assumes to read the monitors' alarm states. */
  public readonly alarmRoleArn: pulumi.Output<string>;
  /** The derived strategy: growth, increments, minutes and the alarm names watched. */
  public readonly strategy: pulumi.Output<AppConfigStrategy>;

  constructor(name: string, args: FlagReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:FlagRelease", name, {}, opts);
    const now = new Date();
    check(this, () => validateFlagReleaseArgs(args, now));

    const strategy = pulumi
      .all([args.policy, args.requireMonitors, args.ignoreComparisonGates])
      .apply(([policy, requireMonitors, ignore]) =>
        checked(this, () => deriveFlagReleaseStrategy(policy as PolicyInput, requireMonitors ?? true, ignore ?? false)),
      );
    const content = pulumi
      .all([args.flags, args.flagsDocument])
      .apply(([flags, document]) => checked(this, () => renderFlagReleaseContent(flags as FlagSpec[] | undefined, document, now)));
    const tags = withTags(args.tags, { "rollgate:release": name });

    const application = new appconfig.Application(
      `${name}-app`,
      { name: args.applicationName ?? name, description: "Feature flags released by rollgate", tags },
      { parent: this },
    );

    const role = new iam.Role(
      `${name}-monitors`,
      {
        description: `AppConfig reads the alarm states of ${name}'s monitors`,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "appconfig.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags,
      },
      { parent: this },
    );
    new iam.RolePolicy(
      `${name}-monitors`,
      {
        role: role.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: ["cloudwatch:DescribeAlarms"],
              // `*` on purpose: DescribeAlarms returns composite alarms only to a permission scoped to
              // `*` (DescribeAlarms API reference), and AppConfig's documented monitor role grants it on
              // `*`. The role can do nothing else, and only AppConfig can assume it.
              Resource: "*",
            },
          ],
        }),
      },
      { parent: this },
    );

    // Alarm names become ARNs in the application's own partition, region and account: AppConfig
    // watches alarms where the environment lives, and the ARN is known without a lookup.
    const monitors = pulumi.all([application.arn, strategy, role.arn]).apply(([appArn, s, roleArn]) => {
      const parts = parseArn(appArn);
      if (!parts) throw new pulumi.ResourceError(`${C}: unexpected AppConfig application ARN ${JSON.stringify(appArn)}`, this);
      return s.alarms.map((alarm) => ({
        alarmArn: `arn:${parts.partition}:cloudwatch:${parts.region}:${parts.account}:alarm:${alarm}`,
        alarmRoleArn: roleArn,
      }));
    });
    const environment = new appconfig.Environment(
      `${name}-env`,
      {
        applicationId: application.id,
        name: args.environmentName ?? "production",
        description: "Monitors are the rollout policy's alarm gates; an alarm rolls the deployment back",
        monitors,
        tags,
      },
      { parent: this },
    );

    const profile = new appconfig.ConfigurationProfile(
      `${name}-flags`,
      {
        applicationId: application.id,
        name: "flags",
        description: "Feature flags with owner and expires attributes",
        locationUri: "hosted",
        type: "AWS.AppConfig.FeatureFlags",
        tags,
      },
      { parent: this },
    );
    const version = new appconfig.HostedConfigurationVersion(
      `${name}-flags`,
      {
        applicationId: application.id,
        configurationProfileId: profile.configurationProfileId,
        contentType: "application/json",
        content,
        description: "Released with the deployment strategy derived from the rollout policy",
      },
      // A flags change replaces this resource; without retainOnDelete Pulumi would delete the
      // previous version, which is the one AppConfig rolls back to when a monitor alarms.
      { parent: this, retainOnDelete: true },
    );

    const deploymentStrategy = new appconfig.DeploymentStrategy(
      `${name}-strategy`,
      {
        description: strategy.description,
        growthType: strategy.growthType,
        growthFactor: strategy.growthFactor,
        deploymentDurationInMinutes: strategy.deploymentDurationInMinutes,
        finalBakeTimeInMinutes: strategy.finalBakeTimeInMinutes,
        replicateTo: "NONE",
        tags,
      },
      { parent: this },
    );

    this.applicationId = application.id;
    this.environmentId = environment.environmentId;
    this.configurationProfileId = profile.configurationProfileId;
    this.configurationVersion = version.versionNumber;
    this.deploymentStrategyId = deploymentStrategy.id;
    this.alarmRoleArn = role.arn;
    this.strategy = strategy;
    this.registerOutputs({
      applicationId: this.applicationId,
      environmentId: this.environmentId,
      configurationProfileId: this.configurationProfileId,
      configurationVersion: this.configurationVersion,
      deploymentStrategyId: this.deploymentStrategyId,
      alarmRoleArn: this.alarmRoleArn,
      strategy: this.strategy,
    });
  }
}
