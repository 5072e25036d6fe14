/**
 * What users get does not depend on this checkout's surroundings: no file the project runs or
 * tests reads the `shared/` folder that sits beside CI's clone (users do not have it), and the
 * Argo Rollouts CRDs the component installs resolve inside the package itself.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { CRD_FILES, defaultCrdDirectory, loadArgoCrds, packageRoot } from "../components/kubernetes/crds.js";

const REPO = resolve(import.meta.dirname, "..");
// Built from parts so this file does not match its own patterns.
const UP = "..";
const SHARED = "shared";
const FORBIDDEN: Array<[string, RegExp]> = [
  [`${UP}/${SHARED}`, new RegExp(`\\.\\.[/\\\\]${SHARED}\\b`)],
  [`"${UP}", "${SHARED}" (a path join)`, new RegExp(`["'\`]\\.\\.["'\`]\\s*,\\s*["'\`]${SHARED}["'\`]`)],
];
const SCANNED = ["src", "components", "test", "scripts", "bench", "bin"];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules") out.push(...files(path));
    } else if (/\.(ts|mts|cts|js|mjs|cjs|json|ya?ml|py|sh)$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

describe("nothing reads the folder beside the checkout", () => {
  const scanned = SCANNED.filter((d) => statSync(join(REPO, d), { throwIfNoEntry: false })?.isDirectory()).flatMap((d) => files(join(REPO, d)));

  test("the scan covers the project's code", () => {
    // A scan that silently finds nothing would pass for the wrong reason.
    expect(scanned.length).toBeGreaterThan(50);
    expect(scanned.map((f) => relative(REPO, f))).toContain(`components${sep}kubernetes${sep}crds.ts`);
  });

  test.each(FORBIDDEN)("no file in src, components, test, scripts, bench or bin mentions %s", (_label, pattern) => {
    const hits = scanned.flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, i) => (pattern.test(line) ? [`${relative(REPO, file)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(hits, "vendor what the project needs inside it (see vendor/argo-rollouts) instead").toEqual([]);
  });

  test("the pattern catches what it is meant to catch", () => {
    expect(FORBIDDEN[0]![1].test(`resolve(REPO, "${UP}/${SHARED}/schemas/argo-rollouts")`)).toBe(true);
    expect(FORBIDDEN[1]![1].test(`resolve(packageRoot(), "${UP}", "${SHARED}", "schemas")`)).toBe(true);
    expect(FORBIDDEN[0]![1].test(`"arn:...:loadbalancer/app/${SHARED}/50dc6c495c0c9188"`)).toBe(false);
  });
});

describe("vendored Argo Rollouts CRDs", () => {
  const tmp = mkdtempSync(join(tmpdir(), "rollgate-root-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("the default CRD folder is inside the package and holds all four CRDs", () => {
    const dir = defaultCrdDirectory();
    expect(dir).toBe(join(REPO, "vendor", "argo-rollouts"));
    const crds = loadArgoCrds();
    expect(crds.map((c) => c.spec.names.kind)).toEqual(["Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"]);
    expect(CRD_FILES.length).toBe(4);
  });

  test("the vendored files ship with their origin and licence notice", () => {
    const notice = readFileSync(join(REPO, "vendor", "argo-rollouts", "README.md"), "utf8");
    expect(notice).toMatch(/argoproj\/argo-rollouts/);
    expect(notice).toMatch(/Apache License, Version 2\.0/);
    for (const file of CRD_FILES) expect(notice).toContain(file);
  });

  test("the package root skips package.json files of other names (dist/cjs, a user's nested folder)", () => {
    // installed layout: <tmp>/node_modules/rollgate/{package.json, dist/cjs/package.json, dist/cjs/components/kubernetes}
    const root = join(tmp, "node_modules", "rollgate");
    const deep = join(root, "dist", "cjs", "components", "kubernetes");
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(tmp, "package.json"), JSON.stringify({ name: "infra" }));
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "rollgate" }));
    writeFileSync(join(root, "dist", "cjs", "package.json"), JSON.stringify({ type: "commonjs" }));
    expect(packageRoot(deep)).toBe(root);
    expect(() => packageRoot(tmp)).toThrow(/no package.json named "rollgate" above/);
  });
});
