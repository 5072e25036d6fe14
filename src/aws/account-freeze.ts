/**
 * The account-wide freeze: one SSM parameter per account and region that every rollgate
 * controller there reads on every invocation. Each ProgressiveService has its own state table, so
 * a flag in a table covers one service; this one covers them all. A controller sets it on an
 * operator's `freeze --account` (authorized by the policy's freeze right) and when an error-budget
 * alarm of its service goes to ALARM; it records each change in its own history as well.
 *
 * The value is JSON: { frozen, reason, actor, since, service }. A missing parameter means not
 * frozen. A parameter that cannot be read (throttled, denied, malformed) counts as frozen: a freeze
 * only holds advances, promotions and starts, never a rollback, so failing closed is safe.
 * SSM has no conditional put: a freeze and an unfreeze at the same moment end with the later one,
 * and the parameter's own history (GetParameterHistory) keeps every version and who wrote it.
 */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

export const DEFAULT_ACCOUNT_FREEZE_PARAMETER = "/rollgate/account-freeze";

export interface AccountFreezeState {
  frozen: boolean;
  reason?: string;
  actor?: string;
  since?: number;
  /** Service whose controller set it. */
  service?: string;
  /** Why the parameter could not be read (then frozen is true). */
  error?: string;
}

export interface AccountFreeze {
  readonly parameter: string;
  get(): Promise<AccountFreezeState>;
  /** Sets the flag; false (and nothing written) when it already had that value. */
  set(frozen: boolean, by: { actor?: string; reason: string; at: number; service: string }): Promise<boolean>;
}

export function createAccountFreeze(ssm: SSMClient, parameter: string = DEFAULT_ACCOUNT_FREEZE_PARAMETER): AccountFreeze {
  async function get(): Promise<AccountFreezeState> {
    try {
      const res = await ssm.send(new GetParameterCommand({ Name: parameter }));
      const value = JSON.parse(res.Parameter?.Value ?? "") as Partial<AccountFreezeState>;
      if (typeof value?.frozen !== "boolean") throw new Error(`the value is not {"frozen": true|false, ...}`);
      return {
        frozen: value.frozen,
        ...(typeof value.reason === "string" ? { reason: value.reason } : {}),
        ...(typeof value.actor === "string" ? { actor: value.actor } : {}),
        ...(typeof value.since === "number" ? { since: value.since } : {}),
        ...(typeof value.service === "string" ? { service: value.service } : {}),
      };
    } catch (err) {
      if ((err as Error).name === "ParameterNotFound") return { frozen: false };
      return { frozen: true, reason: `the account-wide freeze parameter ${parameter} cannot be read; holding as if frozen`, error: `${(err as Error).name}: ${(err as Error).message}` };
    }
  }
  return {
    parameter,
    get,
    async set(frozen, by) {
      const current = await get();
      if (!current.error && current.frozen === frozen) return false;
      const value: AccountFreezeState = { frozen, reason: by.reason, since: by.at, service: by.service, ...(by.actor ? { actor: by.actor } : {}) };
      await ssm.send(new PutParameterCommand({ Name: parameter, Type: "String", Overwrite: true, Value: JSON.stringify(value), Description: "rollgate: account-wide freeze of every rollout in this account and region" }));
      return true;
    },
  };
}
