/**
 * How the CLI finds a service: its state table, and (for anything beyond reading the table) the
 * controller's configuration, which is the controller Lambda's ROLLGATE_* environment.
 *
 * The configuration comes from, first match wins:
 *   1. --config <file>   a JSON object of ROLLGATE_* variables (the Lambda's Environment.Variables)
 *   2. --function <name> the controller Lambda: its configuration is read with GetFunctionConfiguration,
 *                        and commands are sent to it with Invoke (its role, its logs, its metrics)
 *   3. ROLLGATE_* variables in the CLI's own environment (ROLLGATE_POLICY set)
 * Without any of them the CLI can still read the table (--table, --service): status from the
 * record, history, watch.
 *
 * Commands that change a rollout go to the controller's function URL (--url, or the URL of
 * --function's Lambda), signed with SigV4 using the caller's own credentials: the controller
 * records the caller's verified ARN and checks it against the policy's access section. The CLI
 * never writes the state table. Running the controller in-process (--config or ROLLGATE_*
 * variables without a URL) is only for a local emulator (--endpoint-url / AWS_ENDPOINT_URL) and
 * the demo, because it needs the controller's own write permissions, which operators do not get.
 *
 * Everything read (records, history, responses) is escaped of control characters on the way in.
 *
 * Clients use the standard AWS credential chain and region; --endpoint-url (or AWS_ENDPOINT_URL)
 * points every client at an emulator such as moto.
 */
import { GetFunctionConfigurationCommand, GetFunctionUrlConfigCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { readFile } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { createClients, type AwsClients } from "../aws/clients.js";
import { createFunctionUrlSender, FunctionUrlError } from "../aws/function-url-client.js";
import { createStateStore, type StateStore } from "../aws/state.js";
import { ConfigError, parseControllerEnv, type ControllerConfig } from "../controller/config.js";
import type { CommandResponse, Controller } from "../controller/controller.js";
import { createControllerFromClients, type ControllerOverrides } from "../controller/wiring.js";
import { CliError, UsageError } from "./errors.js";
import type { CliIo } from "./io.js";
import { sanitizeDeep, sanitizingProxy } from "./sanitize.js";

/** The flags every command that talks to AWS accepts. */
export interface AwsFlags {
  service?: string;
  table?: string;
  config?: string;
  function?: string;
  region?: string;
  endpointUrl?: string;
  /** The controller's function URL (commands are SigV4-signed to it). */
  url?: string;
}

export interface Located {
  clients: AwsClients;
  store: StateStore;
  table: string;
  /** Set when --service (or the configuration) names one. */
  service?: string;
  /** Set when a configuration was found. */
  config?: ControllerConfig;
  /** Where the configuration came from, for messages. */
  source: "config-file" | "function" | "environment" | "table-only";
  /**
   * Sends a command: signed to the function URL (--url, or --function's URL), or to an in-process
   * controller against an emulator (the demo and tests).
   */
  send?: (payload: Record<string, unknown>) => Promise<CommandResponse>;
  /** How `send` reaches the controller; absent when it cannot. */
  channel?: "function-url" | "in-process";
  /** Why commands cannot be sent, when they cannot (for requireSender's message). */
  noSender?: string;
  /** The in-process controller (absent in --function mode). */
  controller?: Controller;
}

/** Hooks for the demo and tests: a clock, or clients built elsewhere. */
export interface LocateHooks {
  clients?: AwsClients;
  overrides?: ControllerOverrides;
  /** Credentials to sign function URL requests with (the demo's second principal); default: the standard chain. */
  signingCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

const HOW_TO_CONFIGURE =
  "pass --config <file> (a JSON object of the controller Lambda's ROLLGATE_* environment variables), --function <controller Lambda name>, or set ROLLGATE_POLICY and the other ROLLGATE_* variables";

export async function locate(flags: AwsFlags, io: CliIo, hooks: LocateHooks = {}): Promise<Located> {
  const endpoint = flags.endpointUrl ?? io.env.AWS_ENDPOINT_URL;
  const region = flags.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? (endpoint ? "us-east-1" : undefined);
  if (!region && !hooks.clients) {
    throw new UsageError("no AWS region: pass --region <region> (e.g. --region eu-west-1) or set AWS_REGION");
  }
  // Keys in the CLI's environment are passed on explicitly, so `run(argv, io)` honours io.env the
  // way the process honours its own; otherwise the SDK's standard chain (profiles, SSO, roles) applies.
  const credentials =
    io.env.AWS_ACCESS_KEY_ID && io.env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: io.env.AWS_ACCESS_KEY_ID, secretAccessKey: io.env.AWS_SECRET_ACCESS_KEY, ...(io.env.AWS_SESSION_TOKEN ? { sessionToken: io.env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  const clientOptions = { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}), ...(credentials ? { credentials } : {}) };
  const clients = hooks.clients ?? createClients(clientOptions);

  let env: Record<string, string | undefined> | undefined;
  let source: Located["source"] = "table-only";
  let lambda: LambdaClient | undefined;
  if (flags.config) {
    env = await readConfigFile(flags.config, io.cwd);
    source = "config-file";
  } else if (flags.function) {
    lambda = new LambdaClient(clientOptions);
    env = await functionEnvironment(lambda, flags.function);
    source = "function";
  } else if (io.env.ROLLGATE_POLICY) {
    env = Object.fromEntries(Object.entries(io.env).filter(([k]) => k.startsWith("ROLLGATE_")));
    source = "environment";
  }

  let config: ControllerConfig | undefined;
  if (env) {
    // Flags name what the user means; a configuration for another service is a mistake, not an override.
    if (flags.service && env.ROLLGATE_SERVICE && flags.service !== env.ROLLGATE_SERVICE) {
      throw new UsageError(`--service ${flags.service} does not match the controller configuration (${describeSource(source, flags)}), which is for "${env.ROLLGATE_SERVICE}"; drop --service or use that service's configuration`);
    }
    try {
      config = parseControllerEnv({ ...env, ...(flags.table ? { ROLLGATE_TABLE: flags.table } : {}) });
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(`the controller configuration (${describeSource(source, flags)}) is invalid: ${err.message}`);
      throw err;
    }
  }
  const table = flags.table ?? config?.table ?? io.env.ROLLGATE_TABLE;
  if (!table) throw new UsageError(`no state table: pass --table <name> (the StepController's table output) or ${HOW_TO_CONFIGURE}`);
  const service = flags.service ?? config?.service ?? io.env.ROLLGATE_SERVICE;
  // Reads only, and what they return is escaped of control characters before anything prints it.
  const store = sanitizingProxy(createStateStore(clients.documents, { table, ...(config ? { historyTtlDays: config.historyTtlDays } : {}) }));

  const located: Located = { clients, store, table, source, ...(service ? { service } : {}), ...(config ? { config } : {}) };
  if (config) {
    // In-process, the controller only reads here (status views); commands go to it only against an emulator.
    located.controller = sanitizingProxy(createControllerFromClients(config, clients, hooks.overrides ?? {}));
  }
  const url = flags.url ?? io.env.ROLLGATE_FUNCTION_URL ?? (lambda && flags.function ? await functionUrlOf(lambda, flags.function) : undefined);
  if (url) {
    let sender: ReturnType<typeof createFunctionUrlSender>;
    try {
      sender = createFunctionUrlSender({
        url,
        ...(region ? { region: /lambda-url\.([a-z0-9-]+)\.on\.aws/.exec(url)?.[1] ?? region } : {}),
        ...(hooks.signingCredentials ? { credentials: hooks.signingCredentials } : credentials ? { credentials } : {}),
      });
    } catch (err) {
      throw new UsageError(`--url: ${(err as Error).message}`);
    }
    located.channel = "function-url";
    located.send = async (payload) => {
      try {
        return sanitizeDeep(await sender.send<CommandResponse>(payload));
      } catch (err) {
        if (err instanceof FunctionUrlError) throw new CliError(`the controller's function URL refused the request: ${err.message}`);
        throw err;
      }
    };
  } else if (lambda && flags.function) {
    located.noSender = `the controller function ${flags.function} has no function URL, and commands go only through one (AWS verifies the caller there); create it (the StepController component does) or pass --url`;
  } else if (config && (endpoint || hooks.clients)) {
    const controller = located.controller!;
    located.channel = "in-process";
    located.send = (payload) => controller.command(payload);
  } else if (config) {
    located.noSender = `commands go to the controller's function URL, signed with your AWS credentials: pass --url <function URL> (the StepController's functionUrl output) or --function <name>. Running the controller in-process (${describeSource(source, flags)}) works only against a local emulator (--endpoint-url), because it needs the controller's own permissions to write the table`;
  }
  return located;
}

/** The function URL of the controller Lambda, if it has one. */
async function functionUrlOf(lambda: LambdaClient, name: string): Promise<string | undefined> {
  try {
    return (await lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: name }))).FunctionUrl;
  } catch (err) {
    if ((err as Error).name === "ResourceNotFoundException") return undefined;
    throw new CliError(`--function ${name}: cannot read its function URL (${(err as Error).name}: ${(err as Error).message})`);
  }
}

