/**
 * rollgate as a Pulumi component package (PulumiPlugin.yaml; `pulumi package add` from Python, Go,
 * C#, Java or YAML), checked with Pulumi's own machinery from @pulumi/pulumi rather than a copy:
 * - the plugin host `require()`s the package folder (package.json `main`, the CommonJS build) and
 *   serves the ComponentResource classes it exports (getPulumiComponents, as in run-plugin);
 * - the schema analyzer the component provider host uses reads the TypeScript sources through
 *   tsconfig.json and must find every component and every argument of its `XArgs` interface.
 * The analyzer rejects unions (other than `T | undefined` and enum forms), intersections, inline
 * object types and bare literal types; this test fails when a component argument or output
 * takes such a shape.
 */
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import ts from "typescript";
import { beforeAll, describe, expect, test } from "vitest";

const REPO = join(import.meta.dirname, "..");
const require = createRequire(import.meta.url);
const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer.js") as typeof import("@pulumi/pulumi/provider/experimental/analyzer.js");
const { getPulumiComponents } = require("@pulumi/pulumi/provider/experimental/provider.js") as typeof import("@pulumi/pulumi/provider/experimental/provider.js");
type AnalyzeResult = ReturnType<InstanceType<typeof Analyzer>["analyze"]>;

const EXPECTED = ["BlueGreenTargetGroups", "EcsSlots", "FlagRelease", "HealthGates", "KubernetesProgressiveService", "ProgressiveService", "StepController", "WeightedRouting"];

/** Property names of `export interface <name>` in the component sources, read syntactically. */
function interfaceProperties(name: string): string[] {
  const dirs = [join(REPO, "components"), join(REPO, "components", "kubernetes")];
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const source = ts.createSourceFile(file, readFileSync(join(dir, file), "utf8"), ts.ScriptTarget.Latest, true);
      for (const node of source.statements) {
        if (ts.isInterfaceDeclaration(node) && node.name.text === name) {
          expect(node.heritageClauses, `${name} extends another interface; read its members too`).toBeUndefined();
          return node.members.flatMap((m) => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? [m.name.text] : []));
        }
      }
    }
  }
  throw new Error(`interface ${name} not found in components/`);
}

let exportedNames: string[];
let result: AnalyzeResult;

beforeAll(() => {
  // What run-plugin does: require the package folder, collect the ComponentResource classes.
  const exported = require(REPO) as Record<string, unknown>;
  exportedNames = getPulumiComponents(exported).map((c: { name: string }) => c.name);
  const packageJSON = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as Record<string, unknown>;
  result = new Analyzer(REPO, "rollgate", packageJSON, new Set(exportedNames)).analyze();
}, 600_000);

describe("the component package", () => {
  test("the plugin host finds every component in the package's main (the CommonJS build)", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { main: string };
    expect(pkg.main).toBe("dist/cjs/index.js");
    expect([...exportedNames].sort()).toEqual(EXPECTED);
  });

  test("Pulumi's schema analyzer finds every component", () => {
    expect(Object.keys(result.components).sort()).toEqual(EXPECTED);
  });

  test.each(EXPECTED)("%s: the analyzer finds every argument of its Args interface", (name) => {
    const component = result.components[name]!;
    expect(Object.keys(component.inputs).sort()).toEqual(interfaceProperties(`${name}Args`).sort());
    expect(Object.keys(component.outputs).length).toBeGreaterThan(0);
  });

  test("the policy argument is a JSON object (map) for other languages", () => {
    for (const name of ["ProgressiveService", "FlagRelease", "KubernetesProgressiveService"]) {
      const policy = result.components[name]!.inputs.policy!;
      expect(policy, name).toMatchObject({ type: "object", additionalProperties: { $ref: "pulumi.json#/Any" } });
    }
  });

  test("the ring conditions of WeightedRouting are named types", () => {
    expect(Object.keys(result.typeDefinitions)).toEqual(expect.arrayContaining(["WeightedRoutingRing", "WeightedRoutingRingHeader", "WeightedRoutingRingCookie"]));
  });
});
