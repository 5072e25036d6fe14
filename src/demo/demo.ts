/**
 * `npm run demo`: the whole product against a local AWS emulator.
 *
 * It starts moto, provisions a service (ALB, two target groups, a weighted listener, a 5xx alarm
 * per slot, the state table), and runs the real controller in-process on an accelerated clock
 * (one simulated minute every `minuteMs` of wall time) while a seeded traffic generator publishes
 * each minute's ALB metrics (RequestCount, HTTPCode_Target_5XX_Count per target group) to moto's
 * CloudWatch. Releases are started and stopped with the real CLI (`run([...])`), and the live
 * view is the CLI's `watch` frame. Four releases:
 *
 *   v2 good      walks 10 -> 25 -> 50 -> 100 %; at 25 % it waits for an approval: the release
 *                engineer who started it is refused (separation of duties), a second principal
 *                approves, and the history records both under the ARNs the signatures proved
 *   v3 bad       2.5 % errors: the errorRate gate catches it from the CloudWatch metrics
 *   v4 crashing  40 % errors: its slot's 5xx alarm goes to ALARM, the alarm event goes through the
 *                Lambda handler's entry point and rolls back without waiting for a tick
 *   v5 good      the operator pulls the kill switch (`rollgate kill`) at 25 %
 *
 * Commands go the way they go in production: the CLI signs each one (SigV4) with the operator's
 * own credentials and sends it to the controller's function URL, here a local endpoint that
 * verifies the signature against two demo principals (src/local/function-url-server.ts).
 *
 * Then it writes each rollout's SVG report with `rollgate report` and stops moto, also on error
 * or Ctrl-C.
 */
import { PutMetricDataCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { mkdir } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { loadBalancerDimension, targetGroupDimension } from "../aws/arn.js";
import type { Slot } from "../aws/traffic.js";
import { controllerEnv } from "../controller/config.js";
import type { Controller } from "../controller/controller.js";
import { createControllerFromClients } from "../controller/wiring.js";
import { TERMINAL_PHASES } from "../engine/types.js";
import { startMoto, type MotoServer } from "../local/moto-server.js";
import type { PolicyInput } from "../policy/schema.js";
import { Rng } from "../sim/random.js";
import { trafficMinute } from "../sim/traffic.js";
import { styleFor } from "../cli/format.js";
import type { CliIo } from "../cli/io.js";
import { sleep } from "../cli/io.js";
import { locate, type Located, type LocateHooks } from "../cli/locate.js";
import { run } from "../cli/program.js";
import type { KnownCredential } from "../auth/sigv4.js";
import { startFunctionUrlServer } from "../local/function-url-server.js";
import { gatherView, renderWatchFrame } from "../cli/view.js";
import { provisionLocalService, SLOT_ALARMS, type LocalService } from "./local-aws.js";

const MINUTE = 60_000;
const DEMO_ACCOUNT = "123456789012";
const SERVICE = "checkout";
/** 5xx responses per minute above which a slot's alarm fires (the alarms' Threshold). */
export const ALARM_THRESHOLD = 25;

/** Short holds in accelerated time: the whole demo is ~40 simulated minutes. */
export const DEMO_POLICY: PolicyInput = {
  strategy: {
    type: "canary",
    steps: [
      { percent: 10, hold: "3m" },
      { percent: 25, hold: "3m", approval: true },
      { percent: 50, hold: "3m" },
    ],
  },
  gates: [
    { type: "alarm", name: "5xx-alarms", alarms: [SLOT_ALARMS] },
    { type: "errorRate", holdBand: 0.5, rollbackBand: 1, minSamples: 150 },
  ],
  timeouts: { maxHold: "12m", onTimeout: "rollback" },
  access: {
    release: [`arn:aws:iam::${DEMO_ACCOUNT}:role/release-engineer`],
    operate: [`arn:aws:iam::${DEMO_ACCOUNT}:role/release-engineer`, `arn:aws:iam::${DEMO_ACCOUNT}:role/approver`],
    approve: [`arn:aws:iam::${DEMO_ACCOUNT}:role/approver`, `arn:aws:iam::${DEMO_ACCOUNT}:role/release-engineer`],
    freeze: [`arn:aws:iam::${DEMO_ACCOUNT}:role/approver`],
    separationOfDuties: true,
  },
};

/** The demo's two operators and the keys the local function URL knows them by. */
export const DEMO_PRINCIPALS = {
  alice: { accessKeyId: "AKIADEMOALICE0000001", secretAccessKey: "demo-alice-secret", arn: `arn:aws:sts::${DEMO_ACCOUNT}:assumed-role/release-engineer/alice`, accountId: DEMO_ACCOUNT, userId: "AROADEMORELEASE:alice" },
  bob: { accessKeyId: "AKIADEMOBOB000000001", secretAccessKey: "demo-bob-secret", arn: `arn:aws:sts::${DEMO_ACCOUNT}:assumed-role/approver/bob`, accountId: DEMO_ACCOUNT, userId: "AROADEMOAPPROVER:bob" },
} satisfies Record<string, KnownCredential>;
type DemoPrincipal = keyof typeof DEMO_PRINCIPALS;

export interface DemoRelease {
  version: string;
  label: string;
  /** Error rate of the release's requests (a fraction). */
  errorRate: number;
  /** Pull the kill switch once the rollout reaches this step index. */
  killAtStep?: number;
}

export const DEMO_RELEASES: DemoRelease[] = [
  { version: "v2", label: "a good release", errorRate: 0.001 },
  { version: "v3", label: "a bad release (2.5 % errors, caught by the error-rate gate)", errorRate: 0.025 },
  { version: "v4", label: "a crashing release (40 % errors, caught by the 5xx alarm)", errorRate: 0.4 },
  { version: "v5", label: "a good release, stopped by the kill switch", errorRate: 0.001, killAtStep: 1 },
];

export interface DemoOptions {
  /** Wall-clock milliseconds per simulated minute. @default 1500 */
  minuteMs?: number;
  /** Requests per second over both target groups. @default 40 */
  rps?: number;
  /** Folder for the reports. @default out/demo */
  outDir?: string;
  seed?: number;
  releases?: DemoRelease[];
  out: { write(text: string): void; isTTY?: boolean; columns?: number };
  env?: Record<string, string | undefined>;
  cwd?: string;
  signal?: AbortSignal;
}

export interface DemoRolloutResult {
  version: string;
  rolloutId: string;
  phase: string;
  outcome: string;
  minutes: number;
  report: string;
}

export interface DemoResult {
  rollouts: DemoRolloutResult[];
  outDir: string;
  simulatedMinutes: number;
}

/** The demo's error: carries what ran so far. */
class Interrupted extends Error {
  override readonly name = "Interrupted";
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const minuteMs = options.minuteMs ?? 1500;
  const rps = options.rps ?? 40;
  const releases = options.releases ?? DEMO_RELEASES;
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const outDir = resolvePath(cwd, options.outDir ?? "out/demo");
  const out = options.out;
  const tty = Boolean(out.isTTY);
  const style = styleFor(tty, env);
  const rng = new Rng(options.seed ?? 2026);
  const log: string[] = [];
  const say = (line: string) => {
    log.push(line);
    if (!tty) out.write(`${line}\n`);
  };

  say(style.bold("rollgate demo: progressive delivery against a local AWS emulator (moto)"));
  const moto: MotoServer = await startMoto();
  let urlServer: Awaited<ReturnType<typeof startFunctionUrlServer>> | undefined;
  try {
    say(`moto on ${moto.endpoint}; creating an ALB, blue and green target groups, a weighted listener, a 5xx alarm per slot and the state table`);
    const world = await provisionLocalService(moto, { service: SERVICE, policy: DEMO_POLICY });
    await mkdir(outDir, { recursive: true });

    // Simulated time starts a few hours back so every datapoint sits in the past, as CloudWatch expects.
    const clock = { now: Math.floor((Date.now() - 6 * 60 * MINUTE) / MINUTE) * MINUTE };
    const now = () => clock.now;
    const controller = createControllerFromClients(world.config, world.clients, { clock: now });
    // The controller's function URL: verifies each signed command and hands the controller the principal.
    urlServer = await startFunctionUrlServer({ credentials: Object.values(DEMO_PRINCIPALS), region: moto.region, ownerAccountId: DEMO_ACCOUNT, handler: (event) => controller.handle(event) });
    const cliEnv: Record<string, string | undefined> = { ...controllerEnv(world.config), ROLLGATE_FUNCTION_URL: urlServer.url, AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: moto.region, USER: "demo-operator" };
    const hooks: LocateHooks = { clients: world.clients, overrides: { clock: now } };
    const captured = { text: "" };
    const cliIo: CliIo = {
      stdout: { write: (t) => void (captured.text += t), isTTY: false },
      stderr: { write: (t) => void (captured.text += t), isTTY: false },
      stdinIsTTY: false,
      prompt: async () => "",
      env: cliEnv,
      cwd,
      sleep,
      now,
    };
    /** Runs the real CLI in-process as one of the operators (their keys sign the command) and shows what it printed. */
    const cli = async (args: string[], as: DemoPrincipal = "alice", mayFail = false): Promise<string> => {
      captured.text = "";
      cliEnv.AWS_ACCESS_KEY_ID = DEMO_PRINCIPALS[as].accessKeyId;
      cliEnv.AWS_SECRET_ACCESS_KEY = DEMO_PRINCIPALS[as].secretAccessKey;
      const code = await run(args, cliIo, hooks);
      say(`${style.dim(`${as}$`)} rollgate ${args.join(" ")}`);
      for (const line of captured.text.trimEnd().split("\n")) if (line) say(`  ${line}`);
      if (code !== 0 && !mayFail) throw new Error(`rollgate ${args.join(" ")} exited with ${code}:\n${captured.text}`);
      return captured.text;
    };
    const located = await locate({}, cliIo, hooks);

    const results: Array<Omit<DemoRolloutResult, "report">> = [];
    let simulatedMinutes = 0;
    for (const release of releases) {
      if (options.signal?.aborted) throw new Interrupted("interrupted");
      say("");
      say(style.bold(`== release ${release.version}: ${release.label}`));
      await cli(["start", release.version, "--yes", "--note", release.label]);
      const r = await rollout({ release, controller, world, located, clock, rng, rps, minuteMs, style, out, tty, log, say, cli, signal: options.signal });
      simulatedMinutes += r.minutes;
      results.push(r);
    }

    say("");
    say(style.bold("== audit trail (rollgate history)"));
    await cli(["history", "--limit", "12"]);
    say("");
    say(style.bold(`== reports (rollgate report) in ${outDir}`));
    const rollouts: DemoRolloutResult[] = [];
    for (const r of results) {
      const file = resolvePath(outDir, `${r.version}-${r.phase}.svg`);
      await cli(["report", r.rolloutId, "--out", file]);
      rollouts.push({ ...r, report: file });
    }
    if (tty) out.write(`${log.slice(-40).join("\n")}\n`);
    out.write(`\n${style.bold("done:")} ${rollouts.map((r) => `${r.version} ${r.phase}`).join(", ")}; ${simulatedMinutes} simulated minutes\n`);
    out.write(`reports: ${outDir}\n`);
    return { rollouts, outDir, simulatedMinutes };
  } finally {
    await urlServer?.close();
    await moto.stop();
  }
}

interface RolloutContext {
  release: DemoRelease;
  controller: Controller;
  world: LocalService;
  located: Located;
  clock: { now: number };
  rng: Rng;
  rps: number;
  minuteMs: number;
  style: ReturnType<typeof styleFor>;
  out: DemoOptions["out"];
  tty: boolean;
  log: string[];
  say(line: string): void;
  cli(args: string[], as?: DemoPrincipal, mayFail?: boolean): Promise<string>;
  signal?: AbortSignal;
}

/** Minute by minute until the rollout ends: traffic, alarm evaluation, tick, frame. */
async function rollout(c: RolloutContext): Promise<Omit<DemoRolloutResult, "report">> {
  const { world, controller, clock } = c;
  const alarmState: Record<Slot, "OK" | "ALARM"> = { blue: "OK", green: "OK" };
  let lastKey = "";
  let killed = false;
  let killStepSeenAt: number | undefined;
  const maxMinutes = 40;
  for (let minute = 1; minute <= maxMinutes; minute++) {
    if (c.signal?.aborted) throw new Interrupted("interrupted");
    const status = await controller.status();
    const canarySlot: Slot = status.state.phase === "promoted" ? status.stableSlot : status.idleSlot;
    const stableSlot: Slot = canarySlot === "blue" ? "green" : "blue";
    const weights = status.actualSlotWeights;
    const total = weights.blue + weights.green;
    const canaryShare = total > 0 ? weights[canarySlot] / total : 0;

    // The minute that just ran: its ALB metrics, published the way ALB publishes them.
    const minuteStart = clock.now;
    const traffic = trafficMinute({ rps: c.rps, canaryShare, baselineErrorRate: 0.001, canaryErrorRate: c.release.errorRate }, c.rng);
    const perSlot: Record<Slot, { requests: number; errors: number }> = {
      [canarySlot]: { requests: traffic.canary.requestCount, errors: traffic.canary.http5xxCount },
      [stableSlot]: { requests: traffic.baseline.requestCount, errors: traffic.baseline.http5xxCount },
    } as Record<Slot, { requests: number; errors: number }>;
    await publishMinute(world, minuteStart, perSlot);
    clock.now = minuteStart + MINUTE + 5_000;

    // moto stores alarms but does not evaluate them: the demo does (more than ALARM_THRESHOLD 5xx in
    // the minute, the alarms' threshold), sets the state, and sends the EventBridge event to the handler.
    for (const slot of ["blue", "green"] as const) {
      const next = perSlot[slot].errors > ALARM_THRESHOLD ? "ALARM" : "OK";
      if (next === alarmState[slot]) continue;
      alarmState[slot] = next;
      await world.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: world.alarms[slot], StateValue: next, StateReason: `${perSlot[slot].errors} 5xx in the minute (threshold ${ALARM_THRESHOLD})` }));
      if (next === "ALARM") {
        c.say(c.style.red(`alarm ${world.alarms[slot]} -> ALARM (${perSlot[slot].errors} 5xx in a minute); EventBridge delivers the state change to the controller`));
        const res = await controller.handle(alarmEvent(world.alarms[slot], next, clock.now));
        c.say(`  controller (alarm event): ${"action" in res ? res.action : "?"}: ${"reason" in res ? res.reason : ""}`);
      }
    }
    await controller.handle(tickEvent(clock.now));

    const record = await c.located.store.get(SERVICE);
    // One minute into the step, so the report shows the step the kill cut short.
    if (killStepSeenAt === undefined && c.release.killAtStep !== undefined && record && record.rollout.stepIndex >= c.release.killAtStep) killStepSeenAt = minute;
    if (!killed && killStepSeenAt !== undefined && minute > killStepSeenAt && record && record.rollout.phase === "progressing") {
      killed = true;
      await frame(c, minute, true);
      c.say(c.style.red("operator: pulling the kill switch"));
      await c.cli(["kill", "--yes", "--note", "demo: kill switch drill"]);
      await c.cli(["unkill", "--yes", "--note", "drill over"]);
    }
    if (record?.rollout.phase === "paused" && record.rollout.pause?.reason === "approval") {
      await frame(c, minute, true);
      c.say(c.style.yellow(`step ${record.rollout.stepIndex + 1} passed its gates and waits for an approval`));
      // Alice started the release: separation of duties refuses her approval, and nothing changes.
      await c.cli(["approve", "--yes", "--note", "looks good to me"], "alice", true);
      await c.cli(["approve", "--yes", "--note", "CAB-1234 reviewed"], "bob");
    }
    const after = await c.located.store.get(SERVICE);
    const key = after ? `${after.rollout.phase}/${after.rollout.stepIndex}/${after.rollout.weights.canary}` : "";
    await frame(c, minute, key !== lastKey);
    lastKey = key;
    if (c.minuteMs > 0) await sleep(c.minuteMs, c.signal);
    if (after && TERMINAL_PHASES.has(after.rollout.phase) && after.rollout.finalizeAt === undefined) {
      // The rolled-back slot serves nothing now, so its alarm clears (missing data is not breaching).
      for (const slot of ["blue", "green"] as const) {
        if (alarmState[slot] !== "ALARM") continue;
        await world.clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: world.alarms[slot], StateValue: "OK", StateReason: "no requests since the rollback" }));
        c.say(`alarm ${world.alarms[slot]} -> OK (no requests since the rollback)`);
      }
      c.say(`${c.release.version}: ${phaseColour(c.style, after.rollout.phase)} after ${minute} simulated minute${minute === 1 ? "" : "s"}: ${after.rollout.outcome ?? ""}`);
      return { version: c.release.version, rolloutId: after.rollout.rolloutId, phase: after.rollout.phase, outcome: after.rollout.outcome ?? "", minutes: minute };
    }
  }
  throw new Error(`release ${c.release.version} did not finish within ${maxMinutes} simulated minutes`);
}

