/**
 * The product is the packed tarball, not this working tree. `npm pack` it, install it into a fresh
 * temporary infra repo with only its runtime dependencies and the peers a user installs, and use it
 * as users do: the user's own strict tsconfig for an ESM (NodeNext) program and for Pulumi's
 * CommonJS TypeScript template (module commonjs, moduleResolution node, no skipLibCheck); both
 * programs evaluate a ProgressiveService and a KubernetesProgressiveService with installCrds under
 * Pulumi's mocks (rollgate/testing); the controller asset and the CRDs must come from inside the
 * installed package; and the installed bin runs `--help` and `validate` with no dev dependency
 * (tsx, esbuild, typescript's use by rollgate) present.
 *
 * Installs come from the npm cache filled by this repository's own `npm ci` (--prefer-offline),
 * with the peers pinned to the versions this repository tests with.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const REPO = join(import.meta.dirname, "..");
const HERE = join(import.meta.dirname, "consumer");
const work = mkdtempSync(join(tmpdir(), "rollgate-consumer-"));
const project = join(work, "infra");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const versionOf = (pkg: string) => (JSON.parse(readFileSync(join(REPO, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;

// Pulumi's TypeScript template (pulumi/templates, typescript/tsconfig.json), unchanged.
const PULUMI_TEMPLATE_TSCONFIG = {
  compilerOptions: {
    strict: true,
    outDir: "bin",
    target: "es2020",
    module: "commonjs",
    moduleResolution: "node",
    sourceMap: true,
    experimentalDecorators: true,
    pretty: true,
    noFallthroughCasesInSwitch: true,
    noImplicitReturns: true,
    forceConsistentCasingInFileNames: true,
  },
  files: ["index.ts"],
};
// A strict ESM project of the kind `tsc --init` suggests for Node today (which sets skipLibCheck;
// the CommonJS template above does not, so that one checks rollgate's declarations in full).
const NODENEXT_TSCONFIG = {
  compilerOptions: { strict: true, outDir: "bin", target: "es2022", module: "nodenext", moduleResolution: "nodenext", noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: true, types: ["node"] },
  files: ["index.ts"],
};

let tarball = "";
let installed = "";

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  // dist/ is current (test/support/built-dist.ts); pack it as `npm publish` would, without
  // running prepare a second time.
  const packed = JSON.parse(execFileSync(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: REPO, encoding: "utf8" })) as Array<{ filename: string }>;
  tarball = join(work, packed[0]!.filename);

  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({
      name: "infra",
      private: true,
      dependencies: {
        rollgate: `file:${tarball}`,
        "@pulumi/pulumi": versionOf("@pulumi/pulumi"),
        "@pulumi/aws": versionOf("@pulumi/aws"),
        "@pulumi/kubernetes": versionOf("@pulumi/kubernetes"),
      },
      devDependencies: { typescript: versionOf("typescript"), "@types/node": versionOf("@types/node") },
    }),
  );
  const install = run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error"], project);
  expect(install.status, install.err).toBe(0);
  installed = realpathSync(join(project, "node_modules", "rollgate"));

  for (const [dir, type, tsconfig] of [
    ["esm", "module", NODENEXT_TSCONFIG],
    ["cjs", "commonjs", PULUMI_TEMPLATE_TSCONFIG],
  ] as const) {
    mkdirSync(join(project, dir));
    writeFileSync(join(project, dir, "package.json"), JSON.stringify({ name: `infra-${dir}`, private: true, type }));
    writeFileSync(join(project, dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    cpSync(join(HERE, "program.ts"), join(project, dir, "index.ts"));
  }
  cpSync(join(REPO, "stacks", "shared", "policy.yaml"), join(project, "policy.yaml"));
}, 240_000);

afterAll(() => rmSync(work, { recursive: true, force: true }), 300_000);

describe("the packed tarball", () => {
  test("ships compiled code, the vendored CRDs and the licence, and no sources, demo, moto launcher or source maps", () => {
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
    for (const f of ["dist/index.js", "dist/cjs/index.js", "dist/cjs/package.json", "dist/index.d.ts", "dist/cjs/index.d.ts", "dist/lambda/controller.mjs", "dist/src/cli/main.js", "bin/rollgate.mjs", "vendor/argo-rollouts/rollout-crd.yaml", "vendor/argo-rollouts/README.md", "LICENSE", "NOTICE", "README.md"]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /\.map$/.test(f))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(demo|local)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("stacks/") || f.startsWith("bench/"))).toEqual([]);
  });

  test("installs with only its runtime dependencies: no TypeScript loader or bundler", () => {
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    for (const name of ["tsx", "esbuild", "vitest", "typescript"]) expect(pkg.dependencies, name).not.toHaveProperty(name);
    expect(existsSync(join(project, "node_modules", "tsx"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "esbuild"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "vitest"))).toBe(false);
    // The peers are the user's: one copy of @pulumi/pulumi, so the user's mocks and settings apply.
    expect(existsSync(join(installed, "node_modules", "@pulumi"))).toBe(false);
  });
});

describe.each(["esm", "cjs"])("a %s Pulumi program using the installed package", (dir) => {
  test("type-checks under the user's own strict tsconfig", () => {
    const tsc = run(process.execPath, [join(project, "node_modules", "typescript", "bin", "tsc"), "-p", join(project, dir)], project);
    expect(tsc.out + tsc.err).toBe("");
    expect(tsc.status).toBe(0);
  }, 180_000);

  test("evaluates a ProgressiveService and a KubernetesProgressiveService (installCrds) under mocks, with the controller bundle and CRDs from inside the package", () => {
    const r = run(process.execPath, [join(project, dir, "bin", "index.js")], join(project, dir));
    expect(r.err).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.out.trim().split("\n").pop()!) as { controllerAsset: string; crds: string[]; counts: Record<string, number>; stepController: string; policyVersion: boolean };
    expect(result.controllerAsset.startsWith(installed + sep), `${result.controllerAsset} lies inside ${installed}`).toBe(true);
    expect(result.controllerAsset).toBe(join(installed, "dist", "lambda", "controller.mjs"));
    expect(existsSync(result.controllerAsset)).toBe(true);
    expect(result.crds.sort()).toEqual(["analysisruns.argoproj.io", "analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io", "rollouts.argoproj.io"]);
    expect(result.counts["rollgate:index:ProgressiveService"]).toBe(1);
    expect(result.counts["rollgate:index:KubernetesProgressiveService"]).toBe(1);
    expect(result.counts["aws:lambda/function:Function"]).toBe(1);
    expect(result.counts["kubernetes:argoproj.io/v1alpha1:Rollout"]).toBe(1);
    expect(result.stepController).toBe("function");
    expect(result.policyVersion).toBe(true);
  }, 120_000);
});

describe("the installed bin", () => {
  // PATH without this repository's node_modules/.bin, as in a user's shell.
  const env = { PATH: `${join(project, "node_modules", ".bin")}${process.platform === "win32" ? ";" : ":"}${join(process.execPath, "..")}:/usr/bin:/bin`, HOME: work, NO_COLOR: "1", npm_config_update_notifier: "false" };

  test("npx rollgate --help", () => {
    const r = run(npm === "npm" ? "npx" : "npx.cmd", ["--no-install", "rollgate", "--help"], project, env);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^Usage: rollgate/m);
    expect(r.out).toMatch(/validate/);
  });

  test("rollgate validate policy.yaml", () => {
    const r = run(join(project, "node_modules", ".bin", "rollgate"), ["validate", "policy.yaml"], project, env);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(r.out.length).toBeGreaterThan(0);
  });

  test("rollgate validate of a bad policy exits 1 naming the field", () => {
    writeFileSync(join(project, "bad.yaml"), "profile: nope\n");
    const r = run(join(project, "node_modules", ".bin", "rollgate"), ["validate", "bad.yaml"], project, env);
    expect(r.status).toBe(1);
    expect(r.out + r.err).toMatch(/profile/);
  });

  test("the bin resolves to the compiled CLI in the installed package", () => {
    const bin = readFileSync(join(installed, "bin", "rollgate.mjs"), "utf8");
    expect(bin).toMatch(/dist\/src\/cli\/main\.js/);
    expect(bin).not.toMatch(/tsx/);
    expect(readdirSync(join(installed, "dist", "src", "cli")).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });
});
