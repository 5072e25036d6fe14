/**
 * The `rollgate` command line, built on commander. `run(argv, io)` parses and runs one command
 * in-process and returns its exit code: the bin calls it with the real process, tests with a
 * captured io. Exit codes: 0 ok, 1 the command failed, 2 usage error (the message names the flag
 * and the fix), 130 interrupted.
 */
import { Command, CommanderError, Option } from "commander";
import { createContext } from "./context.js";
import { sanitizeOutput } from "./sanitize.js";
import { CliError, EXIT, UsageError } from "./errors.js";
import type { CliIo } from "./io.js";
import type { LocateHooks } from "./locate.js";
import { duration, fraction, keyNumber, nonNegativeInteger, positiveInteger, positiveNumber, url } from "./options.js";
import { planPowerCommand } from "./commands/plan-power.js";
import { flagsCommand } from "./commands/flags.js";
import { historyCommand, operateCommand, reportCommand, statusCommand, watchCommand } from "./commands/rollout.js";
import { simulateCommand } from "./commands/simulate.js";
import { validateCommand } from "./commands/validate.js";

const VERSION = "0.1.0";

/** Flags of every command that talks to AWS. */
function awsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--service <name>", "service whose rollout to act on (the ProgressiveService name)").env("ROLLGATE_SERVICE"))
    .addOption(new Option("--table <name>", "controller state table (the StepController's tableName output)").env("ROLLGATE_TABLE"))
    .option("--config <file>", "JSON of the controller Lambda's ROLLGATE_* environment (commands run in-process with it)")
    .addOption(new Option("--function <name>", "controller Lambda: read its configuration, and send commands to its function URL").env("ROLLGATE_FUNCTION"))
    .addOption(new Option("--url <function URL>", "controller's function URL: commands are signed (SigV4) with your AWS credentials and sent there").env("ROLLGATE_FUNCTION_URL"))
    .option("--region <region>", "AWS region (default: the standard chain, AWS_REGION)")
    .option("--endpoint-url <url>", "AWS endpoint override, e.g. a local emulator (default: AWS_ENDPOINT_URL)", url)
    .option("--json", "print one JSON document for scripts");
}

function mutating(cmd: Command): Command {
  return awsOptions(cmd)
    .option("-y, --yes", "do not ask for confirmation (required without a terminal)")
    .option("--note <text>", "why, recorded in the audit trail")
    .option("--actor <name>", "a name to record beside your verified identity, labelled as claimed (the identity itself comes from your AWS credentials)");
}

