/**
 * Exit codes and the two error classes the CLI turns into them. Commands throw; `run` maps the
 * class to the exit code, so no command decides its own exit code ad hoc.
 */

export const EXIT = {
  ok: 0,
  /** The command ran and failed: invalid policy, rejected command, AWS error. */
  failure: 1,
  /** The command line itself is wrong: unknown flag, bad value, missing argument or confirmation. */
  usage: 2,
  /** Interrupted (Ctrl-C) before a change was confirmed. */
  interrupted: 130,
} as const;

/** The command line is wrong. The message names the flag and the fix. Exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The command could not do its job. Exit code 1 unless given. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    /** Structured detail printed under --json. */
    readonly detail?: unknown,
  ) {
    super(message);
  }
}
