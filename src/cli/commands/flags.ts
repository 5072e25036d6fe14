/**
 * `rollgate flags <file>`: the feature flags of an AppConfig flags document whose expiry date has
 * passed, with their owners, so they get removed once their release is at 100 % and stable.
 * Exit code 1 when any flag is expired (a CI step can fail on it).
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { listExpiredFlags } from "../../flags/index.js";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { table } from "../format.js";

export interface FlagsOptions {
  /** Judge expiry as of this day (YYYY-MM-DD) instead of today. */
  asOf?: string;
}

export async function flagsCommand(ctx: CommandContext, file: string, options: FlagsOptions): Promise<void> {
  let now = new Date(ctx.io.now());
  if (options.asOf !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(options.asOf) || Number.isNaN(Date.parse(`${options.asOf}T00:00:00Z`))) {
      throw new UsageError(`--as-of: "${options.asOf}" is not a date; write it as YYYY-MM-DD, e.g. --as-of 2026-12-01`);
    }
    now = new Date(`${options.asOf}T12:00:00Z`);
  }
  let text: string;
  try {
    text = await readFile(resolve(ctx.io.cwd, file), "utf8");
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let expired;
  try {
    expired = listExpiredFlags(text, now);
  } catch (error) {
    throw new CliError(`${file} is not JSON (an AppConfig feature-flags document): ${(error as Error).message}`);
  }
  const day = now.toISOString().slice(0, 10);
  ctx.emit({ file, asOf: day, expired });
  if (expired.length === 0) {
    ctx.print(`${ctx.style.green("no expired flags")} in ${file} as of ${day}`);
    return;
  }
  ctx.print(`${ctx.style.yellow(`${expired.length} expired flag${expired.length === 1 ? "" : "s"}`)} in ${file} as of ${day}: remove them once their release is at 100 % and stable`);
  ctx.print(table(["flag", "owner", "expired", "days overdue"], expired.map((f) => [f.name, f.owner, f.expires, String(f.daysOverdue)])));
  throw new CliError("", 1);
}