function phaseColour(style: ReturnType<typeof styleFor>, phase: string): string {
  return phase === "promoted" ? style.green(phase) : style.red(phase);
}

/** The live view: redrawn in place on a terminal, appended on change elsewhere. */
async function frame(c: RolloutContext, minute: number, changed: boolean): Promise<void> {
  if (!c.tty && !changed) return;
  const view = await gatherView(c.located, SERVICE, c.clock.now, { historyLimit: 5 });
  const text = renderWatchFrame(view, c.style, { width: c.out.columns ?? 100, title: `rollgate watch ${SERVICE}  (demo minute ${minute}, release ${c.release.version})` });
  if (c.tty) c.out.write(`\u001b[H\u001b[2J${text}\n${c.style.dim(c.log.slice(-12).join("\n"))}\n`);
  else c.out.write(`${text}\n`);
}

/** One minute of ALB metrics per slot target group, as ALB publishes them (nothing for an idle group). */
export async function publishMinute(world: LocalService, minuteStart: number, perSlot: Record<Slot, { requests: number; errors: number }>): Promise<void> {
  const at = new Date(minuteStart + 30_000);
  const data = (["blue", "green"] as const).flatMap((slot) => {
    const v = perSlot[slot];
    // ALB publishes nothing for a target group without requests: no datapoint, not a zero.
    if (v.requests === 0) return [];
    const dims = [
      { Name: "TargetGroup", Value: targetGroupDimension(world.targetGroups[slot]) },
      { Name: "LoadBalancer", Value: loadBalancerDimension(world.loadBalancerArn) },
    ];
    return [
      { MetricName: "RequestCount", Dimensions: dims, Timestamp: at, Value: v.requests, Unit: "Count" as const },
      ...(v.errors > 0 ? [{ MetricName: "HTTPCode_Target_5XX_Count", Dimensions: dims, Timestamp: at, Value: v.errors, Unit: "Count" as const }] : []),
    ];
  });
  if (data.length) await world.clients.cloudwatch.send(new PutMetricDataCommand({ Namespace: "AWS/ApplicationELB", MetricData: data }));
}

function tickEvent(at: number) {
  return { version: "0", id: `tick-${at}`, "detail-type": "Scheduled Event", source: "aws.events", account: "123456789012", time: new Date(at).toISOString(), region: "us-east-1", resources: [], detail: {} };
}

function alarmEvent(alarmName: string, value: "OK" | "ALARM", at: number) {
  return {
    version: "0",
    id: `alarm-${alarmName}-${at}`,
    "detail-type": "CloudWatch Alarm State Change",
    source: "aws.cloudwatch",
    account: "123456789012",
    time: new Date(at).toISOString(),
    region: "us-east-1",
    resources: [],
    detail: { alarmName, state: { value, reason: "demo", timestamp: new Date(at).toISOString() }, previousState: { value: value === "ALARM" ? "OK" : "ALARM" } },
  };
}
