/**
 * `npm run plan`: evaluates every example stack (stacks/<name>/index.ts) under Pulumi's mock
 * runtime and prints the resource tree with the inputs that matter: the closest thing to
 * `pulumi preview` without credentials or the Pulumi CLI. Each stack runs in its own process
 * (the mock runtime is global per process).
 *
 *   npm run plan                 # every stack
 *   npm run plan -- aws-ecs      # one stack
 *   npm run plan -- aws-ecs --json
 *
 * Config comes from the stack's Pulumi.dev.yaml (next to the Pulumi.yaml that runs it, or in its
 * stackConfigDir). Values AWS computes (ARNs, names) are mock values.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stacksDir = path.join(root, "stacks");

interface ProjectInfo {
  project: string;
  configFile?: string;
}

/** The Pulumi project that runs a stack directory, and its dev config file. */
export function projectFor(stackDir: string): ProjectInfo {
  const own = path.join(stackDir, "Pulumi.yaml");
  if (existsSync(own)) {
    const doc = parseYaml(readFileSync(own, "utf8")) as { name: string; stackConfigDir?: string };
    const cfgDir = doc.stackConfigDir ? path.resolve(stackDir, doc.stackConfigDir) : stackDir;
    const cfg = path.join(cfgDir, "Pulumi.dev.yaml");
    return { project: doc.name, ...(existsSync(cfg) ? { configFile: cfg } : {}) };
  }
  const rootYaml = path.join(root, "Pulumi.yaml");
  if (existsSync(rootYaml)) {
    const doc = parseYaml(readFileSync(rootYaml, "utf8")) as { name: string; main?: string; stackConfigDir?: string };
    if (doc.main && path.resolve(root, doc.main) === path.resolve(stackDir)) {
      const cfgDir = doc.stackConfigDir ? path.resolve(root, doc.stackConfigDir) : root;
      const cfg = path.join(cfgDir, "Pulumi.dev.yaml");
      return { project: doc.name, ...(existsSync(cfg) ? { configFile: cfg } : {}) };
    }
  }
  return { project: path.basename(stackDir) };
}

