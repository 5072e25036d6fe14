// A user's Pulumi program, type-checked with the user's own tsconfig (ESM NodeNext or Pulumi's
// CommonJS template) against the installed rollgate tarball, then run under Pulumi's mocks with
// rollgate/testing's mock set. Prints one JSON line the consumer test reads.
import * as pulumi from "@pulumi/pulumi";
import { KubernetesProgressiveService, ProgressiveService, type ProgressiveServiceArgs } from "rollgate";
import { parsePolicy } from "rollgate";
import { StepController } from "rollgate/components";
import { createMocks, recordingTransformation, settle, valueOf } from "rollgate/testing";

const LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";

// The policy argument is typed: a wrong value for a known field is a compile error for the user
// (with the CommonJS declarations' zod stand-in too). An unused @ts-expect-error fails tsc.
// @ts-expect-error "fast" is not a risk profile
export const badPolicy: ProgressiveServiceArgs["policy"] = { profile: "fast" };

async function main(): Promise<void> {
  const mocks = createMocks();
  await pulumi.runtime.setMocks(mocks, "consumer", "dev", true);

  const args: ProgressiveServiceArgs = {
    version: "v1",
    // Typed policy input: a misspelled field or a wrong type here fails the user's typecheck.
    policy: { profile: "standard" },
    vpcId: "vpc-0abc",
    loadBalancerArn: LB,
    listenerArn: LISTENER,
    priority: 10,
    hostHeaders: ["checkout.example.com"],
    clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/main",
    image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout:v1",
    subnetIds: ["subnet-a", "subnet-b"],
    securityGroupIds: ["sg-tasks"],
    containerPort: 8080,
  };
  const svc = new ProgressiveService("checkout", args, { transformations: [recordingTransformation(mocks)] });
  const k8s = new KubernetesProgressiveService("cart", {
    policy: { profile: "low" },
    image: "nginx:1.27",
    cloudWatch: {
      loadBalancer: "app/k8s-shop-cart/0123456789abcdef",
      stableTargetGroup: "targetgroup/k8s-shop-cart-stable/0123456789abcdef",
      canaryTargetGroup: "targetgroup/k8s-shop-cart-canary/0123456789abcdef",
    },
    installCrds: true,
  });
  await valueOf(svc.policyJson);
  await valueOf(k8s.rolloutName);
  await settle();

  const fn = mocks.find("aws:lambda/function:Function")[0];
  const assets = fn ? ((await fn.inputs.code.assets) as Record<string, { path: Promise<string> }>) : {};
  const asset = assets["index.mjs"] ? await assets["index.mjs"].path : undefined;
  const crds = mocks.find("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition").map((r) => String(r.inputs.metadata?.name));
  const counts: Record<string, number> = {};
  for (const r of mocks.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  console.log(
    JSON.stringify({
      controllerAsset: asset,
      crds,
      counts,
      stepController: typeof StepController,
      policyVersion: parsePolicy({ profile: "low" }).steps.length > 0,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