export function buildProgram(io: CliIo, hooks: LocateHooks = {}): Command {
  const program = new Command("rollgate");
  program
    .description("Operate progressive rollouts: status, watch, history, promote/abort/approve/pause/resume, kill switch, freeze; validate and plan policies; simulate; report.")
    .version(VERSION, "-V, --version")
    .configureOutput({
      // Usage errors echo the command line, which may carry anything: escaped like all output.
      writeOut: (s) => io.stdout.write(sanitizeOutput(s, false)),
      writeErr: (s) => io.stderr.write(sanitizeOutput(s, false)),
    })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 the command failed (invalid policy, refused command, AWS error), 2 usage error.
Finding a service: --table and --service read the audit trail; commands go to the controller's
function URL (--url, or --function <name>), signed with your own AWS credentials: the controller
records your verified identity and checks it against the policy's access section. --config and
ROLLGATE_* variables run the controller in-process, for a local emulator only. See docs/cli.md.`,
    );

  const ctxOf = (cmd: Command) => createContext(io, Boolean(cmd.opts().json));

  awsOptions(program.command("status").description("every service in the table, or one rollout: phase, step, weights, gate verdicts with evidence, time in step, next action"))
    .addHelpText("after", "\nExamples:\n  rollgate status --table rollgate-state\n  rollgate status --service checkout --config checkout.json")
    .action(async (opts, cmd: Command) => statusCommand(ctxOf(cmd), opts, hooks));

  awsOptions(program.command("watch").description("live view of one rollout: weight ladder, hold progress, gate states, last decisions"))
    .addOption(new Option("--interval <duration>", "time between refreshes").argParser(duration("--interval 5s")).default(2_000, "2s"))
    .option("--until-done", "exit when the rollout reaches promoted, rolled-back or aborted")
    .option("--count <n>", "exit after this many refreshes", positiveInteger("--count 10"))
    .addHelpText("after", "\nOn a terminal the view redraws in place; otherwise (CI, pipes) each change is appended.\n--json prints one JSON object per refresh (NDJSON).")
    .action(async (opts, cmd: Command) => watchCommand(ctxOf(cmd), opts, hooks));

  awsOptions(program.command("history").description("the audit trail: every transition, command and freeze, oldest first"))
    .option("--limit <n>", "records to show (newest ones)", positiveInteger("--limit 50"), 50)
    .option("--rollout <id>", "only this rollout's records")
    .option("--global", "the global freeze records instead of a service's")
    .option("--verify", "check the hash chain of the whole history (not just --limit records) and report the first broken link; exit 1 when broken")
    .action(async (opts, cmd: Command) => historyCommand(ctxOf(cmd), opts, hooks));

  for (const [name, description] of [
    ["promote", "send the canary to 100 % now, skipping the remaining steps"],
    ["abort", "roll back to the last known good weights and end the rollout"],
    ["approve", "approve the step waiting for a manual approval"],
    ["pause", "stop advancing (gates still roll back a failing canary)"],
    ["resume", "continue a paused rollout (the step's hold restarts)"],
    ["kill", "kill switch on: an in-flight rollout rolls back at once, and no rollout starts until unkill"],
    ["unkill", "kill switch off"],
    ["freeze", "global freeze on: no advance, promotion or start for any service in the table"],
    ["unfreeze", "global freeze off"],
  ] as const) {
    const c = mutating(program.command(name).description(description));
    if (name === "freeze" || name === "unfreeze") c.option("--account", "the account-wide freeze (an SSM parameter every controller of the account and region reads) instead of this table's");
    c.addHelpText("after", `\nExample:\n  rollgate ${name} --service checkout --url https://<id>.lambda-url.eu-west-1.on.aws/ --note "INC-42" --yes`)
      .action(async (opts, cmd: Command) => operateCommand(ctxOf(cmd), name, opts, hooks));
  }

  mutating(program.command("start").description("start a release: the version already deployed dark in the idle slot").argument("<version>", "release version label, e.g. v2"))
    .action(async (version: string, opts, cmd: Command) => operateCommand(ctxOf(cmd), "start", { ...opts, version }, hooks));

  program
    .command("validate")
    .description("check a policy file (YAML or JSON): every problem with its field path, or what it resolves to")
    .argument("<file>", "policy file, .yaml/.yml or .json")
    .option("--rps <n>", "also warn about steps too short for their gates at this traffic", positiveNumber("--rps 200"))
    .option("--json", "print one JSON document for scripts")
    .addHelpText("after", "\nExit code 1 when the policy is invalid.\nExample:\n  rollgate validate stacks/shared/policy.yaml --rps 150")
    .action(async (file: string, opts, cmd: Command) => validateCommand(ctxOf(cmd), file, opts));

  program
    .command("flags")
    .description("list the expired feature flags of an AppConfig flags document (owner and expiry attributes)")
    .argument("<file>", "AppConfig feature-flags document, .json")
    .option("--as-of <YYYY-MM-DD>", "judge expiry as of this day instead of today")
    .option("--json", "print one JSON document for scripts")
    .addHelpText("after", "\nExit code 1 when any flag is expired, so a CI step can fail on stale flags.\nExample:\n  rollgate flags flags.json --as-of 2026-12-01")
    .action(async (file: string, opts, cmd: Command) => flagsCommand(ctxOf(cmd), file, opts));

  program
    .command("plan-power")
    .description("for a policy and a traffic level: how long each step needs for its gates to decide")
    .argument("<file>", "policy file, .yaml/.yml or .json")
    .requiredOption("--rps <n>", "requests per second the service serves (both slots)", positiveNumber("--rps 200"))
    .option("--power <p>", "chance of having decided by the reported time", fraction("--power 0.9"))
    .option("--baseline-rate <gate=rate>", "base event rate of a gate as a fraction (repeatable)", keyNumber("--baseline-rate error-rate=0.002", (n) => n >= 0 && n < 1, "fraction"))
    .option("--effect <gate=points>", "regression to detect, in percentage points (repeatable; default 2x rollbackBand)", keyNumber("--effect error-rate=0.5", (n) => n > 0, "points"))
    .option("--json", "print one JSON document for scripts")
    .addHelpText("after", "\nExample:\n  rollgate plan-power stacks/shared/policy.yaml --rps 50 --effect error-rate=0.5")
    .action(async (file: string, opts, cmd: Command) => planPowerCommand(ctxOf(cmd), file, opts));

  program
    .command("simulate")
    .description("run a policy's engine against a simulated good or bad release and print the outcome")
    .argument("<file>", "policy file, .yaml/.yml or .json")
    .addOption(new Option("--release <kind>", "the release to simulate").choices(["good", "bad"]).default("bad"))
    .option("--rps <n>", "mean requests per second", positiveNumber("--rps 100"), 100)
    .option("--baseline-error-rate <f>", "error rate of the stable version, a fraction", fraction("--baseline-error-rate 0.001"), 0.001)
    .option("--canary-error-rate <f>", "error rate of a bad canary, a fraction (default 0.02)", fraction("--canary-error-rate 0.02"))
    .option("--latency-factor <x>", "latency multiplier of a bad canary", positiveNumber("--latency-factor 2"))
    .option("--regression-at <minute>", "minute a bad canary turns bad", nonNegativeInteger("--regression-at 15"), 0)
    .option("--seed <n>", "random seed (same seed, same run)", nonNegativeInteger("--seed 7"), 1)
    .option("--report <file.svg>", "also write the SVG timeline")
    .option("--json", "print one JSON document for scripts")
    .addHelpText("after", "\nExample:\n  rollgate simulate stacks/shared/policy.yaml --release bad --canary-error-rate 0.01 --report bad.svg")
    .action(async (file: string, opts, cmd: Command) => simulateCommand(ctxOf(cmd), file, opts));

  program
    .command("analysis-server")
    .description("serve gate verdicts to Argo Rollouts' web metric provider (POST /v1/verdict), read from Prometheus or CloudWatch")
    .option("--port <n>", "TCP port", nonNegativeInteger("--port 8080"), 8080)
    .option("--host <address>", "address to bind (0.0.0.0 in a pod; 127.0.0.1 on a workstation)", "0.0.0.0")
    .addOption(new Option("--prometheus-url <url>", "Prometheus base URL, e.g. http://prometheus-server.monitoring").env("ROLLGATE_PROMETHEUS_URL").argParser(url))
    .option("--prometheus-header <header>", 'extra header for Prometheus, "Name: value" (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option("--region <region>", "AWS region for CloudWatch requests (default: the standard chain)")
    .option("--endpoint-url <url>", "CloudWatch endpoint override (an emulator)", url)
    .addOption(new Option("--backend-timeout <duration>", "deadline for a request's metric reads; past it the verdict is hold").argParser(duration("--backend-timeout 8s")).default(8_000, "8s"))
    .addOption(new Option("--settle <duration>", "age a minute must reach before it is read (scrape and ingestion lag)").argParser(duration("--settle 30s")).default(30_000, "30s"))
    .addOption(new Option("--lookback <duration>", "how far back the canary's first minute is looked for").argParser(duration("--lookback 24h")).default(86_400_000, "24h"))
    .option("--max-body-bytes <n>", "largest request body", positiveInteger("--max-body-bytes 262144"), 262_144)
    .option("--max-in-flight <n>", "requests judged at once; more are answered hold", positiveInteger("--max-in-flight 32"), 32)
    .option("--json", "print the listening address as JSON")
    .addHelpText("after", "\nStateless: every request carries the policy and the gate (the Kubernetes component renders them into\nthe AnalysisTemplate). A metrics outage answers hold, never pass or rollback. See docs/kubernetes.md.\nExample:\n  rollgate analysis-server --prometheus-url http://prometheus-server.monitoring --port 8080")
    .action(async (opts, cmd: Command) => (await import("./commands/analysis-server.js")).analysisServerCommand(ctxOf(cmd), opts));

  awsOptions(program.command("report").description("write an SVG timeline of a rollout: weights, gate values for canary and baseline, every decision"))
    .argument("[rollout]", 'rollout id (see history), or "latest"', "latest")
    .option("--out <file.svg>", "where to write (default rollgate-report-<service>-<rollout>.svg)")
    .action(async (rollout: string, opts, cmd: Command) => reportCommand(ctxOf(cmd), rollout, opts, hooks));

  return program;
}

