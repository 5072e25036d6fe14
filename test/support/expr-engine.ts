/**
 * A real expr engine for tests: Argo Rollouts' condition evaluation (utils/evaluate/evaluate.go:
 * the same environment and the same Successful/Failed/Inconclusive/Error rule) compiled from
 * test/support/expr-engine/main.go against Debian's expr package, so the rendered
 * successCondition/failureCondition strings are judged by the engine Argo embeds, not by a
 * hand-written imitation.
 *
 * Setup, all offline once the Debian packages are there:
 * - `golang-go` (Go 1.19 on bookworm) and `golang-github-antonmedv-expr-dev` (expr 1.8.9 under
 *   /usr/share/gocode, its pre-rename import path github.com/antonmedv/expr). When either is
 *   missing and we run as root, they are installed with apt-get (with a dpkg lock timeout, since
 *   other jobs may be installing too); otherwise the error names the command to run. .ci/run
 *   installs them up front.
 * - The evaluator is built in GOPATH mode (GO111MODULE=off, GOPATH=/usr/share/gocode, no network)
 *   and cached under node_modules/.cache/rollgate-expr-engine/<hash of source + go version>, so
 *   only the first test run pays the ~10 s build.
 *
 * Version gap: Argo Rollouts (commit 9f8d111, 2026-08) pins github.com/expr-lang/expr v1.17.8;
 * Debian ships 1.8.9. The conditions rollgate renders use only len(), indexing, field access,
 * comparisons, !, &&, ||, parentheses and calls of the functions Argo puts in the environment
 * (isNaN, isNil); `test/kubernetes-expr-engine.test.ts` pins the behaviour of each of those that
 * the conditions rely on (short-circuiting, an index past the end is an error, len(nil) is an
 * error, NaN compares false), which 1.17 documents the same way.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { resolve } from "node:path";

const HERE = import.meta.dirname;
const SOURCE = resolve(HERE, "expr-engine/main.go");
const GOCODE = "/usr/share/gocode";
const EXPR_PACKAGE = `${GOCODE}/src/github.com/antonmedv/expr`;
const DEBIAN_PACKAGES = ["golang-go", "golang-github-antonmedv-expr-dev"];
const CACHE = resolve(HERE, "../../node_modules/.cache/rollgate-expr-engine");

export type ArgoPhase = "Successful" | "Failed" | "Inconclusive" | "Error";

/** A metric result as a provider hands it to Argo's EvaluateResult. */
export type ArgoResult =
  /** CloudWatch: GetMetricData's MetricDataResults (only the ReturnData queries), Values newest first. */
  | { kind: "cloudWatch"; series: Array<{ id: string; values: number[]; statusCode?: string }> }
  /** CloudWatch with a nil MetricDataResults list (a typed nil slice; Argo turns it into nil). */
  | { kind: "cloudWatch"; nil: true }
  /** Prometheus instant vector (or range matrix, flattened): the sample values, [] when empty. */
  | { kind: "vector"; values: number[] }
  /** Prometheus scalar. */
  | { kind: "scalar"; value: number }
  /** Web provider: the value at jsonPath, any JSON. */
  | { kind: "json"; json: unknown }
  | { kind: "nil" };

export interface Conditions {
  successCondition?: string;
  failureCondition?: string;
}

export interface Evaluation {
  phase: ArgoPhase;
  /** The evaluation error (phase Error). */
  error?: string;
  /** What each condition evaluated to; null when absent or not reached. */
  success: boolean | null;
  failure: boolean | null;
}

const num = (x: number): string => (Number.isNaN(x) ? "NaN" : x === Infinity ? "+Inf" : x === -Infinity ? "-Inf" : String(x));

function wire(result: ArgoResult): Record<string, unknown> {
  switch (result.kind) {
    case "cloudWatch":
      return "nil" in result
        ? { kind: "cloudWatch", nil: true }
        : { kind: "cloudWatch", series: result.series.map((s) => ({ id: s.id, statusCode: s.statusCode, values: s.values.map(num) })) };
    case "vector":
      return { kind: "vector", values: result.values.map(num) };
    case "scalar":
      return { kind: "scalar", value: num(result.value) };
    case "json":
      return { kind: "json", json: result.json };
    case "nil":
      return { kind: "nil" };
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000) {
  return spawnSync(cmd, args, { encoding: "utf8", env, timeout: timeoutMs });
}

function goVersion(): string | undefined {
  const r = run("go", ["version"]);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Installs the Debian packages when missing (root only); throws with the command otherwise. */
function ensurePackages(): void {
  if (goVersion() && existsSync(EXPR_PACKAGE)) return;
  const command = `apt-get -o DPkg::Lock::Timeout=600 install -y ${DEBIAN_PACKAGES.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`the expr engine tests need Go and Debian's expr package; install them with: sudo ${command}`);
  }
  let r = run("apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", ...DEBIAN_PACKAGES], { ...process.env, DEBIAN_FRONTEND: "noninteractive" });
  if (r.status !== 0) {
    // A fresh container may have no package lists yet.
    run("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update"]);
    r = run("apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", ...DEBIAN_PACKAGES], { ...process.env, DEBIAN_FRONTEND: "noninteractive" });
  }
  if (r.status !== 0 || !goVersion() || !existsSync(EXPR_PACKAGE)) {
    throw new Error(`could not install ${DEBIAN_PACKAGES.join(" ")} (${command}):\n${r.stderr}`);
  }
}

let binary: string | undefined;

/** Path of the built evaluator, installing and building on first use. */
export function exprEngineBinary(): string {
  if (binary) return binary;
  ensurePackages();
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).update(goVersion() ?? "").update(readFileSync(`${EXPR_PACKAGE}/go.mod`)).digest("hex").slice(0, 16);
  const dir = resolve(CACHE, hash);
  const out = resolve(dir, "expr-eval");
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    // Parallel test workers may build at once: each writes its own file, the rename is atomic.
    const tmp = `${out}.${process.pid}`;
    const r = run("go", ["build", "-o", tmp, SOURCE], {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: GOCODE,
      GOFLAGS: "",
      GOPROXY: "off",
      GOCACHE: resolve(CACHE, "gocache"),
    });
    if (r.status !== 0) throw new Error(`building the expr evaluator failed:\n${r.stderr}`);
    renameSync(tmp, out);
  }
  binary = out;
  return out;
}

/**
 * Evaluates each (conditions, result) pair as Argo's EvaluateResult does, in one process.
 * Synchronous: a few thousand evaluations take well under a second.
 */
export function evaluateAll(cases: ReadonlyArray<{ conditions: Conditions; result: ArgoResult }>): Evaluation[] {
  if (cases.length === 0) return [];
  const input = cases
    .map((c) => JSON.stringify({ successCondition: c.conditions.successCondition ?? "", failureCondition: c.conditions.failureCondition ?? "", result: wire(c.result) }))
    .join("\n");
  const r = spawnSync(exprEngineBinary(), [], { input: `${input}\n`, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`expr evaluator exited with ${r.status}:\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  if (lines.length !== cases.length) throw new Error(`expr evaluator answered ${lines.length} of ${cases.length} cases:\n${r.stderr}`);
  return lines.map((l) => JSON.parse(l) as Evaluation);
}

/** One evaluation (see evaluateAll). */
export function evaluateArgo(conditions: Conditions, result: ArgoResult): Evaluation {
  return evaluateAll([{ conditions, result }])[0]!;
}
