/**
 * Who may run which controller command: principal ARN patterns per command group, checked by the
 * controller against the caller's verified ARN (see src/auth/access.ts and docs/controller.md,
 * "Trust model").
 *
 *   operate  pause, resume, abort, kill, unkill
 *   release  start, promote (promote past a step waiting for approval also needs approve)
 *   approve  approve
 *   freeze   freeze, unfreeze (this service's freeze and the account-wide one)
 *
 * A group that is not given allows every verified principal of the controller's own account: AWS
 * already refused anyone the function URL's IAM policy does not let in. A group given as [] allows
 * nobody. status needs no right beyond reaching the controller.
 */
import { z } from "zod";
import type { PolicyIssue } from "./errors.js";

export const ACCESS_GROUPS = ["operate", "release", "approve", "freeze"] as const;
export type AccessGroup = (typeof ACCESS_GROUPS)[number];

/** Commands a direct Lambda invoke (no verified identity) may carry. */
export const DIRECT_INVOKE_COMMANDS = ["status", "start"] as const;
export type DirectInvokeCommand = (typeof DIRECT_INVOKE_COMMANDS)[number];

const PARTITIONS = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/**
 * Problems with one principal pattern (an IAM-style ARN glob, `*` and `?` within each of the six
 * colon-separated parts), or undefined when it is usable.
 */
export function principalPatternProblem(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  const parts = pattern.split(":");
  if (parts.length < 6 || parts[0] !== "arn") {
    return `"${pattern}" is not a principal ARN pattern: use arn:aws:iam::<account>:role/<name>, arn:aws:iam::<account>:user/<name> or arn:aws:sts::<account>:assumed-role/<role>/<session> (wildcards * and ? allowed), or "*" for any principal of the controller's account`;
  }
  const [, partition, service, region, account] = parts as [string, string, string, string, string];
  if (!PARTITIONS.includes(partition) && !/[*?]/.test(partition)) return `"${pattern}": unknown partition "${partition}" (aws, aws-cn, aws-us-gov, ...)`;
  if (!["iam", "sts"].includes(service) && !/[*?]/.test(service)) return `"${pattern}": a principal's ARN is an iam or sts ARN, not ${service}`;
  if (region !== "" && region !== "*") return `"${pattern}": IAM and STS ARNs have no region; leave that part empty (arn:aws:iam::<account>:...)`;
  if (!/^\d{12}$/.test(account) && !(/[*?]/.test(account) && /^[0-9*?]+$/.test(account))) return `"${pattern}": the account must be 12 digits (or a wildcard), got "${account}"`;
  if (!parts.slice(5).join(":")) return `"${pattern}": the resource part (role/<name>, user/<name>, assumed-role/<role>/<session>) is missing`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\s]/.test(pattern)) return `"${pattern}" contains spaces or control characters`;
  return undefined;
}

const patternList = z
  .array(z.string({ error: "must be a principal ARN pattern (a string)" }), { error: "must be a list of principal ARN patterns" })
  .max(100, { error: "must list at most 100 patterns" });

export const accessSchema = z
  .strictObject({
    operate: patternList.optional().describe("Principals (ARN patterns) that may pause, resume, abort, kill and unkill. Default: any principal of the controller's account."),
    release: patternList.optional().describe("Principals that may start and promote a release. Default: any principal of the controller's account."),
    approve: patternList.optional().describe("Principals that may approve a step waiting for approval (and promote past one). Default: any principal of the controller's account."),
    freeze: patternList.optional().describe("Principals that may set and lift the service freeze and the account-wide freeze. Default: any principal of the controller's account."),
    separationOfDuties: z
      .boolean({ error: "must be true or false" })
      .optional()
      .describe("The principal that approves a step (or promotes past one waiting for approval) must not be the one that started the rollout. Default false."),
    directInvoke: z
      .array(z.enum(DIRECT_INVOKE_COMMANDS, { error: `must be one of ${DIRECT_INVOKE_COMMANDS.map((c) => `"${c}"`).join(", ")}: other commands need a verified identity (the function URL)` }), {
        error: "must be a list of commands",
      })
      .optional()
      .describe('Commands a direct Lambda invoke, which carries no verified identity, may send. Default ["status", "start"] (ProgressiveService starts releases from pulumi up that way); ["status"] makes every change go through the function URL.'),
  })
  .describe("Who may run which command, checked against the caller's verified AWS principal.");

export type AccessInput = z.input<typeof accessSchema>;

export interface AccessPolicy {
  /** Patterns per group; undefined = any verified principal of the controller's own account. */
  operate?: string[];
  release?: string[];
  approve?: string[];
  freeze?: string[];
  separationOfDuties: boolean;
  directInvoke: DirectInvokeCommand[];
}

export const DEFAULT_ACCESS: AccessPolicy = { separationOfDuties: false, directInvoke: ["status", "start"] };

/** The resolved access section, with every bad pattern reported as an issue naming its path. */
export function resolveAccess(input: AccessInput | undefined, issues: PolicyIssue[]): AccessPolicy {
  if (!input) return { ...DEFAULT_ACCESS, directInvoke: [...DEFAULT_ACCESS.directInvoke] };
  const out: AccessPolicy = { separationOfDuties: input.separationOfDuties ?? false, directInvoke: [...new Set(input.directInvoke ?? DEFAULT_ACCESS.directInvoke)] };
  for (const group of ACCESS_GROUPS) {
    const list = input[group];
    if (list === undefined) continue;
    list.forEach((p, i) => {
      const problem = principalPatternProblem(p);
      if (problem) issues.push({ path: `access.${group}[${i}]`, message: problem });
    });
    out[group] = [...list];
  }
  if (out.separationOfDuties && out.approve !== undefined && out.approve.length === 0) {
    issues.push({ path: "access.approve", message: "is empty while separationOfDuties is on: nobody could approve a step; list the approvers" });
  }
  return out;
}
