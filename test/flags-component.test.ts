/**
 * FlagRelease under Pulumi's mock runtime: the exact AppConfig and IAM resources, the strategy
 * values derived from policies, the monitors wired to the alarms with the role, and bad inputs
 * rejected with the field path. Mocks cannot prove parentage or what AWS accepts; the AppConfig
 * limits are checked by our own code (see flags-strategy.test.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/index.js";
import { beforeAll, describe, expect, test, vi } from "vitest";
import type { GateInput, PolicyInput } from "../src/policy/index.js";

type FlagReleaseModule = typeof import("../components/flag-release.js");
let mod: FlagReleaseModule;
const recorded: MockResourceArgs[] = [];

const ACCOUNT = "123456789012";
const REGION = "eu-west-1";

beforeAll(async () => {
  pulumi.runtime.setMocks(
    {
      newResource(args: MockResourceArgs) {
        recorded.push(args);
        const id = `${args.name}-id`;
        const state: Record<string, unknown> = { ...args.inputs };
        switch (args.type) {
          case "aws:appconfig/application:Application":
            state.arn = `arn:aws:appconfig:${REGION}:${ACCOUNT}:application/${id}`;
            break;
          case "aws:appconfig/environment:Environment":
            state.environmentId = `env-${args.name}`;
            break;
          case "aws:appconfig/configurationProfile:ConfigurationProfile":
            state.configurationProfileId = `prof-${args.name}`;
            break;
          case "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion":
            state.versionNumber = 1;
            break;
          case "aws:iam/role:Role":
            state.arn = `arn:aws:iam::${ACCOUNT}:role/${args.name}`;
            break;
        }
        return { id, state };
      },
      call(args) {
        return args.inputs;
      },
    },
    "rollgate",
    "test",
    false,
  );
  mod = await import("../components/flag-release.js");
});

function value<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise(): Promise<T> }).promise();
}

/** Waits until Pulumi has registered the component's children (they are created asynchronously). */
async function settle(name: string, release: InstanceType<FlagReleaseModule["FlagRelease"]>): Promise<void> {
  await Promise.all([
    value(release.applicationId),
    value(release.environmentId),
    value(release.configurationVersion),
    value(release.deploymentStrategyId),
    value(release.alarmRoleArn),
  ]);
  // The RolePolicy feeds no output of the component: wait until all eight registrations are recorded.
  for (let i = 0; i < 1000 && childrenOf(name).length < 8; i++) await new Promise((r) => setImmediate(r));
}