/** Runs one command line (without the node and script arguments) and returns its exit code. */
export async function run(argv: readonly string[], io: CliIo, hooks: LocateHooks = {}): Promise<number> {
  const program = buildProgram(io, hooks);
  const json = argv.includes("--json");
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; everything else commander reports is a bad command line.
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") return EXIT.ok;
      if (err.code === "commander.executeSubCommandAsync") return EXIT.failure;
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      report(io, json, err.message, EXIT.usage);
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      if (err.message) report(io, json, err.message, err.exitCode, err.detail);
      return err.exitCode;
    }
    report(io, json, describeUnexpected(err), EXIT.failure);
    return EXIT.failure;
  }
}

function report(io: CliIo, json: boolean, message: string, exitCode: number, detail?: unknown): void {
  // Messages quote what AWS and the controller said, which may quote table data: escaped too.
  io.stderr.write(sanitizeOutput(`error: ${message}\n`, false));
  if (json && detail === undefined) io.stdout.write(sanitizeOutput(`${JSON.stringify({ ok: false, error: { message, exitCode } }, null, 2)}\n`, false));
}

/** AWS and network errors, said so a person can act on them. */
function describeUnexpected(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; $metadata?: unknown };
  if (e?.name === "ResourceNotFoundException") return `${e.message ?? "resource not found"} (check --table, --region and --endpoint-url)`;
  if (e?.code === "ECONNREFUSED" || /ECONNREFUSED/.test(String(e?.message))) return `cannot reach the AWS endpoint (${e.message}); check --endpoint-url / AWS_ENDPOINT_URL`;
  if (e?.name === "CredentialsProviderError") return `no AWS credentials: ${e.message} (configure the standard chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO...)`;
  if (e?.$metadata) return `${e.name}: ${e.message}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
