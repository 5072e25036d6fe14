/**
 * A Pulumi program run under the mock runtime by components-refusal.test.ts, in its own process:
 * a refused release fails the program the way it fails `pulumi preview`, which an in-process test
 * runner would report as an unhandled rejection.
 *
 *   node --import tsx test/components-refusal-program.ts <progressing|pending|serviceName|loadBalancerArn|listenerArn|ownListener>
 */
import * as pulumi from "@pulumi/pulumi";
import { createMocks, IDLE_STATUS, outputPromise } from "../components/mocks.js";

const scenario = process.argv[2];
const mocks = createMocks();
await pulumi.runtime.setMocks(mocks, "rollgate-test", "dev", true);
const { ProgressiveService } = await import("../components/index.js");

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
const args = (version: string, over: Record<string, unknown> = {}) => ({
  serviceName: "checkout",
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
  ...over,
});

// The configuration the deployed controller reports: the service's rule on the shared listener.
const deployed = { service: "checkout", trafficArn: `${LISTENER.replace(":listener/", ":listener-rule/")}/9683b2d02a6cabee`, loadBalancerArn: LB };
const changes: Record<string, Record<string, unknown>> = {
  serviceName: { serviceName: "checkout-eu" },
  loadBalancerArn: { loadBalancerArn: LB.replace("shared/50dc6c495c0c9188", "shared-2/6d0ecf831eec9f09"), listenerArn: LISTENER.replace("shared/50dc6c495c0c9188", "shared-2/6d0ecf831eec9f09") },
  listenerArn: { listenerArn: LISTENER.replace("f2f7dc8efc522ab2", "0467ef3c8400ae65") },
  ownListener: { listenerArn: undefined, priority: undefined, hostHeaders: undefined },
};
if (scenario! in changes) {
  mocks.status = () => ({ ...IDLE_STATUS, ...deployed, phase: "progressing", stableSlot: "green", idleSlot: "blue", state: { phase: "progressing", release: { stable: "v1", canary: "v2" }, stepIndex: 1 } });
  // The same arguments are allowed (the release in flight, a no-op)...
  const same = new ProgressiveService("allowed", args("v2"));
  console.log(`ALLOWED ${await outputPromise(same.releaseCommand)}`);
  // ...the same version with a changed argument fails the program, as it fails the preview.
  new ProgressiveService("svc", args("v2", changes[scenario!]));
} else {
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
}
