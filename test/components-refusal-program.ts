/**
 * A Pulumi program run under the mock runtime by components-refusal.test.ts, in its own process:
 * a refused release fails the program the way it fails `pulumi preview`, which an in-process test
 * runner would report as an unhandled rejection.
 *
 *   node --import tsx test/components-refusal-program.ts <progressing|pending>
 */
import * as pulumi from "@pulumi/pulumi";
import { createMocks, IDLE_STATUS, outputPromise } from "../components/mocks.js";

const scenario = process.argv[2];
const mocks = createMocks();
await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
const { ProgressiveService } = await import("../components/index.js");

const args = (version: string) => ({
  version,
  policyDocument: "profile: standard\n",
  vpcId: "vpc-0abc",
  loadBalancerArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188",
  listenerArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2",
  priority: 10,
  hostHeaders: ["checkout.example.com"],
  clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/main",
  image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout:${version}`,
  subnetIds: ["subnet-a"],
  securityGroupIds: ["sg-tasks"],
});

const inFlight =
  scenario === "pending"
    ? { ...IDLE_STATUS, phase: "promoted", pending: { version: "v4", status: "deploying", slot: "green" } }
    : { ...IDLE_STATUS, phase: "progressing", stableSlot: "green", idleSlot: "blue", state: { phase: "progressing", release: { stable: "v1", canary: "v2" }, stepIndex: 1 } };
mocks.status = () => inFlight;

// The version already in flight is allowed (a no-op for the controller)...
const allowedVersion = scenario === "pending" ? "v4" : "v2";
const allowed = new ProgressiveService("allowed", args(allowedVersion));
console.log(`ALLOWED ${await outputPromise(allowed.releaseCommand)}`);
// ...another one fails the program, as it fails the preview.
new ProgressiveService("svc", args(scenario === "pending" ? "v5" : "v3"));