/** Flattens a Pulumi.<stack>.yaml `config:` block into the runtime's "<ns>:<key>" -> string map. */
export function configMap(project: string, configFile: string | undefined): Record<string, string> {
  if (!configFile) return {};
  const doc = (parseYaml(readFileSync(configFile, "utf8")) as { config?: Record<string, unknown> } | null) ?? {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    const full = key.includes(":") ? key : `${project}:${key}`;
    out[full] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}

/** The input fields printed per resource type (dotted paths); others get their first scalars. */
const KEY_INPUTS: Record<string, string[]> = {
  "aws:lb/targetGroup:TargetGroup": ["port", "protocol", "targetType", "healthCheck.path", "healthCheck.matcher", "tags.rollgate:slot", "tags.rollgate:version"],
  "aws:lb/listener:Listener": ["port", "protocol", "defaultActions.0.type", "defaultActions.0.forward.targetGroups.0.weight", "defaultActions.0.forward.targetGroups.1.weight"],
  "aws:lb/listenerRule:ListenerRule": ["priority", "conditions", "actions.0.forward.targetGroups.0.weight", "actions.0.forward.targetGroups.1.weight"],
  "aws:cloudwatch/metricAlarm:MetricAlarm": ["name", "metricName", "extendedStatistic", "statistic", "comparisonOperator", "threshold", "evaluationPeriods", "datapointsToAlarm", "treatMissingData", "evaluateLowSampleCountPercentiles", "metricQueries.-1.expression"],
  "aws:cloudwatch/compositeAlarm:CompositeAlarm": ["alarmName", "alarmRule"],
  "aws:dynamodb/table:Table": ["billingMode", "hashKey", "rangeKey", "ttl.attributeName", "pointInTimeRecovery.enabled", "serverSideEncryption.enabled"],
  "aws:lambda/function:Function": ["runtime", "handler", "architectures", "memorySize", "timeout", "environment.variables"],
  "aws:cloudwatch/eventRule:EventRule": ["scheduleExpression", "eventPattern"],
  "aws:cloudwatch/logGroup:LogGroup": ["retentionInDays"],
  "aws:ecs/service:Service": ["launchType", "desiredCount", "taskDefinition", "loadBalancers.0.targetGroupArn"],
  "aws:ecs/taskDefinition:TaskDefinition": ["family", "cpu", "memory", "skipDestroy", "tags.rollgate:version"],
  "aws:lambda/invocation:Invocation": ["input"],
  "aws:iam/rolePolicy:RolePolicy": ["policy"],
  "aws:cloudwatch/dashboard:Dashboard": ["dashboardName"],
};

function pick(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const part of dotted.split(".")) {
    if (cur === undefined || cur === null) return undefined;
    if (Array.isArray(cur) && /^-?\d+$/.test(part)) {
      const i = Number(part);
      cur = cur[i < 0 ? cur.length + i : i];
    } else cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function short(v: unknown, max = 140): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

interface PlanResource {
  type: string;
  name: string;
  parent?: string;
  inputs: Record<string, unknown>;
  ignoreChanges?: string[];
}

function describeInputs(r: PlanResource): string[] {
  if (r.type === "aws:iam/rolePolicy:RolePolicy" && typeof r.inputs.policy === "string") {
    const doc = JSON.parse(r.inputs.policy) as { Statement: { Sid?: string; Action: string[]; Resource: string | string[] }[] };
    return doc.Statement.map((s) => `${s.Sid ?? "statement"}: ${s.Action.join(", ")} on ${short([s.Resource].flat().join(", "), 160)}`);
  }
  if (r.type === "aws:lambda/function:Function" && r.inputs.environment) {
    const vars = ((r.inputs.environment as { variables?: Record<string, string> }).variables ?? {}) as Record<string, string>;
    const base = ["runtime", "handler", "memorySize", "timeout"].map((k) => `${k}=${short(r.inputs[k])}`).join(" ");
    return [base, ...Object.entries(vars).map(([k, v]) => `env ${k}=${short(k === "ROLLGATE_POLICY" ? `<${v.length} chars of policy JSON>` : v, 120)}`)];
  }
  const fields = KEY_INPUTS[r.type];
  const parts: string[] = [];
  if (fields) {
    for (const f of fields) {
      const v = pick(r.inputs, f);
      if (v !== undefined) parts.push(`${f}=${short(v, r.type === "aws:lambda/invocation:Invocation" ? 400 : 140)}`);
    }
  } else {
    for (const [k, v] of Object.entries(r.inputs)) {
      if (parts.length >= 4) break;
      if (["tags", "tagsAll"].includes(k)) continue;
      if (v !== null && (typeof v !== "object" || (Array.isArray(v) && v.length <= 3))) parts.push(`${k}=${short(v, 60)}`);
    }
  }
  return parts.length ? [parts.join("  ")] : [];
}

function printTree(resources: PlanResource[]): void {
  const byParent = new Map<string | undefined, PlanResource[]>();
  const names = new Set(resources.map((r) => r.name));
  for (const r of resources) {
    const key = r.parent && names.has(r.parent) ? r.parent : undefined;
    byParent.set(key, [...(byParent.get(key) ?? []), r]);
  }
  const walk = (parent: string | undefined, indent: string) => {
    // Plain resources first, components (with their subtrees) after them.
    const children = [...(byParent.get(parent) ?? [])].sort((a, b) => Number(a.type.startsWith("rollgate:")) - Number(b.type.startsWith("rollgate:")));
    children.forEach((r, i) => {
      const last = i === children.length - 1;
      const branch = last ? "└─ " : "├─ ";
      const cont = last ? "   " : "│  ";
      console.log(`${indent}${branch}${r.type}  ${r.name}`);
      for (const line of describeInputs(r)) console.log(`${indent}${cont}    ${line}`);
      if (r.ignoreChanges?.length) console.log(`${indent}${cont}    ignoreChanges: ${r.ignoreChanges.join(", ")}`);
      if (r.type.startsWith("rollgate:")) walk(r.name, indent + cont);
    });
  };
  walk(undefined, "");
}

/** How a release proceeds: the policy each controller runs, step by step. */
async function printReleasePlan(resources: PlanResource[]): Promise<void> {
  const { parsePolicy } = await import("../src/policy/index.js");
  for (const fn of resources.filter((r) => r.type === "aws:lambda/function:Function")) {
    // The policy travels in the configuration file of the function's code archive.
    const { controllerEnvironment } = await import("../components/mocks.js");
    const vars = await controllerEnvironment(fn).catch(() => ({}) as Record<string, string>);
    if (!vars.ROLLGATE_POLICY) continue;
    const policy = parsePolicy(JSON.parse(vars.ROLLGATE_POLICY));
    const minutes = (ms: number) => `${Math.round(ms / 60_000)}m`;
    console.log(`\nRelease plan of ${vars.ROLLGATE_SERVICE} (the policy in ${fn.name}'s ROLLGATE_CONFIG_FILE; strategy ${policy.strategy}, weights out of ${policy.weightTotal}):`);
    console.log("  a new version goes to the idle slot at weight 0; once its targets are healthy:");
    for (const step of policy.steps) {
      console.log(
        `  step ${step.index + 1}: ${step.percent}% (weights stable ${step.weights.stable} / canary ${step.weights.canary}), hold ${minutes(step.holdMs)} (at most ${minutes(step.maxHoldMs)}, then ${step.onTimeout})${step.approval ? ", then waits for approval" : ""}; gates: ${step.gates.join(", ")}`,
      );
    }
    console.log(`  then promotion: 100% to the new slot, which becomes stable; a failing gate at any step rolls back to stable (${policy.weightTotal}/0).`);
    for (const gate of policy.gates) {
      const detail = gate.type === "alarm" ? `alarms ${gate.alarms.join(", ")}` : `hold band ${gate.holdBand}, rollback band ${gate.rollbackBand}, min samples ${gate.minSamples}`;
      console.log(`  gate ${gate.name} (${gate.type}): ${detail}; missing data: ${gate.onMissingData}`);
    }
  }
}

async function evaluateStack(stackName: string, json: boolean): Promise<void> {
  const stackDir = path.join(stacksDir, stackName);
  const { project, configFile } = projectFor(stackDir);
  const pulumi = await import("@pulumi/pulumi");
  const { createMocks, recordingTransformation, settle } = await import("../components/mocks.js");
  const mocks = createMocks();
  pulumi.runtime.setAllConfig(configMap(project, configFile));
  await pulumi.runtime.setMocks(mocks, project, "dev", true);
  const started = performance.now();
  const outputs = await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation(recordingTransformation(mocks));
    return (await import(pathToFileURL(path.join(stackDir, "index.ts")).href)) as Record<string, unknown>;
  });
  await settle();
  const ms = performance.now() - started;
  const resources: PlanResource[] = mocks.resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, ...(r.parent ? { parent: r.parent } : {}), ...(r.ignoreChanges ? { ignoreChanges: r.ignoreChanges } : {}) }));
  const exportsResolved: Record<string, unknown> = {};
  const { valueOf } = await import("../components/mocks.js");
  for (const [k, v] of Object.entries(outputs ?? {})) exportsResolved[k] = pulumi.Output.isInstance(v) ? await valueOf(v as never) : v;
  if (json) {
    console.log(JSON.stringify({ stack: stackName, project, resources, outputs: exportsResolved }, null, 2));
    return;
  }
  const custom = resources.filter((r) => !r.type.startsWith("rollgate:"));
  const counts = new Map<string, number>();
  for (const r of custom) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  console.log(`\n=== stacks/${stackName}  (project ${project}, stack dev${configFile ? `, config ${path.relative(root, configFile)}` : ""})`);
  console.log(`${custom.length} cloud resources in ${resources.length - custom.length} components + top level, evaluated in ${ms.toFixed(0)} ms under the mock runtime\n`);
  printTree(resources);
  console.log("\nResource counts by type:");
  for (const [type, n] of [...counts].sort()) console.log(`  ${String(n).padStart(3)}  ${type}`);
  await printReleasePlan(resources);
  console.log("\nStack outputs (mock values where AWS computes them):");
  for (const [k, v] of Object.entries(exportsResolved)) console.log(`  ${k}: ${short(v, 160)}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const child = args.includes("--child");
  const wanted = args.filter((a) => !a.startsWith("--"));
  if (child) {
    await evaluateStack(wanted[0]!, json);
    return;
  }
  const stacks = readdirSync(stacksDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(stacksDir, d.name, "index.ts")))
    .map((d) => d.name)
    .filter((n) => wanted.length === 0 || wanted.includes(n))
    .sort();
  if (stacks.length === 0) {
    console.error(`no stack found${wanted.length ? ` named ${wanted.join(", ")}` : ""} (looked for stacks/<name>/index.ts)`);
    process.exit(1);
  }
  let failed = 0;
  for (const stack of stacks) {
    const res = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), stack, "--child", ...(json ? ["--json"] : [])], {
      cwd: root,
      stdio: "inherit",
    });
    if (res.status !== 0) {
      failed++;
      console.error(`\nstacks/${stack}: evaluation failed (exit ${res.status}); the error is above`);
    }
  }
  process.exit(failed ? 1 : 0);
}

// Run only as a script, so tests can import projectFor and configMap.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
