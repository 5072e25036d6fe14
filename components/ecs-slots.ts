import * as pulumi from "@pulumi/pulumi";
import * as cloudwatch from "@pulumi/aws/cloudwatch/index.js";
import * as ecs from "@pulumi/aws/ecs/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import type { Slot } from "./blue-green-target-groups.js";
import { ArgsError, check, checked, checkInteger, checkNonEmpty, parseArn, plain, withTags } from "./internal.js";

export interface EcsSlotsArgs {
  /** ARN of the ECS cluster the two slot services run in. */
  clusterArn: pulumi.Input<string>;
  /** Container image of this release (e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout:2.4.1`). */
  image: pulumi.Input<string>;
  /**
   * Release label of this image (e.g. "2.4.1"). A new version creates a new task definition
   * revision; the controller (not pulumi up) puts it on the idle slot.
   */
  version: pulumi.Input<string>;
  /** ARN of the blue slot's target group. */
  blueTargetGroupArn: pulumi.Input<string>;
  /** ARN of the green slot's target group. */
  greenTargetGroupArn: pulumi.Input<string>;
  /** Subnets of the tasks (private subnets, usually). */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Security groups of the tasks (allow the load balancer to reach containerPort). */
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Name of the container the target groups send traffic to.
   * @default "app"
   */
  containerName?: pulumi.Input<string>;
  /**
   * Port the container listens on.
   * @default 80
   */
  containerPort?: pulumi.Input<number>;
  /**
   * Fargate CPU units (256, 512, 1024, 2048, 4096, 8192 or 16384).
   * @default 256
   */
  cpu?: pulumi.Input<number>;
  /**
   * Fargate memory in MiB (must fit the CPU size).
   * @default 512
   */
  memory?: pulumi.Input<number>;
  /**
   * Tasks of the stable slot at creation. Afterwards the controller owns the count of both slots
   * (it scales the idle slot up for a release and the old slot down after promotion).
   * @default 2
   */
  desiredCount?: pulumi.Input<number>;
  /**
   * Give tasks a public IP (only for public subnets without a NAT).
   * @default false
   */
  assignPublicIp?: pulumi.Input<boolean>;
  /**
   * Environment variables of the container (ROLLGATE_VERSION is added).
   * @default {}
   */
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Task execution role. By default one is created that may pull from the image's ECR repository
   * and write to the task log group only.
   * @default a role created for these slots
   */
  executionRoleArn?: pulumi.Input<string>;
  /**
   * Role of the application inside the task.
   * @default undefined (no task role)
   */
  taskRoleArn?: pulumi.Input<string>;
  /**
   * Retention of the task log group, in days.
   * @default 30
   */
  logRetentionDays?: pulumi.Input<number>;
  /**
   * Seconds ECS ignores failing load balancer health checks after a task starts.
   * @default 60
   */
  healthCheckGracePeriodSeconds?: pulumi.Input<number>;
  /**
   * Extra tags.
   * @default {}
   */
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const FARGATE_MEMORY: Record<number, [number, number]> = {
  256: [512, 2048],
  512: [1024, 4096],
  1024: [2048, 8192],
  2048: [4096, 16384],
  4096: [8192, 30720],
  8192: [16384, 61440],
  16384: [32768, 122880],
};

/** A release label: used in metric dimensions, tags and the audit trail. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+:-]{0,127}$/;

/** Plain-value checks of EcsSlotsArgs; throws ArgsError naming the field. */
export function validateEcsSlotsArgs(args: EcsSlotsArgs): void {
  const c = "EcsSlots";
  for (const f of ["clusterArn", "image", "version", "blueTargetGroupArn", "greenTargetGroupArn", "subnetIds", "securityGroupIds"] as const) {
    if (args[f] === undefined) throw new ArgsError(`${c}: ${f} is required`);
  }
  checkNonEmpty(c, "image", plain(args.image), "a container image reference");
  const cluster = plain(args.clusterArn);
  if (cluster !== undefined) clusterRegion(cluster);
  const version = plain(args.version);
  if (version !== undefined && !VERSION_PATTERN.test(version)) {
    throw new ArgsError(`${c}: version must be a release label of letters, digits, ".", "_", "+", ":" or "-" (up to 128), e.g. v2 or 1.4.0, got ${JSON.stringify(version)}`);
  }
  const subnets = plain(args.subnetIds);
  if (subnets !== undefined && subnets.length === 0) throw new ArgsError(`${c}: subnetIds must list at least one subnet (two or more for availability)`);
  const sgs = plain(args.securityGroupIds);
  if (sgs !== undefined && sgs.length === 0) throw new ArgsError(`${c}: securityGroupIds must list at least one security group that lets the load balancer reach containerPort`);
  checkInteger(c, "containerPort", plain(args.containerPort), 1, 65535);
  checkInteger(c, "desiredCount", plain(args.desiredCount), 1, 5000, " (the stable slot needs at least one task)");
  checkInteger(c, "healthCheckGracePeriodSeconds", plain(args.healthCheckGracePeriodSeconds), 0, 2147483647);
  checkInteger(c, "logRetentionDays", plain(args.logRetentionDays), 1, 3653);
  const cpu = plain(args.cpu);
  const memory = plain(args.memory);
  if (cpu !== undefined && !(cpu in FARGATE_MEMORY)) {
    throw new ArgsError(`${c}: cpu must be a Fargate size (${Object.keys(FARGATE_MEMORY).join(", ")}), got ${JSON.stringify(cpu)}`);
  }
  if (memory !== undefined) {
    const [lo, hi] = FARGATE_MEMORY[cpu ?? 256]!;
    if (!Number.isInteger(memory) || memory < lo || memory > hi) {
      throw new ArgsError(`${c}: memory ${JSON.stringify(memory)} MiB does not fit cpu ${cpu ?? 256}; Fargate allows ${lo}..${hi} MiB for it`);
    }
  }
}

/** The region of an ECS cluster ARN (the task logs go to the cluster's region). */
export function clusterRegion(clusterArn: string): string {
  const p = parseArn(clusterArn);
  if (!p || p.service !== "ecs" || !p.region || !p.resource.startsWith("cluster/")) {
    throw new ArgsError(`EcsSlots: clusterArn must be an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>), got ${JSON.stringify(clusterArn)}`);
  }
  return p.region;
}

/** The ECR repository ARN of an ECR image reference, undefined for other registries. */
export function ecrRepositoryArn(image: string): string | undefined {
  const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)/.exec(image);
  if (!m) return undefined;
  const partition = image.includes(".amazonaws.com.cn/") ? "aws-cn" : "aws";
  return `arn:${partition}:ecr:${m[2]}:${m[1]}:repository/${m[3]}`;
}

