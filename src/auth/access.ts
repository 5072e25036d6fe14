/**
 * Who is calling, and may they: the caller's principal (verified by AWS, or self-declared and
 * labelled so), matching of the policy's principal ARN patterns, and the authorization rule per
 * command, separation of duties included. Pure: the controller supplies what it read.
 */
import { DEFAULT_ACCESS, type AccessGroup, type AccessPolicy } from "../policy/access.js";
import type { RolloutPolicy } from "../policy/types.js";

/** How a command reached the controller. */
export type Channel = "function-url" | "direct-invoke" | "in-process";

export interface Principal {
  /**
   * The caller's ARN as AWS verified it (function URL), e.g.
   * arn:aws:sts::123456789012:assumed-role/oncall/alice; for an unverified caller
   * "unverified:<channel>[:<claimed name>]", so it can never match an ARN pattern.
   */
  arn: string;
  verified: boolean;
  via: Channel;
  /** The caller's account (verified callers). */
  accountId?: string;
  /** For a role session, the role's ARN (without its path, which STS does not report). */
  roleArn?: string;
  /** A name the caller sent about itself: recorded, labelled as claimed, never trusted. */
  claimed?: string;
}

/** The command -> right table. status needs none. */
export const COMMAND_RIGHT: Record<string, AccessGroup | undefined> = {
  start: "release",
  promote: "release",
  pause: "operate",
  resume: "operate",
  abort: "operate",
  kill: "operate",
  unkill: "operate",
  approve: "approve",
  freeze: "freeze",
  unfreeze: "freeze",
  status: undefined,
};

const ASSUMED_ROLE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/;

/** A principal from the function URL's verified IAM authorizer context. */
export function verifiedPrincipal(iam: { userArn: string; accountId?: string }): Principal {
  const m = ASSUMED_ROLE.exec(iam.userArn);
  const accountId = iam.accountId ?? /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(iam.userArn)?.[1];
  return {
    arn: iam.userArn,
    verified: true,
    via: "function-url",
    ...(accountId ? { accountId } : {}),
    ...(m ? { roleArn: `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` } : {}),
  };
}

/** A caller nobody verified: recorded as such, with what it claimed. */
export function unverifiedPrincipal(via: Exclude<Channel, "function-url">, claimed?: string): Principal {
  return { arn: `unverified:${via}`, verified: false, via, ...(claimed ? { claimed } : {}) };
}

/** What the history records as the actor: the verified ARN, or the unverified label with its claim. */
export function actorOf(p: Principal): string {
  return p.verified || !p.claimed ? p.arn : `${p.arn} (claimed: ${p.claimed})`;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
}

/** IAM's ArnLike: the six colon-separated parts compared one by one, `*` and `?` within a part. */
export function arnLike(pattern: string, arn: string): boolean {
  const split = (s: string) => {
    const parts = s.split(":");
    return [...parts.slice(0, 5), parts.slice(5).join(":")];
  };
  const p = split(pattern);
  const a = split(arn);
  if (p.length !== 6 || a.length !== 6 || a[0] !== "arn") return false;
  return p.every((part, i) => globToRegExp(part).test(a[i]!));
}

/** True when one of `patterns` matches the principal (its ARN, or for a role session its role's ARN). */
export function principalMatches(patterns: readonly string[], p: Principal): boolean {
  if (!p.verified) return false;
  return patterns.some((pattern) => pattern === "*" || arnLike(pattern, p.arn) || (p.roleArn !== undefined && arnLike(pattern, p.roleArn)));
}

/**
 * Whether two principals are the same for separation of duties: the same ARN. A role session's
 * ARN includes its session name, which the person who assumes the role chooses: distinct sessions
 * of one role count as different people, so give starters and approvers different roles (or
 * SSO sessions, whose names IAM Identity Center sets) when that matters. docs/controller.md says so.
 */
export function samePrincipal(a: string, b: string): boolean {
  return a === b;
}

export interface AuthorizationContext {
  /** The controller's own account: where a group without patterns allows anyone. */
  ownerAccountId?: string;
  /** The principal that started the current rollout (its recorded actor ARN). */
  startedBy?: string;
  /** True when promote would skip a step waiting for, or still to ask for, approval. */
  promoteSkipsApproval: boolean;
}

export type AuthorizationRefusal = {
  ok: false;
  /** The right the caller lacks, or why no right could help. */
  missing: AccessGroup | "verified-identity" | "separation-of-duties";
  message: string;
};
export type Authorization = { ok: true; rights: AccessGroup[] } | AuthorizationRefusal;

/** True when the rollout has an approval step, at or after the current one, not yet approved. */
export function promoteSkipsApproval(policy: Pick<RolloutPolicy, "steps">, state: { phase: string; stepIndex: number; approvals: number[]; pause?: { reason: string } }): boolean {
  if (state.phase === "paused" && state.pause?.reason === "approval") return true;
  const from = Math.max(0, state.stepIndex);
  return policy.steps.some((s, i) => i >= from && s.approval && !state.approvals.includes(i));
}

/**
 * May `principal` run `command`? Unverified callers may run only what access.directInvoke lists
 * (direct invoke) or anything (in-process: the local demo and tests, which hold the table's
 * credentials anyway). Verified callers need the command's right, and approve's too for a
 * promote past a pending approval; under separation of duties the approver is not the starter.
 */
export function authorize(accessInput: AccessPolicy | undefined, principal: Principal, command: string, ctx: AuthorizationContext): Authorization {
  const access = accessInput ?? DEFAULT_ACCESS;
  const right = COMMAND_RIGHT[command];
  if (right === undefined) return { ok: true, rights: [] };
  if (!principal.verified) {
    if (principal.via === "in-process") return { ok: true, rights: [] };
    if ((access.directInvoke as readonly string[]).includes(command)) return { ok: true, rights: [] };
    return {
      ok: false,
      missing: "verified-identity",
      message: `${command} needs a verified identity: a direct Lambda invoke carries none (access.directInvoke allows ${access.directInvoke.length ? access.directInvoke.join(", ") : "nothing"}); send it through the controller's function URL (rollgate ${command} --url <function URL> or --function <name>), which AWS authenticates with SigV4`,
    };
  }
  const rights: AccessGroup[] = [right];
  const skips = command === "promote" && ctx.promoteSkipsApproval;
  if (skips) rights.push("approve");
  for (const r of rights) {
    const patterns = access[r];
    const allowed = patterns === undefined ? ctx.ownerAccountId === undefined || principal.accountId === ctx.ownerAccountId : principalMatches(patterns, principal);
    if (!allowed) {
      const who = patterns === undefined ? `principals of account ${ctx.ownerAccountId}` : patterns.length ? patterns.join(", ") : "nobody";
      const why = r === right ? "" : ` (promote skips a step waiting for approval, which needs the approve right too)`;
      return { ok: false, missing: r, message: `${principal.arn} lacks the "${r}" right needed to ${command}${why}: access.${r} allows ${who}` };
    }
  }
  if (access.separationOfDuties && (command === "approve" || skips) && ctx.startedBy !== undefined && samePrincipal(ctx.startedBy, principal.arn)) {
    return {
      ok: false,
      missing: "separation-of-duties",
      message: `${principal.arn} started this rollout and may not ${command === "approve" ? "approve it" : "promote it past its approval"}: access.separationOfDuties requires a second principal`,
    };
  }
  return { ok: true, rights };
}
