/**
 * The policies shown in the README and the policy reference are real: every YAML block that
 * declares a strategy or a profile must parse with parsePolicy.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { safeParsePolicy } from "../src/policy/index.js";

function policyBlocks(file: string): Array<[string, string]> {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.filter((b) => /^(strategy|profile):/m.test(b)).map((b, i) => [`${file} block ${i + 1}`, b]);
}

const blocks = [...policyBlocks("README.md"), ...policyBlocks("docs/policy.md")];

describe("documented policies parse", () => {
  test("there are policies to check", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });
  test.each(blocks)("%s", (_name, yaml) => {
    const result = safeParsePolicy(parse(yaml));
    expect(result.ok, result.ok ? "" : JSON.stringify(result.issues)).toBe(true);
  });
});
