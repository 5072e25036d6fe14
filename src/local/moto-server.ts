/**
 * A moto server (AWS emulator, `python3 -m moto.server`) on 127.0.0.1 and a free port, for tests,
 * benchmarks and the local demo. It binds to loopback only and is stopped by its own pid.
 * `provisionService` creates what one rollgate service needs in it (what the Pulumi components
 * create in AWS) and returns the controller's configuration for it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateClusterCommand, CreateServiceCommand, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { CreateListenerCommand, CreateLoadBalancerCommand, CreateRuleCommand, CreateTargetGroupCommand, type RuleCondition } from "@aws-sdk/client-elastic-load-balancing-v2";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { createClients, type AwsClients } from "../aws/clients.js";
import type { ControllerConfig } from "../controller/config.js";
import { parsePolicy } from "../policy/resolve.js";
import type { Ring } from "../policy/types.js";

export interface MotoServer {
  /** `http://127.0.0.1:<port>`: the endpoint override for every SDK client. */
  endpoint: string;
  port: number;
  /** Region the fake credentials and clients use. */
  region: string;
  /** Fake credentials moto accepts. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Clears every resource in the emulator (moto's reset API) without restarting it. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Python interpreter. @default process.env.ROLLGATE_PYTHON ?? "python3" */
  python?: string;
  /** Port to bind; a free one is picked when absent. */
  port?: number;
  /** How long to wait for the server to answer. @default 20000 */
  startTimeoutMs?: number;
  region?: string;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(endpoint: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto server exited with code ${child.exitCode} before it was ready:\n${output()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok || res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto server did not answer on ${endpoint} within ${timeoutMs} ms (is moto installed? python3 -m pip install 'moto[server]'):\n${output()}`);
}

/**
 * `python -m moto.server`, with moto's DynamoDB made atomic the way DynamoDB is. moto serves
 * requests on threads and its DynamoDB backend takes no lock: TransactWriteItems deep-copies the
 * table, checks its conditions, writes, and on a failed condition restores the whole table from
 * that copy. Two concurrent transactions can therefore both pass `version = :v`, and a loser's
 * restore erases a winner's commit that landed meanwhile (its history record vanishes and the
 * version goes back, so a third invocation commits the same version again): two transitions at
 * one decision point that no DynamoDB table can produce. Other requests see "dictionary changed
 * size during iteration" (HTTP 500). One re-entrant lock around every public method of the
 * backend serializes them, which is what DynamoDB's own per-item serialization and serializable
 * transactions give: a condition is checked and the write applied with nothing in between.
 */
export const ATOMIC_DYNAMODB_LAUNCHER = `
import functools, inspect, sys, threading
from moto.dynamodb.models import DynamoDBBackend
_lock = threading.RLock()
def _locked(f):
    @functools.wraps(f)
    def call(*args, **kwargs):
        with _lock:
            return f(*args, **kwargs)
    return call
for _name, _f in list(vars(DynamoDBBackend).items()):
    if inspect.isfunction(_f) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _locked(_f))
from moto.server import main
main(sys.argv[1:])
`;

/** Starts moto in server mode on 127.0.0.1. Call `stop()` when done (tests: in afterAll). */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  const port = options.port ?? (await freePort());
  const python = options.python ?? process.env.ROLLGATE_PYTHON ?? "python3";
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(python, ["-c", ATOMIC_DYNAMODB_LAUNCHER, "-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  try {
    await waitReady(endpoint, child, options.startTimeoutMs ?? 20_000, () => log);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    endpoint,
    port,
    region: options.region ?? "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function defaultNetwork(moto: MotoServer): Promise<{ subnets: string[]; vpcId: string }> {
  // No EC2 client among the dependencies: moto's default VPC is read through the Query API.
  const res = await fetch(moto.endpoint, {
    method: "POST",
    body: new URLSearchParams({ Action: "DescribeSubnets", Version: "2016-11-15" }),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${moto.region}/ec2/aws4_request, SignedHeaders=host, Signature=x`,
    },
  });
  const xml = await res.text();
  const subnets = [...xml.matchAll(/<subnetId>([^<]+)<\/subnetId>/g)].map((m) => m[1]!);
  const vpcId = xml.match(/<vpcId>([^<]+)<\/vpcId>/)?.[1];
  if (subnets.length < 2 || !vpcId) throw new Error(`moto returned no default subnets: ${xml.slice(0, 300)}`);
  return { subnets, vpcId };
}