/** The provider marks hosted configuration content secret; the mock sees Pulumi's secret envelope. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function secretValue(x: unknown): string {
  expect(x, "content is a secret").toMatchObject({ [SECRET_SIG]: "1b47061264138c4ac30d75fd1eb44270" });
  return (x as { value: string }).value;
}

function childrenOf(name: string): MockResourceArgs[] {
  return recorded.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}
function one(name: string, type: string): MockResourceArgs {
  const found = childrenOf(name).filter((r) => r.type === type);
  expect(found, `${type} of ${name}`).toHaveLength(1);
  return found[0]!;
}

const HEALTH: GateInput = { type: "alarm", name: "health", alarms: ["checkout-5xx", "checkout-p99"] };
const FLAGS = [
  { key: "newCheckout", enabled: true, owner: "team-payments", expires: "2099-12-31" },
  { key: "fastSearch", name: "Fast search", enabled: false, owner: "team-search", expires: "2099-06-30" },
];

function release(name: string, policy: PolicyInput, extra: Partial<Parameters<FlagReleaseModule["validateFlagReleaseArgs"]>[0]> = {}) {
  return new mod.FlagRelease(name, { policy, flags: FLAGS, ...extra });
}

describe("FlagRelease resources", () => {
  test("creates exactly the AppConfig application, environment, profile, hosted version, strategy and the monitor role", async () => {
    const r = release("checkout", { strategy: { type: "linear", stepPercent: 20, hold: "6m" }, gates: [HEALTH], promotion: { bake: "10m" } });
    await settle("checkout", r);

    const types = childrenOf("checkout").map((c) => c.type).sort();
    expect(types).toEqual([
      "aws:appconfig/application:Application",
      "aws:appconfig/configurationProfile:ConfigurationProfile",
      "aws:appconfig/deploymentStrategy:DeploymentStrategy",
      "aws:appconfig/environment:Environment",
      "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion",
      "aws:iam/role:Role",
      "aws:iam/rolePolicy:RolePolicy",
      "rollgate:index:FlagRelease",
    ]);

    const app = one("checkout", "aws:appconfig/application:Application");
    expect(app.inputs.name).toBe("checkout");
    const profile = one("checkout", "aws:appconfig/configurationProfile:ConfigurationProfile");
    expect(profile.inputs).toMatchObject({ type: "AWS.AppConfig.FeatureFlags", locationUri: "hosted", applicationId: "checkout-app-id" });
    const env = one("checkout", "aws:appconfig/environment:Environment");
    expect(env.inputs).toMatchObject({ name: "production", applicationId: "checkout-app-id" });

    const version = one("checkout", "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion");
    expect(version.inputs.contentType).toBe("application/json");
    expect(version.inputs.configurationProfileId).toBe("prof-checkout-flags");
    const doc = JSON.parse(secretValue(version.inputs.content));
    expect(doc.version).toBe("1");
    expect(Object.keys(doc.flags)).toEqual(["newCheckout", "fastSearch"]);
    expect(doc.flags.newCheckout.attributes.owner.constraints).toEqual({ type: "string", required: true });
    expect(doc.flags.newCheckout.attributes.expires.constraints).toEqual({ type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$", required: true });
    expect(doc.flags.fastSearch.name).toBe("Fast search");
    expect(doc.values).toEqual({
      newCheckout: { enabled: true, owner: "team-payments", expires: "2099-12-31" },
      fastSearch: { enabled: false, owner: "team-search", expires: "2099-06-30" },
    });
  });

  test("the monitors are the policy's alarms as ARNs in the application's account and region, each with the role", async () => {
    const r = release("monitored", { strategy: { type: "linear", stepPercent: 20, hold: "6m" }, gates: [HEALTH, { type: "alarm", name: "biz", alarms: ["checkout-5xx", "orders-drop"] }] });
    await settle("monitored", r);
    const env = one("monitored", "aws:appconfig/environment:Environment");
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/monitored-monitors`;
    expect(env.inputs.monitors).toEqual([
      { alarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:checkout-5xx`, alarmRoleArn: roleArn },
      { alarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:checkout-p99`, alarmRoleArn: roleArn },
      { alarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:orders-drop`, alarmRoleArn: roleArn },
    ]);
    expect(await value(r.alarmRoleArn)).toBe(roleArn);
  });

  test("the role trusts only AppConfig and may only DescribeAlarms", async () => {
    const r = release("iam", { strategy: { type: "linear", stepPercent: 50, hold: "5m" }, gates: [HEALTH] });
    await settle("iam", r);
    const role = one("iam", "aws:iam/role:Role");
    expect(JSON.parse(role.inputs.assumeRolePolicy as string)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "appconfig.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    const policy = one("iam", "aws:iam/rolePolicy:RolePolicy");
    expect(policy.inputs.role).toBe("iam-monitors-id");
    expect(JSON.parse(policy.inputs.policy as string)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: ["cloudwatch:DescribeAlarms"], Resource: "*" }],
    });
  });

  test("a flags document is passed through canonically and names, tags and environment are honoured", async () => {
    const document = {
      version: "1",
      flags: {
        beta: {
          name: "Beta",
          attributes: {
            owner: { constraints: { type: "string", required: true } },
            expires: { constraints: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$", required: true } },
            colour: { constraints: { type: "string", enum: ["red", "blue"] } },
          },
        },
      },
      values: { beta: { enabled: true, owner: "team-web", expires: "2099-01-01", colour: "red" } },
    };
    const r = new mod.FlagRelease("doc", {
      policy: { strategy: { type: "exponential", startPercent: 5, hold: "3m" }, gates: [HEALTH] },
      flagsDocument: JSON.stringify(document, null, 2),
      applicationName: "web",
      environmentName: "prod-eu",
      tags: { team: "web" },
    });
    await settle("doc", r);
    const version = one("doc", "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion");
    expect(secretValue(version.inputs.content)).toBe(JSON.stringify(document));
    expect(one("doc", "aws:appconfig/application:Application").inputs.name).toBe("web");
    const env = one("doc", "aws:appconfig/environment:Environment");
    expect(env.inputs.name).toBe("prod-eu");
    expect(env.inputs.tags).toEqual({ "rollgate:managed-by": "rollgate", team: "web", "rollgate:release": "doc" });
  });
});

describe("FlagRelease deployment strategy derived from the policy", () => {
  const cases: Array<[string, PolicyInput, Record<string, unknown>, number[]]> = [
    [
      "linear shorthand (AWS's own Linear20PercentEvery6Minutes)",
      { strategy: { type: "linear", stepPercent: 20, hold: "6m" }, gates: [HEALTH], promotion: { bake: "10m" } },
      { growthType: "LINEAR", growthFactor: 20, deploymentDurationInMinutes: 30, finalBakeTimeInMinutes: 10, replicateTo: "NONE" },
      [20, 40, 60, 80, 100],
    ],
    [
      "exponential shorthand (doubling from 2 %)",
      { strategy: { type: "exponential", startPercent: 2, hold: "5m" }, gates: [HEALTH], promotion: { bake: "30m" } },
      { growthType: "EXPONENTIAL", growthFactor: 2, deploymentDurationInMinutes: 35, finalBakeTimeInMinutes: 30, replicateTo: "NONE" },
      [2, 4, 8, 16, 32, 64, 100],
    ],
    [
      'preset "low" with a linear ladder and alarm gates over its comparison gates',
      { profile: "low", strategy: { type: "linear", stepPercent: 25, hold: "5m" }, gates: [HEALTH] },
      { growthType: "LINEAR", growthFactor: 25, deploymentDurationInMinutes: 20, finalBakeTimeInMinutes: 0, replicateTo: "NONE" },
      [25, 50, 75, 100],
    ],
    [
      "explicit canary ladder that doubles (10, 20, 40, 80)",
      {
        strategy: { type: "canary", steps: [10, 20, 40, 80].map((percent) => ({ percent, hold: "4m" })) },
        gates: [HEALTH],
        promotion: { bake: "1h" },
      },
      { growthType: "EXPONENTIAL", growthFactor: 10, deploymentDurationInMinutes: 20, finalBakeTimeInMinutes: 60, replicateTo: "NONE" },
      [10, 20, 40, 80, 100],
    ],
  ];
  test.each(cases)("%s", async (_label, policy, expected, increments) => {
    const name = `strat-${cases.findIndex((c) => c[1] === policy)}`;
    const r = release(name, policy);
    await settle(name, r);
    const strategy = one(name, "aws:appconfig/deploymentStrategy:DeploymentStrategy");
    expect(strategy.inputs).toMatchObject(expected);
    expect((await value(r.strategy)).increments).toEqual(increments);
  });

  test("a custom linear ladder with an approval is rejected at the approval", () => {
    expect(() => release("approval", { strategy: { type: "linear", stepPercent: 10, hold: "10m", approval: true }, gates: [HEALTH] })).toThrow(
      /policy\.strategy\.approval: AppConfig cannot pause a deployment for an operator's approval/,
    );
  });
});

describe("FlagRelease rejects bad inputs with the field path", () => {
  const linear: PolicyInput = { strategy: { type: "linear", stepPercent: 20, hold: "6m" }, gates: [HEALTH] };
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      "a ladder AppConfig cannot walk (the standard preset), naming the closest shorthands",
      () => release("bad-ladder", { profile: "standard", gates: [HEALTH] }),
      /policy\.strategy\.steps: the ladder 1, 5, 25, 50 % is neither linear .* closest: \{ type: "exponential", startPercent: 1 \} walks 1, 2, 4, 8, 16, 32, 64, 100 % .* \{ type: "linear", stepPercent: 20 \} walks 20, 40, 60, 80, 100 %/,
    ],
    [
      "an exponential factor other than 2",
      () => release("bad-factor", { strategy: { type: "exponential", startPercent: 5, factor: 3, hold: "5m" }, gates: [HEALTH] }),
      /policy\.strategy\.factor: AppConfig's EXPONENTIAL growth always doubles/,
    ],
    [
      "a flag without an owner",
      () => new mod.FlagRelease("no-owner", { policy: linear, flags: [{ key: "x", enabled: true, expires: "2099-01-01" } as never] }),
      /flags\[0\]\.owner: is required/,
    ],
    [
      "an expired flag",
      () => new mod.FlagRelease("expired", { policy: linear, flags: [FLAGS[0]!, { key: "old", enabled: true, owner: "team-a", expires: "2020-01-31" }] }),
      /flags\[1\]\.expires: expired on 2020-01-31 \(\d+ days ago\): remove the flag/,
    ],
    [
      "an impossible date",
      () => new mod.FlagRelease("bad-date", { policy: linear, flags: [{ key: "x", enabled: true, owner: "a", expires: "2099-02-30" }] }),
      /flags\[0\]\.expires: must be a calendar date YYYY-MM-DD \(UTC\), got "2099-02-30"/,
    ],
    [
      "a document flag without the owner attribute",
      () =>
        new mod.FlagRelease("ownerless-doc", {
          policy: linear,
          flagsDocument: JSON.stringify({ version: "1", flags: { x: { attributes: {} } }, values: { x: { enabled: true, expires: "2099-01-01" } } }),
        }),
      /flagsDocument\.flags\.x\.attributes\.owner: must be defined as/,
    ],
    [
      "a deployment longer than AppConfig's 1440 minutes",
      () => release("too-long", { strategy: { type: "linear", stepPercent: 5, hold: "2h" }, gates: [HEALTH] }),
      /policy\.strategy\.hold: 20 increments x 120m = 2400 minutes, above AppConfig's deploymentDurationInMinutes limit of 1440/,
    ],
    [
      "a final bake longer than 1440 minutes",
      () => release("long-bake", { ...linear, promotion: { bake: "25h" } }),
      /policy\.promotion\.bake: 1500 minutes is above AppConfig's finalBakeTimeInMinutes limit of 1440/,
    ],
    [
      "a growth factor below 1 %",
      () => release("tiny", { strategy: { type: "exponential", startPercent: 0.5, hold: "5m" }, gates: [HEALTH] }),
      /policy\.strategy\.startPercent: AppConfig's growth factor must be 1 to 100 %, got 0.5/,
    ],
    [
      "no alarms while monitors are required",
      () => release("no-alarms", { strategy: { type: "linear", stepPercent: 20, hold: "6m" } }),
      /policy\.gates: no alarm gate: AppConfig would roll the flag out with nothing able to roll it back/,
    ],
    [
      "a comparison gate AppConfig cannot evaluate",
      () => release("comparison", { ...linear, gates: [HEALTH, { type: "errorRate" }] }),
      /policy\.gates\[1\]: gate "error-rate" \(errorRate\) compares canary with baseline, which AppConfig cannot evaluate/,
    ],
    [
      "more than 5 alarms",
      () => release("six", { ...linear, gates: [{ type: "alarm", name: "many", alarms: ["a", "b", "c", "d", "e", "f"] }] }),
      /policy\.gates: 6 alarms, but an AppConfig environment watches at most 5; combine them into a CloudWatch composite alarm/,
    ],
    [
      "a flags document that is not JSON",
      () => new mod.FlagRelease("not-json", { policy: linear, flagsDocument: "{ flags: " }),
      /flagsDocument must be JSON \(an AWS.AppConfig.FeatureFlags document\)/,
    ],
    [
      "an empty flags list",
      () => new mod.FlagRelease("empty", { policy: linear, flags: [] }),
      /flags: must list at least one flag/,
    ],
    [
      "both flags and flagsDocument",
      () => new mod.FlagRelease("both", { policy: linear, flags: FLAGS, flagsDocument: "{}" }),
      /exactly 1 of \[flags\] or \[flagsDocument\] must be provided, but flags and flagsDocument were given/,
    ],
    [
      "a policy that is not a policy",
      () => release("bad-policy", { strategy: { type: "linear", stepPercent: 20 } } as never),
      /policy\.strategy\.hold: is required/,
    ],
  ];
  test.each(cases)("%s", (_label, act, message) => {
    expect(act).toThrow(message);
  });

  test("requireMonitors false accepts a policy without alarms and watches nothing", async () => {
    const r = release("unwatched", { strategy: { type: "linear", stepPercent: 50, hold: "5m" } }, { requireMonitors: false });
    await settle("unwatched", r);
    expect(one("unwatched", "aws:appconfig/environment:Environment").inputs.monitors).toEqual([]);
  });

  test("ignoreComparisonGates accepts comparison gates, warns once per ignored gate and keeps only the alarms as monitors", async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
    const r = release("ignored", { profile: "low", strategy: { type: "linear", stepPercent: 25, hold: "5m" }, gates: [{ type: "errorRate" }, HEALTH] }, { ignoreComparisonGates: true });
    await settle("ignored", r);
    expect((await value(r.strategy)).alarms).toEqual(["checkout-5xx", "checkout-p99"]);
    expect(warn.mock.calls.map((c) => c[0])).toEqual([expect.stringMatching(/^FlagRelease: policy\.gates\[0\]: gate "error-rate" \(errorRate\) compares canary with baseline/)]);
    warn.mockRestore();
  });

  test("a policy known only at deployment (an Output) is derived inside apply", async () => {
    const r = new mod.FlagRelease("late", {
      policy: pulumi.output({ strategy: { type: "exponential", startPercent: 4, hold: "10m" }, gates: [HEALTH] } as PolicyInput),
      flags: FLAGS,
    });
    await settle("late", r);
    expect(one("late", "aws:appconfig/deploymentStrategy:DeploymentStrategy").inputs).toMatchObject({
      growthType: "EXPONENTIAL",
      growthFactor: 4,
      deploymentDurationInMinutes: 60,
    });
  });
});