/**
 * ECS Fargate compute for the two slots, owned by the controller after creation: one service per
 * slot, with the task definition and desired count under ignoreChanges. Each `version` creates a
 * task definition revision (old revisions are kept, the stable slot may still run one); the
 * controller deploys it to the idle slot. pulumi up never changes what a slot runs.
 */
export class EcsSlots extends pulumi.ComponentResource {
  /** The task definition revision of `version`: what the start command names. */
  public readonly taskDefinitionArn: pulumi.Output<string>;
  public readonly blueServiceArn: pulumi.Output<string>;
  public readonly greenServiceArn: pulumi.Output<string>;
  public readonly blueServiceName: pulumi.Output<string>;
  public readonly greenServiceName: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;

  constructor(name: string, args: EcsSlotsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollgate:index:EcsSlots", name, {}, opts);
    check(this, () => validateEcsSlotsArgs(args));
    const tags = withTags(args.tags, {});
    const childOpts = { parent: this };
    const containerName = args.containerName ?? "app";
    const containerPort = args.containerPort ?? 80;

    const logGroup = new cloudwatch.LogGroup(`${name}-tasks`, { retentionInDays: args.logRetentionDays ?? 30, tags }, childOpts);

    let executionRoleArn = args.executionRoleArn;
    if (executionRoleArn === undefined) {
      const role = new iam.Role(
        `${name}-execution`,
        {
          assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
          }),
          tags,
        },
        childOpts,
      );
      new iam.RolePolicy(
        `${name}-execution`,
        {
          role: role.id,
          policy: pulumi.all([logGroup.arn, args.image]).apply(([logArn, image]) => JSON.stringify(executionRolePolicy(logArn, image))),
        },
        childOpts,
      );
      executionRoleArn = role.arn;
    }

    const taskDefinition = new ecs.TaskDefinition(
      `${name}-task`,
      {
        family: `${name}-${pulumi.getStack()}`,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: pulumi.output(args.cpu ?? 256).apply(String),
        memory: pulumi.output(args.memory ?? 512).apply(String),
        executionRoleArn,
        ...(args.taskRoleArn !== undefined ? { taskRoleArn: args.taskRoleArn } : {}),
        containerDefinitions: pulumi
          .all([args.image, args.version, containerName, containerPort, pulumi.output(args.environment ?? {}), logGroup.name, args.clusterArn])
          .apply(([image, version, cname, port, environment, logGroupName, clusterArn]) =>
            JSON.stringify([
              {
                name: cname,
                image,
                essential: true,
                portMappings: [{ containerPort: port, protocol: "tcp" }],
                environment: Object.entries({ ...environment, ROLLGATE_VERSION: version })
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([k, v]) => ({ name: k, value: v })),
                dockerLabels: { "rollgate.version": version },
                logConfiguration: {
                  logDriver: "awslogs",
                  options: { "awslogs-group": logGroupName, "awslogs-region": checked(this, () => clusterRegion(clusterArn)), "awslogs-stream-prefix": version },
                },
              },
            ]),
          ),
        // The stable slot may still run an older revision: keep revisions when a new one replaces them.
        skipDestroy: true,
        tags: withTags(args.tags, { "rollgate:version": args.version }),
      },
      childOpts,
    );

    const service = (slot: Slot, targetGroupArn: pulumi.Input<string>, desiredCount: pulumi.Input<number>) =>
      new ecs.Service(
        `${name}-${slot}`,
        {
          cluster: args.clusterArn,
          launchType: "FARGATE",
          taskDefinition: taskDefinition.arn,
          desiredCount,
          deploymentController: { type: "ECS" },
          deploymentCircuitBreaker: { enable: true, rollback: true },
          healthCheckGracePeriodSeconds: args.healthCheckGracePeriodSeconds ?? 60,
          networkConfiguration: {
            subnets: args.subnetIds,
            securityGroups: args.securityGroupIds,
            assignPublicIp: args.assignPublicIp ?? false,
          },
          loadBalancers: [{ targetGroupArn, containerName, containerPort }],
          propagateTags: "SERVICE",
          // The controller changes what runs where; waiting here would block pulumi up on it.
          waitForSteadyState: false,
          tags: withTags(args.tags, { "rollgate:slot": slot }),
        },
        // Controller-owned slot contents: after creation only the controller sets a slot's task
        // definition and task count, so pulumi up can never touch the live slot's workload.
        { parent: this, ignoreChanges: ["taskDefinition", "desiredCount"] },
      );
    const blue = service("blue", args.blueTargetGroupArn, args.desiredCount ?? 2);
    // The idle slot starts empty; the controller scales it up when a release goes into it.
    const green = service("green", args.greenTargetGroupArn, 0);

    this.taskDefinitionArn = taskDefinition.arn;
    this.blueServiceArn = blue.arn;
    this.greenServiceArn = green.arn;
    this.blueServiceName = blue.name;
    this.greenServiceName = green.name;
    this.logGroupName = logGroup.name;
    this.registerOutputs({
      taskDefinitionArn: this.taskDefinitionArn,
      blueServiceArn: this.blueServiceArn,
      greenServiceArn: this.greenServiceArn,
      blueServiceName: this.blueServiceName,
      greenServiceName: this.greenServiceName,
      logGroupName: this.logGroupName,
    });
  }
}

/** The task execution role's policy: its own log group, and pulls from the image's ECR repository only. */
export function executionRolePolicy(logGroupArn: string, image: string): { Version: string; Statement: unknown[] } {
  const statements: unknown[] = [
    { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroupArn.replace(/:\*$/, "")}:*` },
  ];
  const repo = ecrRepositoryArn(image);
  if (repo) {
    // GetAuthorizationToken has no resource-level permissions; the pulls are scoped to the repository.
    statements.push({ Sid: "EcrAuth", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" });
    statements.push({
      Sid: "EcrPull",
      Effect: "Allow",
      Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: repo,
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}
