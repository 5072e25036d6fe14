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

/**
 * What a pair of conditions says for a single verdict value, read from the engine itself: every
 * rollgate condition compares the one value (result[0].Values[0] or result[0]) with literals, so
 * its phase is constant between the literals. The engine is asked at every literal, between
 * neighbours, beyond both ends, and for NaN, +/-Inf and an empty result; the returned function
 * answers from those. `verify` spot-checks it against the engine on extra values, so a condition
 * that is not of that shape fails loudly instead of being misread.
 */
export function phaseFunction(conditions: Conditions, kind: "cloudWatch" | "prometheus", verify: number[] = []): (value: number | undefined) => ArgoPhase {
  const text = `${conditions.successCondition ?? ""} ${conditions.failureCondition ?? ""}`;
  const literals = [...new Set([...text.matchAll(/\d+(?:\.\d+)?/g)].flatMap((m) => [Number(m[0]), -Number(m[0])]))].sort((a, b) => a - b);
  const points: number[] = [];
  literals.forEach((l, i) => {
    points.push(l);
    if (i + 1 < literals.length) points.push((l + literals[i + 1]!) / 2);
  });
  const lo = literals[0] ?? 0;
  const hi = literals.at(-1) ?? 0;
  points.push(lo - 1 - Math.abs(lo), hi + 1 + Math.abs(hi));
  const result = (v: number | undefined): ArgoResult =>
    kind === "cloudWatch" ? { kind: "cloudWatch", series: [{ id: "verdict", values: v === undefined ? [] : [v] }] } : { kind: "vector", values: v === undefined ? [] : [v] };
  const probes: Array<number | undefined> = [...points, Number.NaN, Infinity, -Infinity, undefined];
  const phases = evaluateAll(probes.map((v) => ({ conditions, result: result(v) }))).map((e) => e.phase);
  const sorted = points.map((p, i) => [p, phases[i]!] as const).sort((a, b) => a[0] - b[0]);
  const read = (v: number | undefined): ArgoPhase => {
    if (v === undefined) return phases[probes.length - 1]!;
    if (Number.isNaN(v)) return phases[points.length]!;
    if (v === Infinity) return phases[points.length + 1]!;
    if (v === -Infinity) return phases[points.length + 2]!;
    for (let i = 0; i < sorted.length; i++) {
      if (v === sorted[i]![0]) return sorted[i]![1];
      if (v < sorted[i]![0]) return i === 0 ? sorted[0]![1] : literals.includes(sorted[i]![0]) ? sorted[i - 1]![1] : sorted[i]![1];
    }
    return sorted.at(-1)![1];
  };
  if (verify.length > 0) {
    const truth = evaluateAll(verify.map((v) => ({ conditions, result: result(v) })));
    verify.forEach((v, i) => {
      if (read(v) !== truth[i]!.phase) throw new Error(`phaseFunction misreads ${v}: ${read(v)} but the engine says ${truth[i]!.phase} for ${text}`);
    });
  }
  return read;
}
