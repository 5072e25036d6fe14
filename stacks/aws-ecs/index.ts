/**
 * The "checkout" service on ECS Fargate, released progressively behind a SHARED Application Load
 * Balancer: the service owns a listener rule (host + path) on the shared HTTP listener, two
 * target groups (blue and green), one Fargate service per slot, the health alarms, the step
 * controller and a dashboard. The network, the ALB and its listener are created here so the
 * example is complete; in a real platform they come from another stack (pass their ARNs).
 *
 *   pulumi config set version 1.0.1 && pulumi up   # deploys 1.0.1 to the idle slot and starts a rollout
 *
 * The policy is stacks/shared/policy.yaml (the same file the Kubernetes example uses), or the
 * `policy` object in Pulumi.<stack>.yaml when set there.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2/index.js";
import * as ecs from "@pulumi/aws/ecs/index.js";
import * as lb from "@pulumi/aws/lb/index.js";
import { ProgressiveService } from "../../components/index.js";

const config = new pulumi.Config();
const name = "checkout";

// --- Shared platform: network, ALB, listener, cluster (usually another team's stack) ---
const vpc = new ec2.Vpc(`${name}-vpc`, { cidrBlock: "10.40.0.0/16", enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${name}-vpc` } });
const gateway = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id });
const routes = new ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }] });
const zones = config.getObject<string[]>("availabilityZones") ?? ["eu-west-1a", "eu-west-1b"];
const subnets = zones.map((az, i) => {
  const subnet = new ec2.Subnet(`${name}-public-${i}`, { vpcId: vpc.id, availabilityZone: az, cidrBlock: `10.40.${i}.0/24`, mapPublicIpOnLaunch: false });
  new ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: subnet.id, routeTableId: routes.id });
  return subnet;
});

const containerPort = config.getNumber("containerPort") ?? 80;
// The ALB is public on port 80; the tasks accept traffic from the ALB only.
const albSecurityGroup = new ec2.SecurityGroup(`${name}-alb`, {
  vpcId: vpc.id,
  description: "shared ALB: HTTP from the internet",
  ingress: [{ protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"], description: "HTTP" }],
  egress: [{ protocol: "tcp", fromPort: containerPort, toPort: containerPort, cidrBlocks: ["10.40.0.0/16"], description: "to the tasks" }],
});
const taskSecurityGroup = new ec2.SecurityGroup(`${name}-tasks`, {
  vpcId: vpc.id,
  description: "checkout tasks: the container port from the ALB only",
  ingress: [{ protocol: "tcp", fromPort: containerPort, toPort: containerPort, securityGroups: [albSecurityGroup.id], description: "from the ALB" }],
  // Image pulls and AWS APIs over HTTPS.
  egress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], description: "HTTPS out" }],
});
const alb = new lb.LoadBalancer(`${name}-alb`, {
  loadBalancerType: "application",
  internal: false,
  securityGroups: [albSecurityGroup.id],
  subnets: subnets.map((s) => s.id),
  dropInvalidHeaderFields: true,
});
// The shared listener answers 404 for anything no service's rule matches.
const sharedListener = new lb.Listener(`${name}-http`, {
  loadBalancerArn: alb.arn,
  port: 80,
  protocol: "HTTP",
  defaultActions: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "404", messageBody: "no route" } }],
});
const cluster = new ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "enabled" }] });

// --- The service, released progressively ---
const policyObject = config.getObject<Record<string, unknown>>("policy");
const policyFile = config.get("policyFile") ?? "../shared/policy.yaml";
const service = new ProgressiveService(name, {
  version: config.get("version") ?? "1.0.0",
  image: config.get("image") ?? "public.ecr.aws/nginx/nginx:1.27",
  // Either the inline policy from the stack config, or the shared policy file as YAML text.
  ...(policyObject !== undefined
    ? { policy: policyObject }
    : { policyDocument: readFileSync(new URL(policyFile, import.meta.url), "utf8") }),
  vpcId: vpc.id,
  loadBalancerArn: alb.arn,
  listenerArn: sharedListener.arn,
  priority: config.getNumber("priority") ?? 100,
  hostHeaders: [config.get("host") ?? "checkout.example.com"],
  pathPatterns: ["/*"],
  healthCheckPath: "/",
  clusterArn: cluster.arn,
  subnetIds: subnets.map((s) => s.id),
  securityGroupIds: [taskSecurityGroup.id],
  // Public subnets without a NAT gateway: the tasks need a public IP to pull the image.
  assignPublicIp: true,
  containerPort,
  cpu: 256,
  memory: 512,
  desiredCount: config.getNumber("desiredCount") ?? 2,
  environment: { PORT: String(containerPort) },
  sloTarget: config.getNumber("sloTarget") ?? 99.9,
  tags: { team: "payments", service: name },
});

export const url = pulumi.interpolate`http://${alb.dnsName}/ (Host: ${config.get("host") ?? "checkout.example.com"})`;
export const controllerFunction = service.controllerFunctionName;
export const stateTable = service.stateTableName;
export const dashboard = service.dashboardName;
export const releaseVersion = service.releaseVersion;
export const taskDefinition = service.taskDefinitionArn;
export const blueTargetGroup = service.blueTargetGroupArn;
export const greenTargetGroup = service.greenTargetGroupArn;
export const notifications = service.notificationTopicArn;
