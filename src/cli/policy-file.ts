/** Reads a policy file (YAML or JSON) and resolves it, reporting problems by field path. */
import { readFile } from "node:fs/promises";
import { extname, resolve as resolvePath } from "node:path";
import { parseDocument } from "yaml";
import { safeParsePolicy } from "../policy/resolve.js";
import type { PolicyIssue } from "../policy/errors.js";
import type { RolloutPolicy } from "../policy/types.js";
import { CliError } from "./errors.js";

export type LoadedPolicy = { ok: true; file: string; policy: RolloutPolicy; input: unknown } | { ok: false; file: string; issues: PolicyIssue[] };

/** Parses the text of a policy file; YAML is a superset of JSON, but .json files get JSON's stricter errors. */
export function parsePolicyText(text: string, file: string): { ok: true; value: unknown } | { ok: false; issues: PolicyIssue[] } {
  if (extname(file).toLowerCase() === ".json") {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (err) {
      return { ok: false, issues: [{ path: "", message: `not valid JSON: ${(err as Error).message}` }] };
    }
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    return { ok: false, issues: doc.errors.map((e) => ({ path: "", message: `not valid YAML: ${e.message.split("\n")[0]}` })) };
  }
  return { ok: true, value: doc.toJS() };
}

/** Loads and resolves a policy file. A missing file is a CliError; an invalid policy is a value. */
export async function loadPolicyFile(path: string, cwd: string): Promise<LoadedPolicy> {
  const file = resolvePath(cwd, path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === "ENOENT" ? `policy file ${path} does not exist (looked in ${file}); pass the path of a YAML or JSON policy` : `cannot read policy file ${path}: ${(err as Error).message}`,
    );
  }
  const parsed = parsePolicyText(text, file);
  if (!parsed.ok) return { ok: false, file, issues: parsed.issues };
  const result = safeParsePolicy(parsed.value);
  if (!result.ok) return { ok: false, file, issues: result.issues };
  return { ok: true, file, policy: result.policy, input: parsed.value };
}

/** Loads a policy the command cannot work without: an invalid one is an error listing every issue. */
export async function requirePolicyFile(path: string, cwd: string): Promise<RolloutPolicy> {
  const loaded = await loadPolicyFile(path, cwd);
  if (!loaded.ok) {
    throw new CliError(
      `invalid rollout policy in ${path} (${loaded.issues.length} problem${loaded.issues.length === 1 ? "" : "s"}):\n` +
        loaded.issues.map((i) => `  - ${i.path || "(policy)"}: ${i.message}`).join("\n") +
        `\n(run rollgate validate ${path} for details)`,
      1,
      { issues: loaded.issues },
    );
  }
  return loaded.policy;
}