export interface ProvisionOptions {
  /** Service name: the state key, and the prefix of alarm, table and topic names. */
  name: string;
  /** Prefix of ELB names (32 characters at most in total). @default name */
  shortName?: string;
  /** Policy input (re-validated with parsePolicy). */
  policy: unknown;
  /** Route with the listener's default action or with a listener rule. @default "listener" */
  mode?: "listener" | "rule";
  /** Target-group stickiness on the forward action. @default false */
  stickiness?: boolean;
  /** Create an ECS cluster and one service per slot (blue with 3 tasks, green with 0). @default false */
  ecs?: boolean;
  /** Alarms to create in state OK (the policy's alarm gates name them). */
  gateAlarms?: string[];
  /** Alarms to create in state OK that set the global freeze (ROLLGATE_FREEZE_ALARMS). */
  freezeAlarms?: string[];
  /** SDK attempts per call for the returned clients. @default 3 */
  maxAttempts?: number;
  /** State table name. @default `rollgate-${name}` */
  tableName?: string;
  /**
   * Create one listener rule per ring of the policy, as the components do: the ring's conditions
   * (plus the service rule's path in rule mode), a priority above the service rule, forwarding
   * to the blue (stable) slot; `config.ringRules` maps ring -> rule ARN. "plain" forwards to one
   * target group, "weighted" to both with weights 1/0. @default none (no ring rules)
   */
  ringRules?: "plain" | "weighted";
}

export interface ProvisionedService {
  config: ControllerConfig;
  clients: AwsClients;
  loadBalancerArn: string;
  listenerArn: string;
  ruleArn: string;
  /** Ring name -> listener rule ARN, when `ringRules` was asked for. */
  ringRuleArns: Record<string, string>;
  blueTargetGroupArn: string;
  greenTargetGroupArn: string;
  topicArn: string;
  vpcId: string;
}

/**
 * Creates an ALB with a blue and a green target group, a listener (all traffic on blue) and a
 * listener rule, the alarms, the state table, an SNS topic and optionally the ECS slot services.
 */