/** The located service name, or a usage error saying how to name one. */
export function requireService(located: Located): string {
  if (!located.service) throw new UsageError("no service: pass --service <name> (the service whose rollout you mean; `rollgate status` without it lists them)");
  return located.service;
}

/** The command sender, or an error explaining how to configure one. */
export function requireSender(located: Located, command: string): NonNullable<Located["send"]> {
  if (!located.send) throw new UsageError(`rollgate ${command}: ${located.noSender ?? `needs the controller: pass --url <function URL> or --function <name> (or, against a local emulator, ${HOW_TO_CONFIGURE})`}`);
  return located.send;
}

function describeSource(source: Located["source"], flags: AwsFlags): string {
  switch (source) {
    case "config-file":
      return `--config ${flags.config}`;
    case "function":
      return `--function ${flags.function}`;
    case "environment":
      return "ROLLGATE_* environment variables";
    default:
      return "none";
  }
}

export async function readConfigFile(path: string, cwd: string): Promise<Record<string, string>> {
  const file = resolvePath(cwd, path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === "ENOENT" ? `--config ${path}: no such file (looked in ${file})` : `--config ${path}: cannot read it (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config ${path}: not valid JSON (${(err as Error).message}); it must be a JSON object of ROLLGATE_* variables`);
  }
  // Accept the output of `aws lambda get-function-configuration` as it is, too.
  const vars = (value as { Environment?: { Variables?: unknown } })?.Environment?.Variables ?? value;
  if (!vars || typeof vars !== "object" || Array.isArray(vars)) throw new UsageError(`--config ${path}: must be a JSON object of ROLLGATE_* variables`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    if (typeof v !== "string") throw new UsageError(`--config ${path}: ${k} must be a string (environment variables are strings; ROLLGATE_POLICY is the policy as a JSON string)`);
    out[k] = v;
  }
  return out;
}

async function functionEnvironment(lambda: LambdaClient, name: string): Promise<Record<string, string>> {
  try {
    const res = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    const vars = res.Environment?.Variables ?? {};
    if (!vars.ROLLGATE_POLICY) throw new CliError(`--function ${name}: the function has no ROLLGATE_POLICY variable; is it a rollgate controller?`);
    return vars;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`--function ${name}: cannot read its configuration (${(err as Error).name}: ${(err as Error).message})`);
  }
}
