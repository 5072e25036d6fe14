/**
 * Pulumi mock runtime support for rollgate's tests, benchmark and `npm run plan`: fills in the
 * outputs AWS would compute (ARNs, names, arnSuffix) so the components' outputs look like the
 * real ones, records every resource, and answers the invokes the components make (the
 * controller's status). Also usable by service teams to test their own stacks.
 *
 * Mocks see a resource's type, name and inputs but not its options; `recordingTransformation`
 * adds the options (ignoreChanges, dependsOn, parent) through a transformation.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export const MOCK_REGION = "eu-west-1";
export const MOCK_ACCOUNT = "123456789012";

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** The outputs the mock returned (inputs plus computed ARNs and names). */
  state: Record<string, any>;
  /** Filled by recordingTransformation: the options the component passed. */
  ignoreChanges?: string[];
  /** Pulumi's `protect` option: a replacement or deletion fails at preview. */
  protect?: boolean;
  dependsOn?: string[];
  parent?: string;
  parentType?: string;
}

export interface RecordedInvoke {
  token: string;
  inputs: Record<string, any>;
}

function hex(s: string, n: number): string {
  return createHash("sha1").update(s).digest("hex").slice(0, n);
}

export interface RollgateMocks extends pulumi.runtime.Mocks {
  resources: RecordedResource[];
  invokes: RecordedInvoke[];
  /** What `{"command":"status"}` returns, per controller function name; default: an idle service. */
  status: (functionName: string) => unknown;
  /** Finds recorded resources by type token (and name, when given). */
  find(type: string, name?: string): RecordedResource[];
  /** Forgets what was recorded (between evaluations in one process). */
  reset(): void;
}

export const IDLE_STATUS = {
  ok: true,
  command: "status",
  phase: "idle",
  stableSlot: "blue",
  idleSlot: "green",
  state: { phase: "idle", release: { stable: "none", canary: "none" }, stepIndex: -1 },
};

