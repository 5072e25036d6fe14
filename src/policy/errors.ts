import type { z } from "zod";

/** One problem in a policy: where it is and what to do about it. */
export interface PolicyIssue {
  /** Field path as written in the policy, e.g. `strategy.steps[2].percent`. */
  path: string;
  message: string;
}

/** Thrown by parsePolicy: every problem found, never a stack trace for the user to read. */
export class PolicyError extends Error {
  override readonly name = "PolicyError";
  constructor(readonly issues: PolicyIssue[]) {
    super(
      `invalid rollout policy (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  - ${i.path || "(policy)"}: ${i.message}`).join("\n"),
    );
  }
}

/** `["strategy", "steps", 2, "percent"]` -> `strategy.steps[2].percent`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest known field name, for "did you mean" hints on typos. */
export function suggest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = candidate;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Turns zod's issues into path + message pairs a person can act on. */
export function fromZodIssues(issues: z.core.$ZodIssue[], knownKeys: ReadonlySet<string>): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const hint = suggest(key, knownKeys);
        out.push({
          path: formatPath([...issue.path, key]),
          message: `unknown field${hint ? `; did you mean "${hint}"?` : "; remove it"}`,
        });
      }
      continue;
    }
    if (issue.code === "invalid_union" && "discriminator" in issue && issue.discriminator) {
      const path = issue.path.at(-1) === issue.discriminator ? issue.path : [...issue.path, issue.discriminator];
      const options = (issue.message.match(/'([^']+)'/g) ?? []).map((o) => o.replaceAll("'", ""));
      out.push({
        path: formatPath(path),
        message: options.length ? `must be one of ${options.map((o) => `"${o}"`).join(", ")}` : issue.message,
      });
      continue;
    }
    if (issue.code === "invalid_type" && issue.path.length === 0) {
      out.push({ path: "", message: "must be an object (a RolloutPolicy)" });
      continue;
    }
    if ((issue.code === "invalid_type" || issue.code === "invalid_value") && "input" in issue && issue.input === undefined) {
      out.push({ path: formatPath(issue.path), message: "is required" });
      continue;
    }
    out.push({ path: formatPath(issue.path), message: issue.message });
  }
  return out;
}