export async function provisionService(moto: MotoServer, options: ProvisionOptions): Promise<ProvisionedService> {
  const name = options.name;
  const short = options.shortName ?? name;
  const clients = createClients({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials, ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}) });
  const { subnets, vpcId } = await defaultNetwork(moto);
  const lb = await clients.elbv2.send(new CreateLoadBalancerCommand({ Name: `lb-${short}`, Subnets: subnets.slice(0, 2) }));
  const loadBalancerArn = lb.LoadBalancers![0]!.LoadBalancerArn!;
  const tg = async (slot: string) =>
    (await clients.elbv2.send(new CreateTargetGroupCommand({ Name: `${short}-${slot}`, Protocol: "HTTP", Port: 80, VpcId: vpcId, TargetType: "ip" }))).TargetGroups![0]!.TargetGroupArn!;
  const blueTargetGroupArn = await tg("blue");
  const greenTargetGroupArn = await tg("green");
  const forward = {
    Type: "forward" as const,
    ForwardConfig: {
      TargetGroups: [
        { TargetGroupArn: blueTargetGroupArn, Weight: 999 },
        { TargetGroupArn: greenTargetGroupArn, Weight: 0 },
      ],
      ...(options.stickiness ? { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 300 } } : {}),
    },
  };
  const listener = await clients.elbv2.send(new CreateListenerCommand({ LoadBalancerArn: loadBalancerArn, Protocol: "HTTP", Port: 80, DefaultActions: [forward] }));
  const listenerArn = listener.Listeners![0]!.ListenerArn!;
  const rule = await clients.elbv2.send(
    new CreateRuleCommand({ ListenerArn: listenerArn, Priority: 10, Conditions: [{ Field: "path-pattern", PathPatternConfig: { Values: ["/api/*"] } }], Actions: [forward] }),
  );
  const ruleArn = rule.Rules![0]!.RuleArn!;
  const policy = parsePolicy(options.policy);
  const ringRuleArns: Record<string, string> = {};
  if (options.ringRules) {
    let priority = 1;
    for (const ring of policy.rings) {
      const action =
        options.ringRules === "weighted"
          ? { ...forward, ForwardConfig: { ...forward.ForwardConfig, TargetGroups: [{ TargetGroupArn: blueTargetGroupArn, Weight: 1 }, { TargetGroupArn: greenTargetGroupArn, Weight: 0 }] } }
          : { Type: "forward" as const, TargetGroupArn: blueTargetGroupArn };
      const conditions = [...ringConditions(ring), ...(options.mode === "rule" ? [{ Field: "path-pattern", PathPatternConfig: { Values: ["/api/*"] } }] : [])];
      const created = await clients.elbv2.send(new CreateRuleCommand({ ListenerArn: listenerArn, Priority: priority++, Conditions: conditions, Actions: [action] }));
      ringRuleArns[ring.name] = created.Rules![0]!.RuleArn!;
    }
  }

  for (const alarm of [...(options.gateAlarms ?? []), ...(options.freezeAlarms ?? [])]) {
    await clients.cloudwatch.send(
      new PutMetricAlarmCommand({
        AlarmName: alarm,
        Namespace: "AWS/ApplicationELB",
        MetricName: "HTTPCode_Target_5XX_Count",
        Statistic: "Sum",
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 10,
        ComparisonOperator: "GreaterThanThreshold",
      }),
    );
    await clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarm, StateValue: "OK", StateReason: "provisioned" }));
  }
  const table = options.tableName ?? `rollgate-${name}`;
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
    }),
  );
  const topicArn = (await clients.sns.send(new CreateTopicCommand({ Name: `${name}-events` }))).TopicArn!;

  let ecs: ControllerConfig["ecs"];
  if (options.ecs) {
    const cluster = (await clients.ecs.send(new CreateClusterCommand({ clusterName: `${name}-cluster` }))).cluster!.clusterArn!;
    await clients.ecs.send(new RegisterTaskDefinitionCommand({ family: `${name}-app`, containerDefinitions: [{ name: "app", image: "app:v1", memory: 128 }] }));
    await clients.ecs.send(new CreateServiceCommand({ cluster, serviceName: `${name}-blue`, taskDefinition: `${name}-app`, desiredCount: 3 }));
    await clients.ecs.send(new CreateServiceCommand({ cluster, serviceName: `${name}-green`, taskDefinition: `${name}-app`, desiredCount: 0 }));
    ecs = { clusterArn: cluster, blueService: `${name}-blue`, greenService: `${name}-green`, readyTimeoutMs: 15 * 60_000 };
  }

  const config: ControllerConfig = {
    service: name,
    policy,
    table,
    ...(options.mode === "rule" ? { ruleArn } : { listenerArn }),
    blueTargetGroupArn,
    greenTargetGroupArn,
    loadBalancerArn,
    topicArn,
    eventBus: "default",
    historyTtlDays: 90,
    freezeAlarms: options.freezeAlarms ?? [],
    ...(ecs ? { ecs } : {}),
    ...(Object.keys(ringRuleArns).length ? { ringRules: ringRuleArns } : {}),
  };
  return { config, clients, loadBalancerArn, listenerArn, ruleArn, ringRuleArns, blueTargetGroupArn, greenTargetGroupArn, topicArn, vpcId };
}

/** ALB rule conditions for a ring: each header, the cookie (through the Cookie header) and the source CIDRs, ANDed. */
export function ringConditions(ring: Ring): RuleCondition[] {
  return [
    ...ring.match.headers.map((h) => ({ Field: "http-header", HttpHeaderConfig: { HttpHeaderName: h.name, Values: h.values } })),
    ...(ring.match.cookie ? [{ Field: "http-header", HttpHeaderConfig: { HttpHeaderName: "Cookie", Values: [`*${ring.match.cookie.name}=${ring.match.cookie.value}*`] } }] : []),
    ...(ring.match.sourceIps.length ? [{ Field: "source-ip", SourceIpConfig: { Values: ring.match.sourceIps } }] : []),
  ];
}