export function createMocks(): RollgateMocks {
  const resources: RecordedResource[] = [];
  const invokes: RecordedInvoke[] = [];
  const revisions = new Map<string, Map<string, number>>();
  const arn = (service: string, resource: string, region = MOCK_REGION) => `arn:aws:${service}:${region}:${MOCK_ACCOUNT}:${resource}`;

  const outputsFor = (type: string, name: string, inputs: Record<string, any>): Record<string, any> => {
    const auto = `${name}-${hex(name, 7)}`;
    const id16 = hex(name, 16);
    switch (type) {
      case "aws:lb/loadBalancer:LoadBalancer": {
        const suffix = `app/${inputs.name ?? auto}/${id16}`;
        return { name: inputs.name ?? auto, arn: arn("elasticloadbalancing", `loadbalancer/${suffix}`), arnSuffix: suffix, dnsName: `${auto}.${MOCK_REGION}.elb.amazonaws.com` };
      }
      case "aws:lb/targetGroup:TargetGroup": {
        const tgName = (inputs.name ?? auto).slice(0, 32);
        const suffix = `targetgroup/${tgName}/${id16}`;
        return { name: tgName, arn: arn("elasticloadbalancing", suffix), arnSuffix: suffix };
      }
      case "aws:lb/listener:Listener":
        return { arn: arn("elasticloadbalancing", `listener/app/shared-alb/${hex("lb", 16)}/${id16}`) };
      case "aws:lb/listenerRule:ListenerRule":
        return { arn: arn("elasticloadbalancing", `listener-rule/app/shared-alb/${hex("lb", 16)}/${hex("listener", 16)}/${id16}`) };
      case "aws:cloudwatch/metricAlarm:MetricAlarm": {
        const n = inputs.name ?? auto;
        return { name: n, arn: arn("cloudwatch", `alarm:${n}`) };
      }
      case "aws:cloudwatch/compositeAlarm:CompositeAlarm":
        return { arn: arn("cloudwatch", `alarm:${inputs.alarmName}`) };
      case "aws:cloudwatch/dashboard:Dashboard":
        return { dashboardArn: `arn:aws:cloudwatch::${MOCK_ACCOUNT}:dashboard/${inputs.dashboardName}` };
      case "aws:cloudwatch/logGroup:LogGroup": {
        const n = inputs.name ?? auto;
        return { name: n, arn: arn("logs", `log-group:${n}`) };
      }
      case "aws:cloudwatch/eventRule:EventRule":
        return { name: inputs.name ?? auto, arn: arn("events", `rule/${inputs.name ?? auto}`) };
      case "aws:dynamodb/table:Table":
        return { name: inputs.name ?? auto, arn: arn("dynamodb", `table/${inputs.name ?? auto}`) };
      case "aws:sns/topic:Topic":
        return { name: inputs.name ?? auto, arn: arn("sns", inputs.name ?? auto) };
      case "aws:iam/role:Role":
        return { name: inputs.name ?? auto, arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${inputs.name ?? auto}` };
      case "aws:lambda/function:Function":
        return { name: inputs.name ?? auto, arn: arn("lambda", `function:${inputs.name ?? auto}`) };
      case "aws:lambda/functionUrl:FunctionUrl": {
        const id = hex(name, 32);
        return { urlId: id, functionUrl: `https://${id}.lambda-url.${MOCK_REGION}.on.aws/`, functionArn: arn("lambda", `function:${inputs.functionName}`) };
      }
      case "aws:iam/policy:Policy":
        return { name: inputs.name ?? auto, arn: `arn:aws:iam::${MOCK_ACCOUNT}:policy/${inputs.name ?? auto}` };
      case "aws:lambda/invocation:Invocation":
        return { result: JSON.stringify({ ok: true, command: "start" }) };
      case "aws:ecs/cluster:Cluster":
        return { name: inputs.name ?? auto, arn: arn("ecs", `cluster/${inputs.name ?? auto}`) };
      case "aws:ecs/taskDefinition:TaskDefinition": {
        // A new revision per distinct content, the same revision for the same content: like ECS
        // from Pulumi's point of view (an unchanged resource keeps its ARN).
        const family = String(inputs.family);
        const byContent = revisions.get(family) ?? new Map<string, number>();
        revisions.set(family, byContent);
        const key = JSON.stringify(inputs.containerDefinitions) + String(inputs.cpu) + String(inputs.memory);
        if (!byContent.has(key)) byContent.set(key, byContent.size + 1);
        const revision = byContent.get(key)!;
        return { arn: arn("ecs", `task-definition/${family}:${revision}`), revision, arnWithoutRevision: arn("ecs", `task-definition/${family}`) };
      }
      case "aws:ecs/service:Service": {
        const cluster = String(inputs.cluster ?? "cluster").split("/").pop();
        return { name: inputs.name ?? auto, arn: arn("ecs", `service/${cluster}/${inputs.name ?? auto}`) };
      }
      case "aws:ec2/vpc:Vpc":
        return { id: `vpc-${hex(name, 17)}`, arn: arn("ec2", `vpc/vpc-${hex(name, 17)}`) };
      case "aws:ec2/subnet:Subnet":
        return { id: `subnet-${hex(name, 17)}` };
      case "aws:ec2/securityGroup:SecurityGroup":
        return { id: `sg-${hex(name, 17)}`, arn: arn("ec2", `security-group/sg-${hex(name, 17)}`) };
      default:
        return { name: inputs.name ?? auto, arn: arn("mock", `${type}/${auto}`) };
    }
  };

  const mocks: RollgateMocks = {
    resources,
    invokes,
    status: () => IDLE_STATUS,
    newResource(args: pulumi.runtime.MockResourceArgs) {
      const computed = outputsFor(args.type, args.name, args.inputs);
      const state = { ...args.inputs, ...computed };
      const id = computed.id ?? `${args.name}-id`;
      resources.push({ type: args.type, name: args.name, inputs: args.inputs, state });
      return { id, state };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      invokes.push({ token: args.token, inputs: args.inputs });
      switch (args.token) {
        case "aws:lambda/getInvocation:getInvocation":
          return { result: JSON.stringify(mocks.status(String(args.inputs.functionName))), functionName: args.inputs.functionName, input: args.inputs.input };
        case "aws:index/getRegion:getRegion":
          return { name: MOCK_REGION, region: MOCK_REGION, id: MOCK_REGION };
        case "aws:index/getCallerIdentity:getCallerIdentity":
          return { accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/mock`, userId: "mock", id: MOCK_ACCOUNT };
        case "aws:index/getAvailabilityZones:getAvailabilityZones":
          return { names: [`${MOCK_REGION}a`, `${MOCK_REGION}b`], zoneIds: ["euw1-az1", "euw1-az2"] };
        default:
          return args.inputs;
      }
    },
    find(type: string, name?: string) {
      return resources.filter((r) => r.type === type && (name === undefined || r.name === name));
    },
    reset() {
      resources.length = 0;
      invokes.length = 0;
    },
  };
  return mocks;
}

/**
 * A transformation that copies each resource's options onto its record (matched by type and name
 * once the mock has seen it). Pass it as `transformations: [t]` on a component, or register it as
 * a stack transformation: it then sees every resource.
 */
export function recordingTransformation(mocks: RollgateMocks): pulumi.ResourceTransformation {
  const names = new WeakMap<pulumi.Resource, { name: string; type: string }>();
  const pendingOptions = new Map<string, Pick<RecordedResource, "ignoreChanges" | "protect" | "dependsOn" | "parent" | "parentType">>();
  const originalPush = mocks.resources.push.bind(mocks.resources);
  mocks.resources.push = (...items: RecordedResource[]) => {
    for (const item of items) Object.assign(item, pendingOptions.get(`${item.type}::${item.name}`) ?? {});
    return originalPush(...items);
  };
  return (args) => {
    names.set(args.resource, { name: args.name, type: args.type });
    const parent = args.opts.parent ? names.get(args.opts.parent) : undefined;
    const dependsOn = ([] as unknown[])
      .concat((args.opts.dependsOn as unknown[] | undefined) ?? [])
      .map((d) => (d instanceof pulumi.Resource ? names.get(d)?.name : undefined))
      .filter((n): n is string => n !== undefined);
    pendingOptions.set(`${args.type}::${args.name}`, {
      ...(args.opts.ignoreChanges ? { ignoreChanges: [...args.opts.ignoreChanges] } : {}),
      ...(args.opts.protect ? { protect: true } : {}),
      ...(dependsOn.length ? { dependsOn } : {}),
      ...(parent ? { parent: parent.name, parentType: parent.type } : {}),
    });
    return undefined;
  };
}

/** Waits until every resource registration and output in flight has settled. */
export async function settle(): Promise<void> {
  const wait = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (wait) await wait();
  // One more turn for applies scheduled by the last registrations.
  await new Promise((r) => setTimeout(r, 0));
  if (wait) await wait();
}

/** The value of an Output, for tests and the plan script. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => (resolve(v), v)));
}

/** The value of an Output as a promise that rejects when the Output failed (e.g. a refused release). */
export function outputPromise<T>(o: pulumi.Output<T>): Promise<T> {
  return (o as unknown as { promise: () => Promise<T> }).promise();
}

/**
 * The controller's full configuration as the Lambda sees it: its environment merged over the
 * variables of the configuration file in its code archive (ROLLGATE_CONFIG_FILE), as
 * parseControllerEnv reads them. For tests and the plan script.
 */
export async function controllerEnvironment(fn: { inputs: Record<string, any> }): Promise<Record<string, string>> {
  const env = { ...((fn.inputs.environment?.variables ?? {}) as Record<string, string>) };
  const file = env.ROLLGATE_CONFIG_FILE;
  if (file) {
    const assets = (await fn.inputs.code?.assets) as Record<string, { text?: Promise<string> }> | undefined;
    const text = assets?.[file]?.text ? await assets[file]!.text : undefined;
    if (text === undefined) throw new Error(`the code archive has no ${file}`);
    delete env.ROLLGATE_CONFIG_FILE;
    return { ...(JSON.parse(text) as Record<string, string>), ...env };
  }
  return env;
}
