/**
 * Policies that cannot protect anything pass validation (they may be intended) but are warned
 * about: by `rollgate validate` and, for the policy the controller runs, at preview.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { run } from "../src/cli/program.js";
import { parsePolicy, policyWarnings } from "../src/policy/index.js";
import { captureIo, tempDir } from "./cli-io.js";

const paths = (input: unknown) => policyWarnings(parsePolicy(input)).map((w) => w.path);
const canary = { type: "canary", steps: [{ percent: 10, hold: "5m" }, { percent: 50, hold: "5m" }] };

describe("policy safety warnings", () => {
  test.each([
    ["no gates at all", { strategy: canary, gates: [] }, ["gates"]],
    ["profile standard with gates: []", { profile: "standard", gates: [] }, ["gates"]],
    ["blue-green without gates", { strategy: { type: "blueGreen", bake: "10m" }, gates: [] }, ["gates"]],
    [
      "a step with gates: []",
      { strategy: { type: "canary", steps: [{ percent: 10, hold: "5m", gates: [] }, { percent: 50, hold: "5m" }] }, gates: [{ type: "errorRate" }] },
      ["steps[0].gates"],
    ],
    ["a rollback band that can never be exceeded, with minSamples 0", { strategy: canary, gates: [{ type: "errorRate", holdBand: 1, rollbackBand: 1e6, minSamples: 0 }] }, ["gates[0].rollbackBand", "gates[0].minSamples"]],
    [
      "a metric gate (its failure metric may never be published)",
      { strategy: canary, gates: [{ type: "metric", name: "checkout", namespace: "Shop", events: "Failed", total: "Attempted", worseWhen: "higher" }] },
      ["gates[0]"],
    ],
  ] as [string, unknown, string[]][])("%s", (_label, input, expected) => {
    expect(paths(input)).toEqual(expected);
  });

  test("a protective policy has no warnings", () => {
    expect(paths({ strategy: canary, gates: [{ type: "errorRate", holdBand: 0.5, rollbackBand: 2, minSamples: 200 }] })).toEqual([]);
  });

  test("the messages say what cannot happen", () => {
    const [w] = policyWarnings(parsePolicy({ profile: "standard", gates: [] }));
    expect(w!.message).toMatch(/profile "standard" with gates: \[\] replaces the profile's gates; nothing can roll a rollout back/);
  });
});

describe("rollgate validate prints safety warnings (exit code 0)", () => {
  const dir = tempDir();
  const file = join(dir, "ungated.yaml");
  writeFileSync(file, "profile: standard\ngates: []\n");

  test("text and JSON", async () => {
    const text = captureIo({ cwd: dir });
    const code = await run(["validate", file], text);
    expect(code).toBe(0);
    expect(text.out).toMatch(/1 safety warning:\n {2}gates: the policy has no gates/);
    const json = captureIo({ cwd: dir });
    expect(await run(["validate", file, "--json"], json)).toBe(0);
    expect(JSON.parse(json.out).safetyWarnings).toEqual([{ path: "gates", message: expect.stringMatching(/^the policy has no gates/) }]);
  });
});

describe("ProgressiveService warns at preview", () => {
  test("a gate that can never roll back is logged as a warning naming the field (on the policy the controller runs: the health gate is added to every step)", async () => {
    const { createMocks, settle, valueOf } = await import("../components/mocks.js");
    const mocks = createMocks();
    await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
    const C = await import("../components/index.js");
    const warned: string[] = [];
    const original = pulumi.log.warn;
    (pulumi.log as { warn: typeof pulumi.log.warn }).warn = (msg: string) => {
      warned.push(msg);
      return Promise.resolve();
    };
    try {
      const svc = new C.ProgressiveService("warn", {
        version: "v1",
        policy: { strategy: { type: "canary", steps: [{ percent: 10, hold: "5m", gates: [] }, { percent: 50, hold: "5m" }] }, gates: [{ type: "errorRate", rollbackBand: 1e6 }] },
        vpcId: "vpc-1",
        loadBalancerArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188",
        clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/main",
        image: "nginx:1.27",
        subnetIds: ["subnet-1"],
        securityGroupIds: ["sg-1"],
      });
      await valueOf(svc.policyJson);
      await settle();
    } finally {
      (pulumi.log as { warn: typeof pulumi.log.warn }).warn = original;
    }
    expect(warned.filter((m) => m.startsWith("policy "))).toEqual([expect.stringMatching(/^policy gates\[0\]\.rollbackBand: gate "error-rate": a rollbackBand of 1000000 percentage points can never be exceeded/)]);
  });
});
